"""Lava in K worker processes: the same spikes as one process, in order; a worker that
fails or dies, a timeout and Ctrl-C each end the run with no process and no temporary
file left behind."""

import json
import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from rouser_lava.backends import lava_workers
from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.backends.lava_workers import simulate_parallel
from rouser_lava.backends.stream import StreamLayout
from rouser_lava.cli import run_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.netx.write import write_netx

from .conftest import error_line, random_spikes
from .test_lava_run import clean_run, ctrl_c, read_until, rouser_run  # noqa: F401

pytestmark = [pytest.mark.lava, pytest.mark.usefixtures("clean_run")]


@pytest.fixture
def dense_file(dense_net, tmp_path) -> str:
    """dense_net (20-16-6) as netx, vector thresholds, T = 16."""
    path = tmp_path / "d.net"
    write_netx(quantize_network(dense_net, "vector"), path, 16)
    return str(path)


def in_session(sid: int) -> list[int]:
    """Processes in session ``sid`` (a worker and the Lava processes it forked)."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        if int(fields[3]) == sid:
            pids.append(int(stat.parent.name))
    return pids


def assert_sessions_end(sids: list[int]) -> None:
    deadline = time.monotonic() + 5  # a killed worker's Lava processes: PR_SET_PDEATHSIG
    while any(in_session(sid) for sid in sids):
        assert time.monotonic() < deadline, {sid: in_session(sid) for sid in sids}
        time.sleep(0.05)


def test_workers_equal_one_process_and_the_emulator(dense_file):
    x = random_spikes((5, 20, 16), 0.4, seed=11)
    one = simulate(dense_file, x, progress=False, record_state=True)
    two = simulate_parallel(dense_file, x, 2, progress=False, record_state=True)
    emu = emulate(load_netx(dense_file), x).spikes
    for layer, (a, b, e) in enumerate(zip(one.spikes, two.spikes, emu)):
        assert a.sum() > 0, f"layer {layer} silent: the test would prove nothing"
        assert np.array_equal(a, b) and np.array_equal(a, e), layer
    for a, b in zip(one.u + one.v, two.u + two.v):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_workers_carry_the_stream_layout_and_the_last_v(dense_file):
    x = random_spikes((4, 20, 16), 0.4, seed=14)
    one = simulate(dense_file, x, progress=False, read_v_last=True)
    layout = StreamLayout.for_network(16, 2)
    two = simulate_parallel(dense_file, x, 2, progress=False, stream=layout)
    assert all(np.array_equal(a, b) for a, b in zip(one.spikes, two.spikes))
    last = simulate_parallel(dense_file, x, 2, progress=False, read_v_last=True).v_last
    assert last is not None and np.array_equal(last, one.v_last)


def test_one_worker_and_clamping_stay_in_this_process(dense_file, monkeypatch):
    monkeypatch.setattr(lava_workers, "_start", None)  # any worker process would fail
    x = random_spikes((1, 20, 16), 0.4, seed=12)
    expected = simulate(dense_file, x, progress=False).spikes
    for workers in (1, 4):
        got = simulate_parallel(dense_file, x, workers, progress=False).spikes
        assert all(np.array_equal(a, b) for a, b in zip(expected, got))


def test_error_in_a_worker_comes_back_as_its_line(dense_file):
    x = np.ones((4, 7, 8), dtype=np.uint8)  # 7 inputs for a 20-input network
    with pytest.raises(UserError) as one:
        simulate(dense_file, x, progress=False)
    with pytest.raises(UserError) as two:
        simulate_parallel(dense_file, x, 2, progress=False)
    assert str(two.value) == str(one.value)
    assert "does not take samples of shape (7,)" in str(one.value)


def test_killed_worker_fails_the_run(dense_file, monkeypatch):
    started = []
    start = lava_workers._start

    def record(workers, first, last):
        conn = start(workers, first, last)
        started.append(workers[-1].process.pid)
        return conn

    def kill_first_once_lava_runs():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if started and len(in_session(started[0])) > 1:  # Lava's processes forked
                os.kill(started[0], signal.SIGKILL)
                return
            time.sleep(0.02)

    monkeypatch.setattr(lava_workers, "_start", record)
    killer = threading.Thread(target=kill_first_once_lava_runs)
    killer.start()
    try:
        with pytest.raises(UserError, match=r"d.net: Lava worker process \d+ \(samples "
                                            r"0-199\) ended after .* \(killed by SIGKILL\), "
                                            r"\d+/400 samples done; stopped the others"):
            simulate_parallel(dense_file, random_spikes((400, 20, 16), 0.4, seed=13), 2,
                              progress=False)
    finally:
        killer.join()
    assert_sessions_end(started)


def test_cli_workers(dense_file, tmp_path, capsys):
    x = random_spikes((6, 20, 16), 0.4, seed=14)
    np.save(tmp_path / "x.npy", x)
    runs = {}
    for backend, workers in (("emulator", "1"), ("lava", "2")):
        out = tmp_path / f"{backend}.json"
        assert run_main([dense_file, "--input", str(tmp_path / "x.npy"), "--backend",
                         backend, "--workers", workers, "--json", str(out)]) == 0
        runs[backend] = json.loads(out.read_text())
    assert runs["lava"]["predictions"] == runs["emulator"]["predictions"]
    assert runs["lava"]["layers"] == runs["emulator"]["layers"]
    capsys.readouterr()
    assert run_main([dense_file, "--input", str(tmp_path / "x.npy"), "--workers", "2"]) == 1
    assert error_line(capsys) == ("rouser-run: error: --workers 2: only the lava backend "
                                  "runs in worker processes, not emulator")
    with pytest.raises(SystemExit):
        run_main([dense_file, "--backend", "lava", "--workers", "0"])
    assert "expected a number of worker processes (up to the cores) in 1.." in \
        capsys.readouterr().err
    t0 = time.monotonic()
    assert run_main([dense_file, "--input", str(tmp_path / "x.npy"), "--backend", "lava",
                     "--workers", "2", "--timeout", "1"]) == 1
    assert error_line(capsys) == (f"rouser-run: error: {dense_file}: the Lava run passed "
                                  f"its timeout of 1 s, 0/6 samples done in 2 worker "
                                  f"processes; stopped them (--timeout sets the limit)")
    assert time.monotonic() - t0 < 15


def test_ctrl_c_stops_every_worker(dense_file, tmp_path):
    tmp = tmp_path / "tmp"  # clean_run's
    np.save(tmp_path / "x.npy", random_spikes((2000, 20, 16), 0.4, seed=15))
    args = [dense_file, "--backend", "lava", "--workers", "2", "--input",
            str(tmp_path / "x.npy")]
    with rouser_run(args, tmp) as proc:
        err = read_until(proc, b"lava: 1/2000 samples, ", timeout=120)  # samples running
        workers = [int(pid) for pid in
                   Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
                   if "lava_workers" in Path(f"/proc/{pid}/cmdline").read_text()]
        assert len(workers) == 2
        ctrl_c(proc, err, 20)
    assert_sessions_end(workers)
    assert os.listdir(tmp) == []

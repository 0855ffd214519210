"""Lava runs end cleanly: Ctrl-C, a timeout and a worker that dies each stop Lava's
worker processes and leave no process and no temporary folder behind; progress is
logged when output is not a terminal."""

import contextlib
import logging
import multiprocessing.resource_tracker
import multiprocessing.util
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import rouser_lava
from rouser_lava.backends import lava_guard, lava_sim
from rouser_lava.backends.lava_guard import limits
from rouser_lava.backends.lava_sim import load_network, simulate
from rouser_lava.cli import export_main, run_main
from rouser_lava.errors import UserError
from rouser_lava.netx.check import NetxSummary
from rouser_lava.netx.file import LAVA, NetxFile, NetxMetadata, read_netx

from .conftest import error_line
from .test_emulator import write_dense

pytestmark = pytest.mark.lava


@pytest.fixture
def net_file(model_file, tmp_path) -> Path:
    net = tmp_path / "net.net"
    assert export_main([str(model_file), str(net)]) == 0
    return net


def child_pids() -> set[int]:
    """Processes whose parent is this one."""
    return {int(pid) for task in Path("/proc/self/task").iterdir()
            for pid in (task / "children").read_text().split()}


@pytest.fixture
def clean_run(tmp_path, monkeypatch):
    """Temporary files go to an empty folder; after the test, it must be empty again and
    no process this test started may be left."""
    multiprocessing.resource_tracker.ensure_running()  # lives on, started or not here
    multiprocessing.util.get_temp_dir()  # so is the process's pymp-* folder (Lava's sockets)
    before = child_pids()
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp))
    yield
    assert child_pids() <= before
    assert list(tmp.iterdir()) == []


def read_until(proc: subprocess.Popen, prefix: bytes, timeout: float) -> bytes:
    """The process's stderr up to and including the first line starting with ``prefix``."""
    out, deadline = b"", time.monotonic() + timeout
    while not any(line.startswith(prefix) for line in out.splitlines()):
        left = deadline - time.monotonic()
        assert left > 0 and select.select([proc.stderr], [], [], left)[0], out.decode()
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, out.decode()  # it ended before printing the line
        out += chunk
    return out


@contextlib.contextmanager
def rouser_run(args: list[str], tmp: Path):
    """``rouser-run ARGS`` in a process group of its own with temporary files in ``tmp``;
    yields the process (stderr piped) and kills what is left of the group on leaving."""
    root = str(Path(rouser_lava.__file__).parents[1])
    env = dict(os.environ, TMPDIR=str(tmp), PYTHONFAULTHANDLER="1",
               PYTHONPATH=os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]))
    # Ctrl-C as in a terminal, also where this test runs as a background job (whose
    # processes inherit SIGINT ignored)
    code = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
            "from rouser_lava.cli import run_main; raise SystemExit(run_main())")
    proc = subprocess.Popen([sys.executable, "-c", code, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        yield proc
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def ctrl_c(proc: subprocess.Popen, err: bytes, timeout: float) -> None:
    """Send Ctrl-C to the process's group, as a terminal does; it must exit with 130
    within ``timeout`` seconds and print nothing but progress (``err``: what it printed
    so far) and ``rouser-run: interrupted``. A process still running fails the test
    with its threads' stacks (faulthandler writes them to stderr on SIGABRT)."""
    os.killpg(proc.pid, signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
        raise AssertionError(f"still running {timeout} s after Ctrl-C; its stderr:\n"
                             f"{(err + proc.stderr.read()).decode(errors='replace')}"
                             ) from None
    err += proc.stderr.read()
    assert proc.returncode == 130, err.decode()
    lines = [line for line in err.decode().splitlines() if not line.startswith("lava: ")]
    assert lines == ["rouser-run: interrupted"], err.decode()


def test_ctrl_c_stops_the_run(net_file, tmp_path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    with rouser_run([str(net_file), "--backend", "lava"], tmp) as proc:
        err = read_until(proc, b"lava: 1/360 samples, ", timeout=120)  # samples running
        assert len(os.listdir(tmp)) > 0  # Lava's temporary folders exist
        ctrl_c(proc, err, 10)
    deadline = time.monotonic() + 5  # the resource tracker ends once its parent has
    while True:
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        assert time.monotonic() < deadline, "processes of the group are left"
        time.sleep(0.05)
    assert os.listdir(tmp) == []


def test_timeout_stops_the_run(net_file, clean_run, capsys):
    t0 = time.monotonic()
    assert run_main([str(net_file), "--backend", "lava", "--timeout", "1"]) == 1
    elapsed = time.monotonic() - t0
    line = error_line(capsys)
    assert f"rouser-run: error: {net_file}: the Lava run passed its timeout of 1 s" in line
    assert "give a larger --timeout" in line and "stalled or died" not in line
    assert elapsed < 10


def test_worker_that_dies_is_detected(tmp_path, clean_run, monkeypatch):
    """vThMant of 3 values for 5 neurons: netx builds it, the LIF worker fails at its
    first step, and Lava would wait for the other workers forever. (The netx validator
    refuses this file; it is switched off here to reach a worker that dies.)"""
    path = str(tmp_path / "bad.net")
    unchecked = NetxFile(path, NetxSummary(path, [], None), NetxMetadata(), [(4,)], True)
    monkeypatch.setattr(lava_sim, "as_netx", lambda *args: unchecked)
    write_dense(path, np.full((5, 4), 50), 0, 0, np.array([10, 20, 30]))
    x = np.ones((3, 4, 8), dtype=np.uint8)
    t0 = time.monotonic()
    with pytest.raises(UserError, match=r"bad.net: Lava worker process \d+ ended after .*"
                                        r"0/3 samples done \(ValueError: operands could "
                                        r"not be broadcast"):
        simulate(path, x, progress=False)
    assert time.monotonic() - t0 < 10


def test_progress_lines_off_a_terminal(tmp_path, clean_run, capsys, caplog):
    path = str(tmp_path / "d.net")
    write_dense(path, np.full((3, 4), 120), 1024, 1024, 200)
    x = np.ones((4, 4, 8), dtype=np.uint8)
    with caplog.at_level(logging.INFO):
        simulate(path, x, progress=False)
        assert caplog.messages == []
        simulate(path, x)  # stderr is captured here: not a terminal
    assert len(caplog.messages) == 1 and caplog.messages[0].startswith("lava: 1/4 samples, ")
    assert "sample/s" not in capsys.readouterr().err  # no tqdm bar


def test_default_limits(net_file, tmp_path, clean_run, monkeypatch, capsys):
    """The documented formula; with the default, a run that makes no progress for
    start-up plus ten samples' share stops even before its timeout."""
    net = load_network(read_netx(str(net_file), reader=LAVA))  # digits 64-32-10: 2 layers
    per_step = 0.02 * (2 + (32 + 10 + 64 * 32 + 32 * 10) / 500_000)
    assert limits(net, 360, 32, None) == pytest.approx((60 + 360 * 32 * per_step,
                                                        60 + 10 * 32 * per_step))
    assert limits(net, 360, 32, 7.5) == (7.5, 7.5)
    path = str(tmp_path / "d.net")
    write_dense(path, np.full((3, 4), 120), 1024, 1024, 200)
    monkeypatch.setattr(lava_guard, "STARTUP_S", 0.0)  # build ~0.5 s: slower than
    monkeypatch.setattr(lava_guard, "STEP_S", 0.001)  # 10 samples' 0.08 s share
    with pytest.raises(UserError, match=r"d.net: no Lava sample finished within 0.08 s, "
                                        r"\d+/100 samples done: Lava's worker processes "
                                        r"stalled or died"):  # a busy machine: not always 0
        simulate(path, np.ones((100, 4, 8), dtype=np.uint8), progress=False)

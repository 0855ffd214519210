"""The board's process graph rehearsed on Lava's CPU simulator (``rouser-run --backend
loihi2 --rehearse``): streamed samples in chunks, CPU stand-ins for lava-loihi's adapters
(a one-step Buffer for PyToN3ConvAdapter, its hop built into reset_offset), bias images
through the input layer's bias_mant. It equals per-sample runs spike for spike on dense,
conv-input and bias-input networks with more samples than one chunk; a run made to block
stops at its time limit with no process left."""

import json
import os
import time

import h5py
import numpy as np
import pytest

from rouser_lava.backends import lava_sim
from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import board_run, run_path
from rouser_lava.backends.stream import StreamSpec
from rouser_lava.cli import run_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.netx.write import write_netx

from .conftest import error_line, random_spikes
from .test_lava_run import child_pids
from .test_lavadl_inputs import _write

pytestmark = pytest.mark.lava


def per_sample_and_rehearsal(path: str, chunk: int, **inputs) -> tuple[np.ndarray, np.ndarray]:
    """Output-layer spikes of per-sample runs (emulator, every state zeroed between
    samples) and of the rehearsal, ``chunk`` samples per run call."""
    fresh = run_path(path, RunOptions(backend="emulator", keep_spikes=True, progress=False,
                                      **inputs))
    _, rehearsed = board_run(path, RunOptions(backend="loihi2", rehearse=True,
                                              chunk_samples=chunk, keep_spikes=True,
                                              progress=False, **inputs))
    assert rehearsed is not None and rehearsed.spikes is not None
    assert fresh.spikes is not None
    return fresh.spikes[-1], rehearsed.spikes[-1]


def assert_equal_and_active(expected: np.ndarray, got: np.ndarray) -> None:
    assert expected.sum() > 0, "output silent: the test would prove nothing"
    assert (expected.reshape(len(expected), -1).sum(1) > 0).sum() >= 2
    assert expected.shape == got.shape
    mismatch = np.argwhere(expected != got)
    assert len(mismatch) == 0, f"first mismatch at {mismatch[0]} of {len(mismatch)}"


@pytest.mark.parametrize("fixture, steps", [("dense_net", 16), ("conv_net", 12)])
def test_rehearsal_equals_per_sample_runs(fixture, steps, request, tmp_path):
    """Dense (flat input, direct stand-in) and conv input (a one-step Buffer, the hop in
    reset_offset): 7 samples in run calls of 3."""
    net = request.getfixturevalue(fixture)
    path = str(tmp_path / "n.net")
    write_netx(quantize_network(net, "fold"), path, steps)
    size = int(np.prod(net.input_shape))
    np.save(tmp_path / "x.npy", random_spikes((7, size, steps), 0.35, seed=4))
    fresh, rehearsed = per_sample_and_rehearsal(path, 3, input_npy=str(tmp_path / "x.npy"))
    assert_equal_and_active(fresh, rehearsed)


def test_rehearsal_with_an_offset_and_the_cli(dense_net, tmp_path, capsys):
    path = str(tmp_path / "n.net")
    write_netx(quantize_network(dense_net, "fold"), path, 16)
    np.save(tmp_path / "x.npy", random_spikes((5, 20, 16), 0.4, seed=12))
    out = {}
    for name, extra in (("fresh", ["--backend", "emulator"]),
                        ("board", ["--backend", "loihi2", "--rehearse", "--chunk-samples",
                                   "2", "--reset-offset", "5"])):
        assert run_main([path, "--input", str(tmp_path / "x.npy"), *extra, "--json",
                         str(tmp_path / f"{name}.json"), "--dump-spikes",
                         str(tmp_path / f"{name}.npz")]) == 0
        out[name] = (np.load(tmp_path / f"{name}.npz"),
                     json.loads((tmp_path / f"{name}.json").read_text()))
    assert np.array_equal(out["fresh"][0]["output"], out["board"][0]["output"])
    assert out["board"][0]["output"].sum() > 0
    assert out["fresh"][1]["predictions"] == out["board"][1]["predictions"]


def test_rehearsal_of_bias_images(tmp_path):
    """An input layer with neurons driven through its bias_mant (lava-dl's hardware
    tests), one sample per run call; no other layer has a bias or a delay (those differ
    from per-sample runs in any stream layout)."""
    path = str(tmp_path / "b.net")
    _write(path)
    with h5py.File(path, "a") as f:
        del f["layer/1/bias"], f["layer/3/delay"]
    np.save(tmp_path / "b.npy", np.random.default_rng(0).integers(0, 150, (5, 6, 6, 2)))
    fresh, rehearsed = per_sample_and_rehearsal(path, 2, input_bias=str(tmp_path / "b.npy"),
                                                steps=12)
    assert_equal_and_active(fresh, rehearsed)


def test_a_blocked_run_stops_at_its_limit(dense_net, tmp_path, monkeypatch, capsys):
    """The source's file is a FIFO nobody writes: its first step blocks, and so does
    Lava's main thread in its channel wait. The watchdog signals that thread
    (signal.pthread_kill), the workers stop, and the error is one line."""
    path = str(tmp_path / "n.net")
    write_netx(quantize_network(dense_net, "fold"), path, 16)
    np.save(tmp_path / "x.npy", random_spikes((3, 20, 16), 0.4, seed=2))

    def fifo(target, x, flat):
        os.mkfifo(target)
        return target

    monkeypatch.setattr(lava_sim, "write_samples", fifo)
    before = child_pids()
    t0 = time.monotonic()
    assert run_main([path, "--input", str(tmp_path / "x.npy"), "--backend", "loihi2",
                     "--rehearse", "--timeout", "8"]) == 1
    elapsed = time.monotonic() - t0
    line = error_line(capsys)
    assert "passed its timeout of 8 s, 0/3 samples done; stopped the run" in line
    assert elapsed < 8 + 5
    assert child_pids() <= before


def test_the_hop_must_fit_the_interval(conv_net, tmp_path):
    """A conv input's hop goes into reset_offset, which must stay below the interval."""
    path = str(tmp_path / "n.net")
    write_netx(quantize_network(conv_net, "fold"), path, 12)
    np.save(tmp_path / "x.npy", random_spikes((2, 2 * 6 * 7, 12), 0.4, seed=2))
    options = {"backend": "loihi2", "input_npy": str(tmp_path / "x.npy"), "progress": False}
    board_run(path, RunOptions(dry_run=True, stream=StreamSpec(16, 14), **options))
    with pytest.raises(UserError, match="reset_offset. 15: with the adapters' 1 step"):
        board_run(path, RunOptions(dry_run=True, stream=StreamSpec(16, 15), **options))


def test_host_memory_is_bounded_by_a_chunk(tmp_path):
    """Python's allocations (numpy's included) during a rehearsal of 400 samples stay
    below a fifth of the int32 stream of every sample that one RingBuffer would hold
    (10.2 MB here). Lava's forked workers stop tracing (it would slow them ten times);
    a first short run imports and compiles what every run needs."""
    import tracemalloc

    import torch

    from rouser_lava.backends.loihi2 import plan_run, rehearse
    from rouser_lava.deploy.hw_config import load_hw_config
    from rouser_lava.model.blocks import RouserNet, dense_spec
    from rouser_lava.model.neuron import NeuronConfig
    from rouser_lava.netx.file import LAVA, read_netx

    torch.manual_seed(0)
    net = RouserNet((200,), [dense_spec(200, 16), dense_spec(16, 6)],
                    NeuronConfig(current_decay=0.2, voltage_decay=0.05))
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(4.0)
    path = str(tmp_path / "w.net")
    write_netx(quantize_network(net, "fold"), path, 16)
    netx = read_netx(path, reader=LAVA)
    x = random_spikes((400, 200, 16), 0.1, seed=3)
    hw = load_hw_config("loihi2-oheogulch")
    rehearse(plan_run(netx, hw, 20, 16, chunk=16), x[:20])
    os.register_at_fork(after_in_child=tracemalloc.stop)
    tracemalloc.start()
    try:
        out = rehearse(plan_run(netx, hw, 400, 16, chunk=16), x).spikes[0]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert out.shape == (400, 6, 16) and out.sum() > 0
    stream_bytes = 400 * 200 * 32 * 4
    assert peak < stream_bytes / 5, peak


def test_the_board_branch_with_adapters_that_take_a_step(dense_net, tmp_path, monkeypatch):
    """The board's own wiring (adapters by name from the config, Loihi2HwCfg, the host)
    run on the simulator: lava-loihi's adapters faked by one-step Buffers, and a config
    that says so (flat input hop 1, output latency 1). The board run and the rehearsal
    under that config both equal per-sample runs: the hop goes into reset_offset, the
    latency into where outputs are read."""
    import sys
    import types

    from lava.magma.core import run_configs
    from lava.utils import loihi

    from rouser_lava.backends import board_host
    from rouser_lava.backends.lava_io.buffer import Buffer
    from rouser_lava.deploy.hw_config import CONFIG_DIR

    config = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())
    config["run"]["flat_input_hop_steps"]["value"] = 1
    config["run"]["output_latency_steps"]["value"] = 1
    (tmp_path / "slow.json").write_text(json.dumps(config))
    eio = types.ModuleType("lava.proc.embedded_io")
    eio.spike = types.SimpleNamespace(
        PyToNxAdapter=lambda shape: Buffer(shape=shape),
        NxToPyAdapter=lambda shape, num_message_bits: Buffer(shape=shape))
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io", eio)
    monkeypatch.setattr(run_configs, "Loihi2HwCfg",
                        lambda: run_configs.Loihi2SimCfg(select_tag="fixed_pt"))
    monkeypatch.setattr(loihi, "is_installed", lambda: True)
    hosts = []
    monkeypatch.setattr(board_host, "select_host",
                        lambda *args: hosts.append(args) or board_host.HostChoice(
                            "oheogulch", "N3B3", None, ()))
    path = str(tmp_path / "n.net")
    write_netx(quantize_network(dense_net, "fold"), path, 16)
    np.save(tmp_path / "x.npy", random_spikes((5, 20, 16), 0.4, seed=7))
    inputs = {"input_npy": str(tmp_path / "x.npy"), "keep_spikes": True, "progress": False}
    fresh = run_path(path, RunOptions(backend="emulator", **inputs)).spikes
    assert fresh is not None
    for rehearse in (False, True):
        plan, result = board_run(path, RunOptions(
            backend="loihi2", rehearse=rehearse, hw_config=str(tmp_path / "slow.json"),
            chunk_samples=2, **inputs))
        assert plan.net_layout.reset_offset == 1 and plan.read_layout.reset_offset == 2
        assert result is not None and result.spikes is not None
        assert_equal_and_active(fresh[-1], result.spikes[-1])
    assert hosts == [("oheogulch", "N3B3", None)]  # the board run only

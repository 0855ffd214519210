"""The stream layout with a bias input and a membrane readout (PilotNet's case): the
emulator, Lava's ``--stream`` run and the board rehearsal hold sample ``j``'s bias
image from the step the input layer's window ``j`` begins, and read the last layer's
``v`` after column ``T - 1`` of each window (a state reader, as lava-dl's PilotNet SNN
notebook reads its output). With no bias in the hidden layers they equal per-sample
runs; with biases (which the stream resets at column ``k``) the three stream runners
still equal each other."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest

from rouser_lava.backends.lava_io.stateread import StateReader
from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import board_run, run_path
from rouser_lava.backends.stream import StreamSpec
from rouser_lava.backends.window_read import sign_extend
from rouser_lava.cli import run_main

from .conftest import random_spikes
from .lavadl_nets import INPUT_SHAPE, pilotnet_like

STEPS, SAMPLES = 12, 5


def _net(tmp_path, bias: bool, norm: bool = False) -> str:
    """PilotNet's layout with a membrane readout; an input threshold that spike input
    crosses (lava-dl's Input block integrates spikes on ``a_in``)."""
    return pilotnet_like(tmp_path / "n.net", norm=norm, readout=True,
                         input_threshold=0.5 if bias else 0.1)


def _inputs(tmp_path, bias: bool) -> dict:
    rng = np.random.default_rng(3)
    if bias:
        np.save(tmp_path / "b.npy", rng.integers(-40, 200, (SAMPLES, *INPUT_SHAPE[::-1])))
        return {"input_bias": str(tmp_path / "b.npy"), "steps": STEPS}
    np.save(tmp_path / "x.npy", random_spikes((SAMPLES, int(np.prod(INPUT_SHAPE)), STEPS),
                                              0.5, 4))
    return {"input_npy": str(tmp_path / "x.npy")}


def _assert_same(a, b, states: bool = True) -> None:
    assert a.logits is not None and b.logits is not None
    assert len(set(a.logits.ravel().tolist())) >= 3  # a readout that reads something
    assert np.array_equal(a.logits, b.logits), (a.logits.ravel(), b.logits.ravel())
    assert np.array_equal(a.predictions, b.predictions)
    if states:
        assert a.u is not None and b.u is not None and a.v is not None and b.v is not None
        assert all(np.abs(u).sum() + np.abs(v).sum() > 0 for u, v in zip(a.u, a.v))
        for x, y in zip(a.u + a.v, b.u + b.v):
            assert np.array_equal(x, y)


@pytest.mark.parametrize("bias", [True, False])
def test_emulator_stream_equals_per_sample_runs(bias, tmp_path):
    net = _net(tmp_path, bias)
    inputs = _inputs(tmp_path, bias)
    fresh = run_path(net, RunOptions(record_state=True, progress=False, **inputs))
    for offset in (0, 3):
        stream = run_path(net, RunOptions(stream=StreamSpec(16, offset), record_state=True,
                                          progress=False, **inputs))
        _assert_same(fresh, stream)


def test_a_readout_column_before_the_window_reads_zero(tmp_path):
    """Column T - 1 < depth - 1 is still the previous window's: zero, as a per-sample
    run without biases has it."""
    net = pilotnet_like(tmp_path / "n.net", norm=False, readout=True)
    np.save(tmp_path / "b.npy", np.full((2, *INPUT_SHAPE[::-1]), 150))
    inputs = {"input_bias": str(tmp_path / "b.npy"), "steps": 3, "progress": False}
    fresh = run_path(net, RunOptions(**inputs))
    stream = run_path(net, RunOptions(stream=StreamSpec(8), **inputs))
    assert fresh.logits is not None and stream.logits is not None
    assert not fresh.logits.any() and not stream.logits.any()


def test_sign_extend_reads_24_bit_twos_complement():
    raw = np.array([0, 1, (1 << 23) - 1, 1 << 23, (1 << 24) - 1, -5])
    assert sign_extend(raw, 24).tolist() == [0, 1, (1 << 23) - 1, -(1 << 23), -1, -5]


@pytest.mark.lava
def test_lava_stream_equals_the_emulator_with_hidden_biases(tmp_path):
    net = _net(tmp_path, True, norm=True)  # biases everywhere
    inputs = _inputs(tmp_path, True)
    emulator, lava = [run_path(net, RunOptions(backend=b, stream=StreamSpec(16, 2),
                                               record_state=True, progress=False, **inputs))
                      for b in ("emulator", "lava")]
    _assert_same(emulator, lava)
    fresh = run_path(net, RunOptions(progress=False, **inputs))
    assert fresh.logits is not None and not np.array_equal(fresh.logits, lava.logits)


@pytest.mark.lava
@pytest.mark.parametrize("bias", [True, False])
def test_rehearsal_reads_the_readout_and_the_states(bias, tmp_path, capsys):
    """Bias images (one per run call) and conv spike input (a one-step Buffer for
    PyToN3ConvAdapter, the hop in reset_offset), 5 samples in calls of 2; ``u`` and
    ``v`` of every layer at two columns, from the command line."""
    net = _net(tmp_path, bias)
    inputs = _inputs(tmp_path, bias)
    fresh = run_path(net, RunOptions(record_state=True, state_steps=(4, 11), progress=False,
                                     **inputs))
    _, rehearsed = board_run(net, RunOptions(backend="loihi2", rehearse=True, chunk_samples=2,
                                             record_state=True, state_steps=(4, 11),
                                             progress=False, **inputs))
    assert rehearsed is not None
    _assert_same(fresh, rehearsed)
    flags = ["--input-bias", inputs["input_bias"], "--steps", str(STEPS)] if bias else \
        ["--input", inputs["input_npy"]]
    out = tmp_path / "s.npz"
    assert run_main([net, "--backend", "loihi2", "--rehearse", *flags, "--dump-state",
                     str(out), "--state-steps", "11"]) == 0
    assert "backend loihi2: 5 samples" in capsys.readouterr().out
    with np.load(out) as f:
        assert sorted(f) == sorted(["steps"] + [f"{k}_layer{i}" for k in "uv"
                                                for i in range(6)])
        assert np.array_equal(f["u_layer4"][..., 0],
                              fresh.u[4][..., 1].reshape(SAMPLES, -1))


@pytest.mark.lava
def test_the_board_branch_reads_the_readout(tmp_path, monkeypatch):
    """The board's own wiring run on the simulator, lava-loihi's processes replaced by
    their CPU stand-ins: the spike adapters by one-step Buffers, ``embedded_io.state.Read``
    by the notebook's reader (:class:`StateReader`)."""
    from lava.magma.core import run_configs
    from lava.utils import loihi

    from rouser_lava.backends import board_host
    from rouser_lava.backends.lava_io.buffer import Buffer
    from rouser_lava.deploy.hw_config import CONFIG_DIR

    config = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())
    config["run"]["output_latency_steps"]["value"] = 1  # the output Buffer's step
    (tmp_path / "slow.json").write_text(json.dumps(config))
    eio = types.ModuleType("lava.proc.embedded_io")
    eio.spike = types.SimpleNamespace(
        PyToN3ConvAdapter=lambda shape: Buffer(shape=shape),
        NxToPyAdapter=lambda shape, num_message_bits: Buffer(shape=shape))
    eio.state = types.SimpleNamespace(Read=StateReader)
    monkeypatch.setitem(sys.modules, "lava.proc.embedded_io", eio)
    monkeypatch.setattr(run_configs, "Loihi2HwCfg",
                        lambda: run_configs.Loihi2SimCfg(select_tag="fixed_pt"))
    monkeypatch.setattr(loihi, "is_installed", lambda: True)
    monkeypatch.setattr(board_host, "select_host", lambda *args: board_host.HostChoice(
        "oheogulch", "N3B3", None, ()))
    net = _net(tmp_path, False)
    inputs = _inputs(tmp_path, False)
    fresh = run_path(net, RunOptions(progress=False, **inputs))
    _, board = board_run(net, RunOptions(backend="loihi2", chunk_samples=2, progress=False,
                                         hw_config=str(tmp_path / "slow.json"), **inputs))
    assert board is not None
    _assert_same(fresh, board, states=False)

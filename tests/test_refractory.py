"""Single-spike (refractory) layers and the membrane readout, deployed exactly: Lava
with our fixed-point ``LIFRefractory`` model, the emulator, and an independent integer
reference of the sequential single-spike model, on netx files written with h5py."""

from __future__ import annotations

import dataclasses
import logging

import h5py
import numpy as np
import pytest

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.backends.run import netx_backend, run_backend
from rouser_lava.backends.stream import StreamLayout
from rouser_lava.netx.check import check_netx
from rouser_lava.netx.file import read_netx

from .netx_random import write_random_netx

T, PAD = 20, 3  # active input steps; zero steps for the three layers' delays
READOUT_VTH = (1 << 17) - 1
# (size, iDecay, vDecay, vThMant, refDelay): two single-spike layers, a membrane readout
LAYERS = [(12, 1024, 410, 60, T + PAD), (10, 2048, 205, 40, 1000), (4, 512, 0, READOUT_VTH, 1)]


def _write(path, seed: int = 0) -> list[np.ndarray]:
    """A 6-12-10-4 netx file; returns its weights (even integers: netx keeps them)."""
    rng = np.random.default_rng(seed)
    weights, size_in = [], 6
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        inp = layers.create_group("0")
        inp.create_dataset("type", (1,), "S10", [b"input"])
        inp.create_dataset("shape", data=np.array([size_in]))
        for i, (size, i_decay, v_decay, vth, ref) in enumerate(LAYERS, start=1):
            w = 2 * rng.integers(-30, 80, (size, size_in))
            weights.append(w)
            g = layers.create_group(str(i))
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([size]))
            g.create_dataset("inFeatures", data=size_in)
            g.create_dataset("outFeatures", data=size)
            g.create_dataset("weight", data=w)
            n = g.create_group("neuron")
            n.create_dataset("type", (1,), "S10", [b"CUBA"])
            for key, value in (("iDecay", i_decay), ("vDecay", v_decay), ("vThMant", vth),
                               ("refDelay", ref), ("gradedSpike", False)):
                n.create_dataset(key, data=value)
            size_in = size
    return weights


def _decay(x: np.ndarray, decay: int) -> np.ndarray:
    y = x * (4096 - decay)
    return np.sign(y) * (np.abs(y) >> 12)


def _reference(weights: list[np.ndarray], x: np.ndarray):
    """The sequential single-spike model in Loihi's integers: per layer ``u`` with its
    decay, the no-reset membrane ``m``; a neuron fires at its first ``m > vth << 6``
    and never again (the readout never fires). Returns spikes per layer ``(N, C, T)``
    and the readout's membrane after the last step ``(N, C)``."""
    spikes, s = [], x.astype(np.int64)
    for w, (size, i_decay, v_decay, vth, _) in zip(weights, LAYERS):
        n, steps = len(s), s.shape[-1]
        u, m = np.zeros((n, size), np.int64), np.zeros((n, size), np.int64)
        fired, done = np.zeros((n, size, steps), np.uint8), np.zeros((n, size), bool)
        for t in range(steps):
            u = _decay(u, i_decay) + ((w @ s[..., t - 1].T).T << 6 if t else 0)
            m = _decay(m, v_decay) + u
            assert np.abs(m).max() < 1 << 23  # no 24-bit wrap or clip in this test
            first = (m > vth << 6) & ~done
            fired[..., t], done = first, done | first
        spikes.append(fired)
        s = fired.astype(np.int64)
    return spikes, m


@pytest.fixture(scope="module")
def case(tmp_path_factory):
    path = tmp_path_factory.mktemp("refractory") / "ss.net"
    weights = _write(path)
    rng = np.random.default_rng(1)
    x = np.zeros((3, 6, T + PAD), np.uint8)
    x[..., :T] = rng.random((3, 6, T)) < 0.3
    return str(path), weights, x


def test_file_describes_refractory_layers_and_readout(case):
    summary = check_netx(case[0])
    assert [la.ref_delay for la in summary.spiking] == [T + PAD, 1000, 1]
    assert summary.membrane_readout
    assert [la.ref_delay for la in load_netx(case[0])] == [T + PAD, 1000, 0]


@pytest.mark.lava
def test_lava_equals_reference_and_emulator(case):
    path, weights, x = case
    spikes, v_ref = _reference(weights, x)
    lava = simulate(path, x, progress=False, record_state=True, read_v_last=True)
    emu = emulate(load_netx(path), x, record_state=True)
    for k, s in enumerate(spikes[:2]):
        assert s.sum() > 0, f"layer {k} silent: the test would prove nothing"
        assert lava.spikes[k].sum(-1).max() == 1  # at most one spike per sample
    assert spikes[2].sum() == 0  # the readout never fires
    for k in range(3):
        np.testing.assert_array_equal(lava.spikes[k], spikes[k], err_msg=f"layer {k}")
        for name in ("spikes", "u", "v"):
            np.testing.assert_array_equal(getattr(emu, name)[k], getattr(lava, name)[k],
                                          err_msg=f"{name} of layer {k}")
    np.testing.assert_array_equal(lava.v_last, v_ref)
    np.testing.assert_array_equal(lava.v_last, lava.v[-1][..., -1])
    np.testing.assert_array_equal(emu.v_last, v_ref)


def test_plain_lif_has_the_same_first_spikes_and_more(case):
    """What plain netx (refDelay ignored) does: equal first spikes, later ones too."""
    path, _, x = case
    layers = load_netx(path)
    plain = emulate([dataclasses.replace(la, ref_delay=0) for la in layers], x).spikes[0]
    single = emulate(layers, x).spikes[0]
    np.testing.assert_array_equal(plain & (np.cumsum(plain, -1) == 1), single)
    assert plain.sum(-1).max() > 1


@pytest.mark.lava
def test_refractory_state_cleared_between_samples(case):
    path, _, x = case
    together = simulate(path, x, progress=False, read_v_last=True)
    for j in range(len(x)):
        alone = simulate(path, x[j:j + 1], progress=False, read_v_last=True)
        for k in range(3):
            np.testing.assert_array_equal(together.spikes[k][j], alone.spikes[k][0])
        np.testing.assert_array_equal(together.v_last[j], alone.v_last[0])
    again = together.spikes[1].sum(-1) > 0  # refDelay 1000: only a clear lets it fire again
    assert (again[1:] & again[:-1]).any(), "no neuron fires in two samples in a row"


def test_membrane_readout_predicts(case):
    path, weights, x = case
    _, v_ref = _reference(weights, x)
    backend, batch = netx_backend("emulator", read_netx(path, layers=True))
    result = run_backend("emulator", backend, x, batch_size=2, progress=False)
    assert result.readout == "membrane"
    np.testing.assert_array_equal(result.predictions, v_ref.argmax(1))


def test_stream_layout_warns_and_runs_plain(case, caplog):
    path, _, x = case
    layers = load_netx(path)
    with caplog.at_level(logging.WARNING):
        streamed = emulate(layers, x, stream=StreamLayout.for_network(T + PAD, 3))
    assert "refDelay 23" in caplog.text and "refDelay 1000" in caplog.text
    plain = emulate([dataclasses.replace(la, ref_delay=0) for la in layers], x)
    np.testing.assert_array_equal(streamed.spikes[0], plain.spikes[0])


@pytest.mark.lava
def test_random_refractory_networks_match_lava(tmp_path):
    """Random dense, dense_rec and conv networks with refDelay 1, 2, 5 or 1000 per
    layer: the emulator equals Lava in spikes, u and v at every step."""
    held = 0
    for seed in range(8):
        path = str(tmp_path / f"r{seed}.net")
        shape, _ = write_random_netx(path, seed, refractory=True)
        rng = np.random.default_rng(seed)
        x = (rng.random((2, *shape, 24)) < rng.uniform(0.2, 0.9)).astype(np.uint8)
        lava = simulate(path, x, progress=False, record_state=True)
        layers = load_netx(path)
        emu = emulate(layers, x, record_state=True)
        for name in ("spikes", "u", "v"):
            for k, (e, la) in enumerate(zip(getattr(emu, name), getattr(lava, name))):
                np.testing.assert_array_equal(e, la, err_msg=f"seed {seed} layer {k} {name}")
        spiking = [la for la in layers if la.vth is not None]
        held += sum(la.ref_delay > 0 and s.sum() > 0 for la, s in zip(spiking, lava.spikes))
    assert held >= 4, "too few refractory layers spiked: the test would prove little"

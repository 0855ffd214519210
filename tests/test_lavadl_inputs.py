"""lava-dl's layouts through ``rouser-run``'s step: a bias-driven input layer before conv
layers (emulator == Lava in spikes, u and v, at chosen steps), a conv-first file's input
shape, and one-line errors for bias images that do not fit."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import load_input_bias, run_path
from rouser_lava.errors import UserError
from rouser_lava.netx.check import check_netx
from rouser_lava.netx.shape import netx_input_shapes


def _put(g, key, value):
    if key == "type":
        g.create_dataset("type", (1,), "S10", [value.encode()])
    else:
        g.create_dataset(key, data=value)


def _neuron(g, vth=80):
    for key, value in (("type", "CUBA"), ("iDecay", 1024), ("vDecay", 128),
                       ("vThMant", vth), ("refDelay", 1), ("gradedSpike", False)):
        _put(g.create_group("neuron") if "neuron" not in g else g["neuron"], key, value)


def _write(path, input_layer: bool = True, stride: int = 2):
    """Input (2, 6, 6) with neurons as slayer writes it, conv 2->4 k3 pad 1, flatten
    (C*H*W, 1, 1) as slayer writes it, dense -> 5 with an axonal delay per output."""
    rng = np.random.default_rng(3)
    hw = (6 - 1) // stride + 1
    with h5py.File(path, "w") as f:
        layers, i = f.create_group("layer"), 0
        if input_layer:
            g = layers.create_group("0")
            for key, value in (("type", "input"), ("shape", np.array([2, 6, 6])),
                               ("weight", np.array([64.0])), ("bias", np.array([0.0]))):
                _put(g, key, value)
            _neuron(g)
            i = 1
        g = layers.create_group(str(i))
        for key, value in (("type", "conv"), ("shape", np.array([4, hw, hw])),
                           ("inChannels", 2), ("outChannels", 4),
                           ("kernelSize", np.array([3, 3])), ("stride", np.array([stride] * 2)),
                           ("padding", np.array([1, 1])), ("dilation", np.array([1, 1])),
                           ("groups", 1), ("weight", 2 * rng.integers(-20, 60, (4, 2, 3, 3))),
                           ("bias", rng.integers(-5, 20, 4))):
            _put(g, key, value)
        _neuron(g, 60)
        g = layers.create_group(str(i + 1))
        _put(g, "type", "flatten")
        _put(g, "shape", np.array([4 * hw * hw, 1, 1]))
        g = layers.create_group(str(i + 2))
        for key, value in (("type", "dense"), ("shape", np.array([5])),
                           ("inFeatures", 4 * hw * hw), ("outFeatures", 5),
                           ("weight", 2 * rng.integers(-20, 80, (5, 4 * hw * hw))),
                           ("delay", np.array([0, 1, 2, 5, 3]))):
            _put(g, key, value)
        _neuron(g, 50)


@pytest.mark.lava
def test_bias_input_runs_alike_on_emulator_and_lava(tmp_path):
    net, images = str(tmp_path / "n.net"), str(tmp_path / "b.npy")
    _write(net)
    np.save(images, np.random.default_rng(0).integers(0, 150, (3, 6, 6, 2)))  # (N, x, y, c)
    steps = [0, 3, 11]
    runs = [run_path(net, RunOptions(backend=b, input_bias=images, steps=12, keep_spikes=True,
                                     progress=False, record_state=True,
                                     state_steps=tuple(steps)))
            for b in ("emulator", "lava")]
    emu, lava = runs
    assert all(s.sum() > 0 for s in lava.spikes), [int(s.sum()) for s in lava.spikes]
    assert emu.state_steps == lava.state_steps == steps
    for a, b in [(emu.spikes, lava.spikes), (emu.u, lava.u), (emu.v, lava.v)]:
        assert len(a) == len(b) == 3
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert emu.u[0].shape == (3, 2, 6, 6, 3)


def test_bias_images_in_lava_order(tmp_path):
    path = str(tmp_path / "b.npy")
    image = np.arange(6 * 5 * 2).reshape(6, 5, 2)  # (x, y, c) = (W, H, C)
    np.save(path, image)
    bias = load_input_bias(path, (2, 5, 6))
    assert bias.shape == (1, 2, 5, 6) and bias[0, 1, 4, 3] == image[3, 4, 1]
    np.save(path, image * 1000)
    with pytest.raises(UserError, match="int16"):
        load_input_bias(path, (2, 5, 6))
    with pytest.raises(UserError, match=r"expected bias images \(N, 5, 6, 2\)"):
        load_input_bias(path, (2, 6, 5))


def test_conv_first_input_shape(tmp_path):
    path = str(tmp_path / "c.net")
    _write(path, input_layer=False, stride=1)
    assert netx_input_shapes(path) == [(2, 6, 6)]  # stride 1: one size fits
    _write(path, input_layer=False, stride=2)
    assert netx_input_shapes(path) == [(2, 5, 5), (2, 5, 6), (2, 6, 5), (2, 6, 6)]
    assert check_netx(path, input_shape=(2, 6, 6)).input_shape == (2, 6, 6)
    spikes = str(tmp_path / "x.npy")
    np.save(spikes, np.ones((1, 2 * 6 * 6, 4), np.uint8))
    result = run_path(path, RunOptions(input_npy=spikes, progress=False))  # the row length decides
    assert result.layer_neurons == [4 * 3 * 3, 5]
    np.save(spikes, np.ones((1, 2 * 5 * 6, 4), np.uint8))
    with pytest.raises(UserError, match="ambiguous"):
        run_path(path, RunOptions(input_npy=spikes, progress=False))
    with pytest.raises(UserError, match="geometry gives"):
        run_path(path, RunOptions(input_npy=spikes, input_shape=(2, 3, 20), progress=False))

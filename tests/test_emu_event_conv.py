"""The emulator's event-driven conv sum equals its dense conv product exactly: on the
kernel (strides, padding, dilation, 0 to 100 % activity, frames that hold still or
change, the 24-bit clamp), and on whole random networks and lava-dl's PilotNet SNN run
through either path (the Lava comparisons in ``test_emulator.py`` run both paths
against Lava on alternate seeds)."""

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rouser_lava.backends import emu_synapse
from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.loihi import UV_MAX
from rouser_lava.netx.layers import EmuLayer

from .netx_random import write_random_netx

PILOTNET = Path(__file__).parent / "data" / "lavadl_pilotnet_lif"


def _conv_layer(weight: np.ndarray, shape: tuple, stride, padding, dilation) -> EmuLayer:
    return EmuLayer("conv", shape, torch.from_numpy(weight.astype(np.float32)),
                    conv={"stride": stride, "padding": padding, "dilation": dilation,
                          "groups": 1})


@pytest.mark.parametrize("density", [0.0, 0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("hold", [0.0, 0.9])
@pytest.mark.parametrize("stride, padding, dilation", [((1, 1), (0, 0), (1, 1)),
                                                       ((2, 1), (1, 0), (1, 2)),
                                                       ((2, 2), (2, 1), (2, 1)),
                                                       ((3, 2), (0, 2), (1, 1))])
def test_event_conv_equals_the_dense_product(density, hold, stride, padding, dilation,
                                             monkeypatch):
    """``hold``: the share of inputs that keep the previous frame's value (the kernel
    then adds the changes to the previous sum)."""
    rng = np.random.default_rng(int(density * 100) + stride[0])
    weight = rng.integers(-255, 256, (5, 3, 3, 2))
    weight[0] = 500_000  # channel 0 sums to 9e6 > 2**23 on full input: the clamp acts
    frames = (rng.random((9, 3, 11, 9)) < density).astype(np.uint8)
    frames[0] = 1
    for f in range(1, len(frames)):
        keep = rng.random(frames[f].shape) < hold
        frames[f][keep] = frames[f - 1][keep]
    dense = F.conv2d(torch.from_numpy(frames).float(), torch.from_numpy(weight).float(),
                     stride=stride, padding=padding, dilation=dilation)
    dense = dense.clamp_(-UV_MAX, UV_MAX - 1).to(torch.int32).numpy()
    layer = _conv_layer(weight, dense.shape[1:], stride, padding, dilation)
    cl = emu_synapse.frames_of(np.moveaxis(frames, 0, -1)[None], frames.shape[1:])[0]
    monkeypatch.setattr(emu_synapse, "SPARSE_BELOW", 1.1)  # the event kernel throughout
    got = emu_synapse.conv_sum(layer, cl, frames.shape[1:],
                               np.empty((len(frames), dense[0].size), np.int32),
                               emu_synapse.Workspace())
    want = dense.transpose(0, 2, 3, 1).reshape(len(frames), -1)  # channel last
    assert got.shape == want.shape and np.array_equal(got, want)
    assert density < 1 or dense.max() == UV_MAX - 1  # the clamp was reached


def _both_paths(monkeypatch, layers, x, bias=None):
    runs = []
    for below in (1.1, 0.0):  # every sum event-driven, then every one a dense product
        monkeypatch.setattr(emu_synapse, "SPARSE_BELOW", below)
        runs.append(emulate(layers, x, record_state=True, bias=bias))
    return runs


def test_random_conv_networks_give_the_same_run_on_either_path(tmp_path, monkeypatch):
    convs = 0
    for seed in range(40):
        path = str(tmp_path / f"r{seed}.net")
        shape, info = write_random_netx(path, seed)
        if "conv" not in info["kinds"]:
            continue
        convs += 1
        rng = np.random.default_rng(seed)
        x = (rng.random((2, *shape, 12)) < rng.uniform(0.05, 0.9)).astype(np.uint8)
        event, dense = _both_paths(monkeypatch, load_netx(path), x)
        for a, b in [(event.spikes, dense.spikes), (event.u, dense.u), (event.v, dense.v)]:
            for e, d in zip(a, b):
                assert np.array_equal(e, d), seed
    assert convs >= 10


def test_pilotnet_gives_the_same_run_on_either_path(monkeypatch):
    image = np.load(PILOTNET / "image.npy")  # (x, y, c)
    bias = np.stack([np.roll(image, k, axis=0) for k in range(2)]).transpose(0, 3, 2, 1)
    layers = load_netx(str(PILOTNET / "network.net"))
    x = np.zeros((2, *layers[0].shape, 16), np.uint8)
    event, dense = _both_paths(monkeypatch, layers, x, bias)
    assert all(int(s.sum()) > 0 for s in event.spikes[:-1])  # the conv layers all spiked
    for a, b in [(event.spikes, dense.spikes), (event.u, dense.u), (event.v, dense.v)]:
        for e, d in zip(a, b):
            assert np.array_equal(e, d)

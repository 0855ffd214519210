"""Pooling and recurrent blocks, bit-exact: the training forward (vector and fold-exact)
equals the emulator and Lava's fixed_pt simulator spike for spike at every layer, the
thresholds (and biases) learn, and the netx files load in unmodified netx."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.model.blocks import RouserNet, conv_spec, dense_spec, pool_spec, recurrent_spec
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.netx.write import write_netx

from .conftest import random_spikes, random_thresholds
from .test_fold_exact import train_steps


def pool_net(fold_exact: bool) -> RouserNet:
    """conv -> pool -> conv -> pool (odd size: floor) -> flatten -> dense."""
    torch.manual_seed(7)
    arch = [conv_spec(2, 4, 3, padding=1), pool_spec(4, 2),
            conv_spec(4, 6, 3, padding=1, groups=2), pool_spec(6, 2, weight=0.75),
            {"kind": "flatten"}, dense_spec(6 * 2 * 2, 5)]
    net = RouserNet((2, 9, 9), arch, NeuronConfig(current_decay=0.3, voltage_decay=0.1,
                                                  fold_exact=fold_exact))
    with torch.no_grad():
        for block in net.spiking_blocks():
            if block.spec["kind"] != "pool":
                block.synapse.weight.mul_(5.0)
    return random_thresholds(net, 0.5, 1.8, seed=4)


def rec_net(fold_exact: bool, bias: bool) -> RouserNet:
    """dense -> recurrent (bias or not) -> recurrent -> dense."""
    torch.manual_seed(8)
    arch = [dense_spec(12, 16), recurrent_spec(16, 14, bias=bias), recurrent_spec(14, 9),
            dense_spec(9, 4)]
    net = RouserNet((12,), arch, NeuronConfig(current_decay=0.2, voltage_decay=0.05,
                                              fold_exact=fold_exact))
    gen = torch.Generator().manual_seed(9)
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(4.0)
            if block.spec["kind"] == "recurrent":
                block.rec_synapse.weight.mul_(3.0)
                if block.bias is not None:  # some neurons fire from the bias alone
                    block.bias.copy_(torch.rand(14, generator=gen) * 2.4 - 0.8)
    return random_thresholds(net, 0.6, 2.0, seed=2)


def bias_net(fold_exact: bool) -> RouserNet:
    """conv with bias -> pool -> flatten -> dense with bias -> dense; biases of both
    signs, some large enough that neurons fire from the bias alone (Lava's step 0)."""
    torch.manual_seed(10)
    arch = [{**conv_spec(2, 4, 3, padding=1), "bias": True}, pool_spec(4, 2),
            {"kind": "flatten"}, {**dense_spec(4 * 3 * 3, 8), "bias": True},
            dense_spec(8, 4)]
    net = RouserNet((2, 6, 7), arch, NeuronConfig(current_decay=0.3, voltage_decay=0.1,
                                                  fold_exact=fold_exact))
    gen = torch.Generator().manual_seed(11)
    with torch.no_grad():
        for block in net.spiking_blocks():
            if block.spec["kind"] != "pool":
                block.synapse.weight.mul_(4.0)
            if block.bias is not None:
                block.bias.copy_(torch.rand(block.bias.shape, generator=gen) * 2.4 - 0.8)
    return random_thresholds(net, 0.6, 1.9, seed=12)


NETS = {"pool": lambda fold: pool_net(fold), "rec": lambda fold: rec_net(fold, False),
        "rec-bias": lambda fold: rec_net(fold, True), "bias": lambda fold: bias_net(fold)}


def check_exact(net: RouserNet, form: str, tmp_path, lava: bool) -> list[np.ndarray]:
    """Export ``net`` in ``form``; assert training forward == emulator (== Lava), every
    layer spiking; returns the training spikes."""
    path = str(tmp_path / f"{form}.net")
    write_netx(quantize_network(net, form), path, 24)
    x = random_spikes((4, *net.input_shape, 24), 0.3, seed=11)
    with torch.no_grad():
        trained = [o.numpy().astype(np.uint8) for o in net(torch.from_numpy(x).float())]
    runs = {"emulator": emulate(load_netx(path), x).spikes}
    if lava:
        runs["lava"] = simulate(path, x, progress=False).spikes
    for name, got in runs.items():
        assert len(got) == len(trained)
        for layer, (a, b) in enumerate(zip(trained, got)):
            assert a.sum() > 0, f"layer {layer} silent: the test would prove nothing"
            assert a.shape == b.shape, (layer, a.shape, b.shape)
            bad = np.argwhere(a != b)
            assert len(bad) == 0, f"layer {layer}: training != {name} at {bad[0]}"
    return trained


@pytest.mark.parametrize("kind", sorted(NETS))
@pytest.mark.parametrize("form", ["vector", "fold"])
def test_training_forward_equals_emulator(kind, form, tmp_path):
    net = NETS[kind](form == "fold")
    if form == "fold":
        train_steps(net, 2, seed=5)
    check_exact(net, form, tmp_path, lava=False)


@pytest.mark.lava
@pytest.mark.parametrize("kind", sorted(NETS))
def test_fold_exact_training_equals_emulator_and_lava(kind, tmp_path):
    net = NETS[kind](True)
    before = train_steps(net, 3, seed=5)
    for block, th0 in zip(net.spiking_blocks(), before):
        assert block.neuron.threshold.grad is not None
        assert not torch.equal(block.neuron.threshold.detach(), th0)  # thresholds moved
    qnet = quantize_network(net, "fold")
    assert all(r.th_min < r.th_max for r in qnet.reports)  # really per-neuron thresholds
    check_exact(net, "fold", tmp_path, lava=True)


@pytest.mark.lava
def test_vector_pool_and_recurrent_equal_lava(tmp_path):
    for name, net in (("pool", pool_net(False)), ("rec", rec_net(False, True))):
        (tmp_path / name).mkdir()
        check_exact(net, "vector", tmp_path / name, lava=True)


def test_pool_exports_as_depthwise_conv_that_netx_loads(tmp_path):
    from lava.lib.dl import netx

    net = pool_net(False)
    path = str(tmp_path / "p.net")
    write_netx(quantize_network(net, "fold"), path, 8)
    with h5py.File(path) as f:
        types = [f[f"layer/{i}/type"][0].decode() for i in range(len(f["layer"]))]
        assert types == ["input", "conv", "conv", "conv", "conv", "flatten", "dense"]
        pool = f["layer/2"]
        assert int(pool["groups"][()]) == 4 and list(pool["stride"][()]) == [2, 2]
        w = pool["weight"][()]  # (C, 1, 2, 2): one value per channel (the fold's)
        assert w.shape == (4, 1, 2, 2) and all(len(np.unique(c)) == 1 for c in w)
    assert len(netx.hdf5.Network(net_config=path).layers) == 5  # (a flatten is no block)


def test_recurrent_exports_dense_rec_with_bias_that_netx_loads(tmp_path):
    from lava.lib.dl import netx

    net = rec_net(False, True)
    path = str(tmp_path / "r.net")
    write_netx(quantize_network(net, "vector"), path, 8)
    with h5py.File(path) as f:
        layer = f["layer/2"]
        assert layer["type"][0] == b"dense_rec" and layer["weight_rec"].shape == (14, 14)
        assert np.array_equal(layer["bias"][()], net.blocks[1].bias_mant())
        assert "bias" not in f["layer/3"]
    assert len(netx.hdf5.Network(net_config=path).layers) == 4


def test_pool_weight_is_constant_and_thresholds_and_bias_learn():
    for kind in ("pool", "rec-bias", "bias"):
        model = NETS[kind](True)
        x = random_spikes((4, *model.input_shape, 20), 0.3, seed=3)
        out = model(torch.from_numpy(x).float())
        sum(o.sum() for o in out).backward()
        for block in model.spiking_blocks():
            grad = block.neuron.threshold.grad
            assert grad is not None and grad.abs().sum() > 0, block.spec
            if block.spec["kind"] == "pool":
                assert block.synapse.weight.grad is None
            if block.spec["kind"] == "recurrent":
                assert block.rec_synapse.weight.grad.abs().sum() > 0
            if block.bias is not None:
                assert block.bias.grad.abs().sum() > 0


@pytest.mark.parametrize("form", ["vector", "fold"])
def test_bias_alone_drives_spikes_from_lavas_first_step(form, tmp_path):
    """No input at all: the biased layers fire from their first output column on, as in
    the emulator (Lava adds the bias before any input arrives)."""
    for net in (bias_net(form == "fold"), rec_net(form == "fold", True)):
        path = str(tmp_path / f"{form}.net")
        write_netx(quantize_network(net, form), path, 10)
        x = np.zeros((2, *net.input_shape, 10), np.uint8)
        with torch.no_grad():
            trained = [o.numpy().astype(np.uint8) for o in net(torch.from_numpy(x).float())]
        emulated = emulate(load_netx(path), x).spikes
        biased = [i for i, b in enumerate(net.spiking_blocks()) if b.bias is not None]
        assert all(trained[i][..., 0].sum() > 0 for i in biased)
        for a, b in zip(trained, emulated):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("lava", [False, pytest.param(True, marks=pytest.mark.lava)],
                         ids=["emulator", "lava"])
def test_single_spike_conv_and_pool_are_exact(lava, tmp_path):
    """Single-spike neurons in conv and pool layers (vector form, written refractory for
    the sample) with a membrane readout: training forward == emulator (== Lava), at most
    one spike per neuron."""
    torch.manual_seed(4)
    cfg = NeuronConfig(neuron="single-spike", readout="membrane", current_decay=1.0,
                       voltage_decay=0.1)
    arch = [conv_spec(2, 4, 3, padding=1), pool_spec(4, 2, weight=0.5), {"kind": "flatten"},
            dense_spec(4 * 3 * 3, 3)]
    net = RouserNet((2, 6, 7), arch, cfg)
    with torch.no_grad():
        net.blocks[0].synapse.weight.mul_(4.0)
        net.blocks[3].synapse.weight.mul_(4.0)
        for block in net.spiking_blocks()[:-1]:
            th = block.neuron.threshold
            th.copy_(0.3 + 0.5 * torch.rand(th.shape))
    path = str(tmp_path / "ss.net")
    write_netx(quantize_network(net, "vector"), path, 24)
    x = random_spikes((4, 2, 6, 7, 24), 0.2, seed=2)
    with torch.no_grad():
        trained = [o.numpy().astype(np.uint8) for o in
                   net.spike_outputs(net(torch.from_numpy(x).float()))]
    got = (simulate(path, x, progress=False) if lava else emulate(load_netx(path), x)).spikes
    for k, (a, b) in enumerate(zip(trained[:-1], got)):
        assert a.sum() > 0, f"layer {k} silent"
        assert a.reshape(4, -1, 24).sum(-1).max() <= 1  # one spike per neuron at most
        assert np.array_equal(a, b), k

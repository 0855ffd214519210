"""Fold-exact training: after training steps, the torch forward, the emulator and Lava's
fixed_pt simulator give identical spikes at every layer of the fold export, and the
thresholds still learn (they scale their rows)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.cli import compare_main, export_main, train_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.model.blocks import RouserNet
from rouser_lava.netx.write import write_netx

from .conftest import random_spikes


def fold_exact(net: RouserNet) -> RouserNet:
    """The same network (same parameters) with the fold-exact forward."""
    cfg = dataclasses.replace(net.neuron_config, fold_exact=True)
    out = RouserNet(net.input_shape, net.arch, cfg)
    out.load_state_dict(net.state_dict())
    return out


def train_steps(net: RouserNet, steps: int, seed: int) -> list[torch.Tensor]:
    """A few Adam steps towards random spike rates; returns the thresholds before."""
    before = [b.neuron.threshold.detach().clone() for b in net.spiking_blocks()]
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = (torch.rand((6, *net.input_shape, 20), generator=gen) < 0.3).float()
        out = net(x)
        target = torch.rand(out[-1].shape[:2], generator=gen) * 0.3
        loss = ((out[-1].mean(-1) - target) ** 2).sum() + sum(o.mean() for o in out) * 0.1
        opt.zero_grad()
        loss.backward()
        opt.step()
        net.clamp_()
    return before


@pytest.mark.parametrize("fixture", ["dense_net", "conv_net"])
@pytest.mark.lava
def test_fold_exact_training_equals_emulator_and_lava(fixture, request, tmp_path):
    net = fold_exact(request.getfixturevalue(fixture))
    before = train_steps(net, 4, seed=5)
    for block, th0 in zip(net.spiking_blocks(), before):
        assert not torch.equal(block.neuron.threshold.detach(), th0)  # thresholds moved
        assert block.neuron.threshold.grad is not None
    qnet = quantize_network(net, "fold")
    assert all(r.th_min < r.th_max for r in qnet.reports)  # really per-neuron thresholds
    path = str(tmp_path / "f.net")
    write_netx(qnet, path, 24)
    x = random_spikes((5, *net.input_shape, 24), 0.3, seed=11)
    with torch.no_grad():
        trained = [o.numpy().astype(np.uint8) for o in net(torch.from_numpy(x).float())]
    emulated = emulate(load_netx(path), x).spikes
    lava = simulate(path, x, progress=False).spikes
    for layer, (a, b, c) in enumerate(zip(trained, emulated, lava)):
        assert a.sum() > 0, f"layer {layer} silent: the test would prove nothing"
        assert np.array_equal(a, b), f"layer {layer}: torch != emulator"
        assert np.array_equal(b, c), f"layer {layer}: emulator != Lava"


def test_fold_exact_thresholds_receive_gradient(dense_net):
    net = fold_exact(dense_net)
    x = random_spikes((4, 20, 20), 0.3, seed=3)
    out = net(torch.from_numpy(x).float())
    out[-1].sum().backward()
    for block in net.spiking_blocks():
        grad = block.neuron.threshold.grad
        assert grad is not None and grad.abs().sum() > 0


@pytest.mark.lava
def test_fold_exact_digits_and_fine_tuning_end_to_end(model_file, tmp_path, capsys):
    exact = tmp_path / "exact.pt"
    assert train_main(["--epochs", "1", "--hidden", "32", "--deploy", "fold-exact",
                       "--out", str(exact), "--quiet"]) == 0
    tuned = tmp_path / "tuned.pt"
    assert train_main(["--init", str(model_file), "--deploy", "fold-exact", "--epochs", "1",
                       "--out", str(tuned), "--quiet"]) == 0
    base = torch.load(model_file, weights_only=True)
    record = torch.load(tuned, weights_only=True)
    assert record["arch"] == base["arch"] and record["neuron"]["fold_exact"]  # kept 64-32-10
    accuracy = {}
    for name, model in (("exact", exact), ("tuned", tuned), ("base", model_file)):
        net = tmp_path / f"{name}.net"
        assert export_main([str(model), str(net)]) == 0
        report = tmp_path / name
        assert compare_main([str(model), str(net), "--lava-samples", "3", "--report",
                             str(report)]) == 0
        doc = json.loads((report / "report.json").read_text())
        accuracy[name] = doc["accuracy"]["emulator"]
        if name != "base":
            assert doc["mismatched_spikes"] == 0 and doc["mismatched_spikes_lava"] == 0
            assert doc["prediction_agreement"] == 1.0
            assert all(la["bit_exact_with_training"] for la in doc["layers"])
    assert accuracy["tuned"] >= accuracy["base"] - 0.01  # fine-tuning keeps fold accuracy
    capsys.readouterr()

"""Shared fixtures: small real networks (random or briefly trained) and their files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from rouser_lava.cli import export_main, train_main
from rouser_lava.model.blocks import RouserNet, conv_spec, dense_spec
from rouser_lava.model.neuron import NeuronConfig


def random_thresholds(net: RouserNet, low: float, high: float, seed: int) -> RouserNet:
    """Give every neuron a different threshold in [low, high] (as training would)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for block in net.spiking_blocks():
            th = block.neuron.threshold
            th.copy_(low + (high - low) * torch.rand(th.shape, generator=gen))
    return net


@pytest.fixture
def dense_net() -> RouserNet:
    torch.manual_seed(1)
    net = RouserNet((20,), [dense_spec(20, 16), dense_spec(16, 6)],
                    NeuronConfig(current_decay=0.2, voltage_decay=0.05))
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(4.0)  # strong enough that every layer spikes
    return random_thresholds(net, 0.6, 2.0, seed=2)


@pytest.fixture
def conv_net() -> RouserNet:
    torch.manual_seed(3)
    arch = [conv_spec(2, 4, 3, stride=1, padding=1),
            conv_spec(4, 4, 3, stride=2, padding=1, groups=2),
            {"kind": "flatten"}, dense_spec(4 * 3 * 3, 5)]
    arch[0]["kernel_size"] = [3, 2]  # asymmetric kernel pins orientation
    arch[0]["padding"] = [1, 0]
    net = RouserNet((2, 6, 7), arch, NeuronConfig(current_decay=0.3, voltage_decay=0.1))
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(5.0)
    return random_thresholds(net, 0.5, 1.8, seed=4)


def random_spikes(shape: tuple[int, ...], rate: float, seed: int) -> np.ndarray:
    """uint8 Bernoulli spikes of the given shape."""
    return (np.random.default_rng(seed).random(shape) < rate).astype(np.uint8)


@pytest.fixture(scope="session")
def model_file(tmp_path_factory) -> Path:
    """A digits model trained for one epoch through the CLI (64-32-10)."""
    path = tmp_path_factory.mktemp("model") / "model.pt"
    assert train_main(["--epochs", "1", "--hidden", "32", "--out", str(path), "--quiet"]) == 0
    return path


@pytest.fixture
def exported_net(model_file, tmp_path, capsys) -> Path:
    """``model_file`` exported to a netx file in this test's folder (a fresh copy the
    test may edit)."""
    path = tmp_path / "n.net"
    assert export_main([str(model_file), str(path)]) == 0
    capsys.readouterr()
    return path


def error_line(capsys) -> str:
    """The single 'error:' line a CLI printed; fails on tracebacks."""
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]

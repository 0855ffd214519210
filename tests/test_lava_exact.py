"""The central tests: what the torch model computes is what Lava's fixed_pt simulator
does, spike for spike (vector thresholds), and folding changes little (fold)."""

import numpy as np
import pytest
import torch

from rouser_lava.backends.lava_sim import load_network, simulate
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.netx.file import LAVA, read_netx
from rouser_lava.netx.write import write_netx

from .conftest import random_spikes

pytestmark = pytest.mark.lava


def torch_spikes(net, x: np.ndarray) -> list[np.ndarray]:
    with torch.no_grad():
        return [o.numpy().astype(np.uint8) for o in net(torch.from_numpy(x).float())]


def export(net, path, form, steps):
    write_netx(quantize_network(net, form), path, steps)
    return str(path)


@pytest.mark.parametrize("fixture", ["dense_net", "conv_net"])
def test_vector_thresholds_bit_exact_every_layer(fixture, request, tmp_path):
    net = request.getfixturevalue(fixture)
    x = random_spikes((5, *net.input_shape, 24), 0.3, seed=7)
    expected = torch_spikes(net, x)
    got = simulate(export(net, tmp_path / "v.net", "vector", 24), x, progress=False).spikes
    assert len(got) == len(expected)
    for layer, (a, b) in enumerate(zip(expected, got)):
        assert a.shape == b.shape, layer
        assert a.sum() > 0, f"layer {layer} silent: the test would prove nothing"
        mismatch = np.argwhere(a != b)
        assert len(mismatch) == 0, f"layer {layer}: first mismatch at {mismatch[0]}"


def test_streamed_samples_equal_fresh_networks(dense_net, tmp_path):
    """One network run sample after sample, reset in between, equals a fresh one each."""
    path = export(dense_net, tmp_path / "v.net", "vector", 16)
    x = random_spikes((3, 20, 16), 0.4, seed=8)
    streamed = simulate(path, x, progress=False).spikes
    for k in range(3):
        fresh = simulate(path, x[k:k + 1], progress=False).spikes
        for a, b in zip(streamed, fresh):
            assert np.array_equal(a[k], b[0])


def test_fold_differs_only_by_requantization(dense_net, tmp_path):
    x = random_spikes((8, 20, 32), 0.3, seed=9)
    expected = torch_spikes(dense_net, x)
    qnet = quantize_network(dense_net, "fold")
    for report in qnet.reports:
        assert report.th_ref is not None and 0 < report.max_rel_error < 0.02
        assert report.th_min < report.th_max  # the thresholds really differed
    write_netx(qnet, tmp_path / "f.net", 32)
    got = simulate(str(tmp_path / "f.net"), x, progress=False).spikes
    for a, b in zip(expected, got):
        assert abs(int(b.sum()) - int(a.sum())) <= 0.05 * a.sum()
        assert np.mean(a == b) > 0.97


def test_plain_netx_loads_export(conv_net, tmp_path):
    from lava.lib.dl import netx

    path = export(conv_net, tmp_path / "c.net", "fold", 8)
    net = netx.hdf5.Network(net_config=path)
    assert len(net.layers) == 3
    assert load_network(read_netx(path, reader=LAVA)).layers[-1].out.shape == (5,)

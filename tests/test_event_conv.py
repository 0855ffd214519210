"""A conv synapse's event-driven product equals slayer's ``conv3d``: values exactly and
gradients (weights and input) to float rounding, for 0 to 100 % activity, strides,
padding and dilation; a whole conv network trains the same on either path."""

from __future__ import annotations

import pytest
import torch

from rouser_lava.model import event_conv
from rouser_lava.model.blocks import RouserNet, conv_spec, dense_spec
from rouser_lava.model.event_conv import spike_conv
from rouser_lava.model.neuron import NeuronConfig

DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]
CONVS = [((1, 1, 1), (0, 0, 0), (1, 1, 1)), ((2, 2, 1), (1, 2, 0), (1, 1, 1)),
         ((2, 1, 1), (2, 1, 0), (2, 1, 1)), ((3, 2, 1), (0, 1, 0), (1, 2, 1))]


def _both(x: torch.Tensor, w: torch.Tensor, conv, monkeypatch):
    """Output and the gradients of a fixed random loss, event path then dense."""
    runs = []
    g = torch.randn(torch.nn.functional.conv3d(x, w, None, *conv).shape,
                    generator=torch.Generator().manual_seed(3))
    for density in (float("inf"), 0.0):
        monkeypatch.setattr(event_conv, "CONV_EVENT_DENSITY", density)
        xi, wi = x.clone().requires_grad_(), w.clone().requires_grad_()
        out = spike_conv(xi, wi, conv)
        (out * g).sum().backward()
        runs.append((out.detach(), xi.grad, wi.grad))
    return runs


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("stride, padding, dilation", CONVS)
def test_event_conv_equals_conv3d(density, stride, padding, dilation, monkeypatch):
    gen = torch.Generator().manual_seed(int(density * 100) + stride[0])
    x = (torch.rand((3, 4, 9, 11, 6), generator=gen) < density).float()
    w = torch.randint(-128, 128, (5, 4, 3, 2, 1), generator=gen).float() / 32  # slayer's grid
    (out_e, gx_e, gw_e), (out_d, gx_d, gw_d) = _both(x, w, (stride, padding, dilation, 1),
                                                     monkeypatch)
    assert torch.equal(out_e, out_d)  # exact: integer multiples of 1/32
    assert torch.allclose(gx_e, gx_d, rtol=1e-5, atol=1e-5)
    assert torch.allclose(gw_e, gw_d, rtol=1e-5, atol=1e-4)


def test_groups_and_dense_input_take_conv3d(monkeypatch):
    monkeypatch.setattr(event_conv, "CONV_EVENT_DENSITY", float("inf"))
    x = torch.ones((1, 4, 5, 5, 3))
    assert event_conv.conv_events(x, ((1, 1, 1), (0, 0, 0), (1, 1, 1), 2)) is None
    monkeypatch.setattr(event_conv, "CONV_EVENT_DENSITY", 0.5)
    assert event_conv.conv_events(x, ((1, 1, 1), (0, 0, 0), (1, 1, 1), 1)) is None
    assert event_conv.conv_events(x * 0, ((1, 1, 1), (0, 0, 0), (1, 1, 1), 1)) is not None


def test_conv_network_trains_the_same_on_either_path(monkeypatch):
    """Spikes and every parameter gradient of a conv network, events against conv3d."""
    arch = [conv_spec(2, 6, 3, stride=2, padding=1), conv_spec(6, 8, 3),
            {"kind": "flatten"}, dense_spec(8 * 3 * 3, 3)]
    x = (torch.rand((4, 2, 9, 9, 20), generator=torch.Generator().manual_seed(1)) < 0.3)
    results = []
    for density in (float("inf"), 0.0):
        monkeypatch.setattr(event_conv, "CONV_EVENT_DENSITY", density)
        torch.manual_seed(0)
        net = RouserNet((2, 9, 9), arch, NeuronConfig(threshold=0.5))
        out = net(x.float())
        sum((o * (i + 1)).sum() for i, o in enumerate(out)).backward()
        results.append(([o.detach() for o in out],
                        {k: p.grad.clone() for k, p in net.named_parameters()
                         if p.grad is not None}))
    (spikes_e, grads_e), (spikes_d, grads_d) = results
    assert all(torch.equal(a, b) for a, b in zip(spikes_e, spikes_d))
    assert sum(int(s.sum()) for s in spikes_e[:2]) > 0  # the conv layers spiked
    assert grads_e.keys() == grads_d.keys() and grads_e
    for k in grads_e:
        assert torch.allclose(grads_e[k], grads_d[k], rtol=1e-4, atol=1e-5), k

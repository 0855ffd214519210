"""The Rouser neuron's gradients checked against finite differences, and the threshold
grid and clamp checked not to stall learning.

The finite differences are of a smooth twin of the same forward pass: float CUBA
dynamics whose reset subtracts the amounts the real forward pass reset, plus the
difference the integer arithmetic's rounding makes to ``v`` (both held fixed, as
slayer's backward differentiates neither), and the spike ``H(v - th)`` replaced by
``F(v - th)`` with ``F' = (s / tau) exp(-|d| / tau)``, the surrogate's own width and
height. At the base point the twin's ``v`` is the integer forward's, and the surrogate
gradient is the exact gradient of the twin, so the two must agree to float precision.
"""

import math

import pytest
import torch

from rouser_lava.model.neuron import NeuronConfig, RouserCuba, cuba_fixed

SETTINGS = [(0.25, 3.0, 3.0), (1.25, 3.75, 1.5), (0.5, 0.4, 0.2)]  # (th, tau, s): Fig. 6,
# Table II, and a narrow surrogate (0.8 of the threshold)


def _smooth_spike(d: torch.Tensor, tau: float, s: float) -> torch.Tensor:
    """``F(d)`` with ``F'(d) = (s / tau) exp(-|d| / tau)``, ``F(-inf) = 0``."""
    return torch.where(d < 0, s * torch.exp(d / tau), s * (2 - torch.exp(-d / tau)))


def _twin(inp, weight, th, reset, offset, cfg: NeuronConfig):
    """The smooth twin: ``inp`` ``(N, C_in, T)``, ``weight`` ``(C, C_in)``, ``th`` ``(C,)``,
    ``reset`` ``(N, C, T)`` the voltage removed after step ``t``, ``offset`` ``(N, C, T)``
    added to the float ``v`` where the spike reads it; float64 throughout. Returns the
    smooth spikes and the float ``v`` (without ``offset``)."""
    x = torch.einsum("ci,nit->nct", weight, inp)
    keep_u, keep_v = 1 - cfg.i_decay / 4096, 1 - cfg.v_decay / 4096
    u = v = torch.zeros_like(x[..., 0])
    out, vs = [], []
    for t in range(x.shape[-1]):
        u = keep_u * u + x[..., t]
        v = keep_v * v + u
        vs.append(v)
        out.append(_smooth_spike(v + offset[..., t] - th, cfg.tau, cfg.s))  # (N, C)
        v = v - reset[..., t]
    return torch.stack(out, -1), torch.stack(vs, -1)


def _rouser_grads(inp, weight, cfg, w_loss):
    """Rouser's autograd gradients of ``sum(w_loss * spikes)`` to the weight and the
    thresholds, and the voltage it reset at each step (for the twin)."""
    neuron = RouserCuba(weight.shape[0], cfg)
    wt = weight.float().clone().requires_grad_()
    x = torch.einsum("ci,nit->nct", wt, inp.float())
    spikes = neuron(x)
    (spikes * w_loss.float()).sum().backward()
    # the voltage before each reset, from the same integer dynamics
    x_int = (x.detach() * 4096).to(torch.int64)
    th_int = torch.round(neuron.threshold.detach() * 64).to(torch.int64) * 64
    _, v_int, s = cuba_fixed(x_int, cfg.i_decay, cfg.v_decay, th_int)
    assert torch.equal(s.float(), spikes)
    v = v_int.double() / 4096
    return wt.grad.double(), neuron.threshold.grad.double(), v, v * s.double(), spikes


@pytest.mark.parametrize("th, tau, s", SETTINGS)
def test_gradients_equal_finite_differences_of_the_smooth_twin(th, tau, s):
    torch.manual_seed(0)
    cfg = NeuronConfig(threshold=th, surrogate_tau=tau, surrogate_scale=s)
    inp = (torch.rand(2, 6, 40) < 0.3).double()  # (N, C_in, T) input spikes
    weight = torch.randn(5, 6, dtype=torch.float64) * th * 0.2
    w_loss = torch.randn(2, 5, 40, dtype=torch.float64)
    g_w, g_th, v_int, reset, spikes = _rouser_grads(inp, weight, cfg, w_loss)
    assert 0 < spikes.mean() < 0.5  # some spikes, some silence: both branches of F
    th_vec = torch.full((5,), th, dtype=torch.float64)
    offset = v_int - _twin(inp, weight, th_vec, reset, torch.zeros_like(reset), cfg)[1]
    assert offset.abs().max() < 0.1  # rounding only

    def loss(w, t):
        return float((_twin(inp, w, t, reset, offset, cfg)[0] * w_loss).sum())

    eps = 1e-6
    fd_w = torch.zeros_like(weight)
    for i in range(weight.shape[0]):
        for j in range(weight.shape[1]):
            d = torch.zeros_like(weight)
            d[i, j] = eps
            fd_w[i, j] = (loss(weight + d, th_vec) - loss(weight - d, th_vec)) / (2 * eps)
    fd_th = torch.zeros_like(th_vec)
    for i in range(5):
        d = torch.zeros_like(th_vec)
        d[i] = eps
        fd_th[i] = (loss(weight, th_vec + d) - loss(weight, th_vec - d)) / (2 * eps)
    err_w = float((g_w - fd_w).abs().max() / fd_w.abs().max())
    err_th = float((g_th - fd_th).abs().max() / fd_th.abs().max())
    assert err_w < 1e-4 and err_th < 1e-4, (err_w, err_th)  # float32 against float64


def _push(neuron: RouserCuba, x: torch.Tensor, sign: float, steps: int,
          opt: torch.optim.Optimizer) -> list[float]:
    """``steps`` optimiser steps on ``sign * spikes.sum()`` (a gradient of one sign at
    every threshold: -1 lowers them, +1 raises them); the quantized thresholds after each."""
    seen = []
    for _ in range(steps):
        opt.zero_grad()
        (sign * neuron(x).sum()).backward()
        assert bool((sign * neuron.threshold.grad < 0).all())  # one sign throughout
        opt.step()
        neuron.clamp_()
        seen.append(float(neuron.quantized_threshold()[0]))
    return seen


@pytest.mark.parametrize("make_opt", [lambda p: torch.optim.Adam([p], lr=1e-3),
                                      lambda p: torch.optim.SGD([p], lr=1e-4)])
def test_grid_rounding_does_not_stall_small_steps(make_opt):
    """Steps far below the 1/64 grid step still add up: the latent threshold moves and
    the used one follows it, one grid step at a time."""
    torch.manual_seed(0)
    neuron = RouserCuba(1, NeuronConfig(threshold=1.0))
    x = torch.rand(8, 1, 50) * 0.6
    opt = make_opt(neuron.threshold)
    seen = _push(neuron, x, +1.0, 200, opt)
    assert seen[0] == 1.0  # the first step is below half a grid step
    moved = seen[-1] - 1.0
    assert moved >= 3 / 64, moved
    assert all(b - a in (0.0, 1 / 64) for a, b in zip([1.0, *seen], seen))


def test_lower_clamp_does_not_trap_a_threshold():
    """Pushed down onto the clamp (1/64) and then up, the threshold leaves it within a
    few steps: the latent value is clamped too, so nothing has to be undone."""
    torch.manual_seed(0)
    neuron = RouserCuba(1, NeuronConfig(threshold=0.25))
    x = torch.rand(8, 1, 50) * 0.3
    opt = torch.optim.SGD([neuron.threshold], lr=1e-2)
    down = _push(neuron, x, -1.0, 300, opt)
    assert down[-1] == 1 / 64 and float(neuron.threshold) == 1 / 64
    up = _push(neuron, x, +1.0, 10, opt)
    assert up[-1] > 1 / 64 + 1 / 128
    assert math.isfinite(float(neuron.threshold.grad))

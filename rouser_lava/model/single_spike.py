"""Single-spike CUBA neuron (Taylor, King, Harper 2022) in Loihi's integer arithmetic,
with one learnable threshold per neuron, and the non-spiking membrane readout.

Each neuron fires at most once per sample. Before its first spike it is the CUBA
neuron of :mod:`rouser_lava.model.neuron` without reset (integer units, ``u`` wraps and
``v`` clips at signed 24 bits):

.. math::
    u[t] &= \\operatorname{rtz}(u[t-1] (4096 - d_u) / 4096) + x[t] \\\\
    v[t] &= \\operatorname{rtz}(v[t-1] (4096 - d_v) / 4096) + u[t] \\\\
    \\tilde s[t] &= v[t] > \\vartheta_i, \\qquad
    s[t] = 1 \\iff \\textstyle\\sum_{k \\le t} \\sum_{j \\le k} \\tilde s[j] = 1

so ``s`` marks the first crossing only (``z = cumsum(cumsum(s~))`` is 0 before it, 1 at
it and >= 2 after it). This is, spike for spike, the sequential neuron that is silent
after its first spike: Loihi's refractory neuron with a refractory period >= T (holds
``v``, lets ``u`` integrate, cannot spike), :func:`single_spike_fixed`. ``iDecay = 4096``
(``current_decay=1.0``) makes the current instantaneous, ``v[t] = a v[t-1] + x[t]`` as in
the paper. The spike test is strict, ``v > vThMant << 6``, with ``vThMant = threshold*64``.

The membrane is computed exactly, as a recurrence. Rounding toward zero after every
decay makes the map from ``x`` to ``v`` non-linear, so the paper's causal convolution
with ``beta**k`` is exact here only for ``d = 4096`` (identity) and ``d = 0`` (a
cumulative sum) and the clip breaks even those. A pass over time per neuron is O(T) and
exact: on a CPU a compiled kernel (:mod:`rouser_lava.model.single_spike_kernels`, a few
integer operations per neuron and step, rows in parallel); elsewhere the torch loop
:func:`membrane_fixed`, whose per-step operations act on all neurons at once. Only this
forward recurrence runs over time; the selection is two cumulative sums, and the
backward pass is a compiled kernel (CPU) or one convolution with the filters' impulse
response (:func:`leaky_adjoint_conv`), with no loop over time in Python.

Gradients: the fast sigmoid of Block's code on the distance to threshold in units of
the initial threshold ``th0`` (Block's threshold is 1),
``ds~/dv = -ds~/dth = 1 / (th0 (10 |v - th| / th0 + 1)**2)``; the selection passes the
gradient straight through ``z``; the membrane passes it through both leaky filters as
linear filters (as slayer does for CUBA).

Readout (``readout="membrane"``): the paper's logits are the readout membrane summed
over time. That is one CUBA layer Loihi can run: current decay ``readout_decay``,
``vDecay = 0`` (``v`` sums ``u``), a threshold it never reaches (``vThMant = 2**17 - 1``),
read as ``v`` at the last step. :class:`MembraneReadout` returns that ``v`` for every
step; it equals the chip's while ``v`` stays below ``(2**17 - 1) << 6`` (logits below
2048 in weight units), above which the chip's neuron would spike and reset.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .cuba_kernels import UV_MAX
from .neuron import STATE_SCALE, TH_MANT_MAX, TH_SCALE, NeuronConfig, RouserCuba, decay_rtz
from .single_spike_kernels import adjoint_rows, membrane_rows

SLOPE = 10.0  # fast-sigmoid slope per initial threshold (Block: 10 with threshold 1)


def _wrap_clip(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loihi's signed 24 bits: ``u`` wraps, ``v`` clips (int64 tensors)."""
    u = torch.where(u > UV_MAX, u - 2 * UV_MAX, torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u))
    return u, v.clamp(1 - UV_MAX, UV_MAX - 1)


def membrane_fixed(x_int: torch.Tensor, i_decay: int, v_decay: int) -> torch.Tensor:
    """int64 ``(N, C, ..., T)``: the no-reset integer membrane ``v`` for input current
    ``x_int`` (int64, same shape, state units ``a << 6``); pure function."""
    v = torch.empty_like(x_int)
    u_t = torch.zeros_like(x_int[..., 0])
    v_t = torch.zeros_like(u_t)
    for t in range(x_int.shape[-1]):
        u_t = decay_rtz(u_t, i_decay) + x_int[..., t]
        u_t, v_t = _wrap_clip(u_t, decay_rtz(v_t, v_decay) + u_t)
        v[..., t] = v_t
    return v


def single_spike_fixed(x_int: torch.Tensor, i_decay: int, v_decay: int,
                       th_int: torch.Tensor) -> torch.Tensor:
    """bool ``(N, C, ..., T)``: spikes of the sequential single-spike neuron, the
    reference the parallel forward pass equals. After its spike a neuron is refractory
    for good: ``v`` is set to 0 and held, ``u`` integrates, no further spike.

    ``x_int`` is int64 ``(N, C, ..., T)`` in state units; ``th_int`` int64,
    broadcastable to ``(N, C, ...)``, ``vThMant << 6``.
    """
    s = torch.zeros(x_int.shape, dtype=torch.bool, device=x_int.device)
    u_t = torch.zeros_like(x_int[..., 0])
    v_t = torch.zeros_like(u_t)
    done = torch.zeros(u_t.shape, dtype=torch.bool, device=x_int.device)
    for t in range(x_int.shape[-1]):
        u_t = decay_rtz(u_t, i_decay) + x_int[..., t]
        u_t, v_new = _wrap_clip(u_t, decay_rtz(v_t, v_decay) + u_t)
        spike = (v_new > th_int) & ~done
        s[..., t] = spike
        v_t = torch.where(done | spike, torch.zeros_like(v_t), v_new)
        done = done | spike
    return s


def leaky_adjoint_conv(grad_v: torch.Tensor, keep_v: float, keep_u: float) -> torch.Tensor:
    """The adjoint of both leaky filters (``u`` then ``v``) as one correlation with their
    impulse response ``h[k] = sum_j keep_v**j keep_u**(k-j)``: ``grad_x[t] = sum_k
    h[k] grad_v[t + k]``. ``grad_v`` is ``(..., T)``; returns the same shape and dtype."""
    steps = grad_v.shape[-1]
    k = np.arange(steps)
    pv, pu = keep_v ** k, keep_u ** k
    h = np.convolve(pv, pu)[:steps]  # float64 impulse response of the cascade
    weight = torch.tensor(h, dtype=grad_v.dtype, device=grad_v.device).view(1, 1, -1)
    rows = grad_v.reshape(-1, 1, steps)
    out = nn.functional.conv1d(nn.functional.pad(rows, (0, steps - 1)), weight)
    return out.reshape(grad_v.shape)


def _rows(x: torch.Tensor) -> np.ndarray:
    """``(..., T)`` as a C-contiguous ``(M, T)`` array sharing memory where it can."""
    return x.detach().contiguous().reshape(-1, x.shape[-1]).numpy()


class _Membrane(torch.autograd.Function):
    """Input current (float, weight units) -> no-reset membrane ``v / 4096`` (exact
    integers), gradient through the two leaky filters as linear filters."""

    @staticmethod
    def forward(ctx, x, i_decay, v_decay):
        x_int = (x * STATE_SCALE).to(torch.int64)  # slayer truncates toward zero
        if x.device.type == "cpu" and x.dtype == torch.float32:
            v = torch.empty(x.shape, dtype=x.dtype)
            membrane_rows(_rows(x_int), i_decay, v_decay, v.view(-1, x.shape[-1]).numpy())
        else:
            v = membrane_fixed(x_int, i_decay, v_decay).to(x.dtype) / STATE_SCALE
        ctx.keep = (1.0 - v_decay / STATE_SCALE, 1.0 - i_decay / STATE_SCALE)
        return v

    @staticmethod
    def backward(ctx, grad_v):
        keep_v, keep_u = ctx.keep
        if grad_v.device.type == "cpu" and grad_v.dtype == torch.float32:
            grad_x = torch.empty(grad_v.shape, dtype=grad_v.dtype)
            adjoint_rows(_rows(grad_v), np.float32(keep_v), np.float32(keep_u),
                         grad_x.view(-1, grad_v.shape[-1]).numpy())
        else:
            grad_x = leaky_adjoint_conv(grad_v, keep_v, keep_u)
        return grad_x, None, None


class _FastSigmoidStep(torch.autograd.Function):
    """``d > 0`` as float, gradient ``grad * scale / (slope |d| + 1)**2`` (Block)."""

    @staticmethod
    def forward(ctx, d, slope, scale):
        ctx.save_for_backward(d)
        ctx.consts = (slope, scale)
        return (d > 0).to(d.dtype)

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        slope, scale = ctx.consts
        return grad * scale / (slope * d.abs() + 1.0) ** 2, None, None


class _FirstSpike(torch.autograd.Function):
    """``z == 1`` as float, gradient passed straight through."""

    @staticmethod
    def forward(ctx, z):
        return (z == 1).to(z.dtype)

    @staticmethod
    def backward(ctx, grad):
        return grad


def first_crossing(candidates: torch.Tensor) -> torch.Tensor:
    """Spikes ``(..., T)`` at the first 1 of ``candidates`` (float 0/1, ``(..., T)``):
    ``cumsum(cumsum(s))`` over time is exactly 1 there (float32 sums of integers below
    2**24 are exact); the gradient flows straight through the two sums."""
    return _FirstSpike.apply(candidates.cumsum(-1).cumsum(-1))


class RouserSingleSpike(RouserCuba):
    """Single-spike CUBA population with a per-neuron (per-channel) threshold; the
    thresholds (``threshold``, float32 ``(C,)``), their grid and clamping are
    :class:`~rouser_lava.model.neuron.RouserCuba`'s."""

    def __init__(self, num_channels: int, config: NeuronConfig):
        super().__init__(num_channels, config)
        th0 = max(round(config.threshold * TH_SCALE), 1) / TH_SCALE  # on the grid
        self.slope, self.surrogate_scale = SLOPE / th0, 1.0 / th0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``(N, C, ..., T)`` float32 in {0, 1}, at most one per neuron, for input
        current ``x`` of that shape (weight units)."""
        th = self.quantized_threshold().reshape(-1, *([1] * (x.dim() - 2)))  # (C, 1.., 1)
        v = _Membrane.apply(x, self.config.i_decay, self.config.v_decay)
        candidates = _FastSigmoidStep.apply(v - th, self.slope, self.surrogate_scale)
        return first_crossing(candidates)


class MembraneReadout(nn.Module):
    """The non-spiking readout: a CUBA population with ``vDecay = 0`` and the largest
    threshold (never reached), whose ``v`` at the last step are the logits.

    Attributes
    ----------
    threshold : torch.Tensor
        float32 ``(C,)`` buffer, ``(2**17 - 1) / 64`` (``vThMant = 2**17 - 1``).
    """

    def __init__(self, num_channels: int, config: NeuronConfig):
        super().__init__()
        self.config = config
        self.register_buffer("threshold", torch.full((num_channels,), TH_MANT_MAX / TH_SCALE))

    def quantized_threshold(self) -> torch.Tensor:
        """float32 ``(C,)``: the thresholds as the hardware holds them."""
        return self.threshold

    def threshold_mant(self) -> torch.Tensor:
        """int64 ``(C,)``: ``vThMant`` of every neuron (``2**17 - 1``)."""
        return torch.round(self.threshold * TH_SCALE).to(torch.int64)

    def clamp_(self) -> None:
        """Nothing to keep in range: the threshold is fixed."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """float32 ``(N, C, ..., T)``: the readout's ``v`` (weight units) at every step for
        input current ``x`` of that shape; ``[..., -1]`` are the logits."""
        return _Membrane.apply(x, self.config.readout_i_decay, 0)

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

Gradients: the fast sigmoid of Block's code on the distance to threshold in units of
the initial threshold ``th0`` (Block's threshold is 1),
``ds~/dv = -ds~/dth = 1 / (th0 (10 |v - th| / th0 + 1)**2)``; the selection passes the
gradient straight through ``z`` (so through both cumulative sums, whose adjoints are
sums to the end of the sample); the membrane passes it through both leaky filters as
linear filters (as slayer does for CUBA).

Why this is computed the way it is. Rounding toward zero after every decay makes the
map from ``x`` to ``v`` non-linear, so the paper's causal convolution with ``beta**k``
(or any parallel scan) is exact here only for ``d = 4096`` (identity) and ``d = 0`` (a
cumulative sum), and the 24-bit clip breaks even those: the exact membrane is a pass over
time per neuron, O(T). Everything else is O(T) per neuron too, and parallel over
neurons: the first crossing is a running flag forward, and the whole backward pass (the
two sums to the end, the surrogate, both leaky adjoints, the threshold's sum) is one
reverse scan with five running sums. On a CPU nothing loops over time in Python; on
other devices only the forward membrane does (the selection and the backward never).

- CPU (float32): one compiled kernel per layer forward and one backward
  (:mod:`rouser_lava.model.single_spike_kernels`). They hold the data as ``(N, T, R)``,
  neurons contiguous: a dense layer's current already lies so (the transposed matrix
  product: read without a copy, the input gradient written back in that layout; the
  incoming spike gradient is transposed into it by one copy), and
  every step advances all neurons of a sample with the same integer operations, which
  vectorize (SIMD) instead of waiting on one neuron's chain of latencies. Forward writes
  the spikes and ``v`` (float32, kept for the backward pass only when a gradient is
  needed); backward writes the input gradient and per-neuron sums for the thresholds.
  Each element is read and written about once per pass, where the unfused form (integer
  conversion, copies, membrane, surrogate step, two cumulative sums and their flipped
  adjoints, the surrogate's powers and quotients) made some twenty passes.
- Other devices (GPU): the same arithmetic as torch operations. The integer membrane is
  :func:`membrane_fixed`, T steps of a few operations on all neurons at once (a step is
  a data dependency, so this loop is inherent to the exact model; a hand-written CUDA
  kernel with one thread per neuron would save its launch overhead, not done here); the
  selection is one cumulative sum; the backward pass is two cumulative sums, the
  surrogate, and :func:`leaky_adjoint_conv`, one convolution with the filters' impulse
  response (O(T**2) multiply-adds per neuron, which a GPU runs in parallel).

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

from ..loihi import STATE_SCALE, TH_MANT_MAX, TH_SCALE, clip_v, wrap_u
from .neuron import NeuronConfig, RouserCuba, decay_rtz
from .single_spike_kernels import (
    membrane_backward,
    membrane_forward,
    single_spike_backward,
    single_spike_forward,
)

SLOPE = 10.0  # fast-sigmoid slope per initial threshold (Block: 10 with threshold 1)


def _wrap_clip(u: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Loihi's signed 24 bits: ``u`` wraps, ``v`` clips (int64 tensors)."""
    return wrap_u(u), clip_v(v)


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


def single_spike_torch(x: torch.Tensor, th: torch.Tensor, i_decay: int, v_decay: int
                       ) -> tuple[torch.Tensor, torch.Tensor]:
    """The forward pass as torch operations (any device): spikes and ``v / 4096``, both
    ``x``'s shape and dtype, for current ``x`` ``(N, C, ..., T)`` and thresholds ``th``
    (``(C,)``, on the 1/64 grid)."""
    v_int = membrane_fixed((x * STATE_SCALE).to(torch.int64), i_decay, v_decay)
    th_int = torch.round(th * STATE_SCALE).to(torch.int64)
    above = v_int > th_int.reshape(-1, *[1] * (x.dim() - 2))
    first = above & (above.cumsum(-1) == 1)  # the double sum's 1: the first crossing
    return first.to(x.dtype), v_int.to(x.dtype) / STATE_SCALE


def single_spike_backward_torch(grad_s: torch.Tensor, v: torch.Tensor, th: torch.Tensor,
                                consts: tuple[float, float, float, float]
                                ) -> tuple[torch.Tensor, torch.Tensor]:
    """The backward pass as torch operations (any device): the gradient at the current
    and ``sum_t grad_v`` per neuron ``(N, C, ...)``; ``consts`` is ``(slope, scale,
    keep_v, keep_u)``. Same arithmetic as the compiled
    :func:`~rouser_lava.model.single_spike_kernels.single_spike_backward`."""
    slope, scale, keep_v, keep_u = consts
    selected = grad_s.flip(-1).cumsum(-1).cumsum(-1).flip(-1)  # both sums' adjoints
    th = th.reshape(-1, *[1] * (v.dim() - 2))
    grad_v = selected * scale / (slope * (v - th).abs() + 1.0) ** 2
    return leaky_adjoint_conv(grad_v, keep_v, keep_u), grad_v.sum(-1)


def _compiled(x: torch.Tensor) -> bool:
    """Whether the compiled CPU kernels take ``x``."""
    return x.device.type == "cpu" and x.dtype == torch.float32


def _ntr(x: torch.Tensor) -> torch.Tensor:
    """``(N, C, ..., T)`` as ``(N, T, R)``, the kernels' layout (a view where the strides
    allow: a dense layer's current is the transposed matrix product, already laid out so).
    """
    return x.detach().reshape(x.shape[0], -1, x.shape[-1]).transpose(1, 2)


def _from_ntr(y: torch.Tensor, shape: torch.Size) -> torch.Tensor:
    """The inverse of :func:`_ntr`: ``(N, T, R)`` as ``shape`` ``(N, C, ..., T)`` (a view)."""
    return y.transpose(1, 2).reshape(shape)


class _SingleSpike(torch.autograd.Function):
    """Input current (float, weight units) -> spikes of the single-spike neuron (exact
    integers), surrogate gradient to the current and the thresholds."""

    @staticmethod
    def forward(ctx, x, th, i_decay, v_decay, slope, scale, keep):
        th = th.detach()
        if _compiled(x):
            x_ntr = _ntr(x).contiguous()
            s = torch.empty(x_ntr.shape)
            v = torch.empty(x_ntr.shape if keep else (0, 0, 0))
            per = x_ntr.shape[2] // th.numel()
            th_int = torch.round(th * STATE_SCALE).to(torch.int64).repeat_interleave(per)
            single_spike_forward(x_ntr.numpy(), i_decay, v_decay, th_int.numpy(), s.numpy(),
                                 v.numpy())
            s = _from_ntr(s, x.shape)
        else:
            s, v = single_spike_torch(x, th, i_decay, v_decay)
        ctx.save_for_backward(v, th)
        ctx.consts = (slope, scale, 1.0 - v_decay / STATE_SCALE, 1.0 - i_decay / STATE_SCALE)
        ctx.compiled, ctx.shape = _compiled(x), x.shape
        return s

    @staticmethod
    def backward(ctx, grad_s):
        v, th = ctx.saved_tensors
        if ctx.compiled:
            grad_x = torch.empty(v.shape)
            grad_v_sum = torch.empty(v.shape[0], v.shape[2])
            per = v.shape[2] // th.numel()
            # (mypy counts the starred ``consts`` as any length; they are four values)
            single_spike_backward(_ntr(grad_s).contiguous().numpy(), v.numpy(),  # type: ignore[call-arg]
                                  th.repeat_interleave(per).numpy(),
                                  *map(np.float32, ctx.consts), grad_x.numpy(),
                                  grad_v_sum.numpy())
            grad_x = _from_ntr(grad_x, ctx.shape)
        else:
            grad_x, grad_v_sum = single_spike_backward_torch(grad_s, v, th, ctx.consts)
        grad_th = -grad_v_sum.reshape(v.shape[0], th.numel(), -1).sum((0, 2))
        return grad_x, grad_th, None, None, None, None, None


class _Membrane(torch.autograd.Function):
    """Input current (float, weight units) -> no-reset membrane ``v / 4096`` (exact
    integers), gradient through the two leaky filters as linear filters."""

    @staticmethod
    def forward(ctx, x, i_decay, v_decay):
        if _compiled(x):
            x_ntr = _ntr(x).contiguous()
            v = torch.empty(x_ntr.shape)
            membrane_forward(x_ntr.numpy(), i_decay, v_decay, v.numpy())
            v = _from_ntr(v, x.shape)
        else:
            x_int = (x * STATE_SCALE).to(torch.int64)  # slayer truncates toward zero
            v = membrane_fixed(x_int, i_decay, v_decay).to(x.dtype) / STATE_SCALE
        ctx.keep = (1.0 - v_decay / STATE_SCALE, 1.0 - i_decay / STATE_SCALE)
        ctx.compiled = _compiled(x)
        return v

    @staticmethod
    def backward(ctx, grad_v):
        keep_v, keep_u = ctx.keep
        if ctx.compiled:
            grad_ntr = _ntr(grad_v).contiguous()
            grad_x = torch.empty(grad_ntr.shape)
            membrane_backward(grad_ntr.numpy(), np.float32(keep_v), np.float32(keep_u),
                              grad_x.numpy())
            grad_x = _from_ntr(grad_x, grad_v.shape)
        else:
            grad_x = leaky_adjoint_conv(grad_v, keep_v, keep_u)
        return grad_x, None, None


class RouserSingleSpike(RouserCuba):
    """Single-spike CUBA population with a per-neuron (per-channel) threshold; the
    thresholds (``threshold``, float32 ``(C,)``), their grid and clamping are
    :class:`~rouser_lava.model.neuron.RouserCuba`'s."""

    def __init__(self, num_channels: int, config: NeuronConfig):
        super().__init__(num_channels, config)
        th0 = max(round(config.threshold * TH_SCALE), 1) / TH_SCALE  # on the grid
        self.slope, self.surrogate_scale = SLOPE / th0, 1.0 / th0

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]  # never folded
        """Spikes ``(N, C, ..., T)`` float32 in {0, 1}, at most one per neuron, for input
        current ``x`` of that shape (weight units)."""
        th = self.quantized_threshold()
        keep = torch.is_grad_enabled() and (x.requires_grad or th.requires_grad)
        return _SingleSpike.apply(x, th, self.config.i_decay, self.config.v_decay,
                                  self.slope, self.surrogate_scale, keep)

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

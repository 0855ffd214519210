"""A conv synapse's product over spikes, event-driven where they are sparse: slayer's
``Conv`` synapse (``F.conv3d`` of ``(N, C_in, H, W, T)`` with a ``(kh, kw, 1)``
kernel) and its weight gradient, at a cost that follows the spikes.

Each input spike adds its kernel column ``W[:, c, ky, kx]`` to every output position
it reaches (:func:`conv_taps`); the weight gradient adds, per spike and tap, the
gradient at that output to ``dW[:, c, ky, kx]`` (:mod:`rouser_lava.model.event_kernels`).
Both cost the spikes times the taps times ``C_out``, where ``conv3d`` costs every
output times ``C_in kh kw``. Fold-exact training (:func:`fold_conv`) takes the same
sum over the fold's integer weights (its value) with the float weights' gradients. The
input gradient stays dense (the gradient is) and is computed only where the input
needs it (not for a network's input). The event path is taken for groups 1, CPU
float32 inputs, below :data:`CONV_EVENT_DENSITY` nonzero entries; the two paths give
the same values (slayer's weights on the 1/32 grid and 0/1 spikes sum exactly in
float32 in any order) and the same gradients to float rounding
(``tests/test_event_conv.py``, ``tests/test_event_synapse.py``).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import torch
from torch import nn
from torch.nn.grad import conv3d_input

from ..loihi import clip_activation
from .event_kernels import event_conv_sum, event_conv_weight_grad
from .event_synapse import Events, collect_events

# Calibration (2026-12-05, 2-vCPU AMD EPYC, 1 thread; three conv shapes, T 100-300, batch
# 16): the event path's forward and backward took 0.78-0.92x conv3d's speed at 10 %
# nonzero inputs, 1.07-1.23x at 5 %, 1.44-1.94x at 1 % (``benchmarks/conv_events.py``
# measures two of the shapes at 1 % and 5 %, in ``benchmarks/RESULTS.md``).
CONV_EVENT_DENSITY = 0.05  # event path below this fraction of nonzero inputs

Conv = tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...], int]  # stride, pad, dil, groups


@functools.lru_cache(maxsize=256)
def conv_taps(size_in: int, size_out: int, kernel: int, stride: int, padding: int,
              dilation: int) -> np.ndarray:
    """int64 ``(size_in, kernel, 2)``, read-only (made once per geometry): the (output,
    kernel tap) pairs each input position reaches along one axis (a cross-correlation:
    output ``o`` reads input ``o stride + k dilation - padding``), ended by -1."""
    taps = np.full((size_in, kernel, 2), -1, np.int64)
    for i in range(size_in):
        pairs = [((i + padding - k * dilation) // stride, k) for k in range(kernel)
                 if (i + padding - k * dilation) % stride == 0
                 and 0 <= (i + padding - k * dilation) // stride < size_out]
        if pairs:
            taps[i, :len(pairs)] = pairs
    taps.flags.writeable = False
    return taps


def _taps(x_shape: torch.Size, out_hw: tuple[int, int], w: torch.Tensor,
          conv: Conv) -> tuple[np.ndarray, np.ndarray]:
    stride, padding, dilation, _ = conv
    return tuple(conv_taps(x_shape[2 + a], out_hw[a], w.shape[2 + a], stride[a], padding[a],
                           dilation[a]) for a in (0, 1))  # type: ignore[return-value]


class _SpikeConv(torch.autograd.Function):
    """``conv3d(x, w)`` over ``events`` (:func:`conv_events` of ``x``), output ``(N, C_out,
    H', W', T)`` (a view of channel-last sums). With ``w_run`` (the fold's integer
    weights, float32, ``w``'s shape) the value is ``conv3d(x, w_run)`` clipped to 24 bits
    and the gradients are those of ``conv3d(x, w)``: one sum, not two."""

    @staticmethod
    def forward(ctx, x, w, conv, events, w_run):
        n, _, _, _, steps = x.shape
        out_hw = tuple((x.shape[2 + a] + 2 * conv[1][a] - conv[2][a] * (w.shape[2 + a] - 1)
                        - 1) // conv[0][a] + 1 for a in (0, 1))
        taps = _taps(x.shape, out_hw, w, conv)
        shape_in = np.array(x.shape[1:], np.int64)
        out = torch.zeros((n, steps, *out_hw, w.shape[0]), dtype=torch.float32)
        pos, val, starts = (e.numpy() for e in events)
        w_sum = w if w_run is None else w_run
        event_conv_sum(pos, val, starts, shape_in, taps[0], taps[1],
                       w_sum[..., 0].permute(1, 2, 3, 0).contiguous().numpy(), out.numpy())
        ctx.save_for_backward(x, w)
        ctx.conv, ctx.events, ctx.taps = conv, events, taps
        out = out if w_run is None else clip_activation(out)
        return out.permute(0, 4, 2, 3, 1)  # a view: a copy would cost more than the sums

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = conv3d_input(x.shape, w, grad, stride, padding, dilation, groups)
        if ctx.needs_input_grad[1]:
            g_t = grad.permute(0, 4, 2, 3, 1).contiguous()  # (N, T, H', W', C_out)
            parts = max(1, min(numba.get_num_threads(), len(x)))
            dw = torch.zeros((parts, w.shape[1], w.shape[2], w.shape[3], w.shape[0]))
            pos, val, starts = (e.numpy() for e in ctx.events)
            taps_y, taps_x = ctx.taps
            event_conv_weight_grad(pos, val, starts, np.array(x.shape[1:], np.int64),
                                   taps_y, taps_x, g_t.numpy(), dw.numpy())
            grad_w = dw.sum(0).permute(3, 0, 1, 2).unsqueeze(-1)
        return grad_x, grad_w, None, None, None


def conv_events(x: torch.Tensor, conv: Conv) -> Events | None:
    """The events of ``x`` ``(N, C_in, H, W, T)`` when its conv takes the event path
    (groups 1, a kernel of one step, CPU float32, fewer than :data:`CONV_EVENT_DENSITY`
    of its entries nonzero), else None."""
    stride, padding, dilation, groups = conv
    if groups != 1 or (stride[2], padding[2], dilation[2]) != (1, 0, 1) or x.dim() != 5:
        return None
    return collect_events(x.detach().contiguous(), CONV_EVENT_DENSITY)


def spike_conv(x: torch.Tensor, w: torch.Tensor, conv: Conv) -> torch.Tensor:
    """slayer's conv synapse, float32 ``(N, C_out, H', W', T)``: ``conv3d(x, w)`` with
    ``conv`` = (stride, padding, dilation, groups) (3-tuples but groups), event-driven
    when ``x`` is sparse (see the module docstring), else ``F.conv3d``."""
    events = conv_events(x, conv)
    if events is None:
        return nn.functional.conv3d(x, w, None, *conv)
    return _SpikeConv.apply(x, w, conv, events, None)


class _FoldConv(torch.autograd.Function):
    """Spikes ``x`` ``(N, C_in, H, W, T)`` -> the fold's conv activation (value), with the
    gradients of ``conv3d(x, w)`` (to ``x`` and ``w``): one dense convolution forward."""

    @staticmethod
    def forward(ctx, x, w, w_run, conv):
        out = clip_activation(nn.functional.conv3d(x, w_run, None, *conv))
        ctx.save_for_backward(x, w)
        ctx.conv = conv
        return out

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv
        # what autograd runs for conv3d (torch.nn.grad.conv3d_weight calls it too)
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad, x, w, None, stride, padding, dilation, False, [0, 0, 0], groups,
            (ctx.needs_input_grad[0], ctx.needs_input_grad[1], False))
        return grad_x, grad_w, None, None


def fold_conv(x: torch.Tensor, w: torch.Tensor, w_run: torch.Tensor, conv: Conv
              ) -> torch.Tensor:
    """Lava's conv activation of the fold, float32 ``(N, C_out, H', W', T)``:
    ``conv3d(x, w_run)`` (``w_run`` the fold's integer weights as float32, same shape as
    ``w``) clipped to 24 bits, with the gradients of slayer's ``conv3d(x, w)``; ``conv``
    is ``(stride, padding, dilation, groups)`` of the synapse (3-tuples). Event-driven
    where ``x`` is sparse, as :func:`spike_conv`."""
    events = conv_events(x, conv)
    if events is None:
        return _FoldConv.apply(x, w, w_run, conv)
    return _SpikeConv.apply(x, w, conv, events, w_run)

"""A dense synapse's product ``W x`` over spikes, event-driven where the spikes are
sparse: forward, weight gradient and input gradient of one matrix product, and the fold's
integer sum in place of the float one where fold-exact training asks for it (conv
synapses: :mod:`rouser_lava.model.event_conv`).

For spikes ``x`` ``(N, C_in, T)`` (0/1) the sum ``W x[n, :, t]`` is the sum of ``W``'s
columns of the inputs that spiked, and the weight gradient ``sum_{n, t} g[n, :, t]
x[n, :, t]^T`` touches only those columns: both cost the number of spikes times
``C_out`` (:mod:`rouser_lava.model.event_kernels`) instead of ``N T C_in C_out``. The
input gradient ``W^T g`` is dense (``g`` is) and is computed only when ``x`` needs it
(not for a network's input). Which path a product takes is chosen per call (per layer,
per batch) from the measured fraction of nonzero inputs: events below a density that
depends on ``C_out`` (:func:`event_density_max`: 6 to 15 %, none below 8 outputs),
else the dense matrix products; a tensor off the CPU or not float32 always takes the
dense path. The two give the same values (weights on slayer's 1/32 grid and 0/1 inputs
sum exactly in float32 in any order) and the same gradients to float rounding (tested:
``tests/test_event_synapse.py``).
"""

from __future__ import annotations

import numba
import numpy as np
import torch
from torch import nn

from .event_kernels import (
    count_events,
    event_grad_columns,
    event_sum,
    event_sum_serial,
    event_weight_grad,
    fill_events,
)

# Cost per input entry and step of one product and its weight gradient (ns, 1 thread,
# AMD EPYC, measured with benchmarks' shapes: C_out 3 to 500 at 1 to 12 % activity): the
# dense products about 2 + 0.05 C_out; the event path about 0.8 (finding the events) plus,
# per event, 24 + 0.16 C_out. The event path is taken below the density where they meet.
DENSE_NS = (2.0, 0.05)  # fixed, per output
EVENT_NS = (0.8, 24.0, 0.16)  # per input entry, per event, per event and output
EVENT_DENSITY_SCALE = 1.0  # scales that density (0: always dense; inf: always events)
MIN_OUTPUTS = 8  # fewer outputs: dense (120 -> 3, T = 100, batch 32, 1 % input: the event
# path measured 1.2-1.3 ms forward and backward, the dense 1.0-1.1 ms)
PARALLEL_MIN = 1 << 20  # input entries from which the kernels run on numba's threads (a
# parallel launch costs about 45 us)


def _parallel(x: torch.Tensor) -> bool:
    """Whether the event kernels over ``x`` run on several threads."""
    return numba.get_num_threads() > 1 and x.numel() >= PARALLEL_MIN


def event_density_max(c_out: int) -> float:
    """Fraction of nonzero inputs below which a product into ``c_out`` outputs takes the
    event path: ``EVENT_DENSITY_SCALE`` times the modelled crossover (``DENSE_NS``,
    ``EVENT_NS``), at most 0.15 (the highest activity measured); none below
    ``MIN_OUTPUTS`` outputs."""
    if EVENT_DENSITY_SCALE == float("inf"):  # every product on the event path
        return float("inf")
    if c_out < MIN_OUTPUTS:
        return 0.0
    dense = DENSE_NS[0] + DENSE_NS[1] * c_out - EVENT_NS[0]
    return EVENT_DENSITY_SCALE * min(0.15, dense / (EVENT_NS[1] + EVENT_NS[2] * c_out))


Events = tuple[torch.Tensor, torch.Tensor, torch.Tensor]  # pos, val, starts (event_kernels)


def events_of(x: torch.Tensor, c_out: int) -> Events | None:
    """The events of ``x`` ``(N, C_in, T)`` (C-contiguous) when its product into ``c_out``
    outputs takes the event path (CPU float32, fewer than :func:`event_density_max` of
    its entries nonzero), else None: flat positions (int64, ascending, in ``x``'s C
    order), values, and each sample's first event (int64 ``(N + 1,)``)."""
    return collect_events(x, event_density_max(c_out))


def collect_events(x: torch.Tensor, limit: float) -> Events | None:
    """The events of ``x`` (C-contiguous, ``(N, ...)``, as :func:`events_of`) when fewer
    than ``limit`` of its entries are nonzero and it is a CPU float32 tensor, else None."""
    if x.device.type != "cpu" or x.dtype != torch.float32 or x.numel() == 0 or limit <= 0:
        return None
    rows = x.reshape(x.shape[0], -1).numpy()
    counts = np.empty(x.shape[0], dtype=np.int64)
    count_events(rows, counts)
    total = int(counts.sum())
    if total >= limit * x.numel():
        return None
    starts = np.zeros(x.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=starts[1:])
    pos, val = np.empty(total, dtype=np.int64), np.empty(total, dtype=np.float32)
    fill_events(rows, starts, pos, val)
    return torch.from_numpy(pos), torch.from_numpy(val), torch.from_numpy(starts)


def _product(x: torch.Tensor, w: torch.Tensor,
             events: Events | None) -> torch.Tensor:
    """``W x``: float32 ``(N, T, C_out)`` for ``x`` ``(N, C_in, T)`` and ``w``
    ``(C_out, C_in)``, over ``events`` when given, else one dense matrix product."""
    if events is None:
        return nn.functional.linear(x.transpose(1, 2), w)
    pos, val, starts = events
    out = torch.zeros((x.shape[0], x.shape[2], w.shape[0]), dtype=torch.float32)
    kernel = event_sum if _parallel(x) else event_sum_serial
    kernel(pos.numpy(), val.numpy(), starts.numpy(), x.shape[1], x.shape[2],
           w.t().contiguous().numpy(), out.numpy())
    return out


class _SpikeLinear(torch.autograd.Function):
    """``x`` ``(N, C_in, T)``, ``w`` ``(C_out, C_in)`` -> current
    ``(N, C_out, T)``, over ``events`` (:func:`events_of`) or, for None, dense.

    With ``run = (w_run, exp)`` the value is the fold's ``floor(w_run x * 2**exp)``
    (``w_run`` integer-valued float32) and the gradients are those of ``w x``: one sum,
    not two.
    """

    @staticmethod
    def forward(ctx, x, w, run, events):
        x = x.contiguous()
        if run is None:
            out = _product(x, w, events)
        else:
            out = torch.floor(_product(x, run[0], events) * 2.0 ** run[1])
        ctx.save_for_backward(x, w)
        ctx.events = events
        return out.transpose(1, 2)

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.matmul(w.t(), grad)  # (N, C_in, T)
        if ctx.needs_input_grad[1]:
            g_t = grad.transpose(1, 2).contiguous()  # (N, T, C_out)
            if ctx.events is None:
                grad_w = g_t.reshape(-1, w.shape[0]).t() @ x.transpose(1, 2).reshape(-1,
                                                                                 w.shape[1])
            else:
                grad_w = _event_weight_grad(x, g_t, ctx.events)
        return grad_x, grad_w, None, None


def _event_weight_grad(x: torch.Tensor, g_t: torch.Tensor, events: Events) -> torch.Tensor:
    """float32 ``(C_out, C_in)``: ``sum_{n, t} g[n, :, t] x[n, :, t]^T`` over ``x``'s
    ``events``, ``g_t`` the gradient at the current as ``(N, T, C_out)``."""
    pos, val, _ = events
    c_out = g_t.shape[2]
    dw_t = torch.zeros((x.shape[1], c_out), dtype=torch.float32)
    parts = min(numba.get_num_threads(), c_out // 16) if _parallel(x) else 1
    if parts > 1:
        event_weight_grad(pos.numpy(), val.numpy(), x.shape[1], x.shape[2], g_t.numpy(),
                          parts, dw_t.numpy())
    else:
        event_grad_columns(pos.numpy(), val.numpy(), x.shape[1], x.shape[2], g_t.numpy(),
                           0, c_out, dw_t.numpy())
    return dw_t.t()


def spike_linear(x: torch.Tensor, w: torch.Tensor,
                 run: tuple[torch.Tensor, int] | None = None) -> torch.Tensor:
    """Synaptic current float32 ``(N, C_out, T)`` of spikes ``x`` ``(N, C_in, T)``
    through weights ``w`` ``(C_out, C_in)``: ``w x`` per sample and step (slayer's
    ``Dense`` synapse), event-driven when ``x`` is sparse (see the module docstring);
    dense, plain torch (autograd's ``linear``).

    With ``run = (w_run, exp)`` (float32 integer-valued ``(C_out, C_in)``, int) the
    value is ``floor(w_run x * 2**exp)``, the fold's integer activation, and gradients
    to ``x`` and ``w`` are those of ``w x``.
    """
    x_c = x.detach().contiguous()
    events = events_of(x_c, w.shape[0])
    if events is None and run is None:
        return nn.functional.linear(x.transpose(1, 2), w).transpose(1, 2)
    return _SpikeLinear.apply(x, w, run, events)

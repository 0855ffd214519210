"""Compiled (numba) CPU kernels of the training neuron: the integer CUBA recurrence
and its two-filter adjoint.

:func:`rouser_lava.model.neuron.cuba_fixed` states the dynamics as torch operations, one
time step at a time. On a CPU that loop costs a dozen small tensor operations per step
and is dominated by their overhead; these kernels do the same arithmetic in one pass
per neuron (rows in parallel, time in order) and give the same integers. The adjoint
fuses the two leaky filters of the backward pass, in float32 like the torch loop.
Rows are neurons of all samples, ``(M, T)`` with time contiguous.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from ..loihi import STATE_SCALE, UV_MAX


@njit(cache=True, inline="always")
def _rtz(x, keep):  # pragma: no cover - compiled
    """``sign(x) * ((|x| * keep) >> 12)`` for int64 ``x``."""
    if x >= 0:
        return (x * keep) >> 12
    return -(((-x) * keep) >> 12)


@njit(cache=True, parallel=True)
def cuba_rows(x_int, i_decay, v_decay, th_rows, bias_rows, v_out,
              s_out):  # pragma: no cover - compiled
    """Integer CUBA with reset to zero, row by row; ``u`` wraps and ``v`` clips at 24
    bits as on Loihi; ``bias_rows`` is added to ``v`` every step.

    Parameters
    ----------
    x_int : int64 ndarray ``(M, T)``, input current per step in state units
    i_decay, v_decay : int, 12-bit decays
    th_rows : int64 ndarray ``(M,)``, threshold of each row in state units (spike when
        ``v > th``)
    bias_rows : int64 ndarray ``(M,)``, bias of each row in state units (``bias_mant <<
        6``; zeros for none)
    v_out : float32 ndarray ``(M, T)``, receives the pre-reset voltage in units of
        threshold (``v / 4096``, as ``v.to(float32) / 4096`` in torch)
    s_out : float32 ndarray ``(M, T)``, receives the spikes (0 or 1)
    """
    rows, steps = x_int.shape
    keep_u, keep_v = STATE_SCALE - i_decay, STATE_SCALE - v_decay
    scale = np.float32(STATE_SCALE)
    for r in prange(rows):
        u = np.int64(0)
        v = np.int64(0)
        th = th_rows[r]
        b = bias_rows[r]
        for t in range(steps):
            u = _rtz(u, keep_u) + x_int[r, t]
            if u > UV_MAX:  # Loihi's 24-bit u wraps
                u -= 2 * UV_MAX
            elif u <= -UV_MAX:
                u += 2 * UV_MAX
            # 24-bit v clips (min/max of int64 and int: fine in numba; typeshed wants one type)
            v = min(max(_rtz(v, keep_v) + u + b, 1 - UV_MAX), UV_MAX - 1)  # type: ignore[arg-type]
            v_out[r, t] = np.float32(v) / scale
            if v > th:
                s_out[r, t] = 1.0
                v = np.int64(0)
            else:
                s_out[r, t] = 0.0


@njit(cache=True, parallel=True)
def spike_backward_rows(grad_s, v, th_rows, coef, tau, keep_v, keep_u, grad_x,
                        grad_v_sum, grad_b_sum):  # pragma: no cover - compiled
    """Surrogate gradient and the adjoint of both leaky filters, row by row.

    ``grad_v = coef * exp(-|v - th| / tau) * grad_s``; then ``grad_x = A_u(A_v(grad_v))``
    where ``A_a`` is the adjoint of ``y[t] = a y[t-1] + x[t]``, i.e.
    ``y[t] = a y[t+1] + x[t]`` backwards in time.

    Parameters
    ----------
    grad_s, v : float32 ndarray ``(M, T)``, gradient at the spikes and the voltage
    th_rows : float32 ndarray ``(M,)``, threshold of each row
    coef, tau : float32, surrogate height ``s_rho / (2 tau_rho)`` and width ``tau_rho``
    keep_v, keep_u : float32, retention ``1 - decay / 4096`` of voltage and current
    grad_x : float32 ndarray ``(M, T)``, receives the gradient at the input current
    grad_v_sum : float32 ndarray ``(M,)``, receives ``sum_t grad_v`` (for the threshold)
    grad_b_sum : float32 ndarray ``(M,)``, receives ``sum_t A_v(grad_v)[t]``, the gradient
        at a bias added to ``v`` every step
    """
    rows, steps = grad_s.shape
    for r in prange(rows):
        th = th_rows[r]
        acc_v = np.float32(0.0)
        acc_u = np.float32(0.0)
        total = np.float32(0.0)
        total_v = np.float32(0.0)
        for t in range(steps - 1, -1, -1):
            g = coef * np.exp(-np.abs(v[r, t] - th) / tau) * grad_s[r, t]
            total += g
            acc_v = keep_v * acc_v + g
            total_v += acc_v
            acc_u = keep_u * acc_u + acc_v
            grad_x[r, t] = acc_u
        grad_v_sum[r] = total
        grad_b_sum[r] = total_v

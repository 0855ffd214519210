"""Compiled (numba) CPU kernels of the single-spike neuron: the integer no-reset CUBA
membrane and the adjoint of its two leaky filters.

Rows are neurons of all samples, ``(M, T)`` with time contiguous; rows run in parallel,
time in order. :func:`rouser_lava.model.single_spike.membrane_fixed` states the same
recurrence as torch operations (the GPU path) and gives the same integers (tested).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from .cuba_kernels import STATE_SCALE, UV_MAX, _rtz


@njit(cache=True, parallel=True)
def membrane_rows(x_int, i_decay, v_decay, v_out):  # pragma: no cover - compiled
    """Integer CUBA membrane without reset, row by row; ``u`` wraps and ``v`` clips at
    24 bits as on Loihi.

    Parameters
    ----------
    x_int : int64 ndarray ``(M, T)``, input current per step in state units
    i_decay, v_decay : int, 12-bit decays (4096 = all of the state is lost each step)
    v_out : float32 ndarray ``(M, T)``, receives ``v / 4096`` (exact: ``|v| < 2**23``)
    """
    rows, steps = x_int.shape
    keep_u, keep_v = STATE_SCALE - i_decay, STATE_SCALE - v_decay
    scale = np.float32(STATE_SCALE)
    for r in prange(rows):
        u = np.int64(0)
        v = np.int64(0)
        for t in range(steps):
            u = _rtz(u, keep_u) + x_int[r, t]
            if u > UV_MAX:  # Loihi's 24-bit u wraps
                u -= 2 * UV_MAX
            elif u <= -UV_MAX:
                u += 2 * UV_MAX
            v = min(max(_rtz(v, keep_v) + u, 1 - UV_MAX), UV_MAX - 1)  # 24-bit v clips
            v_out[r, t] = np.float32(v) / scale


@njit(cache=True, parallel=True)
def adjoint_rows(grad_v, keep_v, keep_u, grad_x):  # pragma: no cover - compiled
    """``grad_x = A_u(A_v(grad_v))``, where ``A_a`` is the adjoint of the leaky filter
    ``y[t] = a y[t-1] + x[t]``, i.e. ``y[t] = a y[t+1] + x[t]`` backwards in time.

    Parameters
    ----------
    grad_v : float32 ndarray ``(M, T)``, gradient at the membrane ``v``
    keep_v, keep_u : float32, retention ``1 - decay / 4096`` of voltage and current
    grad_x : float32 ndarray ``(M, T)``, receives the gradient at the input current
    """
    rows, steps = grad_v.shape
    for r in prange(rows):
        acc_v = np.float32(0.0)
        acc_u = np.float32(0.0)
        for t in range(steps - 1, -1, -1):
            acc_v = keep_v * acc_v + grad_v[r, t]
            acc_u = keep_u * acc_u + acc_v
            grad_x[r, t] = acc_u

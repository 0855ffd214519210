"""Compiled (numba) CPU kernels of the single-spike neuron and the membrane readout: one
pass over time forward, one reverse pass backward, for all neurons of a sample at once.

Arrays are ``(N, T, R)``: samples, time, neurons of a sample (``C`` or ``C*H*W``), neurons
contiguous; that is the layout of a dense layer's current (the matrix product over all
samples and steps), so it is read without a copy. Each step advances all neurons of a
sample (a block of them) by the same few integer operations: the neurons are
independent, so the inner loop vectorizes (SIMD) and no neuron waits for the latency
of its own previous step, several times faster than a loop over time per neuron. Jobs
(a sample's block of neurons) run in parallel.
:func:`rouser_lava.model.single_spike.membrane_fixed` states the same integer recurrence
as torch operations (the GPU path); both give the same integers (tested).
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from ..loihi import STATE_SCALE, UV_MAX

SCALE = np.float32(STATE_SCALE)
BLOCK = 512  # neurons of a sample advanced together, step by step (one parallel job)


@njit(cache=True, inline="always")
def _rtz(x, keep):  # pragma: no cover - compiled
    """``sign(x) * ((|x| * keep) >> 12)`` for int64 ``x``, as a select (vectorizes)."""
    a = (np.abs(x) * keep) >> 12
    return a if x >= 0 else -a


@njit(cache=True, inline="always")
def _step(u, v, x, keep_u, keep_v):  # pragma: no cover - compiled
    """One step of the no-reset integer CUBA membrane for input ``x`` (float32, weight
    units, truncated toward zero in state units as slayer does); ``u`` wraps and ``v``
    clips at Loihi's 24 bits."""
    u = _rtz(u, keep_u) + np.int64(x * SCALE)
    if u > UV_MAX:
        u -= 2 * UV_MAX
    if u <= -UV_MAX:
        u += 2 * UV_MAX
    return u, min(max(_rtz(v, keep_v) + u, 1 - UV_MAX), UV_MAX - 1)


@njit(cache=True, inline="always")
def _block(job, neurons):  # pragma: no cover - compiled
    """Sample and neuron range ``[lo, hi)`` of parallel job ``job``."""
    blocks = (neurons + BLOCK - 1) // BLOCK
    n, lo = job // blocks, (job % blocks) * BLOCK
    return n, lo, min(lo + BLOCK, neurons)


@njit(cache=True, parallel=True)
def single_spike_forward(x, i_decay, v_decay, th_int, s_out, v_out):  # pragma: no cover
    """The single-spike neuron: integer membrane without reset, spike at the first step
    with ``v > th``, silent after it.

    Parameters
    ----------
    x : float32 ndarray ``(N, T, R)``, input current (weight units)
    i_decay, v_decay : int, 12-bit decays (4096 = all of the state is lost each step)
    th_int : int64 ndarray ``(R,)``, threshold of each neuron in state units
    s_out : float32 ndarray ``(N, T, R)``, receives the spikes (0 or 1)
    v_out : float32 ndarray ``(N, T, R)`` or ``(0, 0, 0)``, receives ``v / 4096`` for the
        backward pass (exact: ``|v| < 2**23``); not written when empty
    """
    samples, steps, neurons = x.shape
    keep_u, keep_v = STATE_SCALE - i_decay, STATE_SCALE - v_decay
    store_v = v_out.shape[0] > 0
    for job in prange(samples * ((neurons + BLOCK - 1) // BLOCK)):
        n, lo, hi = _block(job, neurons)
        u = np.zeros(hi - lo, np.int64)
        v = np.zeros(hi - lo, np.int64)
        fired = np.zeros(hi - lo, np.bool_)
        th = th_int[lo:hi]
        for t in range(steps):
            x_t, s_t = x[n, t, lo:hi], s_out[n, t, lo:hi]
            for k in range(hi - lo):
                u[k], v[k] = _step(u[k], v[k], x_t[k], keep_u, keep_v)
                spike = (v[k] > th[k]) & ~fired[k]
                fired[k] |= spike
                s_t[k] = np.float32(spike)
            if store_v:
                v_t = v_out[n, t, lo:hi]
                for k in range(hi - lo):
                    v_t[k] = np.float32(v[k]) / SCALE


@njit(cache=True, parallel=True)
def single_spike_backward(grad_s, v, th, slope, scale, keep_v, keep_u, grad_x,
                          grad_v_sum):  # pragma: no cover - compiled
    """The backward pass of the single-spike neuron, one reverse scan.

    The selection ``s = (cumsum(cumsum(s~)) == 1)`` passes ``grad_s`` straight through the
    two cumulative sums, whose adjoints are sums from ``t`` to the end:
    ``g~[t] = sum_{k >= t} sum_{j >= k} grad_s[j]``. The surrogate makes it
    ``grad_v = g~ * scale / (slope |v - th| + 1)**2``, and the two leaky filters pass that
    back as ``grad_x = A_u(A_v(grad_v))``, ``A_a`` the adjoint of ``y[t] = a y[t-1] +
    x[t]`` (``y[t] = a y[t+1] + x[t]`` backwards in time).

    Parameters
    ----------
    grad_s : float32 ndarray ``(N, T, R)``, gradient at the spikes
    v : float32 ndarray ``(N, T, R)``, the membrane ``v / 4096`` of the forward pass
    th : float32 ndarray ``(R,)``, threshold of each neuron (weight units)
    slope, scale : float32, the fast sigmoid's slope and height
    keep_v, keep_u : float32, retention ``1 - decay / 4096`` of voltage and current
    grad_x : float32 ndarray ``(N, T, R)``, receives the gradient at the input current
    grad_v_sum : float32 ndarray ``(N, R)``, receives ``sum_t grad_v`` (``-`` the
        threshold's gradient)
    """
    samples, steps, neurons = grad_s.shape
    one = np.float32(1.0)
    for job in prange(samples * ((neurons + BLOCK - 1) // BLOCK)):
        n, lo, hi = _block(job, neurons)
        after = np.zeros(hi - lo, np.float32)  # sum_{j >= t} grad_s[j]
        selected = np.zeros(hi - lo, np.float32)  # g~[t]
        acc_v = np.zeros(hi - lo, np.float32)
        acc_u = np.zeros(hi - lo, np.float32)
        total = np.zeros(hi - lo, np.float32)
        th_r = th[lo:hi]
        for t in range(steps - 1, -1, -1):
            g_t, v_t, x_t = grad_s[n, t, lo:hi], v[n, t, lo:hi], grad_x[n, t, lo:hi]
            for k in range(hi - lo):
                after[k] += g_t[k]
                selected[k] += after[k]
                den = slope * np.abs(v_t[k] - th_r[k]) + one
                g = selected[k] * (scale / (den * den))
                total[k] += g
                acc_v[k] = keep_v * acc_v[k] + g
                acc_u[k] = keep_u * acc_u[k] + acc_v[k]
                x_t[k] = acc_u[k]
        grad_v_sum[n, lo:hi] = total


@njit(cache=True, parallel=True)
def membrane_forward(x, i_decay, v_decay, v_out):  # pragma: no cover - compiled
    """The integer no-reset membrane alone (the readout): ``v_out`` (float32
    ``(N, T, R)``) receives ``v / 4096`` for input current ``x`` (float32, same shape)."""
    samples, steps, neurons = x.shape
    keep_u, keep_v = STATE_SCALE - i_decay, STATE_SCALE - v_decay
    for job in prange(samples * ((neurons + BLOCK - 1) // BLOCK)):
        n, lo, hi = _block(job, neurons)
        u = np.zeros(hi - lo, np.int64)
        v = np.zeros(hi - lo, np.int64)
        for t in range(steps):
            x_t, v_t = x[n, t, lo:hi], v_out[n, t, lo:hi]
            for k in range(hi - lo):
                u[k], v[k] = _step(u[k], v[k], x_t[k], keep_u, keep_v)
                v_t[k] = np.float32(v[k]) / SCALE


@njit(cache=True, parallel=True)
def membrane_backward(grad_v, keep_v, keep_u, grad_x):  # pragma: no cover - compiled
    """``grad_x = A_u(A_v(grad_v))`` (float32 ``(N, T, R)``), the
    adjoint of both leaky filters as in :func:`single_spike_backward`."""
    samples, steps, neurons = grad_v.shape
    for job in prange(samples * ((neurons + BLOCK - 1) // BLOCK)):
        n, lo, hi = _block(job, neurons)
        acc_v = np.zeros(hi - lo, np.float32)
        acc_u = np.zeros(hi - lo, np.float32)
        for t in range(steps - 1, -1, -1):
            g_t, x_t = grad_v[n, t, lo:hi], grad_x[n, t, lo:hi]
            for k in range(hi - lo):
                acc_v[k] = keep_v * acc_v[k] + g_t[k]
                acc_u[k] = keep_u * acc_u[k] + acc_v[k]
                x_t[k] = acc_u[k]

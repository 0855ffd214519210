"""Compiled (numba) integer kernels of the emulator: event-driven synaptic sums (dense
and conv) and the fused LIF recurrence.

Both loop over samples in parallel (``prange``) and keep every value an exact
integer: weights and activations int32, neuron state int64. The LIF kernel does in
one pass per step, in registers, what Lava's ``fixed_pt`` LIF does with a dozen
NumPy passes; see :mod:`rouser_lava.backends.emulator` for the arithmetic it reproduces.
"""

from __future__ import annotations

import numpy as np

from .._numba import njit, prange
from ..loihi import UV_MAX


@njit(cache=True, parallel=True)
def event_sum(spikes, time_last, weight_t, out):  # pragma: no cover - compiled
    """Add ``weight_t[c]`` into ``out[n, t]`` for every spike of input ``c`` at ``t``.

    Parameters
    ----------
    spikes : uint8 ndarray, ``(N, C_in, T)`` if ``time_last`` else ``(N, T, C_in)``
    time_last : bool
    weight_t : int32 ndarray ``(C_in, C_out)``, the transposed dense weight
    out : int32 ndarray ``(N, T, C_out)``, receives the unshifted sums
    """
    n_samples, rows, cols = spikes.shape
    steps, c_out = out.shape[1], weight_t.shape[1]
    for n in prange(n_samples):
        acc = np.zeros((steps, c_out), np.int32)  # local: the compiler sees no aliasing
        for i in range(rows):
            for j in range(cols):
                if spikes[n, i, j]:
                    t, c = (j, i) if time_last else (i, j)
                    for k in range(c_out):
                        acc[t, k] += weight_t[c, k]
        out[n] = acc


@njit(cache=True, parallel=True)
def event_conv(spikes, weight_t, stride, padding, dilation, bound, out):  # pragma: no cover
    """Event-driven ``conv2d`` (groups 1) of binary frames: each spike adds its kernel.

    Parameters
    ----------
    spikes : uint8 ndarray ``(F, C_in, H, W)``, one frame per sample and step
    weight_t : int32 ndarray ``(C_in, kh, kw, C_out)``, the conv weight with its output
        channel last (torch's ``(C_out, C_in, kh, kw)`` moved)
    stride, padding, dilation : int64 ndarrays ``(2,)``, torch's (rows, columns)
    bound : int, sums are clamped to ``[-bound, bound - 1]`` (Lava's signed 24 bits)
    out : int32 ndarray ``(F, C_out, H_out, W_out)``, receives what ``F.conv2d`` gives
        (a cross-correlation: output ``(y, x)`` reads input ``(y s + k d - p)``)
    """
    n_frames, c_in, height, width = spikes.shape
    kh, kw, c_out = weight_t.shape[1], weight_t.shape[2], weight_t.shape[3]
    h_out, w_out = out.shape[2], out.shape[3]
    for f in prange(n_frames):
        acc = np.zeros((h_out, w_out, c_out), np.int32)  # output channel innermost
        for c in range(c_in):
            for y in range(height):
                for x in range(width):
                    if not spikes[f, c, y, x]:
                        continue
                    for ky in range(kh):
                        oy = y + padding[0] - ky * dilation[0]
                        if oy < 0 or oy % stride[0] or oy // stride[0] >= h_out:
                            continue
                        oy //= stride[0]
                        for kx in range(kw):
                            ox = x + padding[1] - kx * dilation[1]
                            if ox < 0 or ox % stride[1] or ox // stride[1] >= w_out:
                                continue
                            ox //= stride[1]
                            for k in range(c_out):
                                acc[oy, ox, k] += weight_t[c, ky, kx, k]
        for k in range(c_out):
            for oy in range(h_out):
                for ox in range(w_out):
                    out[f, k, oy, ox] = min(max(acc[oy, ox, k], -bound), bound - 1)


@njit(inline="always")
def _decay(x, keep):
    """``sign(x) * ((|x| * keep) >> 12)`` as Lava computes it."""
    y = x * keep
    return (y >> 12) if y >= 0 else -((-y) >> 12)


@njit(cache=True, parallel=True)
def lif(a, lag, i_decay, v_decay, bias, vth, weight_rec_t, rec_exp, reset_interval,
        reset_phase, ref_delay, bias_interval, bias_offset, read_interval, read_phase,
        fired, u_rec, v_rec, v_last):
    """Lava's fixed-point CUBA LIF over all steps, one sample per thread.

    Parameters
    ----------
    a : int32 ndarray ``(N, T, C)``
        Synaptic activations; ``a[:, t]`` reaches ``u`` at step ``t + lag``.
    lag : int
        1 behind a synapse (Lava's one-step ``a_buff``), 0 for an input layer's neurons
        (the source drives ``a_in`` directly).
    i_decay, v_decay : int
        Effective 12-bit decays (``4096`` means full decay).
    bias : int64 ndarray ``(1, C)``, ``(N, C)`` or ``(B, C)``
        ``bias_mant << 6`` per neuron: shared by all samples, one row per sample, or
        (``bias_interval > 0``) one row per window of the stream, as the host sets
        ``bias_mant`` before each sample's run call.
    vth : int64 ndarray ``(C,)``
        ``vThMant << 6`` per neuron.
    weight_rec_t : int32 ndarray ``(C, C)``
        Transposed recurrent weight (``(0, 0)`` when the layer has none); its sums are
        shifted by ``rec_exp`` (floor for negative) and arrive one step later.
    reset_interval, reset_phase : int
        ``LIFReset``: ``u`` and ``v`` are set to zero before step ``t`` (0-based)
        integrates when ``(t + 1) % reset_interval == reset_phase``; no resets when
        ``reset_interval`` is 0.
    ref_delay : int
        ``LIFRefractory``'s period (0: none): after a spike ``v`` is held for
        ``ref_delay`` steps while ``u`` integrates; the spike test still applies to
        the held ``v`` (0), as in Lava's model.
    bias_interval, bias_offset : int
        With ``bias_interval > 0``, step ``t`` (0-based) uses row
        ``(t - bias_offset) // bias_interval`` of ``bias`` (clamped to its rows).
    read_interval, read_phase : int
        Where ``v_last`` is read: after the last step (``read_interval`` 0), or after
        every step ``t = read_phase + j * read_interval`` into row ``j``.
    fired : uint8 ndarray ``(N, T, C)``, output spikes (zero on entry).
    u_rec, v_rec : int64 ndarray ``(N, T, C)`` or ``(0, 0, 0)``
        Recorded ``u`` and post-reset ``v`` when not empty.
    v_last : int64 ndarray ``(N, rows, C)``, receives ``v`` where it is read.
    """
    n_samples, steps, size = a.shape
    keep_u, keep_v = 4096 - i_decay, 4096 - v_decay
    record = u_rec.shape[0] > 0
    recurrent = weight_rec_t.shape[0] > 0
    rows = v_last.shape[1]
    for n in prange(n_samples):
        b = bias[n] if bias.shape[0] > 1 and bias_interval == 0 else bias[0]
        u = np.zeros(size, dtype=np.int64)
        v = np.zeros(size, dtype=np.int64)
        rec = np.zeros(size, dtype=np.int64)
        held = np.zeros(size, dtype=np.int64)  # refractory steps left
        for t in range(steps):
            if reset_interval > 0 and (t + 1) % reset_interval == reset_phase:
                u[:] = 0
                v[:] = 0
                held[:] = 0
            if bias_interval > 0 and t >= bias_offset:
                b = bias[min((t - bias_offset) // bias_interval, bias.shape[0] - 1)]
            for c in range(size):
                uu = _decay(u[c], keep_u) + (rec[c] << 6)
                if t >= lag:
                    uu += np.int64(a[n, t - lag, c]) << 6
                if uu > UV_MAX:
                    uu -= 2 * UV_MAX
                elif uu <= -UV_MAX:
                    uu += 2 * UV_MAX
                if held[c] > 0:
                    held[c] -= 1
                    vv = v[c]
                else:
                    vv = _decay(v[c], keep_v) + uu + b[c]
                    vv = min(max(vv, 1 - UV_MAX), UV_MAX - 1)
                if vv > vth[c]:
                    fired[n, t, c] = 1
                    vv = 0
                    held[c] = ref_delay
                u[c] = uu
                v[c] = vv
                if record:
                    u_rec[n, t, c] = uu
                    v_rec[n, t, c] = vv
            if recurrent:
                rec[:] = 0
                for j in range(size):
                    if fired[n, t, j]:
                        for k in range(size):
                            rec[k] += weight_rec_t[j, k]
                for k in range(size):
                    rec[k] = rec[k] << rec_exp if rec_exp >= 0 else rec[k] >> -rec_exp
            if read_interval > 0 and t >= read_phase and \
                    (t - read_phase) % read_interval == 0 and \
                    (t - read_phase) // read_interval < rows:
                v_last[n, (t - read_phase) // read_interval] = v
        if read_interval == 0:
            v_last[n, 0] = v

"""Compiled (numba) integer kernels of the emulator: event-driven synaptic sums (dense
and conv, on spikes or on their changes) and the fused LIF recurrence.

Every value stays an exact integer: weights int16/int32, sums int32, neuron state
held as int32 (24-bit values) and computed in int64 (recorded state int64). Spike
frames are scanned eight bytes at a time, so silent stretches cost one comparison per
word. The frame kernel (:func:`frame_sums`) adds, per frame, either the
weights of the spiking inputs or, from the previous frame's sum, the weights of the
inputs that changed (``+w`` where one starts spiking, ``-w`` where one stops), whichever
touches fewer inputs: a sum of spikes that hold still (a bias-driven input layer) costs
only its changes, and both give the same exact integers. The LIF kernel does in one
branch-free pass per step what Lava's ``fixed_pt`` LIF does with a dozen NumPy passes;
see :mod:`rouser_lava.backends.emulator` for the arithmetic it reproduces.
"""

from __future__ import annotations

import numpy as np
from numba.cpython.unsafe.numbers import trailing_zeros

from .._numba import njit, prange
from ..loihi import UV_MAX

ONES = 0x0101010101010101  # bit 0 of each of a word's eight bytes


@njit(inline="always")
def _nonzero(w):
    """Bit 0 of each byte of ``w`` set where that byte is nonzero, every other bit 0."""
    w |= w >> np.uint64(4)
    w |= w >> np.uint64(2)
    w |= w >> np.uint64(1)
    return w & np.uint64(ONES)


@njit(inline="always")
def _lowest_byte(bits):
    """The index (0-7) of the lowest nonzero byte of a nonzero uint64."""
    return trailing_zeros(bits) >> 3  # type: ignore[call-arg]  # numba intrinsic


@njit(cache=True)
def _count(words, before):  # pragma: no cover - compiled
    """Nonzero bytes of uint64 ``words`` or, with ``before`` (the same length, or empty),
    bytes nonzero in one of the two and zero in the other."""
    total = 0
    for q in range(len(words)):
        w = _nonzero(words[q])
        if len(before):
            w ^= _nonzero(before[q])
        if w:
            total += (w * np.uint64(ONES)) >> np.uint64(56)
    return total


@njit(cache=True)
def _cheaper_from(cur, before):  # pragma: no cover - compiled
    """Whether fewer bytes changed from uint64 words ``before`` to ``cur`` than ``cur``
    holds nonzero bytes (one pass over both)."""
    spikes = changes = 0
    for q in range(len(cur)):
        now, was = _nonzero(cur[q]), _nonzero(before[q])
        spikes += (now * np.uint64(ONES)) >> np.uint64(56)
        changes += ((now ^ was) * np.uint64(ONES)) >> np.uint64(56)
    return changes < spikes


@njit(cache=True, parallel=True)
def activity(frames):  # pragma: no cover - compiled
    """Nonzero bytes of uint8 frames ``(F, L)`` (``L`` a multiple of 8, 0/1 values) and
    bytes that differ from the previous frame's: int64 ``(F,)`` each (frame 0's changes
    are its spikes)."""
    n_frames, length = frames.shape
    words = frames.reshape(n_frames * length).view(np.uint64).reshape(n_frames, length // 8)
    spikes = np.zeros(n_frames, np.int64)
    changes = np.zeros(n_frames, np.int64)
    for f_any in prange(n_frames):
        f = np.int64(f_any)  # prange's index may be unsigned: f - 1 must not wrap
        spikes[f] = _count(words[f], words[f, :0])
        changes[f] = _count(words[f], words[f - 1]) if f > 0 else spikes[f]
    return spikes, changes


@njit(inline="always")
def _add_kernel(acc, weight, taps_y, taps_x, y, x, chans, signs, count):
    """Add (sign +1) or take back (-1) the kernels of input channels ``chans[:count]``
    at input position ``(y, x)`` (see :func:`frame_sums`)."""
    for i in range(weight.shape[1]):
        oy = taps_y[y, i, 0]
        if oy < 0:
            break
        ky = taps_y[y, i, 1]
        for j in range(weight.shape[2]):
            ox = taps_x[x, j, 0]
            if ox < 0:
                break
            kx = taps_x[x, j, 1]
            arow = acc[oy, ox]
            for h in range(count):
                wrow = weight[chans[h], ky, kx]
                if signs[h] > 0:
                    for m in range(len(arow)):
                        arow[m] += wrow[m]
                else:
                    for m in range(len(arow)):
                        arow[m] -= wrow[m]


@njit(cache=True, parallel=True)
def frame_sums(frames, weight, taps_y, taps_x, col_x, col_c, chunks, bound, out):
    # pragma: no cover - compiled
    """Synaptic sums of binary frames in channel-last order, each input adding its kernel.

    Parameters
    ----------
    frames : uint8 ndarray ``(F, L)``, 0/1, ``L`` a multiple of 8; each frame's first
        ``H * W * C_in`` bytes are its inputs in ``(H, W, C_in)`` order, the rest zeros
    weight : int16 or int32 ndarray ``(C_in, kh, kw, C_pad)``, ``C_pad >= C_out``
        (zeros beyond ``C_out``: a multiple of the vector width adds without a
        scalar remainder)
    taps_y : int64 ndarray ``(H, kh, 2)``: input row ``y`` reaches output row
        ``taps_y[y, i, 0]`` through kernel row ``taps_y[y, i, 1]``, for ``i`` up to the
        first negative output row; ``taps_x`` ``(W, kw, 2)`` the same for columns
    col_x, col_c : int64 ndarrays ``(W * C_in,)``, the column and the channel of the
        input at position ``r`` of a row
    chunks : int64 ndarray ``(K + 1,)``, frame boundaries: chunk ``k`` (frames
        ``chunks[k]:chunks[k + 1]``) runs in order on one thread, its first frame from
        zero, each later one from zero or from the previous frame's sum by the inputs
        that changed, whichever touches fewer
    bound : int, sums are clamped to ``[-bound, bound - 1]`` (Lava's signed 24 bits)
    out : int32 ndarray ``(F, H_out, W_out, C_out)``

    The inputs of one position (its spiking or changed channels) add their kernels
    together: the output positions they reach are found once. A dense layer is the
    case ``H = W = kh = kw = 1``.
    """
    n_frames, length = frames.shape
    h_out, w_out, c_out = out.shape[1], out.shape[2], out.shape[3]
    row = len(col_c)
    words = frames.reshape(n_frames * length).view(np.uint64).reshape(n_frames, length // 8)
    for k in prange(len(chunks) - 1):
        acc = np.zeros((h_out, w_out, weight.shape[3]), np.int32)
        chans = np.empty(weight.shape[0], np.int64)  # one position's inputs
        signs = np.empty(weight.shape[0], np.int64)
        for f in range(chunks[k], chunks[k + 1]):
            delta = f > chunks[k] and _cheaper_from(words[f], words[f - 1])
            if not delta:
                acc[:] = 0
            y, row_start, at_y, at_x, count = 0, 0, -1, -1, 0
            for q in range(length // 8):
                now_bits = _nonzero(words[f, q])
                bits = now_bits ^ _nonzero(words[f - 1, q]) if delta else now_bits
                while bits:  # each input that spikes (or changed), lowest byte first
                    byte = _lowest_byte(bits)
                    bits &= bits - np.uint64(1)
                    idx = 8 * q + byte
                    while idx >= row_start + row:
                        y += 1
                        row_start += row
                    x = col_x[idx - row_start]
                    if x != at_x or y != at_y:  # a new position: add the last one's
                        if count:
                            _add_kernel(acc, weight, taps_y, taps_x, at_y, at_x, chans,
                                        signs, count)
                        at_y, at_x, count = y, x, 0
                    chans[count] = col_c[idx - row_start]
                    signs[count] = 1 if now_bits >> np.uint64(8 * byte) & np.uint64(1) else -1
                    count += 1
            if count:
                _add_kernel(acc, weight, taps_y, taps_x, at_y, at_x, chans, signs, count)
            for oy in range(h_out):
                for ox in range(w_out):
                    for m in range(c_out):
                        out[f, oy, ox, m] = min(max(acc[oy, ox, m], -bound), bound - 1)


@njit(cache=True, parallel=True)
def event_sum_time_last(spikes, weight_t, out):  # pragma: no cover - compiled
    """Add ``weight_t[c]`` into ``out[n, t]`` for every spike of input ``c`` at ``t``.

    Parameters
    ----------
    spikes : uint8 ndarray ``(N, C_in, T)``, 0/1, time last, ``C_in * T`` a multiple
        of 8
    weight_t : int16 or int32 ndarray ``(C_in, C_pad)``, the transposed dense weight
        (``C_pad >= C_out``)
    out : int32 ndarray ``(N, T, C_out)``, receives the unshifted sums
    """
    n_samples, rows, steps = spikes.shape
    c_out = out.shape[2]
    for n_any in prange(n_samples):
        n = np.int64(n_any)  # prange's index may be unsigned
        acc = out[n]
        acc[:] = 0
        words = spikes[n].reshape(rows * steps).view(np.uint64)
        c, row_start = 0, 0  # the input whose steps hold the byte being read
        for q in range(len(words)):
            bits = _nonzero(words[q])
            while bits:  # each spike, lowest byte first
                idx = 8 * q + _lowest_byte(bits)
                bits &= bits - np.uint64(1)
                while idx >= row_start + steps:
                    c += 1
                    row_start += steps
                wrow = weight_t[c]
                arow = acc[idx - row_start]
                for k in range(c_out):
                    arow[k] += wrow[k]


@njit(inline="always")
def _decay(x, keep):
    """``sign(x) * ((|x| * keep) >> 12)`` as Lava computes it, without a branch."""
    y = x * keep
    s = y >> 63
    return ((((y ^ s) - s) >> 12) ^ s) - s


@njit(cache=True, parallel=True)
def lif(a, lag, i_decay, v_decay, bias, vth, weight_rec_t, rec_exp, reset_interval,
        reset_phase, ref_delay, bias_interval, bias_offset, read_interval, read_phase,
        blocks, fired, u_rec, v_rec, v_last):
    """Lava's fixed-point CUBA LIF over all steps.

    Parameters
    ----------
    a : int32 ndarray ``(N, T, C)``
        Synaptic activations; ``a[:, t]`` reaches ``u`` at step ``t + lag``; ``(1, 1,
        C)`` zeros stand for no input (a bias-driven input layer).
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
    blocks : int
        Neuron blocks per sample, run in parallel (1 for a recurrent layer: its
        neurons depend on each other).
    fired : uint8 ndarray ``(N, T, L)``, output spikes (zero on entry), ``L >= C``.
    u_rec, v_rec : int64 ndarray ``(N, T, C)`` or ``(0, 0, 0)``
        Recorded ``u`` and post-reset ``v`` when not empty.
    v_last : int64 ndarray ``(N, rows, C)``, receives ``v`` where it is read.
    """
    n_samples, steps, size = fired.shape[0], fired.shape[1], len(vth)
    keep_u, keep_v = 4096 - i_decay, 4096 - v_decay
    recurrent = weight_rec_t.shape[0] > 0
    plain = u_rec.shape[0] == 0 and ref_delay == 0 and not recurrent  # branch-free loop
    rows = v_last.shape[1]
    width = -(-size // blocks)
    for job_any in prange(n_samples * blocks):
        job = np.int64(job_any)  # prange's index may be unsigned: keep the arithmetic signed
        n, lo = job // blocks, (job % blocks) * width
        hi = min(lo + width, size)
        b = bias[n] if bias.shape[0] > 1 and bias_interval == 0 else bias[0]
        # the block's neurons indexed from 0: the compiler then vectorizes the plain loop;
        # u and v (24-bit values) held as int32, computed in int64
        u = np.zeros(hi - lo, dtype=np.int32)
        v = np.zeros(hi - lo, dtype=np.int32)
        rec = np.zeros(hi - lo, dtype=np.int64)
        held = np.zeros(hi - lo, dtype=np.int64)  # refractory steps left
        th = vth[lo:hi]
        for t in range(steps):
            if reset_interval > 0 and (t + 1) % reset_interval == reset_phase:
                u[:] = 0
                v[:] = 0
                held[:] = 0
            if bias_interval > 0 and t >= bias_offset:
                b = bias[min((t - bias_offset) // bias_interval, bias.shape[0] - 1)]
            bb = b[lo:hi]
            on = np.int64(1 if lag <= t < a.shape[1] + lag else 0)
            a_t = a[min(n, a.shape[0] - 1), min(max(t - lag, 0), a.shape[1] - 1), lo:hi]
            f_t = fired[n, t, lo:hi]
            if plain:
                for c in range(hi - lo):
                    uu = _decay(np.int64(u[c]), keep_u) + ((np.int64(a_t[c]) * on) << 6)
                    uu = uu - (2 * UV_MAX) * (uu > UV_MAX) + (2 * UV_MAX) * (uu <= -UV_MAX)
                    vv = min(max(_decay(np.int64(v[c]), keep_v) + uu + bb[c], 1 - UV_MAX),
                             UV_MAX - 1)
                    spike = vv > th[c]
                    f_t[c] = spike
                    u[c] = uu
                    v[c] = vv * (1 - spike)
            else:
                for c in range(hi - lo):
                    uu = _decay(np.int64(u[c]), keep_u) + (rec[c] << 6) + \
                        ((np.int64(a_t[c]) * on) << 6)
                    uu = uu - (2 * UV_MAX) * (uu > UV_MAX) + (2 * UV_MAX) * (uu <= -UV_MAX)
                    if held[c] > 0:
                        held[c] -= 1
                        vv = np.int64(v[c])
                    else:
                        vv = min(max(_decay(v[c], keep_v) + uu + bb[c], 1 - UV_MAX),
                                 UV_MAX - 1)
                    if vv > th[c]:
                        f_t[c] = 1
                        vv = 0
                        held[c] = ref_delay
                    u[c] = uu
                    v[c] = vv
                    if u_rec.shape[0] > 0:
                        u_rec[n, t, lo + c] = uu
                        v_rec[n, t, lo + c] = vv
            if recurrent:  # one block: lo = 0, hi = size
                rec[:] = 0
                for j in range(size):
                    if f_t[j]:
                        for k in range(size):
                            rec[k] += weight_rec_t[j, k]
                for k in range(size):
                    rec[k] = rec[k] << rec_exp if rec_exp >= 0 else rec[k] >> -rec_exp
            if read_interval > 0 and t >= read_phase and \
                    (t - read_phase) % read_interval == 0 and \
                    (t - read_phase) // read_interval < rows:
                v_last[n, (t - read_phase) // read_interval, lo:hi] = v
        if read_interval == 0:
            v_last[n, 0, lo:hi] = v


@njit(cache=True, parallel=True)
def count_spikes(spikes, out):  # pragma: no cover - compiled
    """``out[k] = sum(spikes[:, :, k])``: spikes ``(N, T, K)`` (any strides, any integer
    or bool dtype; the last axis contiguous for speed), int64 counts ``(K,)``,
    accumulated over blocks of ``K`` in parallel."""
    n_samples, steps, size = spikes.shape
    width = 4096
    for b in prange(-(-size // width)):
        lo = b * width
        hi = min(lo + width, size)
        acc = np.zeros(hi - lo, np.int64)
        for n in range(n_samples):
            for t in range(steps):
                row = spikes[n, t, lo:hi]
                for k in range(hi - lo):
                    acc[k] += row[k]
        out[lo:hi] = acc

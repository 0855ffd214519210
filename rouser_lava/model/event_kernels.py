"""Compiled (numba) CPU kernels of the event-driven synaptic product: a dense synapse's
sum over spiking inputs only, and its weight gradient over the same events.

Spikes ``x`` ``(N, C_in, T)`` enter as the flat positions ``pos`` (int64, ascending, in
``x``'s C order: ``pos = (n * C_in + c) * T + t``) of their nonzero entries and those
entries' values ``val`` (float32). The product ``W x`` then adds, per event, one column
of ``W`` (a row of ``W^T``, contiguous) to the current of its sample and step; the
weight gradient ``dW = sum_{n, t} g[n, :, t] x[n, :, t]^T`` adds, per event, the
current's gradient at that sample and step to one row of ``dW^T``. Both cost the number
of events times ``C_out``, where the dense products cost ``N T C_in C_out``.
"""

from __future__ import annotations

from .._numba import njit, prange


@njit(cache=True)
def count_events(x_rows, counts):  # pragma: no cover - compiled
    """``counts[n]`` = number of nonzero entries of ``x_rows[n]``.

    Parameters
    ----------
    x_rows : float32 ndarray ``(N, C_in * T)``, one sample's spikes per row
    counts : int64 ndarray ``(N,)``, receives the counts
    """
    for n in range(x_rows.shape[0]):
        k = 0
        row = x_rows[n]
        for i in range(len(row)):
            k += row[i] != 0  # no branch: numba vectorizes the count
        counts[n] = k


@njit(cache=True)
def fill_events(x_rows, starts, pos, val):  # pragma: no cover - compiled
    """The events of ``x_rows`` ``(N, C_in * T)`` (float32): their flat positions into
    ``pos`` (int64 ``(E,)``, ascending) and values into ``val`` (float32 ``(E,)``), sample
    ``n``'s from ``starts[n]`` on (``starts``: int64 ``(N + 1,)``, the running sum of
    :func:`count_events`)."""
    per_sample = x_rows.shape[1]
    for n in range(x_rows.shape[0]):
        k = starts[n]
        for i in range(per_sample):
            if x_rows[n, i] != 0:
                pos[k] = n * per_sample + i
                val[k] = x_rows[n, i]
                k += 1


@njit(cache=True, parallel=True)
def event_sum(pos, val, starts, c_in, steps, w_t, out):  # pragma: no cover - compiled
    """``out[n, t, :] += val * w_t[c, :]`` for every event ``(n, c, t)``; samples in
    parallel.

    Parameters
    ----------
    pos : int64 ndarray ``(E,)``, ascending flat positions of the events in ``(N, C_in, T)``
    val : float32 ndarray ``(E,)``, the events' values
    starts : int64 ndarray ``(N + 1,)``, sample ``n``'s events are ``starts[n]:starts[n+1]``
    c_in, steps : int, ``C_in`` and ``T``
    w_t : float32 ndarray ``(C_in, C_out)``, the weights transposed (C-contiguous)
    out : float32 ndarray ``(N, T, C_out)``, zeros; receives the sums
    """
    for n in prange(len(starts) - 1):
        _sum_sample(pos[starts[n]:starts[n + 1]] - n * c_in * steps,
                    val[starts[n]:starts[n + 1]], steps, w_t, out[n])


@njit(cache=True)
def event_sum_serial(pos, val, starts, c_in, steps, w_t, out):  # pragma: no cover - compiled
    """:func:`event_sum` in one thread: no parallel launch (measured 45 us a call, more
    than a small layer's whole product)."""
    for n in range(len(starts) - 1):
        _sum_sample(pos[starts[n]:starts[n + 1]] - n * c_in * steps,
                    val[starts[n]:starts[n + 1]], steps, w_t, out[n])


@njit(cache=True, inline="never")
def _sum_sample(pos, val, steps, w_t, out):  # pragma: no cover - compiled
    """One sample of :func:`event_sum`: ``pos`` within the sample, ``out`` ``(T, C_out)``.
    A function of its own, as :func:`event_grad_columns`."""
    for k in range(len(pos)):
        c = pos[k] // steps
        t = pos[k] - c * steps
        v = val[k]
        dst, src = out[t], w_t[c]
        for o in range(len(dst)):
            dst[o] += v * src[o]


@njit(cache=True, parallel=True)
def event_weight_grad(pos, val, c_in, steps, g_t, parts, dw_t):  # pragma: no cover - compiled
    """``dw_t[c, :] += val * g_t[n, t, :]`` for every event ``(n, c, t)``; the ``C_out``
    columns split into ``parts`` slices, one per thread, each over every event.

    Parameters
    ----------
    pos, val : as :func:`event_sum`
    c_in, steps : int, ``C_in`` and ``T``
    g_t : float32 ndarray ``(N, T, C_out)``, gradient at the current (C-contiguous)
    parts : int, number of column slices (threads)
    dw_t : float32 ndarray ``(C_in, C_out)``, zeros; receives ``dW^T``
    """
    c_out = dw_t.shape[1]
    size = (c_out + parts - 1) // parts
    for part in prange(parts):
        lo = part * size
        event_grad_columns(pos, val, c_in, steps, g_t, lo, min(lo + size, c_out), dw_t)


@njit(cache=True, inline="never")
def event_grad_columns(pos, val, c_in, steps, g_t, lo, hi,
                       dw_t):  # pragma: no cover - compiled
    """Columns ``lo:hi`` of :func:`event_weight_grad`, in one thread (all of them: the
    serial kernel). A function of its own: inside the ``prange`` body numba leaves the
    loop over a row unvectorized (measured 15x slower)."""
    per_sample = c_in * steps
    for k in range(len(pos)):
        n = pos[k] // per_sample
        p = pos[k] - n * per_sample
        c = p // steps
        t = p - c * steps
        v = val[k]
        dst, src = dw_t[c, lo:hi], g_t[n, t, lo:hi]
        for o in range(hi - lo):
            dst[o] += v * src[o]


@njit(inline="always")
def _decode(p, shape_in):
    """``(c, y, x, t)`` of flat position ``p`` in one sample's ``(C_in, H, W, T)``."""
    height, width, steps = shape_in[1], shape_in[2], shape_in[3]
    chw = p // steps
    c = chw // (height * width)
    y = (chw - c * height * width) // width
    return c, y, chw - c * height * width - y * width, p - chw * steps


@njit(cache=True, parallel=True)
def event_conv_sum(pos, val, starts, shape_in, taps_y, taps_x, w_t,
                   out):  # pragma: no cover - compiled
    """A conv synapse's sum over events: ``out[n, t, oy, ox, :] += val * w_t[c, ky, kx, :]``
    for every event ``(n, c, y, x, t)`` and every output ``(oy, ox)`` it reaches through
    kernel tap ``(ky, kx)``; samples in parallel.

    Parameters
    ----------
    pos, val, starts : the events of ``x`` ``(N, C_in, H, W, T)`` (as :func:`event_sum`,
        positions in ``x``'s C order)
    shape_in : int64 ndarray ``(4,)``, ``(C_in, H, W, T)``
    taps_y : int64 ndarray ``(H, kh, 2)``: input row ``y`` reaches output row
        ``taps_y[y, i, 0]`` through kernel row ``taps_y[y, i, 1]``, for ``i`` up to the
        first negative output row; ``taps_x`` ``(W, kw, 2)`` the same for columns
        (:func:`rouser_lava.model.event_conv.conv_taps`)
    w_t : float32 ndarray ``(C_in, kh, kw, C_out)``, the weights, output channel last
    out : float32 ndarray ``(N, T, H_out, W_out, C_out)``, zeros; receives the sums
    """
    per_sample = shape_in[0] * shape_in[1] * shape_in[2] * shape_in[3]
    for n in prange(len(starts) - 1):
        _conv_sample(pos[starts[n]:starts[n + 1]] - n * per_sample,
                     val[starts[n]:starts[n + 1]], shape_in, taps_y, taps_x, w_t, out[n],
                     True)


@njit(cache=True, inline="never")
def _conv_sample(pos, val, shape_in, taps_y, taps_x, by_tap, by_output,
                 into_output):  # pragma: no cover - compiled
    """One sample's events (``pos`` within the sample) through every tap: with
    ``into_output``, ``by_output[t, oy, ox] += v * by_tap[c, ky, kx]`` (the sums of
    :func:`event_conv_sum`), else ``by_tap[c, ky, kx] += v * by_output[t, oy, ox]`` (the
    weight gradient). Outside the ``prange`` body, so its row loop vectorizes."""
    for k in range(len(pos)):
        c, y, x, t = _decode(pos[k], shape_in)
        v = val[k]
        for i in range(taps_y.shape[1]):
            oy = taps_y[y, i, 0]
            if oy < 0:
                break
            for j in range(taps_x.shape[1]):
                ox = taps_x[x, j, 0]
                if ox < 0:
                    break
                tap, at = by_tap[c, taps_y[y, i, 1], taps_x[x, j, 1]], by_output[t, oy, ox]
                dst, src = (at, tap) if into_output else (tap, at)
                for o in range(len(dst)):
                    dst[o] += v * src[o]


@njit(cache=True, parallel=True)
def event_conv_weight_grad(pos, val, starts, shape_in, taps_y, taps_x, g_t,
                           dw_parts):  # pragma: no cover - compiled
    """The conv weight gradient over events: ``dw[c, ky, kx, :] += val * g_t[n, t, oy, ox,
    :]`` for every event and tap of :func:`event_conv_sum`; the samples split into
    ``len(dw_parts)`` contiguous parts, one per thread, each into its own ``dw`` (summed
    by the caller).

    Parameters
    ----------
    pos, val, starts, shape_in, taps_y, taps_x : as :func:`event_conv_sum`
    g_t : float32 ndarray ``(N, T, H_out, W_out, C_out)``, the gradient at the sums
    dw_parts : float32 ndarray ``(P, C_in, kh, kw, C_out)``, zeros; receives the parts
    """
    samples, parts = len(starts) - 1, dw_parts.shape[0]
    per_sample = shape_in[0] * shape_in[1] * shape_in[2] * shape_in[3]
    for part in prange(parts):
        for n in range(part * samples // parts, (part + 1) * samples // parts):
            _conv_sample(pos[starts[n]:starts[n + 1]] - n * per_sample,
                         val[starts[n]:starts[n + 1]], shape_in, taps_y, taps_x,
                         dw_parts[part], g_t[n], False)

"""Bias neurons: a synapse's bias added to the *current* every step, exactly, as
snnTorch adds a ``Linear`` bias ``b`` (``syn[t] = alpha syn[t-1] + W x[t] + b``).

Loihi has no current bias: its ``bias_mant`` is added to ``v``. Instead, neurons that
fire every step carry ``b`` as a weight: a spike per step through a synapse of weight
``b`` adds ``b`` to the current each step. They are appended to a recurrent first
layer (the *host*, layer 0) and marked in its layer dict (``"bias_neurons": n``, the
last ``n`` of its ``out_features``: :func:`~rouser_lava.model.blocks.bias_neurons`);
they receive no real input (zero rows) and their only non-zero outgoing weights are
the biases. Fine-tuning learns those weights (the biases) and leaves the bias neurons'
own rows, thresholds and biases as imported (``Recurrent._freeze_last``).

Timing (Lava steps ``s = 0, 1, ...``; every synapse delays a spike by one step, lava
``proc/dense/models.py``: ``a_out`` sends the sum buffered at the step before, so a
spike at ``s`` reaches its targets' ``u`` at ``s + 1``;
``bias_mant << 6`` enters ``v`` from ``s = 0``; a neuron spikes when ``v > vThMant << 6``,
strictly, and resets ``v`` to 0, lava ``proc/lif/models.py``, ``PyLifModelBitAcc``).
Layer ``k``'s source step ``t`` is Lava's ``s = t + k + 1`` (its input arrives through
``k + 1`` synapses), so ``b`` of layer ``k`` must arrive from ``s = k + 1`` on:

- ``h0`` (threshold ``th``, bias ``2 th``, no input): ``v = 2 th > th`` at every step,
  so it fires from ``s = 0``; its recurrent weights ``b0`` reach layer 0 from ``s = 1``.
- ``h1`` (threshold ``th``, bias ``th``, weight ``W_H > 0`` from ``h0``): at ``s = 0``,
  ``v = th`` does not exceed ``th``; at ``s = 1``, ``v = decay(th) + W_H + th > th``;
  from then on, after each reset, ``v = u + th`` with ``u >= W_H > 0`` (``u`` decays
  toward zero and gets ``W_H`` each step; bounded by ``W_H / iDecay``, hence a host with
  ``iDecay > 0``). It fires from ``s = 1``; its weights ``b1`` into layer 1 arrive from
  ``s = 2``.

In the fold (one ``vThMant`` ``M`` per layer, each row scaled by ``M / th``) ``h0``'s
bias becomes ``2 M > M`` and ``h1``'s exactly ``M``; ``th`` is the smallest real
threshold, halved until it is at most 255/64, so that ``2 M <= 2 * 8 * 255`` fits the
13-bit bias mantissa and ``M``'s gain limit (8 ``th``) drops at most by half. A fold
that was exact (:func:`~rouser_lava.model.fold.exact_step`) stays exact when ``th``
needed no halving or halved without remainder; halving an odd mantissa (above 255) can
enlarge the exact step beyond the largest ``M`` that fits, and the fold then rounds
(the export's per-layer report shows the weight error). Braille's threshold 4.0
(mantissa 256) is halved once, to 128: exact.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..loihi import TH_SCALE
from .imported import ImportedLayer

TH_HELPER_MAX = 255  # a helper's vThMant at most: 2 M <= 2 * 8 * 255 fits 13 bits
W_H = 16 / 64  # h0 -> h1: any positive weight on the grid


def attach(layers: list[ImportedLayer]) -> list[ImportedLayer]:
    """``layers`` with bias neurons appended to the first spiking layer (recurrent)
    where it or the next spiking layer has a ``current_bias``; the next layer's
    weights get their columns. Layers without one are returned as they are."""
    spiking = [i for i, la in enumerate(layers) if la.weight is not None]
    host, nxt = (layers[i] for i in spiking[:2]) if len(spiking) > 1 else (None, None)
    if host is None or nxt is None or (host.current_bias is None and
                                       nxt.current_bias is None):
        return layers
    w, w_rec, w_next = host.weight, host.weight_rec, nxt.weight
    assert w is not None and w_rec is not None and w_next is not None
    assert host.threshold is not None
    size, n = len(w), 2 if nxt.current_bias is not None else 1
    th_mant = int(np.rint(host.threshold.min() * TH_SCALE))
    while th_mant > TH_HELPER_MAX:  # halved to fit 13 bits (see the module docstring)
        th_mant //= 2
    th = th_mant / TH_SCALE
    rec = np.zeros((size + n, size + n))
    rec[:size, :size] = w_rec
    if host.current_bias is not None:
        rec[:size, size] = host.current_bias  # h0 -> the real neurons
    if n == 2:
        rec[size + 1, size] = W_H  # h0 -> h1
    bias = np.zeros(size) if host.bias is None else host.bias
    spec = {**host.spec, "out_features": size + n, "bias": True, "bias_neurons": n}
    layers = list(layers)
    layers[spiking[0]] = replace(
        host, spec=spec, weight=np.vstack((w, np.zeros((n, w.shape[1])))),
        threshold=np.append(host.threshold, [th] * n), weight_rec=rec,
        bias=np.append(bias, [2 * th, th][:n]), current_bias=None)
    cols = np.zeros((len(w_next), n))
    if nxt.current_bias is not None:
        cols[:, 1] = nxt.current_bias  # h1 -> the next layer
    layers[spiking[1]] = replace(nxt, spec={**nxt.spec, "in_features": size + n},
                                 weight=np.hstack((w_next, cols)), current_bias=None)
    return layers

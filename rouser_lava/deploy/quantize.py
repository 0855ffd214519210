"""Trained network -> Loihi fixed point (``QuantizedNetwork``), never touching the model.

Two threshold forms:

``vector``
    Every neuron keeps its own ``vThMant``; weights are the training weights
    (``w * 64``, even integers in [-256, 254]). Bit-exact with the torch forward on
    Lava's CPU ``fixed_pt`` simulator, but Lava's ``LIF`` declares one ``vth`` per
    population (lava#819) and Loihi 2 has no per-neuron threshold.

``fold`` (default)
    CUBA with reset to zero is linear below threshold, so neuron ``i`` with
    threshold ``Th_i`` behaves like one with a shared ``Th_ref`` whose input
    weights (and bias) are scaled by ``Th_ref / Th_i``. The layer then holds one
    ``vThMant = M`` and weights ``round(w_mant * M / th_mant_i)``, re-quantized to
    integers in [-256, 254]. A larger ``M`` gives finer weights but scales each
    neuron's ``u`` and ``v`` by ``M / th_mant_i``, eating into their 24-bit range
    (``v`` has no lower reset, so it can run far below zero and clip at -2**23).
    ``M`` is therefore the largest value for which no scaled weight leaves
    [-256, 254] *and* no neuron's state grows more than ``max_gain`` times (default
    8) over what training saw, or the largest multiple of the step at which no
    weight needs rounding where one fits (:func:`~rouser_lava.model.fold.exact_step`:
    layers whose thresholds are equal). Without rounding the fold is exact; the
    rounding error is reported per layer.

Single-spike models (``NeuronConfig.neuron == "single-spike"``) export in ``vector``
form only: their hidden layers are CUBA layers marked ``single_spike`` (the export
writes them refractory for the whole sample, :mod:`.export`), which are exact; the fold
would round their weights (fold-exact training is the cuba neuron's only), and Lava has
no Loihi 2 model of a refractory layer to fold for. A membrane readout (any neuron) is
the CUBA layer ``iDecay = readout_i_decay``, ``vDecay = 0``, ``vThMant = 2**17 - 1``
with the training weights and one ``vThMant`` for the layer, in both forms (all its
thresholds are equal: there is nothing to fold).
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError, param
from ..loihi import TH_MANT_MAX, TH_SCALE
from ..model.blocks import W_SCALE, Flatten, Pool, RouserNet, layer_shapes, pool_conv_spec
from ..model.fold import (
    DEFAULT_MAX_GAIN,
    choose_shared_threshold,
    fold_weights,
    folded_weights,
)
from ..model.recurrent import Recurrent
from ..model.single_spike import MembraneReadout
from ..model.synapse import bias_mant, fold_bias
from ..netx.network import THRESHOLD_FORMS, LayerReport, QuantizedNetwork, QuantLayer


def _check_values(name: str, block) -> None:
    """Refuse what would deploy silently wrong: non-finite weights or thresholds, and
    thresholds that Loihi's 17-bit ``vThMant`` can only hold clamped."""
    w, th = block.synapse.weight.detach(), block.neuron.threshold.detach()
    for what, values in (("weights", w), ("thresholds", th)):
        bad = int((~np.isfinite(values.numpy())).sum())
        if bad:
            raise UserError(f"{name}: {bad} {what} are NaN or infinite")
    mant = np.rint(th.numpy().astype(np.float64) * TH_SCALE)
    out = int(((mant < 1) | (mant > TH_MANT_MAX)).sum())
    if out:
        raise UserError(f"{name}: {out} of {mant.size} thresholds are outside Loihi's "
                        f"range {1 / TH_SCALE:g}..{TH_MANT_MAX / TH_SCALE:g} (17-bit vThMant) "
                        f"and would be clamped (largest {th.max().item():.4g})")


def _fold_error(weight: np.ndarray, w_mant: np.ndarray, th_mant: np.ndarray,
                m: int) -> float:
    """Largest ``|w_q * th_i / M - w|`` of a row relative to the row's largest ``|w|``."""
    back = fold_weights(weight.astype(np.float64), m / th_mant, 1.0)  # w_q * th_i / M
    rows = np.abs(w_mant.reshape(len(w_mant), -1)).max(axis=1)
    dev = np.abs(back - w_mant).reshape(len(w_mant), -1).max(axis=1)
    return float(np.max(np.where(rows > 0, dev / np.maximum(rows, 1), 0.0)))


def _quantize_recurrent(name: str, block: Recurrent, shape, form: str,
                        max_gain: float) -> tuple[QuantLayer, LayerReport]:
    """A recurrent block as netx ``dense_rec`` (both matrices, and the bias, folded
    alike: :meth:`Recurrent.deployed`)."""
    from lava.lib.dl.netx.utils import optimize_weight_bits

    _check_values(name, block)
    w, w_rec = block.weight(), block.weight_rec()
    ints = block.deployed(w, w_rec, form, max_gain)
    th_mant = block.neuron.threshold_mant().numpy()
    weight = np.hstack((ints["weight"], ints["weight_rec"]))
    if not ints["weight"].any():
        raise UserError(f"{name}: every input weight rounds to 0 on Loihi's weight grid: "
                        f"the layer could never fire; train the model first")
    w_mant = np.rint(np.hstack((w.numpy(), w_rec.numpy())).astype(np.float64) * W_SCALE)
    fold = form == "fold"
    m = int(ints["v_th_mant"]) if fold else 0
    _, bits, exp, _ = optimize_weight_bits(weight)
    cfg = block.neuron.config
    layer = QuantLayer("dense_rec", dict(block.spec), tuple(shape),
                       ints["weight"].astype(np.int32), ints["v_th_mant"], cfg.i_decay,
                       cfg.v_decay, weight_rec=ints["weight_rec"].astype(np.int32),
                       bias=ints["bias"] if block.bias is not None else None)
    report = LayerReport(name, int(exp), int(bits), ints["clipped"],
                         float(th_mant.min() / TH_SCALE), float(th_mant.max() / TH_SCALE),
                         m / TH_SCALE if fold else None,
                         _fold_error(weight, w_mant, th_mant, m) if fold else 0.0)
    return layer, report


def _quantize_layer(name: str, block, shape, form: str,
                    max_gain: float) -> tuple[QuantLayer, LayerReport]:
    from lava.lib.dl.netx.utils import optimize_weight_bits

    if isinstance(block, Recurrent):
        return _quantize_recurrent(name, block, shape, form, max_gain)
    _check_values(name, block)
    w_mant = np.rint(block.weight().numpy().astype(np.float64) * W_SCALE).astype(np.int64)
    th_mant = block.neuron.threshold_mant().numpy()
    readout = isinstance(block.neuron, MembraneReadout)
    bias = None if block.bias is None else bias_mant(block.bias)
    if readout:  # one vThMant for all: nothing to fold
        weight, v_th, th_ref = w_mant, np.array(TH_MANT_MAX, dtype=np.int64), None
        clipped, err = 0, 0.0
    elif form == "vector":
        weight, v_th, th_ref = w_mant, th_mant.copy(), None
        clipped, err = 0, 0.0
    else:
        m = choose_shared_threshold(w_mant, th_mant, max_gain)
        weight, clipped = folded_weights(w_mant, th_mant, m)
        bias = None if bias is None else fold_bias(bias, th_mant, m)
        v_th, th_ref = np.array(m, dtype=np.int64), m / TH_SCALE
        err = _fold_error(weight, w_mant, th_mant, m)
    if not weight.any():  # netx's optimize_weight_bits divides by the largest weight
        raise UserError(f"{name}: every weight rounds to 0 on Loihi's weight grid (largest "
                        f"|w| {np.abs(block.weight().numpy()).max():.3g}, step "
                        f"{1 / W_SCALE:g}): the layer could never fire; train the model "
                        f"first")
    _, bits, exp, _ = optimize_weight_bits(weight.reshape(len(weight), -1))
    cfg = block.neuron.config
    if readout:
        decays, single = (cfg.readout_i_decay, 0), False
    else:
        decays, single = (cfg.i_decay, cfg.v_decay), cfg.neuron == "single-spike"
    spec = pool_conv_spec(block.spec) if isinstance(block, Pool) else dict(block.spec)
    layer = QuantLayer(spec["kind"], spec, tuple(shape),
                       weight.astype(np.int32), v_th, *decays, single, bias=bias)
    report = LayerReport(name, int(exp), int(bits), clipped,
                         float(th_mant.min() / TH_SCALE), float(th_mant.max() / TH_SCALE),
                         th_ref, err)
    return layer, report


def quantize_network(net: RouserNet, threshold_form: str = "fold",
                     max_gain: float = DEFAULT_MAX_GAIN) -> QuantizedNetwork:
    """Loihi fixed-point form of ``net``; ``net`` itself is left unchanged.

    ``max_gain`` bounds how much folding may scale a neuron's state (fold form).
    """
    if threshold_form not in THRESHOLD_FORMS:
        raise ValueError(f"threshold_form must be one of {THRESHOLD_FORMS}")
    if threshold_form == "fold" and net.neuron_config.neuron == "single-spike":
        raise UserError(f"a single-spike model exports only with {param('threshold_form')} "
                        f"vector (the fold would round its weights and is not exact for it)")
    shapes = layer_shapes(net.input_shape, net.arch)
    layers: list[QuantLayer] = []
    reports: list[LayerReport] = []
    for block, shape in zip(net.blocks, shapes):
        if isinstance(block, Flatten):
            layers.append(QuantLayer("flatten", dict(block.spec), tuple(shape)))
            continue
        layer, report = _quantize_layer(f"layer{len(reports)}", block, shape, threshold_form,
                                        max_gain)
        layers.append(layer)
        reports.append(report)
    return QuantizedNetwork(net.input_shape, layers, threshold_form, reports)

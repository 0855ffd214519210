"""What every importer produces: layers in Rouser's units, built into a trainable
``RouserNet``, with a per-layer account of what was approximated.

Rouser's units are Loihi's divided by 64: a weight ``w`` is the integer weight
``w * 64`` (:data:`~rouser_lava.model.blocks.W_SCALE`), a threshold ``th`` is
``vThMant = th * 64``, and decays are 12-bit integers out of 4096. A Rouser block
holds weights on slayer's 8-bit grid (multiples of 1/32 in [-4, 254/64]) and one
threshold per neuron (per channel in a conv layer); each layer keeps its own decays
(``current_decay`` / ``voltage_decay`` in its layer dict where they differ from the
network's). Layers already on those grids are taken exactly; others are scaled onto
them by :func:`fit_grid`, which the importers report.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import torch

from ..loihi import BIAS_MAX, BIAS_MIN, STATE_SCALE, TH_MANT_MAX, TH_SCALE
from ..model.blocks import W_SCALE, RouserNet, neurons_text
from ..model.neuron import NeuronConfig

W_STEP = 2 / W_SCALE  # slayer's 8-bit weight grid
W_LO, W_HI = -256 / W_SCALE, 254 / W_SCALE
SNAP = 1e-4  # a value this close to a grid point (in steps) is taken as on it


@dataclass(frozen=True)
class ImportedLayer:
    """One layer in Rouser's units.

    ``spec`` is its layer dict (see model/blocks.py); ``weight`` float64 ``(C_out,
    C_in)`` or ``(C_out, C_in / groups, kH, kW)`` on the 8-bit grid; ``threshold``
    float64 ``(C_out,)`` on the 1/64 grid; ``i_decay`` and ``v_decay`` 12-bit decays;
    ``weight_rec`` float64 ``(C_out, C_out)`` of a recurrent layer; ``bias`` float64
    ``(C_out,)`` on the 1/64 grid (added to ``v`` every step) where the layer has one;
    ``current_bias`` float64 ``(C_out,)`` on the 8-bit weight grid: a bias of the
    current that bias neurons will carry (:mod:`.bias_neurons`, which consumes it). A
    flatten has only its ``spec``.
    """

    spec: dict
    weight: np.ndarray | None = None
    threshold: np.ndarray | None = None
    i_decay: int = 0
    v_decay: int = 0
    weight_rec: np.ndarray | None = None
    bias: np.ndarray | None = None
    current_bias: np.ndarray | None = None


@dataclass(frozen=True)
class ImportResult:
    """An imported network: the trainable ``net``, ``notes`` (one line per
    approximation, naming the layer; empty when the import is exact), the sample
    length ``time_steps`` where the source records one, and the ``source`` file."""

    net: RouserNet
    notes: list[str] = field(default_factory=list)
    time_steps: int | None = None
    source: str = ""


def snap(values: np.ndarray, step: float, lo: float, hi: float) -> np.ndarray | None:
    """``values`` as exact multiples of ``step`` in ``[lo, hi]`` when each lies within
    ``SNAP`` steps of one (float32 noise of an exporter), else None."""
    scaled = values / step
    near = np.rint(scaled)
    if np.all(np.abs(scaled - near) <= SNAP) and np.all(near * step >= lo) \
            and np.all(near * step <= hi):
        return near * step
    return None


def exact_scale(weight: np.ndarray) -> tuple[np.ndarray | None, float]:
    """``(c weight, c)`` for the smallest ``c = 2**k`` (``k >= 0``) that puts every
    weight exactly on the 8-bit grid (:func:`snap`), or ``(None, 1.0)`` where none does
    (a weight on 1/128 with weights up to 0.5 lands on the grid times 4)."""
    top = float(np.abs(weight).max()) if weight.size else 0.0
    c = 1.0
    while c * top <= -W_LO:
        snapped = snap(weight * c, W_STEP, W_LO, W_HI)
        if snapped is not None:
            return snapped, c
        c *= 2
    return None, 1.0


def fit_grid(name: str, weight: np.ndarray, threshold: np.ndarray
             ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """:func:`fit_layer` of a layer without a bias: ``(weight, threshold, notes)``."""
    w, th, _, notes = fit_layer(name, weight, threshold, np.zeros(len(threshold)))
    return w, th, notes


def fit_layer(name: str, weight: np.ndarray, threshold: np.ndarray, bias: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """``weight`` and ``threshold`` of one layer on Rouser's grids, and notes.

    CUBA with reset to zero spikes the same when a layer's weights, thresholds and bias
    scale together by one factor ``c``. Weights on the 8-bit grid times a power of two
    (:func:`exact_scale`) are taken exactly (``c`` that power: 1 for weights already on
    it); otherwise ``c`` makes the largest ``|c w|`` fill the 8-bit range, and the
    weights are rounded to 1/32 (reported). Thresholds are rounded to 1/64
    within Loihi's 17 bits, and the ``bias`` (``(C_out,)``, added to ``v`` each step)
    scaled by ``c`` like them and rounded to 1/64 within Loihi's int16 ``bias_mant``.
    """
    notes: list[str] = []
    snapped, c = exact_scale(weight)
    if snapped is not None:
        weight = snapped
    else:
        top = float(np.abs(weight).max())
        c = W_HI / top if top > 0 else 1.0
        w = np.clip(np.rint(weight * c / W_STEP) * W_STEP, W_LO, W_HI)
        rows = np.abs(weight * c).reshape(len(w), -1).max(axis=1)
        err = np.abs(w - weight * c).reshape(len(w), -1).max(axis=1) / np.maximum(rows, 1e-30)
        notes.append(f"{name}: weights quantized to 8 bits (weights and thresholds scaled "
                     f"by {c:.4g}; largest error {100 * float(err.max()):.2f} % of a "
                     f"neuron's largest weight): spike times may shift where a voltage "
                     f"passes close to its threshold")
        weight = w
    th = np.clip(np.rint(threshold * c * TH_SCALE), 1, TH_MANT_MAX) / TH_SCALE
    th_err = float(np.max(np.abs(th - threshold * c) / (threshold * c)))
    if snap(threshold * c, 1 / TH_SCALE, 1 / TH_SCALE, TH_MANT_MAX / TH_SCALE) is None:
        notes.append(f"{name}: thresholds rounded to Loihi's 1/64 grid (largest change "
                     f"{100 * th_err:.3g} %)")
    b = np.clip(np.rint(bias * c * TH_SCALE), BIAS_MIN, BIAS_MAX) / TH_SCALE
    if np.any(bias != 0) and snap(bias * c, 1 / TH_SCALE, BIAS_MIN / TH_SCALE,
                                  BIAS_MAX / TH_SCALE) is None:
        notes.append(f"{name}: bias rounded to Loihi's 1/64 grid (largest change "
                     f"{float(np.abs(b - bias * c).max()):.3g}, threshold units)")
    return weight, th, b, notes


def decay_12bit(name: str, what: str, decay: float, notes: list[str]) -> int:
    """``decay`` (fraction of the state lost per step) as a 12-bit decay; a note in
    ``notes`` when it had to be rounded."""
    value = int(np.clip(np.rint(decay * STATE_SCALE), 0, STATE_SCALE))
    if abs(value - decay * STATE_SCALE) > SNAP:
        notes.append(f"{name}: {what} {decay:.6g} per step rounded to {value}/4096 "
                     f"({value / STATE_SCALE:.6g}): time constants change by up to "
                     f"{100 * abs(value / STATE_SCALE - decay) / max(decay, 1e-12):.2g} %")
    return value


def build_network(input_shape: tuple[int, ...], layers: list[ImportedLayer]) -> RouserNet:
    """A ``RouserNet`` (cuba neurons, learned per-neuron thresholds, spike readout)
    holding ``layers`` exactly: the decays most layers share are the network's, the
    others go into their layer dicts."""
    spiking = [la for la in layers if la.weight is not None]
    common = Counter((la.i_decay, la.v_decay) for la in spiking).most_common(1)[0][0]
    thresholds = np.concatenate([la.threshold for la in spiking])
    config = NeuronConfig(threshold=float(np.rint(np.median(thresholds) * TH_SCALE) / TH_SCALE),
                          current_decay=common[0] / STATE_SCALE,
                          voltage_decay=common[1] / STATE_SCALE)
    arch = []
    for la in layers:
        spec = dict(la.spec)
        if la.weight is not None and (la.i_decay, la.v_decay) != common:
            spec.update(current_decay=la.i_decay / STATE_SCALE,
                        voltage_decay=la.v_decay / STATE_SCALE)
        arch.append(spec)
    net = RouserNet(tuple(input_shape), arch, config)
    with torch.no_grad():
        for block, la in zip(net.spiking_blocks(), spiking):
            w = block.synapse.weight
            w.copy_(torch.from_numpy(la.weight).to(w.dtype).reshape(w.shape))
            block.neuron.threshold.copy_(torch.from_numpy(la.threshold).float())
            if la.weight_rec is not None:
                w = block.rec_synapse.weight
                w.copy_(torch.from_numpy(la.weight_rec).to(w.dtype).reshape(w.shape))
            if la.bias is not None:
                block.bias.copy_(torch.from_numpy(la.bias).float())
    net.eval()
    return net


def format_notes(result: ImportResult) -> str:
    """The import report: the layers, then what was approximated (or that nothing was)."""
    net = result.net
    rows = [f"{result.source}: {len(net.spiking_blocks())} spiking layers, input "
            f"{'x'.join(map(str, net.input_shape))}"]
    for name, block in zip(net.layer_names(), net.spiking_blocks()):
        cfg, th = block.neuron.config, block.neuron.threshold.detach()
        size = neurons_text(block.spec, tuple(block.weight().shape)[0])
        rows.append(f"  {name}: {block.spec['kind']} -> {size}, "
                    f"iDecay {cfg.i_decay}, vDecay {cfg.v_decay}, thresholds "
                    f"{th.min().item():.4g}..{th.max().item():.4g}")
    rows += [f"approximated: {note}" for note in result.notes] or ["exact: nothing was "
                                                                   "approximated"]
    return "\n".join(rows)

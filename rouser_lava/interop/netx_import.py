"""A lava-dl netx file (``.net``) -> a trainable Rouser network whose vector-form
export runs spike for spike as the original does (on Lava and the emulator).

What is kept exact:

- **Weights**: what a layer computes on Lava is not the file's integers but the
  effective weights: a dense layer's pass through netx's ``optimize_weight_bits``
  and Lava's clip and truncation, shifted by the chosen exponent
  (:func:`rouser_lava.model.fold.lava_dense_synapse`); a conv layer's are the file's
  (Lava's Conv model has no exponent). Those effective integers ``E`` become the
  Rouser weights ``E / 64``; our export writes ``E`` back, and Lava's dense synapse
  maps ``E`` to itself (checked here per layer). slayer writes even integers in
  [-256, 254], which land on Rouser's 8-bit grid; other weights are scaled and
  rounded onto it (:func:`~rouser_lava.interop.imported.fit_grid`) and reported.
- **Thresholds**: ``vThMant / 64``, one learnable threshold per neuron (dense) or per
  channel (conv; a scalar ``vThMant`` is repeated).
- **Decays**: ``iDecay`` and ``vDecay`` per layer (layers may differ).
- **Bias** (``bias_mant``): ``bias / 64`` per neuron (dense) or per channel (conv), a
  learnable bias of the block.
- **dense_rec**: a recurrent block; both matrices as Lava acts with them (one exponent
  for the two, :func:`rouser_lava.model.fold.lava_dense_rec_synapse`).

Refused, with one line naming the layer and the field: synaptic ``delay``, an input
layer with neurons, refractory (``refDelay >= 2``) or graded-spike neurons, neuron
types other than CUBA/LOIHI, a layer without a neuron group, and per-neuron thresholds
or biases in a conv layer that differ within a channel. Geometry and value ranges are
checked first by :func:`rouser_lava.netx.check.check_netx`.
"""

from __future__ import annotations

import os

import h5py
import numpy as np

from .. import _slayer  # noqa: F401  (quiet lava-dl import before netx)
from ..errors import UserError, param
from ..loihi import TH_SCALE
from ..model.blocks import W_SCALE
from ..model.fold import lava_dense_rec_synapse, lava_dense_synapse
from ..netx.check import REFRACTORY_MIN, check_netx
from ..netx.network import BIAS_NEURONS_ATTR
from ..netx.shape import netx_input_shapes
from .imported import ImportedLayer, ImportResult, build_network, fit_layer


def effective_weight(kind: str, weight: np.ndarray) -> np.ndarray:
    """int64 weights a layer of ``kind`` acts with on Lava, same shape as ``weight``."""
    if kind == "conv":
        return np.rint(weight).astype(np.int64)
    w_eff, exp = lava_dense_synapse(weight.reshape(len(weight), -1))
    return _shifted(w_eff, exp).reshape(weight.shape)


def _shifted(weight: np.ndarray, exp: int) -> np.ndarray:
    """int64 ``weight`` shifted by Lava's weight exponent ``exp``."""
    w = weight.astype(np.int64)
    return w << exp if exp >= 0 else w >> -exp


def effective_rec_weights(weight: np.ndarray, weight_rec: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    """int64 feed-forward and recurrent weights a ``dense_rec`` layer acts with."""
    ff, rec, exp = lava_dense_rec_synapse(weight, weight_rec)
    return _shifted(ff, exp), _shifted(rec, exp)


def _bias(path: str, layer: str, kind: str, group, shape: tuple[int, ...]
          ) -> np.ndarray | None:
    """float64 ``(C,)`` bias (``bias_mant / 64``) per neuron or channel, or None."""
    if "bias" not in group or not np.any(np.asarray(group["bias"][()])):
        return None
    raw = np.asarray(group["bias"][()], np.float64)
    channels = shape[0]
    if raw.size == 1:
        return np.full(channels, raw.reshape(-1)[0]) / W_SCALE
    if raw.size == channels:
        return raw.reshape(-1) / W_SCALE
    per = np.moveaxis(raw.reshape(shape[::-1]), -1, 0).reshape(channels, -1)  # (W, H, C)
    if np.any(per != per[:, :1]):
        _refuse(path, layer, kind, "bias", "differs between neurons of one channel; a "
                "Rouser conv layer has one bias per channel")
    return per[:, 0] / W_SCALE


def _maps_back(kind: str, w: np.ndarray, w_rec: np.ndarray | None, weight: np.ndarray,
               both: np.ndarray) -> bool:
    """Whether Lava acts with the imported weights ``w`` (and ``w_rec``), written back
    as ``rint(w * 64)``, as it does with the file's (``weight``; ``both`` for a
    dense_rec: feed-forward and recurrent side by side)."""
    if kind == "conv":
        return True
    if w_rec is None:
        return np.array_equal(effective_weight(kind, np.rint(w * W_SCALE)), weight)
    back = effective_rec_weights(np.rint(w * W_SCALE), np.rint(w_rec * W_SCALE))
    return np.array_equal(np.hstack(back), both)


def _refuse(path: str, layer: str, kind: str, field: str, problem: str):
    raise UserError(f"{path}: {layer} ({kind}): {field}: {problem}")


def _thresholds(path: str, layer: str, kind: str, vth: np.ndarray,
                shape: tuple[int, ...]) -> np.ndarray:
    """int64 ``(C,)`` vThMant per neuron (dense) or per channel (conv)."""
    channels = shape[0]
    if vth.size == 1:
        return np.full(channels, int(vth.reshape(-1)[0]), np.int64)
    if vth.size == channels:
        return vth.reshape(-1).astype(np.int64)
    per = vth.reshape(channels, -1)
    if np.any(per != per[:, :1]):
        _refuse(path, layer, kind, "neuron/vThMant", "differs between neurons of one "
                "channel; a Rouser conv layer has one threshold per channel")
    return per[:, 0].astype(np.int64)


def _neuron(path: str, layer: str, kind: str, group) -> tuple[int, int, np.ndarray]:
    """``iDecay``, ``vDecay`` and raw ``vThMant`` of a layer's CUBA neurons."""
    if "neuron" not in group:
        _refuse(path, layer, kind, "neuron", "missing; netx's default integrator (vThMant "
                "2**17) has no Rouser equivalent")
    n = group["neuron"]
    raw_type = np.asarray(n["type"][()]).reshape(-1)[0]  # lava-dl: bytes; h5py arrays: S10
    neuron_type = raw_type.decode("ascii", "replace") if isinstance(raw_type, bytes) \
        else str(raw_type)
    if neuron_type not in ("CUBA", "LOIHI"):
        _refuse(path, layer, kind, "neuron/type", f"{neuron_type}; only CUBA (and LOIHI, "
                "which netx runs as the same LIF) can be trained")
    if "refDelay" in n and int(np.asarray(n["refDelay"][()]).reshape(-1)[0]) >= REFRACTORY_MIN:
        _refuse(path, layer, kind, "neuron/refDelay", f"{int(np.asarray(n['refDelay'][()]))}"
                "; refractory neurons are not Rouser's CUBA neurons")
    if "gradedSpike" in n and bool(np.any(n["gradedSpike"][()])):
        _refuse(path, layer, kind, "neuron/gradedSpike", "graded spikes cannot be trained")
    vth = np.asarray(n["vThMant"][()])
    if np.any(vth < 1):
        _refuse(path, layer, kind, "neuron/vThMant", "0; Rouser thresholds must be > 0")
    return int(np.asarray(n["iDecay"][()])), int(np.asarray(n["vDecay"][()])), vth


def _spec(kind: str, group, weight: np.ndarray) -> dict:
    if kind in ("dense", "dense_rec"):
        return {"kind": "dense" if kind == "dense" else "recurrent",
                "in_features": int(weight.shape[1]), "out_features": int(weight.shape[0])}
    pair = {k: [int(v) for v in np.broadcast_to(np.asarray(group[k][()]).reshape(-1), (2,))]
            if k in group else [0 if k == "padding" else 1] * 2
            for k in ("stride", "padding", "dilation")}
    groups = int(np.asarray(group["groups"][()]).reshape(-1)[0]) if "groups" in group else 1
    return {"kind": "conv", "in_channels": int(weight.shape[1]) * groups,
            "out_channels": int(weight.shape[0]), "kernel_size": list(weight.shape[2:4]),
            **pair, "groups": groups}


def _layer(path: str, layer: str, kind: str, group, shape) -> tuple[ImportedLayer, list[str]]:
    if kind not in ("dense", "dense_rec", "conv"):
        _refuse(path, layer, kind, "type", f"'{kind}' has no Rouser block (dense, "
                "dense_rec, conv and flatten are imported)")
    if "delay" in group and np.any(np.asarray(group["delay"][()])):
        _refuse(path, layer, kind, "delay", "synaptic delays cannot be trained")
    i_decay, v_decay, vth = _neuron(path, layer, kind, group)
    raw = np.asarray(group["weight"][()]).astype(np.float64)
    raw = raw.reshape(raw.shape[:4]) if kind == "conv" else \
        raw.reshape(int(np.prod(shape)), -1)  # lava-dl writes one output's row as (C_in,)
    if kind == "dense_rec":
        raw_rec = np.asarray(group["weight_rec"][()]).astype(np.float64).reshape(len(raw), -1)
        weight, rec = effective_rec_weights(raw, raw_rec)
        both = np.hstack((weight, rec))
    else:
        weight = both = effective_weight(kind, raw)
    if not weight.any():
        _refuse(path, layer, kind, "weight", "Lava acts with all-zero weights for this "
                "matrix (netx's optimize_weight_bits and Lava's sign mode disagree)")
    name = f"{layer} ({kind})"
    bias = _bias(path, layer, kind, group, shape)
    w, th, b, notes = fit_layer(name, both / W_SCALE,
                                _thresholds(path, layer, kind, vth, shape) / TH_SCALE,
                                np.zeros(shape[0]) if bias is None else bias)
    w_rec = None
    if kind == "dense_rec":
        w, w_rec = w[:, :weight.shape[1]], w[:, weight.shape[1]:]
    if not notes and not _maps_back(kind, w, w_rec, weight, both):
        notes.append(f"{name}: Lava does not map the weights back onto themselves; the "
                     f"export will differ slightly")
    spec = _spec(kind, group, raw)
    if bias is not None:
        spec["bias"] = True
    helpers = int(group.attrs.get(BIAS_NEURONS_ATTR, 0))  # checked by check_netx
    if helpers:
        spec["bias_neurons"] = helpers
    return ImportedLayer(spec, w, th, i_decay, v_decay, w_rec,
                         b if bias is not None else None), notes


def import_netx(path: str | os.PathLike,
                input_shape: tuple[int, ...] | None = None) -> ImportResult:
    """Read netx file ``path`` into a trainable Rouser network (see the module
    docstring for what is kept exact and what is refused). ``input_shape`` (torch
    order) is needed only where the file has no input layer and the first conv layer's
    geometry allows several shapes. Raises UserError."""
    path = str(path)
    summary = check_netx(path, input_shape=input_shape)
    shapes = netx_input_shapes(path, input_shape)
    if len(shapes) != 1:
        listed = " ".join(str(s) for s in shapes[:6]) + (" ..." if len(shapes) > 6 else "")
        raise UserError(f"{path}: no input layer, and the first conv layer fits the input "
                        f"shapes {listed}; pass {param('input_shape')} C,H,W")
    layers, notes = [], []
    with h5py.File(path, "r") as f:
        for info in summary.layers:
            group = f["layer"][str(info.index)]
            if info.kind == "input":
                if "neuron" in group:
                    _refuse(path, summary.layer_name(info.index), "input", "neuron",
                            "an input layer with "
                            "neurons (a graded input encoder) cannot be trained")
                continue
            if info.kind == "flatten":
                layers.append(ImportedLayer({"kind": "flatten"}))
                continue
            layer, layer_notes = _layer(path, summary.layer_name(info.index), info.kind,
                                        group, info.shape)
            layers.append(layer)
            notes += layer_notes
    if not any(la.weight is not None for la in layers):
        raise UserError(f"{path}: no dense or conv layer to import")
    net = build_network(shapes[0], layers)
    return ImportResult(net, notes, summary.time_steps, path)


"""The fields of a model file, checked before a network is built from them.

:func:`rouser_lava.model.modelfile.load_model` calls :func:`check_model_fields` on
every record it reads, so ``rouser-run``, ``rouser-export``, ``rouser-compare`` and
``rouser-train --init`` see only records whose fields have the types and ranges
:class:`~rouser_lava.model.neuron.NeuronConfig`, the layer dicts
(:mod:`rouser_lava.model.blocks`) and the dataset record
(:mod:`rouser_lava.data.record`) allow. Weights and thresholds are checked after the
tensors are loaded (:func:`check_parameters`). Each failure is one UserError naming
the file and the field.
"""

from __future__ import annotations

import math
from dataclasses import fields

import torch

from ..data.record import check_dataset_record
from ..data.registry import LOADERS
from ..errors import UserError
from .neuron import NEURONS, READOUTS, NeuronConfig

SIZE_MAX = 1 << 24  # neurons or channels of one layer, as netx/check.py allows
GEOMETRY = {"kernel_size": (1, 1 << 10), "stride": (1, 1 << 10), "padding": (0, 1 << 10),
            "dilation": (1, 1 << 10)}
# |weight| and threshold of a float model: 2**20, far beyond what Loihi's fixed point
# holds at any scale (weights up to 255 << 7 over 64, thresholds up to 2**17 / 64)
PARAMETER_MAX = float(1 << 20)
FLAGS = ("learn_threshold", "fold_exact")
FRACTIONS = ("current_decay", "voltage_decay", "readout_decay")


def _int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _real(value, low: float, high: float, low_open: bool = False) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value) and (low < value if low_open else low <= value) and value <= high


class _Fields:
    """Names the file and the field in errors."""

    def __init__(self, path):
        self.path = path

    def fail(self, field: str, value, want: str):
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:37]}..."
        raise UserError(f"{self.path}: field '{field}' {shown}: expected {want}")

    def ints(self, field: str, value, length: tuple[int, ...], low: int, high: int) -> None:
        if not (isinstance(value, (list, tuple)) and len(value) in length
                and all(_int(v, low, high) for v in value)):
            self.fail(field, value, f"{' or '.join(map(str, length))} integers in "
                                    f"{low}..{high}")


def _neuron(r: _Fields, neuron) -> None:
    known = [f.name for f in fields(NeuronConfig)]
    if not isinstance(neuron, dict) or set(neuron) - set(known):
        r.fail("neuron", neuron, f"a mapping of NeuronConfig fields ({', '.join(known)})")
    for key, value in neuron.items():
        if key == "threshold" and not _real(value, 0.0, PARAMETER_MAX, low_open=True):
            r.fail("neuron.threshold", value, f"a number in (0, {PARAMETER_MAX:.0f}]")
        if key in FRACTIONS and not _real(value, 0.0, 1.0):
            r.fail(f"neuron.{key}", value, "a fraction in [0, 1]")
        if key in ("tau_grad", "scale_grad") and not _real(value, 0.0, 1e3, low_open=True):
            r.fail(f"neuron.{key}", value, "a number in (0, 1000]")
        if key in FLAGS and not isinstance(value, bool):
            r.fail(f"neuron.{key}", value, "true or false")
        if key == "neuron" and value not in NEURONS:
            r.fail("neuron.neuron", value, " or ".join(NEURONS))
        if key == "readout" and value not in READOUTS:
            r.fail("neuron.readout", value, " or ".join(READOUTS))


KINDS = ("dense", "conv", "flatten", "pool", "recurrent")  # model/blocks.py's layer dicts


def _layer(r: _Fields, i: int, spec) -> None:
    where = f"arch[{i}]"
    if not isinstance(spec, dict) or spec.get("kind") not in KINDS:
        r.fail(where, spec, f"a layer dict of kind {', '.join(KINDS[:-1])} or {KINDS[-1]}")
    sizes = {"dense": ("in_features", "out_features"),
             "recurrent": ("in_features", "out_features"),
             "conv": ("in_channels", "out_channels", "groups"),
             "pool": ("channels",)}.get(spec["kind"], ())
    for key in sizes:
        if not _int(spec.get(key), 1, SIZE_MAX):
            r.fail(f"{where}.{key}", spec.get(key), f"an integer in 1..{SIZE_MAX}")
    if spec["kind"] == "conv":
        for key, (low, high) in GEOMETRY.items():
            r.ints(f"{where}.{key}", spec.get(key), (2,), low, high)
    if spec["kind"] == "pool":
        r.ints(f"{where}.kernel_size", spec.get("kernel_size"), (2,),
               *GEOMETRY["kernel_size"])
        if not _real(spec.get("weight"), 0.0, 2.0 ** 20, low_open=True):
            r.fail(f"{where}.weight", spec.get("weight"), "a number in (0, 2**20]")
    if not isinstance(spec.get("bias", False), bool):
        r.fail(f"{where}.bias", spec["bias"], "true or false")
    if "bias_neurons" in spec and (spec["kind"] != "recurrent" or not _int(
            spec["bias_neurons"], 0, spec["out_features"] - 1)):
        r.fail(f"{where}.bias_neurons", spec["bias_neurons"], "an integer below "
               "out_features, in a recurrent layer")
    for key in FRACTIONS[:2]:
        if key in spec and not _real(spec[key], 0.0, 1.0):
            r.fail(f"{where}.{key}", spec[key], "a fraction in [0, 1]")


def check_model_fields(record: dict, path) -> None:
    """UserError naming ``path`` and the field unless every field of a model record
    (other than the tensors) has the type and range its reader needs."""
    r = _Fields(path)
    r.ints("input_shape", record["input_shape"], (1, 3), 1, SIZE_MAX)
    arch = record["arch"]
    if not isinstance(arch, list) or not any(isinstance(s, dict) and s.get("kind") in
                                             ("dense", "conv", "recurrent") for s in arch):
        r.fail("arch", arch, "a list of layer dicts with at least one dense, conv or "
                             "recurrent layer")
    for i, spec in enumerate(arch):
        _layer(r, i, spec)
    _neuron(r, record["neuron"])
    record["dataset"] = check_dataset_record(record["dataset"], f"{path}: field 'dataset'",
                                             tuple(LOADERS))
    history = record.get("history", [])
    if not isinstance(history, list) or not all(isinstance(row, dict) for row in history):
        r.fail("history", history, "a list of per-epoch dicts")
    if not isinstance(record.get("train", {}), dict):
        r.fail("train", record["train"], "a mapping of training settings")
    if not isinstance(record["state_dict"], dict) or not all(
            isinstance(v, torch.Tensor) for v in record["state_dict"].values()):
        r.fail("state_dict", type(record["state_dict"]).__name__, "a mapping of tensors")


def check_parameters(path, name: str, weights: torch.Tensor, thresholds: torch.Tensor
                     ) -> None:
    """UserError unless a layer's weights and thresholds lie within
    :data:`PARAMETER_MAX` (the finite check comes first, in ``load_model``)."""
    for what, value in (("weights", weights), ("thresholds", thresholds)):
        top = float(value.detach().abs().max()) if value.numel() else 0.0
        if top > PARAMETER_MAX:
            raise UserError(f"{path}: {name} has {what} up to {top:.3g}; expected at most "
                            f"{PARAMETER_MAX:.0f} in magnitude (far beyond Loihi's range: "
                            f"is this the right model file?)")

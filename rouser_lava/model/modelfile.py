"""``model.pt``: the trained model as plain data, loadable with ``weights_only=True``.

Layout (a dict of tensors and Python primitives only)::

    format      "rouser-lava/model"
    version     1
    input_shape [C] or [C, H, W]
    arch        list of layer dicts (see blocks.py)
    neuron      NeuronConfig fields
    surrogate   {"tau": float, "s": float}: the cuba neuron's effective surrogate in the
                paper's convention, dS/dV = (s / tau) exp(-|V - Th| / tau) (model/neuron.py
                maps lava-dl's tau_grad and scale_grad to it); absent in earlier files
    state_dict  tensors: synapse weights and per-neuron thresholds
    dataset     {"name": str, "encoding": {...}}; from rouser-train also "train", the
                training loop's settings (TrainConfig fields)
    history     list of per-epoch metric dicts
    train       (rouser-train's files; absent in earlier ones) every setting of the run,
                rouser_lava.training.settings.TrainSettings.to_dict()
    provenance  where the file came from (rouser_lava.provenance; absent in earlier
                files, and never checked: readers use read_provenance)
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from ..errors import UserError, param
from ..fileio import write_bytes
from ..provenance import provenance as current_provenance
from ..resources import require_memory
from .blocks import RouserNet
from .neuron import NeuronConfig
from .record import check_model_fields, check_parameters

FORMAT = "rouser-lava/model"
VERSION = 1
REQUIRED_KEYS = ("format", "version", "input_shape", "arch", "neuron", "state_dict", "dataset")


def save_model(path: str | os.PathLike, net: RouserNet, dataset: dict,
               history: list[dict] | None = None, train: dict | None = None,
               provenance: dict | None = None) -> None:
    """Write ``net`` (with its dataset description, history and, if given, the settings
    of the run that trained it) atomically to ``path``. ``provenance`` (default: this
    process's, :func:`rouser_lava.provenance.provenance`) says where it came from."""
    record = {
        "format": FORMAT,
        "version": VERSION,
        "input_shape": list(net.input_shape),
        "arch": net.arch,
        "neuron": net.neuron_config.to_dict(),
        "surrogate": {"tau": net.neuron_config.tau, "s": net.neuron_config.s},
        "state_dict": {k: v.detach().cpu().clone() for k, v in net.state_dict().items()},
        "dataset": dataset,
        "history": list(history or []),
        "provenance": provenance if provenance is not None else current_provenance(),
    }
    if train is not None:
        record["train"] = train
    save_record(path, record)


def save_record(path: str | os.PathLike, record: dict) -> None:
    """``torch.save`` ``record`` to ``path`` atomically (serialised in memory first, so a
    full disk raises instead of leaving a truncated file)."""
    buffer = io.BytesIO()
    torch.save(record, buffer)
    write_bytes(path, buffer.getvalue())


def _torch_reason(err: Exception) -> str:
    """The part of torch.load's error that says why: for a file that holds more than
    tensors, the unpickler's reason (torch puts it after advice on trusting the file)."""
    text = " ".join(str(err).split())
    if "WeightsUnpickler error:" in text:
        text = "holds more than tensors and plain data: " + \
            text.split("WeightsUnpickler error:", 1)[1].strip()
    return (text or type(err).__name__)[:200]


def load_record(path: str | os.PathLike, kind: str = FORMAT) -> dict:
    """Read and validate a model file (or, with ``kind``, another record this package
    writes); raises UserError naming the file and the problem."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: no such model file")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch.load raises many types on foreign or broken bytes
        raise UserError(f"{path}: not a readable model file ({_torch_reason(err)})") \
            from None
    if not isinstance(record, dict) or record.get("format") != kind:
        raise UserError(f"{path}: not a rouser-lava {kind.split('/')[-1]} (train one with "
                        f"rouser-train)")
    if kind != FORMAT:
        return record
    missing = [k for k in REQUIRED_KEYS if k not in record]
    if missing:
        raise UserError(f"{path}: model file lacks {', '.join(missing)}")
    version = record["version"]
    if version != VERSION or not isinstance(version, int) or isinstance(version, bool):
        shown = repr(version) if not isinstance(version, int) or isinstance(version, bool) \
            else str(version)
        raise UserError(f"{path}: field 'version' {shown}: expected the integer {VERSION} "
                        f"(the model format this version of rouser-lava reads)")
    check_model_fields(record, path)
    return record


def load_model(path: str | os.PathLike) -> tuple[RouserNet, dict]:
    """Rebuild the network from a model file. Returns ``(net, record)``."""
    record = load_record(path)
    try:
        weights = sum(int(np.prod([s.get("out_features", s.get("out_channels", 0)),
                                   s.get("in_features", s.get("in_channels", 0)),
                                   *s.get("kernel_size", [])])) for s in record["arch"])
        require_memory(16 * weights, f"{path} ({weights:,} weights)", "is this the right "
                       "model file?")
        net = RouserNet(tuple(record["input_shape"]), record["arch"],
                        NeuronConfig(**record["neuron"]))
        net.load_state_dict(record["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError, AttributeError) as err:
        raise UserError(f"{path}: model file is inconsistent ({str(err).splitlines()[0]})") \
            from None
    for key, value in record["state_dict"].items():
        if value.is_floating_point() and not bool(torch.isfinite(value).all()):
            bad = int((~torch.isfinite(value)).sum())
            raise UserError(f"{path}: {key} holds {bad} NaN or infinite value(s); the model "
                            f"cannot be run or exported (retrain with a lower {param('lr')})")
    for name, block in zip(net.layer_names(), net.spiking_blocks()):
        th = block.neuron.threshold.detach()
        check_parameters(path, name, block.synapse.weight, th)
        if not torch.all(th > 0):
            raise UserError(f"{path}: {name} has non-positive thresholds "
                            f"(min {th.min().item():.4g}); Loihi thresholds must be > 0")
    net.eval()
    return net, record

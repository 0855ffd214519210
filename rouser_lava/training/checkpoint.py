"""What ``rouser-train --resume`` checks in a checkpoint before it continues a run: every
field it reads, with the type and range it needs, named with the file, so a damaged or
foreign checkpoint ends in one line instead of a traceback or a silently wrong run."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from ..errors import UserError
from .settings import TrainSettings

FIELDS = ("settings", "epoch", "state_dict", "optimizer", "generator", "w0", "history")


def _fail(path: Path, field: str, value, want: str) -> UserError:
    shown = type(value).__name__ if isinstance(value, (dict, list, torch.Tensor)) else \
        repr(value)[:60]
    return UserError(f"{path}: field '{field}' {shown}: expected {want}; the checkpoint is "
                     f"damaged or not rouser-train's (start a new run)")


def check_checkpoint(ckpt: dict, path: Path) -> TrainSettings:
    """The run's settings from checkpoint ``ckpt`` (read from ``path``), after checking
    that ``epoch`` is a whole number from 1 to the settings' epochs, ``history`` holds
    one row per epoch (epochs 1, 2, ...), ``state_dict`` and ``w0`` hold tensors,
    ``optimizer`` is an Adam state with positive finite learning rates and
    ``generator`` a state torch's generator accepts; UserError naming the field."""
    missing = [f for f in FIELDS if f not in ckpt]
    if missing:
        raise UserError(f"{path}: missing field(s) {', '.join(missing)}; the checkpoint is "
                        f"damaged or not rouser-train's (start a new run)")
    if not isinstance(ckpt["settings"], dict):
        raise _fail(path, "settings", ckpt["settings"], "a mapping of training settings")
    try:
        settings = TrainSettings.from_dict(ckpt["settings"])
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    except TypeError as err:
        raise UserError(f"{path}: field 'settings': {err}") from None
    epoch = ckpt["epoch"]
    if not isinstance(epoch, int) or isinstance(epoch, bool) or \
            not 1 <= epoch <= settings.epochs:
        raise _fail(path, "epoch", epoch, f"a whole number from 1 to its {settings.epochs} "
                                          f"epochs")
    history = ckpt["history"]
    if not isinstance(history, list) or len(history) != epoch or any(
            not isinstance(row, dict) or row.get("epoch") != i + 1
            for i, row in enumerate(history)):
        raise _fail(path, "history", history, f"one metrics row per epoch 1 .. {epoch}")
    for field in ("state_dict", "w0"):
        value = ckpt[field]
        items = value.values() if isinstance(value, dict) else value
        if not isinstance(value, (dict, list)) or \
                not all(isinstance(v, torch.Tensor) for v in items):
            raise _fail(path, field, value, "tensors")
    _check_optimizer(path, ckpt["optimizer"])
    generator = ckpt["generator"]
    try:
        torch.Generator().set_state(generator)
    except (RuntimeError, TypeError):
        raise _fail(path, "generator", generator, "torch's CPU generator state (a uint8 "
                                                  "tensor)") from None
    return settings


def _check_optimizer(path: Path, opt) -> None:
    groups = opt.get("param_groups") if isinstance(opt, dict) else None
    if not isinstance(opt, dict) or not isinstance(opt.get("state"), dict) or \
            not isinstance(groups, list) or not groups:
        raise _fail(path, "optimizer", opt, "Adam's state dict (state, param_groups)")
    for i, group in enumerate(groups):
        for key in ("lr", "base_lr"):
            value = group.get(key) if isinstance(group, dict) else None
            if not isinstance(value, (int, float)) or isinstance(value, bool) or \
                    not math.isfinite(value) or value <= 0:
                raise _fail(path, f"optimizer.param_groups[{i}].{key}", value,
                            "a learning rate > 0")

"""The files of one training run and whether a command may open them.

For ``out`` ``DIR/NAME.pt`` a run owns ``NAME.pt``, ``NAME.best.pt``,
``NAME.metrics.jsonl`` and ``NAME.ckpt.pt`` (:func:`run_files`). A new run
(:func:`open_new`) refuses to replace another run's files unless told to, and a resumed
one (:func:`open_checkpoint`) starts only from a checkpoint that fits the launch; both
check the launch itself (:func:`check_launch`) and an optional TensorBoard folder before
any work. :mod:`rouser_lava.training.trainrun` trains and writes them.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ..errors import UserError, param
from ..fileio import check_output_dir, check_output_file, check_suffix, refuse_overwrites
from ..model.modelfile import load_record
from .checkpoint import check_checkpoint
from .distributed import Ranks
from .settings import TrainSettings

CHECKPOINT = "rouser-lava/checkpoint"


def run_files(out: Path) -> dict[str, Path]:
    """Paths of a run's files next to ``out``."""
    return {"model": out, "best": out.with_name(f"{out.stem}.best.pt"),
            "metrics": out.with_name(f"{out.stem}.metrics.jsonl"),
            "checkpoint": out.with_name(f"{out.stem}.ckpt.pt")}


def open_files(out: str | Path, board: str | Path | None = None) -> dict[str, Path]:
    """The files of the run at ``out`` (:func:`run_files`); UserError when ``out`` is
    not a ``.pt`` name, one of them is a folder or the folder is missing, or when the
    TensorBoard folder ``board`` (if given) is a file, cannot be made or is one of
    them."""
    files = run_files(check_output_file(out))
    check_suffix(param("out"), out, "model")
    for path in files.values():
        if path.is_dir():
            raise UserError(f"{path}: is a folder; the run writes this file")
    if board is not None:
        check_output_dir(board)
        refuse_overwrites([(param("out"), path) for path in files.values()],
                          [(param("tensorboard"), board)])
    return files


def check_launch(settings: TrainSettings, ranks: Ranks) -> None:
    """UserError unless ``settings`` can train on ``ranks``' processes and device."""
    if settings.batch_size % ranks.world:
        raise UserError(f"{param('batch_size')} {settings.batch_size} is the global batch, "
                        f"split equally over the {ranks.world} processes: give a multiple "
                        f"of {ranks.world}")
    if ranks.device.type == "cuda" and settings.fold_exact:
        raise UserError(f"{param('deploy')} fold-exact trains on the CPU only (the fold is "
                        f"computed with NumPy); use {param('device')} cpu")


def refuse_other_run(files: dict[str, Path], settings: TrainSettings) -> None:
    """UserError when ``files`` hold another run than one with ``settings`` (whose
    result a new run reproduces): a checkpoint with other settings, or run files
    without a checkpoint that says what made them."""
    held = [p for p in files.values() if p.exists()]
    if not held:
        return
    other = f"{param('overwrite')} to replace it, {param('resume')} to continue it, or " \
            f"another {param('out')}"
    if not files["checkpoint"].is_file():
        raise UserError(f"{held[0]}: already exists (a model written by another run); give "
                        f"{other}")
    try:
        ckpt = load_record(files["checkpoint"], CHECKPOINT)
        before = TrainSettings.from_dict(ckpt["settings"]).to_dict()
    except (UserError, KeyError, TypeError):
        before = None
    if before != settings.to_dict():
        done = f" ({ckpt['epoch']} epochs)" if before is not None else ""
        raise UserError(f"{files['model']}: holds another training run{done}, with other "
                        f"settings; give {other}")


def open_new(settings: TrainSettings, out: str | Path, ranks: Ranks,
              overwrite: bool = False, board: str | Path | None = None) -> dict[str, Path]:
    """A new run's files; UserError when they, the TensorBoard folder ``board`` or the
    launch do not fit, when one of them is the model ``init`` starts from, or (unless
    ``overwrite``) when they hold another run (:func:`refuse_other_run`)."""
    files = open_files(out, board)
    refuse_overwrites([(param("out"), path) for path in files.values()],
                      [(param("init"), settings.init)])
    if not overwrite:
        refuse_other_run(files, settings)
    check_launch(settings, ranks)
    return files


def open_checkpoint(out: str | Path, epochs: int | None, ranks: Ranks,
                     board: str | Path | None = None
                     ) -> tuple[dict[str, Path], TrainSettings, dict]:
    """The run's files, its settings (the checkpoint's, with ``epochs`` when given) and
    its checkpoint; UserError when there is none, it does not fit the launch, or the
    TensorBoard folder ``board`` does not fit (:func:`open_files`)."""
    files = open_files(out, board)
    if not files["checkpoint"].is_file():
        raise UserError(f"{files['checkpoint']}: no checkpoint to resume from")
    ckpt = load_record(files["checkpoint"], CHECKPOINT)
    settings = check_checkpoint(ckpt, files["checkpoint"])
    if ckpt["history"] and "val_acc" not in ckpt["history"][-1]:
        raise UserError(f"{files['checkpoint']}: the run predates validation splits (its "
                        f"best epoch was picked on the test split, and its training data "
                        f"held samples now kept for validation); start a new run")
    if epochs and epochs < ckpt["epoch"]:
        raise UserError(f"{param('epochs')} {epochs} is fewer than the {ckpt['epoch']} "
                        f"epochs {files['checkpoint']} already holds; give more to extend "
                        f"the run, or leave {param('epochs')} out")
    if epochs:
        settings = dataclasses.replace(settings, epochs=epochs)
    check_launch(settings, ranks)
    return files, settings, ckpt

"""One training run on disk: settings, the last and best models, per-epoch metrics and
a checkpoint to resume from.

Files, for ``--out DIR/NAME.pt``: ``NAME.pt`` (the last epoch's model, rewritten after
every epoch), ``NAME.best.pt`` (highest validation accuracy so far where the dataset
has a validation split, else highest test accuracy; the earlier epoch on ties),
``NAME.metrics.jsonl`` (one JSON line per epoch) and ``NAME.ckpt.pt`` (model, optimiser
state, data-order RNG state, initial weights, history and settings). All are written
atomically, so a run killed at any moment leaves the last complete epoch's files;
``--resume`` continues from ``NAME.ckpt.pt`` and gives the same result as an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from ..data.registry import DATA_OPTIONS, load_dataset
from ..errors import UserError
from ..fileio import atomic_write
from ..model.modelfile import load_record, save_model
from ..model.neuron import NeuronConfig
from .loop import TrainConfig, TrainState, config_dict, dense_net, train
from .presets import resolve

log = logging.getLogger(__name__)
CHECKPOINT = "rouser-lava/checkpoint"
SETTINGS = ("dataset", "epochs", "batch_size", "lr", "lr_threshold", "lr_schedule", "seed",
            "hidden", "threshold_init", "thresholds", *DATA_OPTIONS)


def run_files(out: Path) -> dict[str, Path]:
    """Paths of a run's files next to ``out``."""
    return {"model": out, "best": out.with_name(f"{out.stem}.best.pt"),
            "metrics": out.with_name(f"{out.stem}.metrics.jsonl"),
            "checkpoint": out.with_name(f"{out.stem}.ckpt.pt")}


def settings(args) -> dict:
    """Run settings from parsed ``rouser-train`` arguments: command line over preset over
    built-in defaults."""
    builtin = {**config_dict(TrainConfig()), "dataset": "digits", "threshold_init": 1.25,
               "thresholds": "learned"}
    return resolve(args.preset, {k: getattr(args, k, None) for k in SETTINGS}, builtin)


def best_key(row: dict) -> str:
    """The accuracy that picks the best model: validation where the dataset has that
    split (Yin-Yang), else test."""
    return "val_acc" if "val_acc" in row else "test_acc"


def _write_metrics(path: Path, history: list[dict]) -> None:
    text = "".join(json.dumps(row) + "\n" for row in history)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text))


def train_run(opt: dict, out: str | Path, progress: bool = True,
              resume: bool = False) -> list[dict]:
    """Train with settings ``opt`` (see :data:`SETTINGS`), writing the run's files.

    With ``resume``, the settings are the checkpoint's, except ``opt['epochs']`` when
    given (extending a run; under the cosine schedule this reshapes the remaining lr).
    """
    files = run_files(Path(out))
    if not files["model"].parent.is_dir():
        raise UserError(f"{out}: folder '{files['model'].parent}' does not exist")
    state = None
    if resume:
        if not files["checkpoint"].is_file():
            raise UserError(f"{files['checkpoint']}: no checkpoint to resume from")
        ckpt = load_record(files["checkpoint"], CHECKPOINT)
        opt = {**ckpt["settings"], "epochs": opt.get("epochs") or ckpt["settings"]["epochs"]}
        state = TrainState(ckpt["epoch"], ckpt["optimizer"], ckpt["generator"], ckpt["w0"],
                           ckpt["history"])
        if state.epoch >= opt["epochs"]:
            log.info("nothing to do: %s already has %d epochs (of %d); no file written",
                     files["checkpoint"], state.epoch, opt["epochs"])
            return state.history
    data = load_dataset(opt["dataset"], **{k: opt.get(k) for k in DATA_OPTIONS})
    cfg = TrainConfig(epochs=opt["epochs"], batch_size=opt["batch_size"], lr=opt["lr"],
                      lr_threshold=opt["lr_threshold"],
                      lr_schedule=opt.get("lr_schedule", "constant"),  # older checkpoints
                      seed=opt["seed"], hidden=tuple(opt["hidden"]))
    neuron = NeuronConfig(threshold=opt["threshold_init"],
                          learn_threshold=opt["thresholds"] == "learned")
    torch.manual_seed(cfg.seed)
    net = dense_net(data, cfg.hidden, neuron)
    if state is not None:
        net.load_state_dict(ckpt["state_dict"])
        log.info("resuming %s after epoch %d of %d", files["checkpoint"], state.epoch,
                 cfg.epochs)
    log.info("training %s on %s: %d train / %d test samples, %d steps, thresholds %s",
             "-".join(str(s) for s in [int(np.prod(data.input_shape)), *cfg.hidden,
                                       data.num_classes]),
             data.name, len(data.x_train), len(data.x_test), data.time_steps,
             opt["thresholds"])
    dataset = {"name": data.name, "encoding": data.encoding, "train": config_dict(cfg)}
    saved = dict(opt, hidden=list(opt["hidden"]))

    def on_epoch(s: TrainState) -> None:
        save_model(files["model"], net, dataset, s.history)
        accs = [row[best_key(row)] for row in s.history]
        if accs.index(max(accs)) == len(accs) - 1:
            save_model(files["best"], net, dataset, s.history)
        _write_metrics(files["metrics"], s.history)
        record = {"format": CHECKPOINT, "version": 1, "settings": saved, "epoch": s.epoch,
                  "state_dict": {k: v.detach().clone() for k, v in net.state_dict().items()},
                  "optimizer": s.optimizer, "generator": s.generator, "w0": s.w0,
                  "history": s.history}
        atomic_write(files["checkpoint"], lambda tmp: torch.save(record, tmp))

    history = train(net, data, cfg, progress, resume=state, on_epoch=on_epoch)
    accs = [row[best_key(row)] for row in history]
    log.info("wrote %s, %s, %s; %s holds epoch %d", files["model"], files["metrics"].name,
             files["checkpoint"].name, files["best"].name, accs.index(max(accs)) + 1)
    return history


def train_model(args) -> list[dict]:
    """``rouser-train``: train from parsed CLI arguments (``--resume`` takes every setting
    from the checkpoint, and ``--epochs`` only if given)."""
    opt = {"epochs": args.epochs} if args.resume else settings(args)
    return train_run(opt, args.out, progress=not args.quiet, resume=args.resume)

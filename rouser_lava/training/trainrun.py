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

Under ``torchrun`` (see :mod:`rouser_lava.training.distributed`) every rank trains its
part of each batch and rank 0 alone writes the files; ``--resume`` may use a different
number of processes, as the data order does not depend on it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import numpy as np
import torch

from ..data.dataset import SpikeDataset
from ..data.registry import DATA_OPTIONS, dataset_for, load_dataset
from ..errors import UserError
from ..fileio import check_output_file, write_bytes
from ..model.blocks import RouserNet, layer_shapes
from ..model.modelfile import load_model, load_record, save_model, save_record
from ..model.neuron import NeuronConfig
from ..resources import require_memory
from .distributed import Ranks, agree, start, stop
from .loop import TrainConfig, TrainState, config_dict, dense_arch, train
from .presets import resolve

log = logging.getLogger(__name__)
CHECKPOINT = "rouser-lava/checkpoint"
SETTINGS = ("dataset", "epochs", "batch_size", "lr", "lr_threshold", "lr_schedule", "seed",
            "hidden", "threshold_init", "thresholds", "deploy", "init", "neuron", "readout",
            "current_decay", "voltage_decay", *DATA_OPTIONS)


def run_files(out: Path) -> dict[str, Path]:
    """Paths of a run's files next to ``out``."""
    return {"model": out, "best": out.with_name(f"{out.stem}.best.pt"),
            "metrics": out.with_name(f"{out.stem}.metrics.jsonl"),
            "checkpoint": out.with_name(f"{out.stem}.ckpt.pt")}


def settings(args) -> dict:
    """Run settings from parsed ``rouser-train`` arguments: command line over preset over
    built-in defaults."""
    base = NeuronConfig()
    builtin = {**config_dict(TrainConfig()), "dataset": "digits", "threshold_init": 1.25,
               "thresholds": "learned", "deploy": "vector", "init": None,
               "neuron": base.neuron, "current_decay": base.current_decay,
               "voltage_decay": base.voltage_decay}
    opt = resolve(args.preset, {k: getattr(args, k, None) for k in SETTINGS}, builtin)
    if opt.get("init"):  # the dataset given on the command line, not the default
        opt["init_dataset"] = getattr(args, "dataset", None) or \
            (resolve(args.preset, {}, {}).get("dataset") if args.preset else None)
    if opt.get("readout") is None:  # the paper's readout for single-spike networks
        opt["readout"] = "membrane" if opt["neuron"] == "single-spike" else "spikes"
    return opt


def best_key(row: dict) -> str:
    """The accuracy that picks the best model: validation where the dataset has that
    split (Yin-Yang), else test."""
    return "val_acc" if "val_acc" in row else "test_acc"


def _finite(value):
    """``value`` with every NaN or infinite float replaced by None (valid JSON)."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _write_metrics(path: Path, history: list[dict]) -> None:
    text = "".join(json.dumps(_finite(row), allow_nan=False) + "\n" for row in history)
    write_bytes(path, text)


def training_bytes(sizes: list[int], batch: int, steps: int) -> int:
    """Memory to train a dense net of layer ``sizes``: 24 bytes per weight (float32
    weight, its quantized copy, gradient, two Adam moments, initial copy) and 48 per
    neuron, sample and step (float32 current, u, v, spikes and their gradients)."""
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    return 24 * weights + 48 * batch * steps * sum(sizes)


def _sizes(net: RouserNet) -> str:
    """``64-128-10``: input size and the size of every spiking layer."""
    shapes = layer_shapes(net.input_shape, net.arch)
    return "-".join(str(int(np.prod(sh))) for sh in
                    [net.input_shape, *(sh for sp, sh in zip(net.arch, shapes)
                                        if sp["kind"] != "flatten")])


def _check_fold(fold: bool, neuron: str, readout: str) -> None:
    """UserError unless fold-exact training (``fold``) has what the fold assumes."""
    if fold and (neuron, readout) != ("cuba", "spikes"):
        raise UserError(f"--deploy fold-exact needs --neuron cuba and --readout spikes (got "
                        f"{neuron}, {readout}): the fold assumes reset to zero")


def _init_dataset(opt: dict, meta: dict, input_shape: tuple[int, ...]) -> SpikeDataset:
    """The data to fine-tune a model on: the dataset its file records, or, for an
    imported model that records none, ``--dataset`` (required then) with the recorded
    sample length and the data options given; its input must fit the model's."""
    if meta.get("name"):
        data = dataset_for(meta["name"], meta.get("encoding"), opt.get("data_root"))
    elif opt.get("init_dataset"):
        options = {**meta.get("encoding", {}),
                   **{k: opt[k] for k in DATA_OPTIONS if opt.get(k) is not None}}
        data = load_dataset(opt["init_dataset"], **options)
    else:
        raise UserError(f"{opt['init']}: the model records no dataset (an imported "
                        f"network); give --dataset")
    if tuple(data.input_shape) != tuple(input_shape):
        raise UserError(f"{opt['init']}: the model takes input {tuple(input_shape)}, "
                        f"dataset '{data.name}' gives {tuple(data.input_shape)}")
    return data


def _dataset_and_net(opt: dict, ranks: Ranks) -> tuple[SpikeDataset, RouserNet]:
    """The data and the initial network of a run (on the CPU): a new dense net, or
    (``--init``) a trained model to fine-tune, with its architecture, neuron settings,
    weights and data encoding. ``--deploy fold-exact`` makes its forward pass the fold
    export. The memory check counts this rank's part of the batch."""
    fold = opt.get("deploy", "vector") == "fold-exact"
    if opt.get("init"):
        base, record = load_model(opt["init"])
        data = _init_dataset(opt, record["dataset"], base.input_shape)
        neuron = base.neuron_config
        _check_fold(fold, neuron.neuron, neuron.readout)
        neuron = dataclasses.replace(neuron, fold_exact=fold)
        arch, input_shape = base.arch, base.input_shape
    else:
        defaults = NeuronConfig()  # runs from before the single-spike neuron lack its keys
        kind = {k: opt.get(k, getattr(defaults, k)) for k in ("neuron", "readout")}
        _check_fold(fold, kind["neuron"], kind["readout"])
        neuron = NeuronConfig(
            threshold=opt["threshold_init"], fold_exact=fold,
            learn_threshold=opt["thresholds"] == "learned", **kind,
            current_decay=opt.get("current_decay", defaults.current_decay),
            voltage_decay=opt.get("voltage_decay", defaults.voltage_decay))
        data = load_dataset(opt["dataset"], **{k: opt.get(k) for k in DATA_OPTIONS})
        arch, input_shape = dense_arch(data, tuple(opt["hidden"])), data.input_shape
    sizes = [int(np.prod(input_shape))] + [s.get("out_features", 0) for s in arch]
    require_memory(training_bytes(sizes, opt["batch_size"] // ranks.world, data.time_steps),
                   f"training {'-'.join(map(str, sizes))} with batch {opt['batch_size']} "
                   f"and {data.time_steps} steps", "use smaller --hidden, --batch-size or "
                   "--time-steps")
    torch.manual_seed(opt["seed"])
    net = RouserNet(input_shape, arch, neuron)
    if opt.get("init"):
        net.load_state_dict(base.state_dict())
    return data, net


def _open_run(opt: dict, out: str | Path, resume: bool, ranks: Ranks
              ) -> tuple[dict[str, Path], dict, dict | None]:
    """The run's files, its settings (the checkpoint's when resuming, ``opt['epochs']``
    aside) and the checkpoint (None for a new run); UserError when these do not fit
    together or with the launch."""
    files = run_files(check_output_file(out))
    for path in files.values():
        if path.is_dir():
            raise UserError(f"{path}: is a folder; the run writes this file")
    ckpt = None
    if resume:
        if not files["checkpoint"].is_file():
            raise UserError(f"{files['checkpoint']}: no checkpoint to resume from")
        ckpt = load_record(files["checkpoint"], CHECKPOINT)
        opt = {**ckpt["settings"], "epochs": opt.get("epochs") or ckpt["settings"]["epochs"]}
    if opt["batch_size"] % ranks.world:
        raise UserError(f"--batch-size {opt['batch_size']} is the global batch, split "
                        f"equally over the {ranks.world} processes: give a multiple of "
                        f"{ranks.world}")
    if ranks.device.type == "cuda" and opt.get("deploy") == "fold-exact":
        raise UserError("--deploy fold-exact trains on the CPU only (the fold is computed "
                        "with NumPy); use --device cpu")
    return files, opt, ckpt


def train_run(opt: dict, out: str | Path, progress: bool = True, resume: bool = False,
              ranks: Ranks | None = None) -> list[dict]:
    """Train with settings ``opt`` (see :data:`SETTINGS`), writing the run's files.

    With ``resume``, the settings are the checkpoint's, except ``opt['epochs']`` when
    given (extending a run; under the cosine schedule this reshapes the remaining lr).
    ``ranks`` (default: one process on the CPU) places this process in a data-parallel
    run; a UserError on any rank is raised on all of them.
    """
    ranks = ranks or Ranks()
    files, opt, ckpt = agree(ranks, lambda: _open_run(opt, out, resume, ranks))
    state = None
    if ckpt is not None:
        state = TrainState(ckpt["epoch"], ckpt["optimizer"], ckpt["generator"], ckpt["w0"],
                           ckpt["history"])
        if state.epoch >= opt["epochs"]:
            log.info("nothing to do: %s already has %d epochs (of %d); no file written",
                     files["checkpoint"], state.epoch, opt["epochs"])
            return state.history
    # rank 0 first, so that it alone bins (and caches) an event dataset
    first = agree(ranks, lambda: _dataset_and_net(opt, ranks) if ranks.main else None)
    rest = agree(ranks, lambda: None if ranks.main else _dataset_and_net(opt, ranks))
    data, net = first or rest
    cfg = TrainConfig(epochs=opt["epochs"], batch_size=opt["batch_size"], lr=opt["lr"],
                      lr_threshold=opt["lr_threshold"],
                      lr_schedule=opt.get("lr_schedule", "constant"),  # older checkpoints
                      seed=opt["seed"], hidden=tuple(opt["hidden"]))
    if state is not None:
        net.load_state_dict(ckpt["state_dict"])
        log.info("resuming %s after epoch %d of %d", files["checkpoint"], state.epoch,
                 cfg.epochs)
    net.to(ranks.device)
    nc = net.neuron_config
    log.info("training %s on %s: %d train / %d test samples, %d steps, %s neurons, %s "
             "readout, thresholds %s%s", _sizes(net), data.name, len(data.x_train),
             len(data.x_test), data.time_steps, nc.neuron, nc.readout, opt["thresholds"],
             ", fold-exact" if nc.fold_exact else "")
    if ranks.world > 1:
        log.info("data-parallel on %d processes (%s): %d samples per process and batch",
                 ranks.world, ranks.device.type, cfg.batch_size // ranks.world)
    dataset = {"name": data.name, "encoding": data.encoding, "train": config_dict(cfg)}
    saved = dict(opt, hidden=list(opt["hidden"]))

    def save(s: TrainState) -> None:
        save_model(files["model"], net, dataset, s.history)
        accs = [row[best_key(row)] for row in s.history]
        if accs.index(max(accs)) == len(accs) - 1:
            save_model(files["best"], net, dataset, s.history)
        _write_metrics(files["metrics"], s.history)
        record = {"format": CHECKPOINT, "version": 1, "settings": saved, "epoch": s.epoch,
                  "state_dict": {k: v.detach().cpu().clone()
                                 for k, v in net.state_dict().items()},
                  "optimizer": s.optimizer, "generator": s.generator, "w0": s.w0,
                  "history": s.history}
        save_record(files["checkpoint"], record)

    def on_epoch(s: TrainState) -> None:  # rank 0 writes; its error stops every rank
        agree(ranks, lambda: save(s) if ranks.main else None)

    history = train(net, data, cfg, progress, resume=state, on_epoch=on_epoch, ranks=ranks)
    accs = [row[best_key(row)] for row in history]
    log.info("wrote %s, %s, %s; %s holds epoch %d", files["model"], files["metrics"].name,
             files["checkpoint"].name, files["best"].name, accs.index(max(accs)) + 1)
    return history


def train_model(args) -> list[dict]:
    """``rouser-train``: train from parsed CLI arguments (``--resume`` takes every setting
    from the checkpoint, and ``--epochs`` only if given) on ``args.device``, as one of
    torchrun's processes where torchrun started this one."""
    opt = {"epochs": args.epochs} if args.resume else settings(args)
    ranks = start(args.device)
    try:
        history = train_run(opt, args.out, progress=not args.quiet, resume=args.resume,
                            ranks=ranks)
    except UserError:  # raised on every rank alike (see agree), so they leave together
        stop(ranks)
        raise
    stop(ranks)  # not after other errors: that rank exits and torchrun stops the rest
    return history

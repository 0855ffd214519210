"""One training run on disk: settings, the last and best models, per-epoch metrics and
a checkpoint to resume from.

Files, for ``out`` ``DIR/NAME.pt``: ``NAME.pt`` (the last epoch's model, rewritten after
every epoch), ``NAME.best.pt`` (highest validation accuracy so far, the earlier epoch on
ties: every dataset has a validation split, see :func:`rouser_lava.data.registry.
load_dataset`; the test split never picks a model and is only reported),
``NAME.metrics.jsonl`` (one JSON line per epoch) and ``NAME.ckpt.pt`` (model, optimiser
state, data-order RNG state, initial weights, history and settings). All are written
atomically, so a run killed at any moment leaves the last complete epoch's files;
:func:`resume_run` (``--resume``) continues from ``NAME.ckpt.pt`` and gives the same
result as an uninterrupted run with the same seed. The model files record the run's
settings (:meth:`TrainSettings.to_dict`) under ``train``, and the training loop's
(:func:`config_dict`) under ``dataset.train`` as files of earlier versions do; they
and the checkpoint record under ``provenance`` where they came from
(:mod:`rouser_lava.provenance`: versions, command line, seed, device and the number of
processes; a resumed run records its own). With ``tensorboard`` (``--tensorboard DIR``)
the metrics and threshold histograms of every epoch also go to TensorBoard events in
that folder (:mod:`rouser_lava.training.tboard`). Which files a run owns and when a
command may open them: :mod:`rouser_lava.training.runfiles`.

Under ``torchrun`` (see :mod:`rouser_lava.training.distributed`) every rank trains its
part of each batch and rank 0 alone writes the files; a resumed run may use a
different number of processes, as the data order does not depend on it.
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
from ..data.registry import dataset_for, load_dataset
from ..errors import UserError, param
from ..fileio import lock_output, unlock_output, write_bytes, wrote
from ..model.archspec import parse_arch
from ..model.blocks import RouserNet, layer_shapes
from ..model.modelfile import load_model, save_model, save_record
from ..provenance import provenance
from ..resources import require_memory
from .distributed import Ranks, agree
from .initcheck import net_sizes
from .loop import TrainState, config_dict, dense_arch, train
from .runfiles import CHECKPOINT, open_checkpoint, open_new
from .settings import TrainSettings, check_fold_exact
from .tboard import Board

log = logging.getLogger(__name__)
def best_key(row: dict) -> str:
    """The accuracy that picks the best model: validation (``test_acc`` only for rows
    of a dataset built by hand without a validation split, see :func:`train`)."""
    return "val_acc" if "val_acc" in row else "test_acc"


def best_epoch(history: list[dict]) -> int:
    """Index into ``history`` of the epoch ``NAME.best.pt`` holds: the highest
    :func:`best_key` accuracy, the earlier epoch on ties."""
    accs = [row[best_key(row)] for row in history]
    return accs.index(max(accs))


def selection_summary(history: list[dict]) -> str:
    """Which epoch the best model is and its accuracies, beside the last epoch's:
    ``best epoch 7 of 10: validation 95.1 %, test 94.2 %; last epoch: test 93.9 %``."""
    i, last = best_epoch(history), history[-1]
    row = history[i]
    picked = f"validation {100 * row['val_acc']:.2f} %, " if "val_acc" in row else ""
    return (f"best epoch {row['epoch']} of {last['epoch']} (picked on "
            f"{'validation' if picked else 'test'}): {picked}test "
            f"{100 * row['test_acc']:.2f} %; last epoch: test {100 * last['test_acc']:.2f} %")


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


def training_bytes(input_shape: tuple[int, ...], arch: list[dict], batch: int,
                   steps: int) -> int:
    """Memory to train ``arch``: 24 bytes per weight (float32 weight, its quantized copy,
    gradient, two Adam moments, initial copy) and 48 per neuron, sample and step
    (float32 current, u, v, spikes and their gradients), input included."""
    shapes = layer_shapes(input_shape, arch)
    neurons = int(np.prod(input_shape)) + sum(int(np.prod(sh)) for sp, sh in
                                              zip(arch, shapes) if sp["kind"] != "flatten")
    weights = 0
    for spec in arch:
        if spec["kind"] in ("dense", "recurrent"):
            weights += spec["in_features"] * spec["out_features"]
            weights += spec["out_features"] ** 2 if spec["kind"] == "recurrent" else 0
        elif spec["kind"] == "conv":
            weights += spec["out_channels"] * spec["in_channels"] // spec["groups"] * \
                int(np.prod(spec["kernel_size"]))
    return 24 * weights + 48 * batch * steps * neurons


def _init_dataset(settings: TrainSettings, meta: dict, input_shape: tuple[int, ...]
                  ) -> SpikeDataset:
    """The data to fine-tune a model on: the dataset its file records, or, for an
    imported model that records none, ``init_dataset`` (required then) with the recorded
    sample length and the data options set; its input must fit the model's."""
    if meta.get("name"):
        data = dataset_for(meta["name"], meta.get("encoding"), settings.data_root)
    elif settings.init_dataset:
        options = {**meta.get("encoding", {}), **settings.data_options}
        data = load_dataset(settings.init_dataset, **options)
    else:
        raise UserError(f"{settings.init}: the model records no dataset (an imported "
                        f"network); give {param('init_dataset')}")
    if tuple(data.input_shape) != tuple(input_shape):
        raise UserError(f"{settings.init}: the model takes input {tuple(input_shape)}, "
                        f"dataset '{data.name}' gives {tuple(data.input_shape)}")
    return data


def _dataset_and_net(settings: TrainSettings, ranks: Ranks
                     ) -> tuple[SpikeDataset, RouserNet]:
    """The data and the initial network of a run (on the CPU): a new dense net, or
    (``init``) a trained model to fine-tune, with its architecture, neuron settings,
    weights and data encoding. ``deploy='fold-exact'`` makes its forward pass the fold
    export. The memory check counts this rank's part of the batch."""
    if settings.init:
        base, record = load_model(settings.init)
        data = _init_dataset(settings, record["dataset"], base.input_shape)
        neuron = base.neuron_config
        check_fold_exact(settings.deploy, neuron.neuron, neuron.readout)
        neuron = dataclasses.replace(neuron, fold_exact=settings.fold_exact)
        arch, input_shape = base.arch, base.input_shape
    else:
        neuron = settings.neuron_config()
        data = load_dataset(settings.dataset, **settings.data_options)
        input_shape = data.input_shape
        arch = parse_arch(settings.arch, input_shape, data.num_classes) if settings.arch \
            else dense_arch(data, settings.hidden)
    batch = settings.batch_size
    require_memory(training_bytes(input_shape, arch, batch // ranks.world, data.time_steps),
                   f"training {settings.arch or 'the network'} with batch {batch} and "
                   f"{data.time_steps} steps", f"use smaller {param('hidden')}, "
                   f"{param('batch_size')} or {param('time_steps')}")
    torch.manual_seed(settings.seed)
    net = RouserNet(input_shape, arch, neuron)
    if settings.init:
        net.load_state_dict(base.state_dict())
    return data, net


def train_run(settings: TrainSettings, out: str | Path, progress: bool = True,
              ranks: Ranks | None = None, overwrite: bool = False,
              tensorboard: str | Path | None = None) -> list[dict]:
    """Train a new run with ``settings``, writing its files next to ``out`` (see the
    module docstring); returns the per-epoch metrics. Files of another run there (other
    settings, or no checkpoint) are refused unless ``overwrite``; those of a run with
    the same settings are replaced (the new run reproduces them).

    ``ranks`` (default: one process on the CPU) places this process in a data-parallel
    run; a UserError on any rank is raised on all of them. Rank 0 holds ``<out>.lock``
    (:func:`rouser_lava.fileio.lock_output`) while the run writes, so a second run on
    the same ``out`` started meanwhile is refused instead of racing it.

    ``tensorboard`` (a folder, made if missing) also gets every epoch's metrics and
    threshold histograms as TensorBoard events, from rank 0 alone
    (:mod:`rouser_lava.training.tboard`).
    """
    ranks = ranks or Ranks()
    files = agree(ranks, lambda: open_new(settings, out, ranks, overwrite, tensorboard))
    lock = agree(ranks, lambda: lock_output(out, "another rouser-train") if ranks.main
                 else None)
    try:
        return _train(files, settings, None, progress, ranks, tensorboard)
    finally:
        if lock is not None:
            unlock_output(lock)


def resume_run(out: str | Path, epochs: int | None = None, progress: bool = True,
               ranks: Ranks | None = None, tensorboard: str | Path | None = None
               ) -> list[dict]:
    """Continue the run whose checkpoint is next to ``out``, with the checkpoint's
    settings, to ``epochs`` in all when given (extending a run; under the cosine schedule
    this reshapes the remaining lr); returns the per-epoch metrics of the whole run.
    Like :func:`train_run`, it holds ``<out>.lock`` while it runs.
    Writes nothing when the checkpoint already has that many epochs. ``ranks`` and
    ``tensorboard`` as :func:`train_run`'s (the resumed epochs are added to the events
    there, replacing those a killed run logged after its checkpoint).
    """
    ranks = ranks or Ranks()
    files, settings, ckpt = agree(ranks, lambda: open_checkpoint(out, epochs, ranks,
                                                                  tensorboard))
    lock = agree(ranks, lambda: lock_output(out, "another rouser-train") if ranks.main
                 else None)
    try:
        if ckpt["epoch"] >= settings.epochs:
            log.info("nothing to do: %s already has %d epochs (of %d); no file written",
                     files["checkpoint"], ckpt["epoch"], settings.epochs)
            return ckpt["history"]
        return _train(files, settings, ckpt, progress, ranks, tensorboard)
    finally:
        if lock is not None:
            unlock_output(lock)


def _train(files: dict[str, Path], settings: TrainSettings, ckpt: dict | None,
           progress: bool, ranks: Ranks, tensorboard: str | Path | None = None
           ) -> list[dict]:
    """Train, from checkpoint ``ckpt`` if given, writing ``files`` (and on rank 0 the
    events in folder ``tensorboard``, when given) after every epoch."""
    state = None
    if ckpt is not None:
        state = TrainState(ckpt["epoch"], ckpt["optimizer"], ckpt["generator"], ckpt["w0"],
                           ckpt["history"])
    # rank 0 first, so that it alone bins (and caches) an event dataset
    first = agree(ranks, lambda: _dataset_and_net(settings, ranks) if ranks.main else None)
    rest = agree(ranks, lambda: None if ranks.main else _dataset_and_net(settings, ranks))
    data, net = first or rest  # type: ignore[misc]  # each rank got its pair from one
    cfg = settings.train_config()
    if state is not None and ckpt is not None:
        try:
            net.load_state_dict(ckpt["state_dict"])
        except RuntimeError as err:
            raise UserError(f"{files['checkpoint']}: field 'state_dict' does not fit the "
                            f"network its settings build ({str(err).splitlines()[0]})") \
                from None
        log.info("resuming %s after epoch %d of %d", files["checkpoint"], state.epoch,
                 cfg.epochs)
    net.to(ranks.device)
    nc = net.neuron_config
    log.info("training %s on %s: %d train / %d validation (%s) / %d test samples, %d "
             "steps, %s neurons, %s readout, thresholds %s%s", net_sizes(net), data.name,
             len(data.x_train), len(data.y_val if data.y_val is not None else ()),
             _val_source(data), len(data.x_test), data.time_steps, nc.neuron, nc.readout,
             settings.thresholds, ", fold-exact" if nc.fold_exact else "")
    if ranks.world > 1:
        log.info("data-parallel on %d processes (%s): %d samples per process and batch",
                 ranks.world, ranks.device.type, cfg.batch_size // ranks.world)
    dataset = {"name": data.name, "encoding": data.encoding, "train": config_dict(cfg),
               "validation": data.validation}
    saved = settings.to_dict()
    origin = provenance(settings.seed, ranks.device.type, ranks.world)

    start = 1 + (ckpt["epoch"] if ckpt is not None else 0)  # the first epoch trained here
    board = agree(ranks, lambda: Board(tensorboard, start, origin, saved)
                  if ranks.main and tensorboard is not None else None)

    def save(s: TrainState) -> None:
        if board is not None:  # before the checkpoint: a resumed run replaces its epoch
            board.epoch(s.history[-1], net, s.optimizer)
        save_model(files["model"], net, dataset, s.history, train=saved, provenance=origin)
        if best_epoch(s.history) == len(s.history) - 1:
            save_model(files["best"], net, dataset, s.history, train=saved,
                       provenance=origin)
        _write_metrics(files["metrics"], s.history)
        record = {"format": CHECKPOINT, "version": 1, "settings": saved, "epoch": s.epoch,
                  "state_dict": {k: v.detach().cpu().clone()
                                 for k, v in net.state_dict().items()},
                  "optimizer": s.optimizer, "generator": s.generator, "w0": s.w0,
                  "history": s.history, "provenance": origin}
        save_record(files["checkpoint"], record)

    def on_epoch(s: TrainState) -> None:  # rank 0 writes; its error stops every rank
        agree(ranks, lambda: save(s) if ranks.main else None)

    try:
        history = train(net, data, cfg, progress, resume=state, on_epoch=on_epoch,
                        ranks=ranks)
    finally:  # also after an error or Ctrl-C: the events of the epochs done are kept
        if board is not None:
            board.close()
    for path in files.values():
        log.info("wrote %s", path)
    if board is not None:
        wrote(board.path, f"TensorBoard events, epochs {start}..{history[-1]['epoch']}")
    log.info("%s: %s", files["best"].name, selection_summary(history))
    return history


def _val_source(data: SpikeDataset) -> str:
    """How the validation split was made, for the training header."""
    v = data.validation
    if v.get("source") == "carved":
        return f"{100 * v['fraction']:g} % of train, stratified, seed {v['seed']}"
    return "the dataset's own" if v.get("source") == "dataset" else "none"

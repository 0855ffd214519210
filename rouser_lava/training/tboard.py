"""A training run's per-epoch metrics as TensorBoard events (``rouser-train
--tensorboard DIR``).

Every epoch adds, at step ``epoch`` (1-based), the values of its row of
``NAME.metrics.jsonl`` (:func:`rouser_lava.training.loop.train`) as scalars:

=============================  ====================================================
tag                            metrics.jsonl
=============================  ====================================================
``accuracy/train``,            ``train_acc``, ``val_acc``, ``test_acc`` (fractions)
``accuracy/validation``,
``accuracy/test``
``loss/train``, ...            ``train_loss``, ``val_loss``, ``test_loss``
``lr/weights``                 ``lr``
``lr/thresholds``              the thresholds' learning rate (from the optimiser;
                               absent with fixed thresholds)
``time/epoch_s``,              ``wall_s``, ``metrics_s``
``time/metrics_s``
``KEY/LAYER``                  ``layers[i][KEY]`` of layer ``LAYER`` (``layer0``, ...):
                               each of :data:`LAYER_KEYS`; a membrane readout's
                               ``weight_change`` only (it never spikes)
=============================  ====================================================

and a histogram ``thresholds/LAYER`` of every spiking layer's thresholds as the
hardware holds them (the values behind ``th_mean``, ``th_std``), one bin per 1/64 grid
step (:func:`grid_bins`). A text ``provenance``
(:func:`rouser_lava.provenance.provenance`) and ``settings`` (the run's settings as
JSON) are added once, at the step before the first epoch this process trains.

A new run starts its event file with a purge at step 0 and a resumed run one at its
first epoch (``SummaryWriter(purge_step=...)``), so TensorBoard hides the values of an
earlier run in the same DIR, or of epochs that a killed run logged after its last
checkpoint, instead of drawing two runs on one line; their files stay. Only rank 0 of
a data-parallel run writes (:mod:`rouser_lava.training.trainrun`). ``tensorboard`` is
imported here only when a board is opened, so ``import rouser_lava`` stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import UserError
from ..model.blocks import RouserNet
from ..model.single_spike import MembraneReadout
from .metrics import GRID

if TYPE_CHECKING:
    from torch.utils.tensorboard import SummaryWriter

# metrics.jsonl's top-level keys -> tags
RUN_TAGS = {"train_acc": "accuracy/train", "val_acc": "accuracy/validation",
            "test_acc": "accuracy/test", "train_loss": "loss/train",
            "val_loss": "loss/validation", "test_loss": "loss/test", "lr": "lr/weights",
            "wall_s": "time/epoch_s", "metrics_s": "time/metrics_s"}
# each spiking layer's keys (rouser_lava.training.metrics.layer_metrics), tagged KEY/LAYER
LAYER_KEYS = ("dead_pct", "spike_rate", "spikes_per_sample", "th_mean", "th_std", "th_min",
              "th_max", "th_moved_pct", "weight_change")
READOUT_KEYS = ("weight_change",)  # a membrane readout's
HISTOGRAM_BINS = 256  # at most: wider spreads merge neighbouring grid steps


def grid_bins(th: np.ndarray) -> np.ndarray:
    """float64 bin edges for thresholds ``th``: one bin per step of Loihi's 1/64
    threshold grid (:data:`rouser_lava.training.metrics.GRID`) from the lowest to the
    highest, each value in its bin's middle. (TensorBoard's default bins are 10 % wide:
    thresholds that learned to spread over a few grid steps would share one bin.)"""
    lo, hi = np.round(th.min() / GRID), np.round(th.max() / GRID)
    return (np.arange(lo, hi + 2) - 0.5) * GRID


def _markdown_table(record: dict) -> str:
    """``record`` as a two-column Markdown table (TensorBoard renders text as
    Markdown)."""
    def cell(value) -> str:
        text = " ".join(value) if isinstance(value, list) else str(value)
        return text.replace("|", "\\|")

    rows = [f"| {key} | {cell(value)} |" for key, value in record.items()]
    return "\n".join(["| field | value |", "|---|---|", *rows])


class Board:
    """The event file of one training process (rank 0's).

    Parameters
    ----------
    path : str or Path
        The event folder (made if missing; checked beforehand with
        :func:`rouser_lava.fileio.check_output_dir`).
    first_epoch : int
        The first epoch this process trains (1, or the checkpoint's epoch + 1).
    origin : dict
        The run's provenance record.
    settings : dict
        The run's settings (``TrainSettings.to_dict()``).
    """

    def __init__(self, path: str | Path, first_epoch: int, origin: dict, settings: dict):
        from torch.utils.tensorboard import SummaryWriter  # here: imported only when used
        self.path = Path(path)
        try:
            self.writer: SummaryWriter = SummaryWriter(
                str(self.path), purge_step=0 if first_epoch == 1 else first_epoch)
        except OSError as err:
            raise UserError(f"{self.path}: cannot write TensorBoard events there "
                            f"({err.strerror or err})") from None
        step = first_epoch - 1
        self.writer.add_text("provenance", _markdown_table(origin), step)
        self.writer.add_text("settings", "```\n" + json.dumps(settings, indent=1) + "\n```",
                             step)
        self.writer.flush()

    def epoch(self, row: dict, net: RouserNet, optimizer: dict) -> None:
        """Add epoch ``row['epoch']``'s values and ``net``'s threshold histograms, and
        flush them to disk (so a running TensorBoard shows them at once).

        Parameters
        ----------
        row : dict
            The epoch's metrics row (as ``NAME.metrics.jsonl`` holds it).
        net : RouserNet
            The network at the end of the epoch.
        optimizer : dict
            The optimiser's state dict (its ``param_groups`` give the learning rates:
            weights first, thresholds second when they learn, see
            :func:`rouser_lava.training.loop.make_optimizer`).
        """
        step, add = int(row["epoch"]), self.writer.add_scalar
        for key, tag in RUN_TAGS.items():
            if key in row:
                add(tag, row[key], step)
        groups = optimizer["param_groups"]
        if len(groups) > 1:
            add("lr/thresholds", groups[1]["lr"], step)
        for layer, block in zip(row["layers"], net.spiking_blocks()):
            readout = isinstance(block.neuron, MembraneReadout)
            for key in READOUT_KEYS if readout else LAYER_KEYS:
                add(f"{key}/{layer['name']}", layer[key], step)
            if not readout:
                th = block.neuron.quantized_threshold().detach().cpu().double().numpy()
                self.writer.add_histogram(f"thresholds/{layer['name']}", th, step,
                                          bins=grid_bins(th), max_bins=HISTOGRAM_BINS)
        self.writer.flush()

    def close(self) -> None:
        """Flush and close the event file (also after an error or Ctrl-C: the epochs
        added so far stay readable)."""
        self.writer.close()

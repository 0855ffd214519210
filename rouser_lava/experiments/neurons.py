"""The single-spike paper's savings, measured: the same architecture trained with the
cuba neuron and with the single-spike neuron (``rouser-experiment neurons``).

Both neurons of a seed share the initial weights and the data order (same seed); each
takes its settings from the command line and preset as ``rouser-train --neuron`` would
(its readout too, unless given: spikes for cuba, the membrane readout for
single-spike). Every run trains into ``REPORT/runs/<neuron>-seed<k>/model.pt``; its best
model is exported in vector form (bit-exact with training for both neurons) and run on
the emulator over the test set, which gives the deployed accuracy, the spikes per
sample of every layer and the synaptic operations per sample
(:func:`rouser_lava.backends.activity.measure_activity`: NeuroBench's count, every
spike costs one operation per synapse it drives, input spikes included).

``report.json`` keys: ``kind`` (``neurons``), ``preset``, ``settings`` (per neuron),
``neurons`` (per neuron, means over seeds: ``final_acc_mean``, ``final_acc_std``,
``deployed_acc_mean``, ``deployed_acc_std``, ``spikes_per_sample`` and
``synops_per_sample`` per layer, ``hidden_spikes_per_sample``, ``synops_total``),
``reduction_pct`` (single-spike against cuba: ``hidden_spikes``, ``synops``; positive
is fewer) and ``runs`` (per run: ``neuron``, ``seed``, ``history``, ``final_acc``,
``final_val_acc``, ``best_epoch``, ``best_acc`` (see :func:`.runs.selection`),
``deployed_acc``, ``spikes_per_sample``, ``synops_per_sample``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..model.neuron import NEURONS
from ..training.settings import TrainSettings
from ..training.trainrun import train_run
from .runs import run_all, selection

log = logging.getLogger(__name__)


def run_neuron(settings: TrainSettings, neuron: str, seed: int, root: Path,
               board: Path | None = None) -> dict:
    """Train one run of ``neuron`` (``settings`` are its settings) with ``seed`` (its
    TensorBoard events into ``board/<neuron>-seed<seed>`` when ``board`` is given),
    deploy its best model and measure it; returns its record (see the module
    docstring)."""
    from ..backends.activity import measure_activity
    from ..backends.options import RunOptions
    from ..backends.runfile import run_path
    from ..deploy.export import export_model

    out = root / "runs" / f"{neuron}-seed{seed}" / "model.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("== %s neurons, seed %d", neuron, seed)
    history = train_run(replace(settings, seed=seed), out, progress=False, overwrite=True,
                        tensorboard=board / out.parent.name if board else None)
    net_path = out.with_name("best.net")
    export_model(str(out.with_name("model.best.pt")), str(net_path), "vector", quiet=True)
    deployed = run_path(str(net_path), RunOptions(progress=False))
    activity = measure_activity(str(net_path))
    return {"neuron": neuron, "seed": seed, "history": history, **selection(history),
            "deployed_acc": deployed.accuracy,
            "spikes_per_sample": [la.spikes_per_sample for la in activity.layers],
            "synops_per_sample": [la.synops_per_sample for la in activity.layers]}


def _summary(runs: list[dict]) -> dict:
    """Means over the seeds of one neuron's runs."""
    spikes = np.mean([r["spikes_per_sample"] for r in runs], axis=0)
    synops = np.mean([r["synops_per_sample"] for r in runs], axis=0)
    finals, deployed = [r["final_acc"] for r in runs], [r["deployed_acc"] for r in runs]
    return {"final_acc_mean": float(np.mean(finals)), "final_acc_std": float(np.std(finals)),
            "deployed_acc_mean": float(np.mean(deployed)),
            "deployed_acc_std": float(np.std(deployed)),
            "spikes_per_sample": spikes.tolist(), "synops_per_sample": synops.tolist(),
            "hidden_spikes_per_sample": float(spikes[:-1].sum()),
            "synops_total": float(synops.sum())}


def reduction_pct(base: float, new: float) -> float | None:
    """How much smaller ``new`` is than ``base``, in % (None when ``base`` is 0)."""
    return 100.0 * (1.0 - new / base) if base else None


def compare_neurons(settings: dict[str, TrainSettings], preset: str | None, seeds: int,
                    report: Path, jobs: int = 1, board: Path | None = None) -> dict:
    """cuba vs single-spike over ``seeds`` seeds (the cuba settings' ``seed``, +1, ...);
    ``settings`` are each neuron's run settings, ``board`` as :func:`run_neuron`'s."""
    first = settings["cuba"].seed
    specs = [(settings[n], n, first + k, report, board) for k in range(seeds)
             for n in NEURONS]
    runs = run_all(run_neuron, specs, jobs)
    neurons = {n: _summary([r for r in runs if r["neuron"] == n]) for n in NEURONS}
    cuba, single = neurons["cuba"], neurons["single-spike"]
    return {"kind": "neurons", "preset": preset,
            "settings": {n: s.to_dict() for n, s in settings.items()}, "neurons": neurons,
            "reduction_pct": {
                "hidden_spikes": reduction_pct(cuba["hidden_spikes_per_sample"],
                                               single["hidden_spikes_per_sample"]),
                "synops": reduction_pct(cuba["synops_total"], single["synops_total"])},
            "runs": runs}

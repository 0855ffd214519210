"""The Rouser paper's ablation (its Fig. 6), as a protocol fixed before it is run.

Two settings of ``(Th_init, tau, s)`` in the paper's surrogate convention
(:mod:`rouser_lava.model.neuron`): ``fig6`` = (0.25, 3, 3), where the paper reports
``lr_Th = 0.01`` reaching ~90 % on N-MNIST and ``lr_Th = 0`` staying at chance, and
``table2`` = (1.25, 3.75, 1.5), the paper's Table II. Each is trained with
``lr_Th`` in :data:`LR_THRESHOLDS` (0: thresholds fixed) for every seed; a seed fixes
the initial weights and the data order, so the runs of one seed differ only in
``lr_Th``. Every other setting is the preset's.

Model selection uses validation only: the dataset's validation split (Yin-Yang's own,
else a stratified, seeded part of the training data:
:func:`rouser_lava.data.dataset.carve_validation`), recorded in the result; the test
set is never looked at to choose. A run's score is
the test accuracy at the epoch of highest validation accuracy (the earlier on ties).

Verdict per setting and ``lr_Th > 0`` (:func:`verdict`): the paired differences of the
scores (learned minus fixed, same seed) tested with a two-sided paired t-test at
:data:`ALPHA`; "learned better" or "worse" when significant, else "no difference".
"""

from __future__ import annotations

import logging
import math
from dataclasses import replace

import numpy as np
import torch

from ..data.dataset import SpikeDataset
from ..data.registry import load_dataset
from ..model.blocks import RouserNet
from ..training.loop import dense_arch, train
from ..training.settings import TrainSettings
from .runs import run_all

log = logging.getLogger(__name__)

SETTINGS = {  # name: (Th_init, tau, s), the paper's surrogate convention
    "fig6": (0.25, 3.0, 3.0),
    "table2": (1.25, 3.75, 1.5),
}
LR_THRESHOLDS = (0.0, 1e-3, 1e-2)  # 0: thresholds fixed (stock CUBA)
ALPHA = 0.05  # significance level of the paired test


def validation_source(data: SpikeDataset) -> str:
    """Where ``data``'s validation split comes from, in words."""
    v = data.validation or {}
    size = 0 if data.y_val is None else len(data.y_val)
    if v.get("source") == "carved":
        return (f"{size} samples ({v['fraction']:.0%} of each class) split off the training "
                f"set, stratified, seed {v['seed']}; {len(data.y_train)} train")
    return f"the dataset's own validation split ({size} samples)"


def run_settings(base: TrainSettings, setting: str, lr_th: float, seed: int
                 ) -> TrainSettings:
    """The settings of one run of the protocol."""
    th, tau, s = SETTINGS[setting]
    learned = lr_th > 0
    return replace(base, threshold_init=th, surrogate_tau=tau, surrogate_scale=s,
                   tau_grad=None, scale_grad=None, seed=seed,
                   thresholds="learned" if learned else "fixed",
                   lr_threshold=lr_th if learned else base.lr_threshold)


def train_one(settings: TrainSettings, data: SpikeDataset, setting: str, lr_th: float
              ) -> dict:
    """Train one run (new dense net seeded with ``settings.seed``); its record: the
    per-epoch history, the epoch chosen on validation and the scores there."""
    log.info("== %s, lr_Th %g, seed %d", setting, lr_th, settings.seed)
    torch.manual_seed(settings.seed)
    net = RouserNet(data.input_shape, dense_arch(data, settings.hidden),
                    settings.neuron_config())
    w_init = float(sum(float(b.synapse.weight.detach().double().sum())
                       for b in net.spiking_blocks()))
    history = train(net, data, settings.train_config(), progress=False)
    val = [row["val_acc"] for row in history]
    chosen = int(np.argmax(val))  # first maximum: the earlier epoch on ties
    return {"setting": setting, "lr_th": lr_th, "seed": settings.seed,
            "weight_checksum": w_init, "history": history, "chosen_epoch": chosen + 1,
            "val_acc": val[chosen], "test_acc": history[chosen]["test_acc"],
            "final_test_acc": history[-1]["test_acc"]}


def verdict(diffs: list[float]) -> tuple[str, float]:
    """"learned better" / "worse" / "no difference" from paired differences (learned
    minus fixed) by a two-sided paired t-test at :data:`ALPHA`; and its p-value (1 when
    every difference is zero)."""
    d = np.asarray(diffs, dtype=float)
    if len(d) < 2 or np.all(d == d[0]):
        p = 1.0 if np.all(d == 0) else 0.0
    else:
        from scipy.stats import ttest_1samp  # type: ignore[import-untyped]

        p = float(ttest_1samp(d, 0.0).pvalue)
    if p < ALPHA and math.isfinite(p):
        return ("learned better" if d.mean() > 0 else "worse"), p
    return "no difference", p


def _mean_std(values) -> dict:
    v = np.asarray(values, dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0}


def _curves(runs: list[dict]) -> dict:
    """Per-epoch means and standard deviations over seeds: validation accuracy, and per
    layer dead neurons, spike rate and the threshold statistics."""
    val = np.array([[row["val_acc"] for row in r["history"]] for r in runs])
    layers = len(runs[0]["history"][0]["layers"])
    per_layer = []
    for i in range(layers):
        entry = {}
        for key in ("dead_pct", "spike_rate", "th_mean", "th_std", "th_moved_pct"):
            arr = np.array([[row["layers"][i][key] for row in r["history"]] for r in runs])
            entry[key] = {"mean": arr.mean(0).tolist(), "std": arr.std(0).tolist()}
        per_layer.append(entry)
    return {"val_acc": {"mean": val.mean(0).tolist(), "std": val.std(0).tolist()},
            "layers": per_layer}


def summarize(runs: list[dict]) -> dict:
    """Per setting: per ``lr_Th`` the scores over seeds and the curves; per
    ``lr_Th > 0`` the paired differences against ``lr_Th = 0`` and the verdict."""
    out: dict = {}
    for setting in SETTINGS:
        rows = {}
        fixed = {r["seed"]: r["test_acc"] for r in runs
                 if r["setting"] == setting and r["lr_th"] == 0}
        for lr_th in LR_THRESHOLDS:
            rs = sorted((r for r in runs if r["setting"] == setting and r["lr_th"] == lr_th),
                        key=lambda r: r["seed"])
            if not rs:
                continue
            row: dict = {"test_acc": _mean_std([r["test_acc"] for r in rs]),
                         "val_acc": _mean_std([r["val_acc"] for r in rs]),
                         "final_test_acc": _mean_std([r["final_test_acc"] for r in rs]),
                         "per_seed": {r["seed"]: r["test_acc"] for r in rs},
                         "chosen_epochs": [r["chosen_epoch"] for r in rs], "curves": _curves(rs)}
            if lr_th > 0 and fixed:
                diffs = [r["test_acc"] - fixed[r["seed"]] for r in rs if r["seed"] in fixed]
                row["diff"] = _mean_std(diffs)
                row["verdict"], row["p_value"] = verdict(diffs)
            rows[f"{lr_th:g}"] = row
        out[setting] = rows
    return out


def ablation(base: TrainSettings, preset: str | None, seeds: int, jobs: int = 1) -> dict:
    """Run the protocol (see the module docstring) with seeds ``base.seed``, +1, ...;
    returns the result that :func:`rouser_lava.experiments.ablation_report.write_ablation`
    writes."""
    data = load_dataset(base.dataset, **base.data_options)
    val_source = validation_source(data)
    specs = [(run_settings(base, setting, lr_th, base.seed + k), data, setting, lr_th)
             for k in range(seeds) for setting in SETTINGS for lr_th in LR_THRESHOLDS]
    runs = run_all(train_one, specs, jobs)
    checksums: dict[int, set[float]] = {}
    for r in runs:  # the same initial weights for every run of a seed
        checksums.setdefault(r["seed"], set()).add(r["weight_checksum"])
    same_init = all(len(v) == 1 for v in checksums.values())
    return {"kind": "ablation", "preset": preset, "settings": base.to_dict(),
            "protocol": {"settings": {k: dict(zip(("th_init", "tau", "s"), v))
                                      for k, v in SETTINGS.items()},
                         "lr_thresholds": list(LR_THRESHOLDS), "seeds": seeds,
                         "alpha": ALPHA, "test": "two-sided paired t-test over seeds",
                         "selection": "test accuracy at the epoch of best validation "
                                      "accuracy"},
            "validation": val_source,
            "sizes": {"train": len(data.y_train), "test": len(data.y_test),
                      "val": 0 if data.y_val is None else len(data.y_val)},
            "same_initial_weights": same_init, "summary": summarize(runs), "runs": runs}

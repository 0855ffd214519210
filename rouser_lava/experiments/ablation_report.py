"""Report of the ablation (:mod:`rouser_lava.experiments.ablation`): ``report.json``,
``report.md`` and plots, every file written atomically.

Plots, one column per setting (``fig6``, ``table2``), one curve per ``lr_Th`` with a
band of one standard deviation over seeds: ``ablation_accuracy.png`` (validation
accuracy vs epoch, as the paper's Fig. 6 draws it), ``ablation_dead.png`` and
``ablation_rate.png`` (dead neurons and spike rate per layer vs epoch) and
``ablation_thresholds.png`` (per layer: threshold mean with its spread across neurons,
and the share that moved more than one 1/64 step).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fileio import atomic_write  # noqa: E402
from ..provenance import provenance  # noqa: E402
from .report import _name, _save  # noqa: E402

COLORS = {"0": "tab:blue", "0.001": "tab:orange", "0.01": "tab:red"}


def _band(ax, curve: dict, label: str, color: str, scale: float = 1.0) -> None:
    mean, std = np.asarray(curve["mean"]) * scale, np.asarray(curve["std"]) * scale
    x = np.arange(1, len(mean) + 1)
    ax.plot(x, mean, "o-", ms=3, color=color, label=label)
    ax.fill_between(x, mean - std, mean + std, color=color, alpha=0.2)


def _lr_label(lr: str) -> str:
    return "lr_Th = 0 (fixed)" if lr == "0" else f"lr_Th = {lr}"


def _accuracy_plot(result: dict, path: Path) -> Path:
    summary = result["summary"]
    fig, axes = plt.subplots(1, len(summary), figsize=(5 * len(summary), 3.6), squeeze=False)
    for ax, (setting, rows) in zip(axes[0], summary.items()):
        for lr, row in rows.items():
            _band(ax, row["curves"]["val_acc"], _lr_label(lr), COLORS.get(lr, "k"), 100)
        p = result["protocol"]["settings"][setting]
        ax.set(title=f"{setting}: Th {p['th_init']}, tau {p['tau']}, s {p['s']}",
               xlabel="epoch", ylabel="validation accuracy (%)")
        ax.legend(fontsize=8)
    fig.suptitle(f"Ablation, {_name(result)}: mean ± std over seeds")
    return _save(fig, path)


def _layer_plot(result: dict, keys: list[tuple[str, str, float]], title: str,
                path: Path) -> Path:
    """One row per (setting, key), one column per layer."""
    summary = result["summary"]
    layers = len(next(iter(next(iter(summary.values())).values()))["curves"]["layers"])
    rows = [(s, k) for s in summary for k in keys]
    fig, axes = plt.subplots(len(rows), layers, figsize=(4 * layers, 2.8 * len(rows)),
                             squeeze=False)
    for r, (setting, (key, ylabel, scale)) in enumerate(rows):
        for i in range(layers):
            ax = axes[r][i]
            for lr, row in summary[setting].items():
                _band(ax, row["curves"]["layers"][i][key], _lr_label(lr),
                      COLORS.get(lr, "k"), scale)
            ax.set(title=f"{setting}, layer{i}", xlabel="epoch", ylabel=ylabel)
    axes[0][0].legend(fontsize=7)
    fig.suptitle(f"{title}, {_name(result)}")
    return _save(fig, path)


def _pm(stats: dict, scale: float = 100.0, digits: int = 1) -> str:
    return f"{scale * stats['mean']:.{digits}f} ± {scale * stats['std']:.{digits}f}"


def _last(curve: dict, scale: float = 1.0, digits: int = 2) -> str:
    return f"{scale * curve['mean'][-1]:.{digits}f}"


def ablation_md(result: dict) -> str:
    """The report's text: protocol, score table with verdicts, per-seed scores and the
    last epoch's layer statistics."""
    proto = result["protocol"]
    lines = [f"# Ablation (the paper's Fig. 6 protocol), {_name(result)}", "",
             f"Seeds: {proto['seeds']} (from {result['settings']['seed']}), epochs: "
             f"{result['settings']['epochs']}, hidden {result['settings']['hidden']}. "
             f"Validation: {result['validation']}. Score: {proto['selection']}. Verdict: "
             f"{proto['test']} of learned minus fixed (same seed) at {proto['alpha']:g}. "
             f"Same initial weights per seed across settings: "
             f"{'yes' if result['same_initial_weights'] else 'NO'}.", "",
             "| setting (Th, tau, s) | lr_Th | test % at best val | val % | chosen epochs | "
             "minus fixed (pp) | p | verdict |", "|---|---|---|---|---|---|---|---|"]
    for setting, rows in result["summary"].items():
        p = proto["settings"][setting]
        for lr, row in rows.items():
            diff = _pm(row["diff"]) if "diff" in row else ""
            pval = f"{row['p_value']:.3f}" if "p_value" in row else ""
            lines.append(f"| {setting} ({p['th_init']:g}, {p['tau']:g}, {p['s']:g}) | {lr} | "
                         f"{_pm(row['test_acc'])} | {_pm(row['val_acc'])} | "
                         f"{row['chosen_epochs']} | {diff} | {pval} | "
                         f"{row.get('verdict', '(baseline)')} |")
    lines += ["", "Per seed (test % at best validation):", ""]
    for setting, rows in result["summary"].items():
        for lr, row in rows.items():
            per = ", ".join(f"{100 * v:.1f}" for _, v in sorted(row["per_seed"].items(),
                                                                key=lambda kv: int(kv[0])))
            lines.append(f"- {setting}, lr_Th {lr}: {per}")
    lines += ["", "Last epoch, per layer (means over seeds): dead %, spike rate, threshold "
              "mean ± spread across neurons, % moved > 1 grid step:", ""]
    for setting, rows in result["summary"].items():
        for lr, row in rows.items():
            parts = [f"layer{i} dead {_last(la['dead_pct'], 1, 0)}%, rate "
                     f"{_last(la['spike_rate'], 1, 3)}, th {_last(la['th_mean'])} ± "
                     f"{_last(la['th_std'])}, moved {_last(la['th_moved_pct'], 1, 0)}%"
                     for i, la in enumerate(row["curves"]["layers"])]
            lines.append(f"- {setting}, lr_Th {lr}: " + "; ".join(parts))
    lines += ["", "Plots: ablation_accuracy.png, ablation_dead.png, ablation_rate.png, "
              "ablation_thresholds.png. Per-run histories: report.json (`runs`)."]
    return "\n".join(lines) + "\n"


def write_ablation(result: dict, out: Path) -> list[Path]:
    """Write ``report.json``, ``report.md`` and the plots into ``out``; returns the
    paths written."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**result, "provenance": provenance()}, indent=1)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(text))
    md = ablation_md(result)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
    plots = [
        _accuracy_plot(result, out / "ablation_accuracy.png"),
        _layer_plot(result, [("dead_pct", "dead neurons (%)", 1.0)], "Dead neurons",
                    out / "ablation_dead.png"),
        _layer_plot(result, [("spike_rate", "spikes / neuron / step", 1.0)], "Spike rate",
                    out / "ablation_rate.png"),
        _layer_plot(result, [("th_mean", "threshold mean", 1.0),
                             ("th_std", "threshold spread (std)", 1.0),
                             ("th_moved_pct", "moved > 1 step (%)", 1.0)],
                    "Thresholds", out / "ablation_thresholds.png"),
    ]
    return [out / "report.json", out / "report.md", *plots]

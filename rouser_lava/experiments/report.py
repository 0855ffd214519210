"""Report of an experiment: ``report.json``, ``report.md`` and PNG plots.

``compare``: ``accuracy.png`` (test accuracy vs epoch, mean over seeds, both modes),
``dead_neurons.png``, ``spike_rate.png`` and ``weight_change.png`` (per layer vs
epoch) and ``thresholds.png`` (final threshold histogram per layer). ``grid``:
``grid.png`` (final accuracy vs initial threshold, fixed and learned).
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from ..fileio import atomic_write  # noqa: E402

COLORS = {"learned": "tab:red", "fixed": "tab:blue"}


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def _layer_plot(modes: dict, key: str, ylabel: str, path: Path) -> Path:
    layers = len(next(iter(modes.values()))["curves"]["layers"])
    fig, axes = plt.subplots(1, layers, figsize=(4 * layers, 3.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for mode, m in modes.items():
            curve = m["curves"]["layers"][i][key]
            ax.plot(range(1, len(curve) + 1), curve, "o-", ms=3, color=COLORS[mode],
                    label=mode)
        ax.set(title=f"layer{i}", xlabel="epoch", ylabel=ylabel)
        ax.legend()
    return _save(fig, path)


def _compare_plots(result: dict, out: Path) -> list[Path]:
    modes = result["modes"]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for mode, m in modes.items():
        acc = [100 * a for a in m["curves"]["test_acc"]]
        ax.plot(range(1, len(acc) + 1), acc, "o-", ms=3, color=COLORS[mode], label=mode)
    ax.axhline(100 * result["target_acc"], ls="--", color="gray", label="target")
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", title="mean over seeds")
    ax.legend()
    files = [_save(fig, out / "accuracy.png"),
             _layer_plot(modes, "dead_pct", "dead neurons (%)", out / "dead_neurons.png"),
             _layer_plot(modes, "spike_rate", "spikes / neuron / step", out / "spike_rate.png"),
             _layer_plot(modes, "weight_change", "||W - W0|| / ||W0||",
                         out / "weight_change.png")]
    layers = len(next(iter(modes.values()))["thresholds"])
    fig, axes = plt.subplots(1, layers, figsize=(4 * layers, 3.2), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for mode, m in modes.items():
            ax.hist(m["thresholds"][i], bins=30, alpha=0.6, color=COLORS[mode], label=mode)
        ax.set(title=f"layer{i} final thresholds", xlabel="threshold", ylabel="neurons")
        ax.legend()
    files.append(_save(fig, out / "thresholds.png"))
    return files


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def _compare_md(result: dict) -> str:
    modes = result["modes"]
    deploy = "emulator_acc_mean" in next(iter(modes.values()))
    lines = [f"# Learned vs fixed thresholds ({result['preset'] or 'custom'})", "",
             f"Seeds: {len(next(iter(modes.values()))['epochs_to_target'])}; target "
             f"accuracy {_pct(result['target_acc'])} ({result['target_frac']:g} x the best "
             f"final accuracy).", "",
             "| mode | final acc (mean ± std) | best acc | epochs to target (per seed) | "
             "mean epochs to target |" + (" emulator acc |" if deploy else ""),
             "|---|---|---|---|---|" + ("---|" if deploy else "")]
    for mode, m in modes.items():
        mean = m["epochs_to_target_mean"]
        row = (f"| {mode} | {_pct(m['final_acc_mean'])} ± {100 * m['final_acc_std']:.2f} | "
               f"{_pct(m['best_acc_mean'])} | {m['epochs_to_target']} | "
               f"{'-' if mean is None else f'{mean:.1f}'} |")
        if deploy:
            row += (f" {_pct(m['emulator_acc_mean'])} ± {100 * m['emulator_acc_std']:.2f} |")
        lines.append(row)
    lines += ["", "## Dead neurons per layer (%, mean over seeds, by epoch)", ""]
    for mode, m in modes.items():
        for i, layer in enumerate(m["curves"]["layers"]):
            curve = " ".join(f"{v:.0f}" for v in layer["dead_pct"])
            lines.append(f"- {mode} layer{i}: {curve}")
    lines += ["", "Plots: accuracy.png, dead_neurons.png, spike_rate.png, weight_change.png, "
              "thresholds.png. Per-run histories: report.json (`runs`)."]
    return "\n".join(lines) + "\n"


def _grid_md(result: dict) -> str:
    deploy = "learned_emulator_acc" in result["table"][0]
    lines = [f"# Threshold grid ({result['preset'] or 'custom'}, "
             f"{result['settings']['epochs']} epochs)", "",
             "| initial threshold | fixed | learned |" + (" fixed (emulator) | learned "
                                                         "(emulator) |" if deploy else ""),
             "|---|---|---|" + ("---|---|" if deploy else "")]
    for row in result["table"]:
        line = f"| {row['threshold']:g} | {_pct(row['fixed_acc'])} | {_pct(row['learned_acc'])} |"
        if deploy:
            line += (f" {_pct(row['fixed_emulator_acc'])} | "
                     f"{_pct(row['learned_emulator_acc'])} |")
        lines.append(line)
    return "\n".join(lines) + "\n\nPlot: grid.png.\n"


def _grid_plot(result: dict, out: Path) -> list[Path]:
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ths = [row["threshold"] for row in result["table"]]
    for mode in ("fixed", "learned"):
        ax.plot(ths, [100 * row[f"{mode}_acc"] for row in result["table"]], "o-",
                color=COLORS[mode], label=f"{mode} (from this init)" if mode == "learned"
                else mode)
    ax.set(xlabel="(initial) threshold", ylabel="final test accuracy (%)")
    ax.legend()
    return [_save(fig, out / "grid.png")]


def write_experiment_report(result: dict, out: Path) -> list[Path]:
    """Write every report file into ``out`` (created if missing); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps(result, indent=1)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(text))
    md = _compare_md(result) if result["kind"] == "compare" else _grid_md(result)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
    plots = _compare_plots(result, out) if result["kind"] == "compare" else _grid_plot(result, out)
    return [out / "report.json", out / "report.md", *plots]

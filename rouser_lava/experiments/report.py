"""Report of an experiment: ``report.json``, ``report.md`` and PNG plots.

``compare``: ``accuracy.png`` (test accuracy vs epoch, mean over seeds, both modes),
``dead_neurons.png``, ``spike_rate.png`` and ``weight_change.png`` (per layer vs
epoch) and ``thresholds.png`` (per layer, a histogram of the learned thresholds of all
seeds on Loihi's 1/64 grid, the fixed threshold as a dashed line). ``grid``:
``grid.png`` (final accuracy vs initial threshold, fixed and learned). ``neurons``:
``activity.png`` (spikes and synaptic operations per sample per layer, cuba and
single-spike). Titles name the dataset and preset.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from ..fileio import atomic_write  # noqa: E402
from ..provenance import provenance  # noqa: E402

COLORS = {"learned": "tab:red", "fixed": "tab:blue"}
STYLES = {"learned": "o-", "fixed": "s--"}  # distinct, so equal curves stay visible
GRID = 1 / 64  # learned thresholds lie on multiples of Loihi's threshold step
MAX_BINS = 40


def _name(result: dict) -> str:
    """The dataset and preset, for titles: ``digits preset``, ``yinyang (custom)``."""
    opt = result["settings"]
    dataset, preset = opt.get("dataset", opt.get("cuba", {}).get("dataset")), result["preset"]
    if preset is None:
        return f"{dataset} (custom)"
    return f"{preset} preset" if preset == dataset else f"{dataset} ({preset} preset)"


SHARES = ("dead_pct", "spike_rate")  # plotted on axes that start at zero

def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110))
    plt.close(fig)
    return path


def _epoch_curve(ax, mode: str, curve: list[float]) -> None:
    ax.plot(range(1, len(curve) + 1), curve, STYLES[mode], ms=3, color=COLORS[mode],
            label=mode)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _layer_plot(modes: dict, key: str, ylabel: str, title: str, path: Path) -> Path:
    layers = len(next(iter(modes.values()))["curves"]["layers"])
    fig, axes = plt.subplots(1, layers, figsize=(4 * layers, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        for mode, m in modes.items():
            _epoch_curve(ax, mode, m["curves"]["layers"][i][key])
        ax.set(title=f"layer{i}", xlabel="epoch", ylabel=ylabel)
        if key in SHARES:  # a share from zero: small differences look small
            ax.set_ylim(bottom=0)
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def _threshold_plot(modes: dict, title: str, path: Path) -> Path:
    """Learned thresholds as a histogram on the 1/64 grid (wider bins past
    :data:`MAX_BINS`), fixed ones as dashed lines; x range from the data."""
    layers = len(next(iter(modes.values()))["thresholds"])
    fig, axes = plt.subplots(1, layers, figsize=(4 * layers, 3.4), squeeze=False)
    for i, ax in enumerate(axes[0]):
        values = np.concatenate([m["thresholds"][i] for m in modes.values()])
        lo, hi = float(values.min()), float(values.max())
        step = GRID * max(1, math.ceil((hi - lo) / GRID / MAX_BINS))
        edges = np.arange(lo - step / 2, hi + step, step)
        if "learned" in modes:
            ax.hist(modes["learned"]["thresholds"][i], bins=edges, color=COLORS["learned"],
                    edgecolor="white", label="learned")
        if "fixed" in modes:
            for k, th in enumerate(sorted(set(modes["fixed"]["thresholds"][i]))):
                ax.axvline(th, color=COLORS["fixed"], ls="--", lw=1.5,
                           label=f"fixed ({th:g})" if k == 0 else None)
        ax.set_xlim(edges[0] - step, edges[-1] + step)
        ax.set(title=f"layer{i}: final thresholds", xlabel="threshold",
               ylabel="neurons (all seeds)")
        ax.legend()
    fig.suptitle(title)
    return _save(fig, path)


def _compare_plots(result: dict, out: Path) -> list[Path]:
    modes, name = result["modes"], _name(result)
    seeds = len(next(iter(modes.values()))["epochs_to_target"])
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for mode, m in modes.items():
        _epoch_curve(ax, mode, [100 * a for a in m["curves"]["val_acc"]])
    ax.axhline(100 * result["target_acc"], ls=":", color="gray", label="target")
    ax.set_ylim(0, 100)
    title = f"{name}, mean of {seeds} seed{'s' if seeds > 1 else ''}"
    ax.set(xlabel="epoch", ylabel="validation accuracy (%)", title=title)
    ax.legend()
    return [_save(fig, out / "accuracy.png"),
            _layer_plot(modes, "dead_pct", "dead neurons (%)", title,
                        out / "dead_neurons.png"),
            _layer_plot(modes, "spike_rate", "spikes / neuron / step", title,
                        out / "spike_rate.png"),
            _layer_plot(modes, "weight_change", "||W - W0|| / ||W0||", title,
                        out / "weight_change.png"),
            _threshold_plot(modes, name, out / "thresholds.png")]


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f} %"


def epochs_to_target_text(m: dict) -> tuple[str, str]:
    """Epochs to target per seed, and their mean with how many seeds it covers."""
    reach, mean = m["epochs_to_target"], m["epochs_to_target_mean"]
    per_seed = ", ".join("never" if e is None else str(e) for e in reach)
    if mean is None:
        return per_seed, f"n/a (none of {len(reach)} seeds reached it)"
    return per_seed, f"{mean:.1f} ({m['reached']} of {len(reach)} seeds reached it)"


def _compare_md(result: dict) -> str:
    modes = result["modes"]
    deploy = "emulator_acc_mean" in next(iter(modes.values()))
    lines = [f"# Learned vs fixed thresholds ({_name(result)})", "",
             f"Seeds: {len(next(iter(modes.values()))['epochs_to_target'])}; target "
             f"accuracy {_pct(result['target_acc'])} ({result['target_frac']:g} x the best "
             f"final validation accuracy; epochs to target counted on validation). "
             f"Accuracies are on the test split: final = last epoch, best-val epoch = the "
             f"epoch picked on validation.", "",
             "| mode | final acc (mean ± std) | acc at best-val epoch | epochs to target "
             "(per seed) | mean epochs to target |" + (" emulator acc |" if deploy else ""),
             "|---|---|---|---|---|" + ("---|" if deploy else "")]
    for mode, m in modes.items():
        per_seed, mean = epochs_to_target_text(m)
        row = (f"| {mode} | {_pct(m['final_acc_mean'])} ± {100 * m['final_acc_std']:.2f} | "
               f"{_pct(m['best_acc_mean'])} | {per_seed} | {mean} |")
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
    lines = [f"# Threshold grid ({_name(result)}, {result['settings']['epochs']} epochs)",
             "",
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
        ax.plot(ths, [100 * row[f"{mode}_acc"] for row in result["table"]], STYLES[mode],
                color=COLORS[mode], label=f"{mode} (from this init)" if mode == "learned"
                else mode)
    ax.set(xlabel="(initial) threshold", ylabel="final test accuracy (%)",
           title=f"{_name(result)}, {result['settings']['epochs']} epochs")
    ax.legend()
    return [_save(fig, out / "grid.png")]


def _neurons_md(result: dict) -> str:
    neurons, red = result["neurons"], result["reduction_pct"]
    seeds = sum(r["neuron"] == "cuba" for r in result["runs"])
    lines = [f"# cuba vs single-spike neurons ({_name(result)}, {seeds} seed"
             f"{'s' if seeds > 1 else ''})", "",
             "Same architecture and seeds; deployed: the best model exported in vector form "
             "on the emulator over the test set. Synaptic operations (synops): each spike, "
             "input spikes included, costs one per synapse it drives.", "",
             "| neuron | final acc (mean ± std) | deployed acc | hidden spikes / sample | "
             "synops / sample | spikes / sample per layer |", "|---|---|---|---|---|---|"]
    for name, m in neurons.items():
        layers = ", ".join(f"{v:.1f}" for v in m["spikes_per_sample"])
        lines.append(f"| {name} | {_pct(m['final_acc_mean'])} ± {100 * m['final_acc_std']:.2f}"
                     f" | {_pct(m['deployed_acc_mean'])} | {m['hidden_spikes_per_sample']:.1f}"
                     f" | {m['synops_total']:,.0f} | {layers} |")
    shown = {k: "n/a" if v is None else f"{v:.1f} %" for k, v in red.items()}
    lines += ["", f"Single-spike against cuba: {shown['hidden_spikes']} fewer hidden spikes "
              f"per sample, {shown['synops']} fewer synaptic operations per sample "
              f"(negative: more).", "", "Plot: activity.png. Per-run histories: report.json "
              "(`runs`)."]
    return "\n".join(lines) + "\n"


def active_layers(neurons: dict, key: str) -> list[int]:
    """Indices of the layers whose ``key`` (``spikes_per_sample``, ...) is above zero in
    some neuron's run: a membrane readout, which never spikes, is not among them."""
    layers = len(next(iter(neurons.values()))[key])
    return [i for i in range(layers) if any(m[key][i] > 0 for m in neurons.values())]


def _neurons_plot(result: dict, out: Path) -> list[Path]:
    """Bars per layer; a layer without spikes in every run (a membrane readout) is left
    out and named under the axis instead of standing as an empty group."""
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    neurons = result["neurons"]
    for ax, key, label in ((axes[0], "spikes_per_sample", "spikes / sample"),
                           (axes[1], "synops_per_sample", "synaptic operations / sample")):
        layers = len(next(iter(neurons.values()))[key])
        keep = active_layers(neurons, key)
        idx = np.arange(len(keep))
        for j, (name, m) in enumerate(neurons.items()):
            ax.bar(idx + 0.4 * j - 0.2, [m[key][i] for i in keep], 0.4, label=name)
        ax.set_xticks(idx, [f"layer{i}" for i in keep])
        silent = [f"layer{i}" for i in range(layers) if i not in keep]
        ax.set(ylabel=label, xlabel=f"{', '.join(silent)}: none (membrane readout)"
               if silent else "")
        ax.legend()
    fig.suptitle(f"{_name(result)}: cuba vs single-spike")
    return [_save(fig, out / "activity.png")]


WRITERS = {"compare": (_compare_md, _compare_plots), "grid": (_grid_md, _grid_plot),
           "neurons": (_neurons_md, _neurons_plot)}


def write_experiment_report(result: dict, out: Path) -> list[Path]:
    """Write every report file into ``out`` (created if missing); returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    text = json.dumps({**result, "provenance": provenance()}, indent=1)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(text))
    markdown, plot = WRITERS[result["kind"]]
    md = markdown(result)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(md))
    return [out / "report.json", out / "report.md", *plot(result, out)]

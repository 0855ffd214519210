"""Report files of ``rouser-compare``: report.json (with ``provenance``, where it came
from: :mod:`rouser_lava.provenance`), report.md and PNG plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..fileio import atomic_write
from ..provenance import provenance
from .compare import Comparison, format_table

PLOTS = ("accuracy.png", "layer_spikes.png", "neuron_scatter.png", "raster.png")
REPORT_FILES = ("report.json", "report.md", *PLOTS)  # what write_report writes


def _save(fig, path: Path) -> None:
    atomic_write(path, lambda tmp: fig.savefig(tmp, format="png", dpi=110,
                                               bbox_inches="tight"))


def plot_all(c: Comparison, out: Path) -> None:
    """Accuracy bars, per-layer spikes, per-neuron scatter and a raster of sample 0."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    runs = [c.trained, c.deployed, c.lava]
    labels = [f"torch\ntrained\nn = {c.trained.samples}",
              f"emulator\ndeployed\nn = {c.deployed.samples}",
              f"Lava sim\ndeployed\nn = {c.lava.samples}"]
    values = [100 * (r.accuracy or 0.0) for r in runs]
    bars = ax.bar(labels, values, color=["#4c72b0", "#dd8452", "#55a868"])
    ax.bar_label(bars, fmt="%.2f%%")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.set_title("Accuracy: trained vs deployed")
    _save(fig, out / "accuracy.png")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(5, 3.2))
    idx = np.arange(len(c.layers))
    ax.bar(idx - 0.2, [la.trained_spikes for la in c.layers], 0.4, label="trained (torch)")
    ax.bar(idx + 0.2, [la.deployed_spikes for la in c.layers], 0.4,
           label="deployed (emulator)")
    ax.set_xticks(idx, [f"{la.name}\n{100 * la.relative_delta:+.1f}%" for la in c.layers])
    ax.set_ylabel("spikes over the test set")
    ax.set_title("Spikes per layer")
    ax.legend()
    _save(fig, out / "layer_spikes.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(c.layers), figsize=(3.6 * len(c.layers), 3.4),
                             squeeze=False)
    for ax, la, a, b in zip(axes[0], c.layers, c.trained.neuron_spikes,
                            c.deployed.neuron_spikes):
        ax.scatter(a, b, s=8, alpha=0.6)
        top = max(int(a.max(initial=0)), int(b.max(initial=0)), 1)
        ax.plot([0, top], [0, top], "k--", lw=0.8)
        r = "n/a" if la.correlation is None else f"{la.correlation:.3f}"
        ax.set_title(f"{la.name}: r = {r}")
        ax.set_xlabel("trained spikes per neuron")
        ax.set_ylabel("deployed spikes per neuron")
    fig.tight_layout()
    _save(fig, out / "neuron_scatter.png")
    plt.close(fig)

    fig, axes = plt.subplots(len(c.layers), 2, figsize=(9, 1.8 + 1.6 * len(c.layers)),
                             squeeze=False)
    for row, name in enumerate(c.deployed.layer_names):
        for col, (run, title) in enumerate(((c.trained, "trained (torch)"),
                                            (c.deployed, "deployed (emulator)"))):
            assert run.spikes is not None  # compare() keeps the first samples' spikes
            s = run.spikes[row][0]
            s = s.reshape(-1, s.shape[-1])
            n, t = np.nonzero(s)
            ax = axes[row][col]
            ax.scatter(t, n, s=25, marker="|", color="k")
            ax.set_xlim(-0.5, s.shape[-1] - 0.5)
            ax.set_ylim(-0.5, s.shape[0] - 0.5)
            ax.set_title(f"{name}, {title}", fontsize=9)
            ax.set_ylabel("neuron")
    for ax in axes[-1]:
        ax.set_xlabel("time step")
    fig.suptitle("Spike raster, test sample 0")
    fig.tight_layout()
    _save(fig, out / "raster.png")
    plt.close(fig)


def markdown(c: Comparison) -> str:
    """report.md: the table, what it means, and the plots."""
    lines = ["# rouser-compare report", "", "```", format_table(c), "```", "",
             "- *trained*: the torch model (Loihi-exact forward); *deployed*: the exported "
             "netx network on the bit-exact emulator; *lava*: the same network on Lava's "
             "CPU simulator (fixed_pt), which must equal the emulator spike for spike.",
             "- *r(neuron)*: Pearson correlation of per-neuron spike counts, trained vs "
             "deployed. *silenced*: neurons active in training but silent when deployed; "
             "*woken*: the reverse.",
             "- *bit-exact with training*: every spike of the layer equal, trained vs "
             "deployed (a model trained with `--deploy fold-exact` and exported in fold "
             "form, or any model exported in vector form, has 0 mismatched spikes).", ""]
    for la in c.layers:
        if la.silent_deployed or la.silent_trained:
            lines.append(f"- {la.name}: silenced {la.silent_deployed[:20]}"
                         f"{' ...' if len(la.silent_deployed) > 20 else ''}; woken "
                         f"{la.silent_trained[:20]}"
                         f"{' ...' if len(la.silent_trained) > 20 else ''}")
    lines += [""] + [f"![{p[:-4]}]({p})" for p in PLOTS]
    return "\n".join(lines) + "\n"


def write_report(c: Comparison, out: Path) -> list[Path]:
    """Write report.json, report.md and the plots into ``out`` (created if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    doc = json.dumps({**c.to_json(), "provenance": provenance()}, indent=1)
    atomic_write(out / "report.json", lambda tmp: Path(tmp).write_text(doc))
    text = markdown(c)
    atomic_write(out / "report.md", lambda tmp: Path(tmp).write_text(text))
    plot_all(c, out)
    return [out / name for name in REPORT_FILES]

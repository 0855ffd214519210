"""Trained model vs deployed network: where did deployment keep or lose what training
learned? Runs the torch model and the emulator on the whole test set and Lava's CPU
simulator on the first K samples, and checks emulator == Lava spike for spike (and,
with a membrane readout, in the readout's ``v`` after the last step, the logits).

Activity per layer and sample: spikes, and synaptic operations into the layer
(NeuroBench's: each spike of the layer before, or of the input for the first layer,
costs one operation per synapse it drives; :mod:`rouser_lava.backends.activity`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from ..backends.activity import network_synops
from ..backends.run import RunResult, netx_backend, run_backend, torch_backend
from ..data.dataset import SpikeDataset
from ..errors import UserError
from ..model.blocks import layer_shapes
from ..netx.file import NetxFile, read_netx


@dataclass
class Divergence:
    """First place where two runs differ (time step = sink column): ``runs`` names them
    (e.g. ``("emulator", "lava")``), ``first`` and ``second`` are their spikes there."""

    sample: int
    layer: str
    neuron: int
    step: int
    first: int
    second: int
    runs: tuple[str, str]

    def to_json(self) -> dict:
        """``sample, layer, neuron, step`` and each run's spike under its name."""
        return {"sample": self.sample, "layer": self.layer, "neuron": self.neuron,
                "step": self.step, self.runs[0]: self.first, self.runs[1]: self.second}


@dataclass
class LayerComparison:
    """Trained (torch) vs deployed (emulator) statistics of one layer, whole test set."""

    name: str
    neurons: int
    trained_spikes: int
    deployed_spikes: int
    correlation: float | None  # Pearson r of per-neuron spike counts (None if constant)
    silent_deployed: list[int]  # active in training, silent when deployed
    silent_trained: list[int]  # silent in training, active when deployed
    mismatched: int  # spikes that differ, trained vs deployed, on the compared samples
    trained_synops: float  # synaptic operations into the layer per sample, torch
    deployed_synops: float  # the same on the emulator

    @property
    def delta(self) -> int:
        return self.deployed_spikes - self.trained_spikes

    @property
    def relative_delta(self) -> float:
        return self.delta / self.trained_spikes if self.trained_spikes else 0.0


@dataclass
class Exactness:
    """Trained model (torch) vs deployed network, spike for spike: the element-wise
    count of differing spikes over ``samples`` test samples (all of them unless their
    spikes would not fit in memory) and every layer, the first difference, and the
    count against Lava on Lava's samples; with a membrane readout, the samples whose
    logits (``v`` after the last step) differ, torch vs emulator on all samples and
    torch vs Lava on Lava's (None without one)."""

    samples: int
    torch_emulator_spikes: int  # differing spikes, torch vs emulator
    first_divergence: Divergence | None  # torch vs emulator
    torch_lava_spikes: int  # differing spikes, torch vs Lava, on Lava's samples
    torch_emulator_logits: int | None = None  # samples whose readout logits differ
    torch_lava_logits: int | None = None


@dataclass
class Comparison:
    """Everything ``rouser-compare`` reports."""

    dataset: str
    trained: RunResult
    deployed: RunResult
    lava: RunResult
    layers: list[LayerComparison]
    agreement: float  # fraction of equal predictions, trained vs deployed
    emulator_lava_spikes: int  # spikes where emulator and Lava differ (must be 0)
    first_divergence: Divergence | None  # emulator vs Lava
    exactness: Exactness  # torch vs the deployed runs
    emulator_lava_logits: int | None = None  # samples whose logits differ (must be 0)
    baseline: dict | None = None  # another network's activity: see with_baseline

    def per_sample(self, side: str) -> dict:
        """Spikes and synaptic operations per sample of ``side`` (``trained``: torch, or
        ``deployed``: the emulator), per layer and in total, and the hidden layers'
        spikes per sample (every layer but the last)."""
        run = self.trained if side == "trained" else self.deployed
        spikes = [s / max(run.samples, 1) for s in run.layer_spikes]
        synops = [getattr(la, f"{side}_synops") for la in self.layers]
        return {"spikes": spikes, "synops": synops, "synops_total": sum(synops),
                "hidden_spikes": sum(spikes[:-1])}

    def to_json(self) -> dict:
        return {
            "dataset": self.dataset,
            "accuracy": {"torch": self.trained.accuracy, "emulator": self.deployed.accuracy,
                         "lava": self.lava.accuracy},
            "samples": {"torch": self.trained.samples, "emulator": self.deployed.samples,
                        "lava": self.lava.samples},
            "prediction_agreement": self.agreement,
            "lava_prediction_agreement": float(np.mean(
                self.lava.predictions == self.deployed.predictions[:self.lava.samples])),
            "layers": [{"name": la.name, "neurons": la.neurons,
                        "trained_spikes": la.trained_spikes,
                        "deployed_spikes": la.deployed_spikes, "delta": la.delta,
                        "relative_delta": la.relative_delta, "correlation": la.correlation,
                        "silent_deployed_active_trained": la.silent_deployed,
                        "silent_trained_active_deployed": la.silent_trained,
                        "mismatched_spikes": la.mismatched,
                        "trained_synops_per_sample": la.trained_synops,
                        "deployed_synops_per_sample": la.deployed_synops,
                        "bit_exact_with_training": la.mismatched == 0}
                       for la in self.layers],
            "mismatched_spikes": self.exactness.torch_emulator_spikes,
            "mismatched_spikes_samples": self.exactness.samples,
            "mismatched_spikes_lava": self.exactness.torch_lava_spikes,
            "first_training_divergence": None if self.exactness.first_divergence is None
            else self.exactness.first_divergence.to_json(),
            "readout": self.trained.readout,
            "readout_mismatches": self.exactness.torch_emulator_logits,
            "readout_mismatches_lava": self.exactness.torch_lava_logits,
            "lava_readout_mismatches": self.emulator_lava_logits,
            "per_sample": {"torch": self.per_sample("trained"),
                           "emulator": self.per_sample("deployed")},
            "baseline": self.baseline,
            "lava_mismatches": self.emulator_lava_spikes,
            "first_divergence": None if self.first_divergence is None
            else self.first_divergence.to_json(),
            "wall_s": {"torch": self.trained.wall_s, "emulator": self.deployed.wall_s,
                       "lava": self.lava.wall_s},
        }


KEEP_BYTES = 1 << 30  # most memory for the spikes compared between torch and the emulator


def first_divergence(a: list[np.ndarray], b: list[np.ndarray], names: list[str],
                     runs: tuple[str, str]) -> tuple[int, Divergence | None]:
    """Count differing spikes of two runs ``[(N, *shape, T)]`` named ``runs`` and locate
    the earliest (by sample, then time step, then layer, then neuron)."""
    total, best = 0, None
    for name, x, y in zip(names, a, b):
        x = x.reshape(len(x), -1, x.shape[-1])
        y = y.reshape(len(y), -1, y.shape[-1])
        diff = np.argwhere(x != y)  # (sample, neuron, step)
        total += len(diff)
        if len(diff):
            s, n, t = min(map(tuple, diff), key=lambda d: (d[0], d[2], d[1]))
            key = (s, t, names.index(name))
            if best is None or key < best[0]:
                best = (key, Divergence(int(s), name, int(n), int(t), int(x[s, n, t]),
                                        int(y[s, n, t]), runs))
    return total, None if best is None else best[1]


def _correlation(a: np.ndarray, b: np.ndarray) -> float | None:
    if len(a) < 2 or a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def compare(net, netx: NetxFile | str, data: SpikeDataset, lava_samples: int,
            progress: bool = True, timeout: float | None = None,
            workers: int = 1) -> Comparison:
    """Run all three backends on ``data``'s test split and compare them: ``net`` (a
    ``RouserNet``) against its export ``netx`` (read with
    :func:`rouser_lava.netx.file.read_netx`, or its path); ``timeout``: seconds the Lava
    run may take, None for its default; ``workers``: Lava processes.

    Raises UserError when ``netx`` is not the export of ``net`` (other layer sizes).
    """
    if not isinstance(netx, NetxFile):
        netx = read_netx(str(netx), layers=True)
    trained_shapes = [shape for spec, shape in zip(net.arch, layer_shapes(net.input_shape,
                                                                          net.arch))
                      if spec["kind"] != "flatten"]
    summary = netx.summary
    deployed_shapes = [la.shape for la in summary.layers if la.kind not in ("input",
                                                                             "flatten")]
    if deployed_shapes != trained_shapes or summary.input_shape != tuple(net.input_shape):
        raise UserError(f"{netx.path}: layers {deployed_shapes} on input "
                        f"{summary.input_shape} are not the model's {trained_shapes} on "
                        f"{tuple(net.input_shape)}; export the model with rouser-export")
    x, y = data.x_test, data.y_test
    per_sample = x.shape[-1] * sum(int(np.prod(shape)) for shape in trained_shapes)
    keep = int(min(len(x), max(lava_samples, KEEP_BYTES // (2 * per_sample), 1)))
    trained = run_backend("torch", torch_backend(net), x, y, 128, keep, progress)
    emu, batch = netx_backend("emulator", netx)
    deployed = run_backend("emulator", emu, x, y, batch, keep, progress)
    lava, batch = netx_backend("lava", netx, progress, timeout, workers=workers)
    k = min(lava_samples, len(x))
    lava_run = run_backend("lava", lava, x[:k], y[:k], batch, k, progress)
    names = deployed.layer_names
    t_spikes, d_spikes, l_spikes = (_kept(run) for run in (trained, deployed, lava_run))
    mismatches, divergence = first_divergence([s[:k] for s in d_spikes], l_spikes, names,
                                              ("emulator", "lava"))
    exact = Exactness(keep, *first_divergence(t_spikes, d_spikes, names,
                                              ("torch", "emulator")),
                      first_divergence([s[:k] for s in t_spikes], l_spikes, names,
                                       ("torch", "lava"))[0],
                      _readout_mismatches(trained, deployed),
                      _readout_mismatches(trained, lava_run))
    emu_layers = netx.emulator_layers()
    counts_in = sum(np.asarray(x[i:i + 256]).sum(axis=(0, -1), dtype=np.int64)
                    for i in range(0, len(x), 256))  # dense or SparseSpikes, in batches
    synops = [np.array(network_synops(emu_layers, counts_in, run.neuron_spikes)) / len(x)
              for run in (trained, deployed)]
    layers = []
    for i, name in enumerate(trained.layer_names):
        a, b = trained.neuron_spikes[i], deployed.neuron_spikes[i]
        layers.append(LayerComparison(
            name, len(a), int(a.sum()), int(b.sum()), _correlation(a, b),
            [int(j) for j in np.flatnonzero((a > 0) & (b == 0))],
            [int(j) for j in np.flatnonzero((a == 0) & (b > 0))],
            int(np.count_nonzero(t_spikes[i] != d_spikes[i])),
            float(synops[0][i]), float(synops[1][i])))
    agreement = float(np.mean(trained.predictions == deployed.predictions))
    return Comparison(data.name, trained, deployed, lava_run, layers, agreement, mismatches,
                      divergence, exact, _readout_mismatches(deployed, lava_run))


def _kept(run: RunResult) -> list[np.ndarray]:
    """The spikes ``run`` kept (every run here keeps at least one sample's)."""
    assert run.spikes is not None, run.backend
    return run.spikes


def _readout_mismatches(a: RunResult, b: RunResult) -> int | None:
    """Samples (the first ``b.samples``) whose membrane-readout logits differ between
    ``a`` and ``b``; None unless both read a membrane readout."""
    if a.logits is None or b.logits is None:
        return None
    return int(np.any(a.logits[:b.samples] != b.logits, axis=1).sum())


def baseline_figures(path: str, doc, dataset: str) -> tuple[float, float]:
    """Hidden spikes and synaptic operations per sample of ``doc``, a rouser-compare
    report.json read from ``path`` on ``dataset``; UserError naming ``path`` otherwise
    (``rouser-compare --baseline`` calls it before the comparison runs)."""
    try:
        base = doc["per_sample"]["emulator"]
        hidden, synops = float(base["hidden_spikes"]), float(base["synops_total"])
    except (KeyError, TypeError, ValueError):
        raise UserError(f"{path}: not a rouser-compare report.json with per-sample "
                        f"activity (per_sample.emulator); run rouser-compare again") from None
    if doc.get("dataset") != dataset:
        raise UserError(f"{path}: a report on {doc.get('dataset')}, not {dataset}")
    return hidden, synops


def with_baseline(c: Comparison, path: str, doc: dict) -> Comparison:
    """A copy of ``c`` with the reduction of its deployed hidden spikes and synaptic operations per
    sample against those of ``doc``, the report.json of an earlier rouser-compare (of
    another network on the same data, e.g. a multi-spike one) read from ``path``."""
    hidden, synops = baseline_figures(path, doc, c.dataset)
    act = c.per_sample("deployed")

    def pct(old: float, new: float) -> float | None:
        return 100.0 * (1.0 - new / old) if old else None

    return replace(c, baseline={
        "path": path, "hidden_spikes": hidden, "synops_total": synops,
        "reduction_pct": {"hidden_spikes": pct(hidden, act["hidden_spikes"]),
                          "synops": pct(synops, act["synops_total"])}})


def format_table(c: Comparison) -> str:
    """The terminal table."""
    def pct(v):
        return "   n/a" if v is None else f"{100 * v:6.2f}%"

    lines = [f"dataset {c.dataset}: torch and emulator on {c.trained.samples} test samples, "
             f"Lava on {c.lava.samples}",
             f"accuracy   torch (trained) {pct(c.trained.accuracy)}   emulator (deployed) "
             f"{pct(c.deployed.accuracy)}   lava {pct(c.lava.accuracy)}",
             f"prediction agreement trained/deployed {100 * c.agreement:.2f}%",
             "",
             f"{'layer':<8}{'neurons':>8}{'trained':>11}{'deployed':>11}{'delta':>9}"
             f"{'rel':>8}{'r(neuron)':>10}{'silenced':>9}{'woken':>7}"]
    for la in c.layers:
        r = "n/a" if la.correlation is None else f"{la.correlation:.3f}"
        lines.append(f"{la.name:<8}{la.neurons:>8}{la.trained_spikes:>11}"
                     f"{la.deployed_spikes:>11}{la.delta:>+9}{100 * la.relative_delta:>+7.1f}%"
                     f"{r:>10}{len(la.silent_deployed):>9}{len(la.silent_trained):>7}")
    act = c.per_sample("deployed")
    lines += ["", f"per sample (deployed)  {'spikes':>10}{'synops':>12}"]
    for la, spikes, synops in zip(c.layers, act["spikes"], act["synops"]):
        lines.append(f"  {la.name:<21}{spikes:>10.1f}{synops:>12.0f}")
    lines.append(f"  {'total':<21}{sum(act['spikes']):>10.1f}{act['synops_total']:>12.0f}"
                 f"   (hidden spikes {act['hidden_spikes']:.1f})")
    if c.baseline is not None:
        red = {k: "n/a" if v is None else f"{v:.1f} %"
               for k, v in c.baseline["reduction_pct"].items()}
        lines.append(f"  against {c.baseline['path']} ({c.baseline['hidden_spikes']:.1f} "
                     f"hidden spikes, {c.baseline['synops_total']:.0f} synops): "
                     f"{red['hidden_spikes']} fewer hidden spikes, {red['synops']} fewer "
                     f"synops per sample")
    e = c.exactness
    exact = ", ".join(f"{la.name} {'yes' if la.mismatched == 0 else 'no'}" for la in c.layers)
    lines += ["", f"bit-exact with training (torch vs emulator, {e.samples} samples): {exact}; "
              f"{e.torch_emulator_spikes} mismatched spikes (torch vs Lava on {c.lava.samples}: "
              f"{e.torch_lava_spikes})"]
    if e.torch_emulator_logits is not None:
        lines.append(f"membrane readout (v after the last step): logits differ on "
                     f"{e.torch_emulator_logits} of {c.trained.samples} samples torch vs "
                     f"emulator, {e.torch_lava_logits} of {c.lava.samples} torch vs "
                     f"Lava")
    if e.first_divergence is not None:
        d = e.first_divergence
        lines.append(f"  first divergence: sample {d.sample}, {d.layer}, neuron {d.neuron}, "
                     f"step {d.step} (trained {d.first}, deployed {d.second})")
    lines.append("")
    if c.emulator_lava_logits:
        lines.append(f"EMULATOR != LAVA: the readout's logits differ on "
                     f"{c.emulator_lava_logits} of {c.lava.samples} samples")
    if c.first_divergence is None:
        lines.append(f"emulator == Lava: 0 mismatched spikes on {c.lava.samples} samples")
    else:
        d = c.first_divergence
        lines.append(f"EMULATOR != LAVA: {c.emulator_lava_spikes} mismatched spikes; first at "
                     f"sample {d.sample}, {d.layer}, neuron {d.neuron}, step {d.step} "
                     f"(emulator {d.first}, lava {d.second})")
    return "\n".join(lines)

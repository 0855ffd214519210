"""Run a trained model (torch) or an exported network (Lava) and report the same result."""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from .data import SpikeDataset


@dataclass
class RunResult:
    """Accuracy and spike counts of one backend over a dataset's test samples.

    Attributes
    ----------
    backend : str
        ``torch`` or ``lava``.
    samples : int
        Number of test samples run (the first ``samples`` in test order).
    accuracy : float
        Fraction correct in [0, 1].
    predictions : np.ndarray
        int64 ``(samples,)`` in test order.
    layer_names : list of str
        ``layer0``, ``layer1``, ...
    layer_neurons : list of int
        Neurons per spiking layer.
    layer_spikes : list of int
        Total spikes per layer over all samples run.
    wall_s : float
        Wall time of the run, seconds.
    """

    backend: str
    samples: int
    accuracy: float
    predictions: np.ndarray
    layer_names: list[str]
    layer_neurons: list[int]
    layer_spikes: list[int]
    wall_s: float

    def to_json(self) -> dict:
        """The ``--json`` document of rouser-run."""
        return {
            "backend": self.backend,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "predictions": [int(p) for p in self.predictions],
            "layers": [{"name": n, "neurons": int(c), "spikes": int(s)} for n, c, s in
                       zip(self.layer_names, self.layer_neurons, self.layer_spikes)],
            "wall_s": self.wall_s,
        }

    def summary(self) -> str:
        """A short human-readable report."""
        lines = [f"backend {self.backend}: {self.samples} samples, accuracy "
                 f"{100 * self.accuracy:.2f} %, {self.wall_s:.1f} s"]
        for n, c, s in zip(self.layer_names, self.layer_neurons, self.layer_spikes):
            lines.append(f"  {n:<8} {c:>6} neurons  {s:>10} spikes  "
                         f"({s / max(self.samples * c, 1):.2f} per neuron per sample)")
        return "\n".join(lines)


def test_split(data: SpikeDataset, limit: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` test samples (all when None): spikes and labels."""
    n = len(data.x_test) if limit is None else min(limit, len(data.x_test))
    return data.x_test[:n], data.y_test[:n]


def run_torch(net, data: SpikeDataset, limit: int | None = None) -> RunResult:
    """Run a trained ``RouserNet`` on the test split."""
    from .blocks import layer_shapes
    from .train import evaluate

    x, y = test_split(data, limit)
    t0 = time.perf_counter()
    ev = evaluate(net, x, y)
    shapes = [s for s, spec in zip(layer_shapes(net.input_shape, net.arch), net.arch)
              if spec["kind"] != "flatten"]
    return RunResult("torch", len(x), ev.accuracy, ev.predictions, net.layer_names(),
                     [int(np.prod(s)) for s in shapes], ev.layer_spikes,
                     time.perf_counter() - t0)


def run_lava(net_path: str, data: SpikeDataset, limit: int | None = None,
             progress: bool = True) -> RunResult:
    """Run a netx file on Lava's CPU simulator (``Loihi2SimCfg(select_tag='fixed_pt')``)."""
    from .lava_sim import simulate

    x, y = test_split(data, limit)
    t0 = time.perf_counter()
    sim = simulate(net_path, x, progress=progress)
    preds = sim.spikes[-1].sum(-1).argmax(1).astype(np.int64)
    names = [f"layer{i}" for i in range(len(sim.spikes))]
    return RunResult("lava", len(x), float(np.mean(preds == y)), preds, names,
                     [int(np.prod(s.shape[1:-1])) for s in sim.spikes],
                     [int(s.sum()) for s in sim.spikes], time.perf_counter() - t0)

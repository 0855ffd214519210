"""Run a trained model (torch) or a netx network (emulator or Lava) and report the same
result: predictions, accuracy, and spike counts per layer and per neuron.

Every backend is a function from a batch of input spikes ``(N, *input_shape, T)`` to
the spikes of every spiking layer, ``[(N, *shape, T)]`` uint8; ``run_backend`` feeds
it and accumulates the same statistics for all of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

Backend = Callable[[np.ndarray], list[np.ndarray]]


@dataclass
class RunResult:
    """Accuracy and spike counts of one backend over a set of samples.

    Attributes
    ----------
    backend : str
        ``torch``, ``emulator`` or ``lava``.
    samples : int
        Number of samples run.
    accuracy : float or None
        Fraction correct in [0, 1]; None when no labels were given.
    predictions : np.ndarray
        int64 ``(samples,)``: output neuron with most spikes (first on ties).
    layer_names : list of str
        ``layer0``, ``layer1``, ...
    layer_neurons : list of int
        Neurons per spiking layer.
    layer_spikes : list of int
        Total spikes per layer over all samples.
    neuron_spikes : list of np.ndarray
        int64 ``(neurons,)`` per layer: spikes of each neuron over all samples
        (conv neurons flattened in ``(C, H, W)`` order).
    wall_s : float
        Wall time of the run, seconds.
    spikes : list of np.ndarray or None
        uint8 ``(keep, *shape, T)`` per layer for the first ``keep`` samples, when kept.
    """

    backend: str
    samples: int
    accuracy: float | None
    predictions: np.ndarray
    layer_names: list[str]
    layer_neurons: list[int]
    layer_spikes: list[int]
    neuron_spikes: list[np.ndarray]
    wall_s: float
    spikes: list[np.ndarray] | None = None

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
        acc = "n/a (no labels)" if self.accuracy is None else f"{100 * self.accuracy:.2f} %"
        lines = [f"backend {self.backend}: {self.samples} samples, accuracy {acc}, "
                 f"{self.wall_s:.1f} s ({self.samples / max(self.wall_s, 1e-9):.1f} "
                 f"samples/s)"]
        for n, c, s in zip(self.layer_names, self.layer_neurons, self.layer_spikes):
            lines.append(f"  {n:<8} {c:>6} neurons  {s:>10} spikes  "
                         f"({s / max(self.samples * c, 1):.3f} per neuron per sample)")
        return "\n".join(lines)


def run_backend(name: str, backend: Backend, x: np.ndarray, y: np.ndarray | None = None,
                batch_size: int = 64, keep: int = 0, progress: bool = True) -> RunResult:
    """Feed ``x`` (``(N, *input_shape, T)``) through ``backend`` in batches.

    ``y`` (``(N,)``) gives accuracy; ``keep`` keeps the first ``keep`` samples' spikes.
    """
    t0 = time.perf_counter()
    preds, totals, kept = [], None, []
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, disable=None if progress and len(starts) > 1 else True,
                      desc=name, unit="batch"):
        out = backend(np.asarray(x[start:start + batch_size]))  # dense (B, ..., T)
        preds.append(out[-1].reshape(len(out[-1]), -1, out[-1].shape[-1]).sum(-1).argmax(1))
        counts = [o.reshape(len(o), -1, o.shape[-1]).sum(axis=(0, 2), dtype=np.int64)
                  for o in out]
        totals = counts if totals is None else [a + b for a, b in zip(totals, counts)]
        if start < keep:
            kept.append([o[:keep - start] for o in out])
    predictions = np.concatenate(preds).astype(np.int64)
    accuracy = None if y is None else float(np.mean(predictions == y[:len(predictions)]))
    spikes = [np.concatenate(parts) for parts in zip(*kept)] if kept else None
    return RunResult(name, len(x), accuracy, predictions,
                     [f"layer{i}" for i in range(len(totals))], [len(t) for t in totals],
                     [int(t.sum()) for t in totals], totals, time.perf_counter() - t0, spikes)


def torch_backend(net) -> Backend:
    """Spikes of a trained ``RouserNet`` (its Loihi-exact forward)."""
    import torch

    def run(x: np.ndarray) -> list[np.ndarray]:
        net.eval()
        with torch.no_grad():
            return [o.numpy().astype(np.uint8) for o in net(torch.from_numpy(x).float())]

    return run


def emulator_backend(net_path: str) -> Backend:
    """Spikes of a netx file from the bit-exact batched emulator."""
    from .emulator import emulate, load_netx

    layers = load_netx(net_path)
    return lambda x: emulate(layers, x).spikes


def lava_backend(net_path: str, progress: bool = True, timeout: float | None = None,
                 workers: int = 1) -> Backend:
    """Spikes of a netx file from Lava's CPU simulator (one network for all samples, or
    one per worker process over contiguous chunks of them; ``timeout`` in seconds, None
    for the default of ``lava_guard.limits``)."""
    from .lava_workers import simulate_parallel

    return lambda x: simulate_parallel(net_path, x, workers, progress=progress,
                                       timeout=timeout).spikes


def netx_backend(kind: str, net_path: str, progress: bool = True,
                 timeout: float | None = None, workers: int = 1) -> tuple[Backend, int]:
    """Backend and batch size for running a netx file on ``kind`` (``timeout`` and
    ``workers``: Lava's)."""
    if kind == "emulator":
        return emulator_backend(net_path), 64
    return lava_backend(net_path, progress, timeout, workers), 1 << 30  # Lava streams

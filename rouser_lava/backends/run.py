"""Run a trained model (torch) or a netx network (emulator or Lava) and report the same
result: predictions, accuracy, and spike counts per layer and per neuron.

Every backend is a function from a batch of input spikes ``(N, *input_shape, T)`` (and,
for a netx input layer with neurons, optionally each sample's bias ``(N,
*input_shape)``) to a :class:`BatchOutput`: the spikes of every spiking layer,
``[(N, *shape, T)]`` uint8, ``u`` and ``v`` when asked for, and, for a network whose
last layer is a membrane readout, that layer's ``v`` after the last step;
``run_backend`` feeds it and accumulates the same statistics for all of them.
Predictions are the argmax of that ``v`` when a backend gives it (netx files whose
last layer has vDecay 0 and vThMant ``2**17 - 1``, see
:attr:`rouser_lava.netx.check.NetxSummary.membrane_readout`), else the output
neuron with most spikes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from tqdm.auto import tqdm

from ..errors import UserError
from ..netx.file import NetxFile
from .emu_kernels import count_spikes
from .stream import StreamSpec


@dataclass
class BatchOutput:
    """What a backend returns for one batch of ``B`` samples.

    Attributes
    ----------
    spikes : list of np.ndarray
        uint8 ``(B, *shape, T)`` per spiking layer.
    v_last : np.ndarray or None
        int64 ``(B, *shape)``: a membrane readout's ``v`` after the last step (the
        logits); None when predictions come from output spike counts.
    u, v : list of np.ndarray or None
        int64 ``(B, *shape, T)`` per spiking layer, when the backend records states.
    """

    spikes: list[np.ndarray]
    v_last: np.ndarray | None = None
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None


Backend = Callable[[np.ndarray, "np.ndarray | None"], BatchOutput]  # (spikes, bias)


@dataclass(frozen=True)
class RunResult:
    """Accuracy and spike counts of one backend over a set of samples.

    Attributes
    ----------
    backend : str
        ``torch``, ``emulator``, ``lava`` or ``loihi2``.
    predictions : np.ndarray
        int64 ``(samples,)``: output neuron with most spikes, or with the largest
        ``v`` at the last step for a membrane readout (first on ties).
    labels : np.ndarray or None
        ``(samples,)`` true classes; None when no labels were given.
    neuron_spikes : list of np.ndarray
        int64 ``(neurons,)`` per layer: spikes of each neuron over all samples
        (conv neurons flattened in ``(C, H, W)`` order).
    wall_s : float
        Wall time of the run, seconds.
    spikes : list of np.ndarray or None
        uint8 ``(keep, *shape, T)`` per layer for the first ``keep`` samples, when kept.
    logits : np.ndarray or None
        int64 ``(samples, K)``: the membrane readout's ``v`` after the last step, per
        sample (None for the spiking readout).
    u, v : list of np.ndarray or None
        int64 ``(samples, *shape, S)`` per spiking layer (every layer, from ``layer0``,
        whatever ``first_layer`` is) at the steps ``state_steps``, when the backend
        recorded states.
    state_steps : list of int or None
        The columns (0-based time steps) of ``u`` and ``v``.
    first_layer : int
        Index of the first layer reported (the board reports only the last layer).
    bias_neurons : list of int
        How many of each reported layer's neurons are bias neurons (an imported
        graph's, :mod:`rouser_lava.interop.bias_neurons`; empty: none known).
    """

    backend: str
    predictions: np.ndarray
    labels: np.ndarray | None
    neuron_spikes: list[np.ndarray]
    wall_s: float
    spikes: list[np.ndarray] | None = None
    logits: np.ndarray | None = None
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    state_steps: list[int] | None = None
    first_layer: int = 0
    bias_neurons: list[int] = field(default_factory=list)

    @property
    def samples(self) -> int:
        """Number of samples run."""
        return len(self.predictions)

    @property
    def accuracy(self) -> float | None:
        """Fraction correct in [0, 1]; None without labels."""
        return None if self.labels is None else \
            float(np.mean(self.predictions == self.labels))

    @property
    def readout(self) -> str:
        """``spikes`` or ``membrane``: what the predictions were read from."""
        return "spikes" if self.logits is None else "membrane"

    @property
    def layer_names(self) -> list[str]:
        """``layer0``, ``layer1``, ... (netx's spiking layers, from ``first_layer``)."""
        return [f"layer{self.first_layer + i}" for i in range(len(self.neuron_spikes))]

    @property
    def state_layer_names(self) -> list[str]:
        """``layer0``, ``layer1``, ... of ``u`` and ``v`` (every spiking layer)."""
        return [f"layer{i}" for i in range(len(self.u or []))]

    @property
    def layer_neurons(self) -> list[int]:
        """Neurons per reported layer."""
        return [len(t) for t in self.neuron_spikes]

    @property
    def layer_spikes(self) -> list[int]:
        """Total spikes per reported layer over all samples."""
        return [int(t.sum()) for t in self.neuron_spikes]

    def to_json(self) -> dict:
        """The ``--json`` document of rouser-run; with a membrane readout, ``logits``:
        its integer ``v`` per sample and neuron (a regression output's value)."""
        return {
            "backend": self.backend,
            "samples": self.samples,
            "accuracy": self.accuracy,
            "predictions": [int(p) for p in self.predictions],
            "readout": self.readout,
            "layers": [{"name": n, "neurons": int(c), "spikes": int(s), "bias_neurons": b}
                       for n, c, s, b in zip(self.layer_names, self.layer_neurons,
                                             self.layer_spikes, self._helpers())],
            "wall_s": self.wall_s,
            **({} if self.logits is None else {"logits": self.logits.tolist()}),
        }

    def summary(self) -> str:
        """A short human-readable report."""
        acc = "n/a (no labels)" if self.accuracy is None else f"{100 * self.accuracy:.2f} %"
        lines = [f"backend {self.backend}: {self.samples} samples, accuracy {acc}, "
                 f"{self.wall_s:.1f} s ({self.samples / max(self.wall_s, 1e-9):.1f} "
                 f"samples/s)"]
        for n, c, s, b in zip(self.layer_names, self.layer_neurons, self.layer_spikes,
                              self._helpers()):
            lines.append(f"  {n:<8} {c:>6} neurons  {s:>10} spikes  "
                         f"({s / max(self.samples * c, 1):.3f} per neuron per sample)"
                         + (f"; {b} of the neurons are bias neurons, firing every step"
                            if b else ""))
        return "\n".join(lines)

    def _helpers(self) -> list[int]:
        """Bias neurons per reported layer (zeros where none are known)."""
        return self.bias_neurons or [0] * len(self.neuron_spikes)

def run_backend(name: str, backend: Backend, x: np.ndarray, y: np.ndarray | None = None,
                batch_size: int = 64, keep: int = 0, progress: bool = True,
                bias: np.ndarray | None = None,
                state_steps: list[int] | None = None, first_layer: int = 0) -> RunResult:
    """Feed ``x`` (``(N, *input_shape, T)``) and ``bias`` (``(N, *input_shape)`` or
    None) through ``backend`` in batches.

    ``y`` (``(N,)``) gives accuracy; ``keep`` keeps the first ``keep`` samples' spikes;
    a backend that records states has ``u`` and ``v`` kept at ``state_steps`` (None:
    every step) for all samples. ``first_layer`` numbers the layers a backend returns
    (the board returns only the last).
    """
    t0 = time.perf_counter()
    preds: list[np.ndarray] = []
    totals: list[np.ndarray] = []
    kept: list[list[np.ndarray]] = []
    logits: list[np.ndarray] = []
    states: list[list[np.ndarray]] = []
    state_layers = 0
    steps = list(range(x.shape[-1])) if state_steps is None else list(state_steps)
    starts = range(0, len(x), batch_size)
    for start in tqdm(starts, disable=None if progress and len(starts) > 1 else True,
                      desc=name, unit="batch"):
        batch = backend(np.asarray(x[start:start + batch_size]),
                        None if bias is None else np.asarray(bias[start:start + batch_size]))
        if batch.u is not None and batch.v is not None:
            states.append([r[..., steps] for r in batch.u + batch.v])
            state_layers = len(batch.u)
        out = batch.spikes  # dense (B, ..., T)
        if batch.v_last is not None:
            logits.append(batch.v_last.reshape(len(batch.v_last), -1).astype(np.int64))
            preds.append(logits[-1].argmax(1))
        else:
            preds.append(out[-1].reshape(len(out[-1]), -1, out[-1].shape[-1]).sum(-1)
                         .argmax(1))
        counts = [spike_counts(o) for o in out]
        totals = [a + b for a, b in zip(totals, counts)] if totals else counts
        if start < keep:
            kept.append([o[:keep - start] for o in out])
    predictions = np.concatenate(preds).astype(np.int64)
    spikes = [np.concatenate(parts) for parts in zip(*kept)] if kept else None
    joined = [np.concatenate(parts) for parts in zip(*states)]  # u of each layer, then v
    return RunResult(
        backend=name, predictions=predictions,
        labels=None if y is None else np.asarray(y[:len(predictions)]),
        neuron_spikes=totals, wall_s=time.perf_counter() - t0, spikes=spikes,
        logits=np.concatenate(logits) if logits else None,
        u=joined[:state_layers] if joined else None,
        v=joined[state_layers:] if joined else None,
        state_steps=steps if joined else None, first_layer=first_layer)


def spike_counts(spikes: np.ndarray) -> np.ndarray:
    """int64 ``(neurons,)``: each neuron's spikes over a batch ``(B, *shape, T)`` (any
    strides), counted by a compiled kernel over the array in its memory order (the
    emulator's spikes are views of ``(B, T, neurons)`` buffers, conv layers channel
    last), then put back in torch order."""
    shape = spikes.shape[1:-1]
    order = sorted(range(1, spikes.ndim - 1), key=lambda a: -abs(spikes.strides[a]))
    memory = np.transpose(spikes, (0, spikes.ndim - 1, *order))  # (B, T, *shape, permuted)
    flat = memory.reshape(len(spikes), spikes.shape[-1], -1)  # a view where strides merge
    counts = np.zeros(flat.shape[2], np.int64)
    count_spikes(flat.view(np.uint8) if flat.dtype == np.bool_ else flat, counts)
    permuted = counts.reshape([shape[a - 1] for a in order])
    return np.ascontiguousarray(np.transpose(permuted, np.argsort(order))).reshape(-1)


def torch_backend(net) -> Backend:
    """Spikes of a trained ``RouserNet`` (its Loihi-exact forward) and, with a membrane
    readout, its logits as the integers Lava holds (``v`` in state units, ``v * 4096``)
    as ``v_last``: predictions from them, as from a deployed readout."""
    import torch

    from ..loihi import STATE_SCALE

    membrane = net.neuron_config.readout == "membrane"

    def run(x: np.ndarray, bias: np.ndarray | None) -> BatchOutput:
        if bias is not None:
            raise UserError("the torch backend takes input spikes only, not a bias input")
        net.eval()
        with torch.no_grad():
            outputs = net(torch.tensor(x, dtype=torch.float32))  # x may be read-only
            v_last = None
            if membrane:  # float32 v / 4096 of 24-bit integers: exact
                v_last = (net.logits(outputs[-1]).double() * STATE_SCALE).round().to(
                    torch.int64).numpy()
            return BatchOutput([o.numpy().astype(np.uint8)
                                for o in net.spike_outputs(outputs)], v_last)

    return run


def emulator_backend(netx: NetxFile, stream: StreamSpec | None = None,
                     record_state: bool = False,
                     input_shape: tuple[int, ...] | None = None) -> Backend:
    """Spikes (and a membrane readout's ``v``; with ``record_state`` every layer's ``u``
    and ``v``) of a netx file from the bit-exact batched emulator (``stream``: each
    batch run back to back in the stream layout of a board; ``input_shape``: the
    samples', torch order, for a file that does not state it)."""
    from .emulator import emulate

    membrane = netx.membrane_readout
    layers = netx.emulator_layers(input_shape)
    depth = sum(la.kind != "flatten" for la in layers)

    def run(x: np.ndarray, bias: np.ndarray | None) -> BatchOutput:
        out = emulate(layers, x, record_state, None if stream is None else
                      stream.layout(x.shape[-1], depth), bias)
        return BatchOutput(out.spikes, out.v_last if membrane else None, out.u, out.v)

    return run


def lava_backend(netx: NetxFile, progress: bool = True, timeout: float | None = None,
                 stream: StreamSpec | None = None, workers: int = 1,
                 record_state: bool = False,
                 state_steps: tuple[int, ...] | None = None) -> Backend:
    """Spikes of a netx file from Lava's CPU simulator (one network for all samples, or
    one per worker process over contiguous chunks of them; ``timeout`` in seconds, None
    for the default of ``lava_guard.limits``; ``stream``: reset by netx's
    ``reset_interval`` instead of from the host; ``record_state``: every layer's ``u``
    and ``v`` too, read at the columns ``state_steps`` (None: all), slow)."""
    from .lava_workers import simulate_parallel

    membrane = netx.membrane_readout
    depth = len(netx.spiking)

    def run(x: np.ndarray, bias: np.ndarray | None) -> BatchOutput:
        out = simulate_parallel(netx, x, workers, progress=progress, timeout=timeout,
                                stream=None if stream is None else
                                stream.layout(x.shape[-1], depth),
                                read_v_last=membrane, record_state=record_state, bias=bias,
                                state_steps=state_steps)
        return BatchOutput(out.spikes, out.v_last, out.u, out.v)

    return run


def netx_backend(kind: str, netx: NetxFile, progress: bool = True,
                 timeout: float | None = None, stream: StreamSpec | None = None,
                 workers: int = 1, record_state: bool = False,
                 input_shape: tuple[int, ...] | None = None,
                 state_steps: tuple[int, ...] | None = None) -> tuple[Backend, int]:
    """Backend and batch size for running the netx file ``netx`` on ``kind``
    (``timeout`` and ``workers``: Lava's; ``stream``: the board's stream layout instead
    of per-sample resets; ``record_state``: ``u`` and ``v`` of every layer;
    ``input_shape``: the samples', for the emulator's layers; Lava takes it from the
    samples)."""
    if kind == "emulator":
        return emulator_backend(netx, stream, record_state, input_shape), 64
    return lava_backend(netx, progress, timeout, stream, workers, record_state,
                        state_steps), 1 << 30  # streams

"""Run a netx network on Lava's CPU simulator, many samples, each from zero state.

Lava has no batch dimension and every process is an OS process, so building a
network per sample costs ~0.4 s. Instead one network is built and compiled once;
a source (:class:`~.lava_io.memsource.MemSource`) streams the samples back to back
from a memory-mapped file, and the network runs ``T`` steps per sample. Between
samples every state that could carry over is set to zero: the LIF ``u`` and ``v``
of each layer and the synapse's one-step delay buffer (``a_buff`` in Dense,
``a_buf`` in Conv). The result equals a fresh network per sample (checked by the
tests), which is how slayer trains: every sample starts from zero.

Time alignment: column ``t`` of a layer's sink is Lava step ``t + 1``; it equals
the torch model's output at index ``t`` (slayer's ``delay_shift`` models the
same one-step synaptic delay per layer).

Layout: torch tensors are ``(C, H, W)``; Lava's conv processes use ``(W, H, C)``
(netx reverses shapes), so conv input and output are transposed here. A network that
begins with a conv layer gets netx's ``input_shape`` from the samples.

Input layers with a neuron group (netx's ``Input`` block, whose ``inp`` is connected to
nothing): the samples' spikes go to ``net.in_layer.neuron.a_in``, as lava-dl's
tutorials wire it, and a bias input sets ``net.in_layer.neuron.bias_mant`` before each
sample (``init`` for the first, ``set`` after), as lava-dl's tests feed an image.

Single-spike layers: a CUBA layer whose ``refDelay`` is at least 2 is built as Lava's
``LIFRefractory`` with ``refractory_period = refDelay`` (netx ignores ``refDelay`` and
builds a plain ``LIF``) and runs on our fixed-point model of it
(:mod:`rouser_lava.backends.lava_refractory.model`); its refractory state is cleared
between samples with ``u`` and ``v``. In the stream layout netx builds ``LIFReset``,
which has no refractory period: such layers then run as plain LIF (with a warning),
as they do when plain netx loads the file.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _slayer  # noqa: F401  (quiet lava-dl import before netx)
from ..errors import UserError
from ..netx.check import refractory_period, require_fits
from ..netx.file import LAVA, NetxFile, as_netx
from .state_trace import StateTrace
from .stream import StreamLayout, refractory_warnings
from .window_read import read_last_column

log = logging.getLogger(__name__)

# The bit-exact model set: the emulator and our LIFRefractory model reproduce fixed_pt
# (hw_configs/lava-cpu-sim.json states the same; tests/test_map.py holds them equal).
SELECT_TAG = "fixed_pt"


@dataclass
class LavaSpikes:
    """Spikes recorded from Lava.

    Attributes
    ----------
    spikes : list of np.ndarray
        uint8 ``(N, *shape, T)`` per spiking layer, shape in torch order
        (``(C,)`` or ``(C, H, W)``).
    u, v : list of np.ndarray or None
        int64, same shapes: every layer's current and (post-reset) voltage after
        each step, when recorded.
    v_last : np.ndarray or None
        int64 ``(N, *shape)``: the last layer's ``v`` after each sample's last step
        (a membrane readout's output), when read.
    """

    spikes: list[np.ndarray]
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    v_last: np.ndarray | None = None


def _from_lava(x: np.ndarray) -> np.ndarray:
    """``(N, W, H, C, T) -> (N, C, H, W, T)``; flat ``(N, C, T)`` unchanged."""
    return x if x.ndim == 3 else np.transpose(x, (0, 3, 2, 1, 4))


@contextlib.contextmanager
def _refractory_neurons():
    """While netx builds a network: CUBA/LOIHI groups with ``refDelay >= 2`` become
    ``LIFRefractory`` (``refractory_period = refDelay``) instead of ``LIF``.

    netx's ``create_*`` methods call ``Network.get_neuron_params`` through the module's
    class, so a subclass cannot override it: it is wrapped here and restored after.
    """
    from lava.lib.dl.netx import hdf5
    from lava.proc.lif.process import LIF, LIFRefractory

    original = hdf5.Network.__dict__["get_neuron_params"]

    def get_neuron_params(neuron_config, *args, **kwargs):
        params = original.__func__(neuron_config, *args, **kwargs)
        keys = neuron_config.keys()
        period = refractory_period(int(np.asarray(neuron_config["refDelay"]).reshape(-1)[0])
                                   if "refDelay" in keys else 0)
        if period and params.get("neuron_proc") is LIF:
            params = {**params, "neuron_proc": LIFRefractory, "refractory_period": period}
        return params

    hdf5.Network.get_neuron_params = staticmethod(get_neuron_params)
    try:
        yield
    finally:
        hdf5.Network.get_neuron_params = original


def load_network(netx: NetxFile, input_shape: tuple[int, ...] | None = None, **kwargs):
    """``netx.hdf5.Network`` for the checked file ``netx`` (its memory for Lava checked
    first), with layers of ``refDelay >= 2`` built as ``LIFRefractory`` (unless
    ``kwargs`` ask for netx's ``reset_interval``: netx then builds ``LIFReset``).
    ``input_shape`` (torch order) is the samples' shape: netx needs it, reversed, for a
    network that begins with a conv layer."""
    from lava.lib.dl.netx import hdf5

    require_fits(netx.summary, LAVA.bytes_per_synapse, LAVA.name, LAVA.advice)
    if input_shape is not None:  # netx reads it only for a first conv layer
        kwargs["input_shape"] = tuple(input_shape[::-1])
    try:
        with contextlib.redirect_stdout(io.StringIO()), _refractory_neurons():
            return hdf5.Network(net_config=netx.path, **kwargs)
    except NotImplementedError as err:
        raise UserError(f"{netx.path}: netx cannot build this network ({err})") from None
    except (OSError, KeyError) as err:
        raise UserError(f"{netx.path}: not a loadable netx file ({err})") from None


def _input_port(net, net_path: str, bias: np.ndarray | None):
    """Where the samples' spikes go: ``net.inp``, or for netx's ``Input`` block (whose
    ``inp`` leads nowhere) its neurons' ``a_in``, as lava-dl's tutorials wire it."""
    from lava.lib.dl.netx.blocks.process import Input

    if not isinstance(net.layers[0], Input):
        if bias is not None:
            raise UserError(f"{net_path}: a bias input needs an input layer with a neuron "
                            f"group (the network's first layer is not one)")
        return net.inp
    return net.layers[0].neuron.a_in


def _state_vars(net) -> list:
    """Every Var that carries state from one time step to the next."""
    state = []
    for layer in net.layers:
        state += [layer.neuron.u, layer.neuron.v]
        if hasattr(layer.neuron, "refractory_period_end"):  # LIFRefractory
            state.append(layer.neuron.refractory_period_end)
        for synapse_name in ("synapse", "synapse_rec"):  # dense_rec has two synapses
            synapse = getattr(layer, synapse_name, None)
            for name in ("a_buff", "a_buf"):
                if synapse is not None and hasattr(synapse, name):
                    state.append(getattr(synapse, name))
    return state


def simulate(netx: NetxFile | str, x: np.ndarray, progress: bool = True,
             record_state: bool = False, timeout: float | None = None,
             stream: StreamLayout | None = None, read_v_last: bool = False,
             bias: np.ndarray | None = None, select_tag: str = SELECT_TAG,
             state_steps: tuple[int, ...] | None = None) -> LavaSpikes:
    """Run ``x`` (uint8 ``(N, *input_shape, T)``, torch layout) through the netx file
    ``netx`` (read with :func:`rouser_lava.netx.file.read_netx`, or its path); ``bias``
    (int ``(N, *input_shape)``, torch layout): each sample's ``bias_mant`` of the input
    layer's neurons, set before the sample runs.

    Every sample starts from zero state: set from here between samples, or, with
    ``stream``, by the network itself (netx's ``reset_interval`` and ``reset_offset``,
    ``LIFReset``) in one continuous run laid out as
    :class:`rouser_lava.backends.stream.StreamLayout` says, as a Loihi 2 board runs it.
    Returns the spikes of every layer and, with ``record_state`` (:class:`StateTrace`:
    slow, for checks), ``u`` and ``v`` (zero but at the columns ``state_steps``, when
    given); with ``read_v_last``, the last layer's ``v``
    after each sample's last step (read from the host after each sample, or in the
    stream by a reader process, :mod:`rouser_lava.backends.window_read`). In the stream,
    sample ``j``'s bias is set before the run call that begins its window.

    The run is bounded (:mod:`rouser_lava.backends.lava_guard`): Ctrl-C stops Lava's
    worker processes and raises KeyboardInterrupt; a worker that dies, or a run that
    passes ``timeout`` seconds, stops them and raises UserError. ``timeout=None`` means
    ``lava_guard.limits``: 60 s + ``N * T * 0.02 s * (layers + (neurons + synapses) /
    500000)``, and no sample may take longer than 60 s + ten samples' share.
    """
    netx = as_netx(netx, LAVA, x.shape[1:-1])
    n = len(x)
    net = _build(netx, x, stream)
    with tempfile.TemporaryDirectory(prefix="rouser-lava-") as tmp:
        chunks, total = _feed(net, netx.path, x, stream, bias, Path(tmp))
        files = _sinks(net, total, Path(tmp))
        window = None
        if read_v_last and stream is not None:  # read in the run, as a board reads it
            window = read_last_column(net.layers[-1].neuron.v, stream,
                                      Path(tmp) / "v_last.bin", n + 1)
        trace = None
        if record_state:
            trace = StateTrace.per_sample(net, x.shape[-1], state_steps) if stream is None \
                else StateTrace.stream(net, stream, state_steps)
        v_last = _run(net, netx.path, chunks, timeout, progress, select_tag, stream is None,
                      bias, trace, read_v_last and stream is None)
        records = [np.moveaxis(np.fromfile(path, dtype=np.int8).reshape(total, *shape), 0, -1)
                   for path, shape in files]  # (*shape, total)
        if window is not None:
            v_last = list(window.take(0, n))
            if stream is not None and stream.steps < len(netx.spiking):
                v_last = [np.zeros_like(v) for v in v_last]  # as StreamLayout.unpack
    states = [] if trace is None else trace.arrays(total)
    result = [[_per_sample(r, n, k, stream) for k, r in enumerate(rec)]
              for rec in (records, states[0::2], states[1::2])]
    u, v = result[1:] if record_state else (None, None)
    return LavaSpikes([s.astype(np.uint8) for s in result[0]], u, v,
                      _from_lava(np.stack(v_last)[..., None])[..., 0].astype(np.int64)
                      if read_v_last else None)


def _build(netx: NetxFile, x: np.ndarray, stream: StreamLayout | None):
    """The Lava network for samples ``x``: per-sample resets from the host, or netx's
    ``reset_interval`` for the stream layout."""
    if stream is None:
        return load_network(netx, x.shape[1:-1])
    net = load_network(netx, x.shape[1:-1], reset_interval=stream.reset_interval,
                       reset_offset=stream.reset_offset)
    for line in refractory_warnings([layer.ref_delay for layer in netx.spiking]):
        log.warning("%s", line)
    return net


def _feed(net, net_path: str, x: np.ndarray, stream: StreamLayout | None,
          bias: np.ndarray | None, folder: Path) -> tuple[list[int], int]:
    """Connect a source that streams the samples from a file in ``folder`` (one per
    ``T`` steps, or as ``stream`` lays them out) to the network's input; set the first
    sample's bias. Returns the steps of each run call (one per sample) and in all."""
    from .lava_io.memsource import MemSource

    n, steps = len(x), x.shape[-1]
    port = _input_port(net, net_path, bias)
    # input -> flatten: netx's first layer takes the flat (C*H*W) vector, in C order
    flat = x.ndim == 3 or len(net.inp.shape) == 1
    lava_shape = (int(np.prod(x.shape[1:-1])),) if flat else tuple(x.shape[1:-1][::-1])
    if lava_shape != tuple(port.shape):
        raise UserError(f"{net_path}: network input shape {tuple(port.shape)} (Lava "
                        f"order) does not fit samples of shape {x.shape[1:-1]}")
    if bias is not None:  # (N, W, H, C): Lava's order
        net.layers[0].neuron.bias_mant.init = _lava_bias(bias)[0]
    samples = write_samples(folder / "samples.npy", x, flat)
    source = MemSource(shape=lava_shape, path=str(samples),  # per sample: interval T
                       interval=stream.reset_interval if stream else steps,
                       offset=stream.reset_offset if stream else 0)
    source.s_out.connect(port)
    if stream is None:
        return [steps] * n, n * steps
    chunks = [stream.reset_interval] * n  # run call j ends where window j ends: the
    chunks[0] += stream.reset_offset     # next bias is set before window j + 1 begins
    return chunks, stream.total_steps(n)


WRITE_SAMPLES = 256  # samples converted to Lava's order at a time


def write_samples(path: Path, x: np.ndarray, flat: bool) -> Path:
    """Samples ``x`` (``(N, *shape, T)``, torch order; any array that slices) as uint8
    ``(N, *lava_shape, T)`` in a ``.npy`` at ``path`` (for
    :class:`~.lava_io.memsource.MemSource`), ``WRITE_SAMPLES`` at a time; ``flat``:
    each sample flattened in C order."""
    n, steps = len(x), x.shape[-1]
    shape = (int(np.prod(x.shape[1:-1])),) if flat else tuple(x.shape[1:-1][::-1])
    mm = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8,
                                   shape=(n, *shape, steps))
    for a in range(0, n, WRITE_SAMPLES):
        part = np.asarray(x[a:a + WRITE_SAMPLES], np.uint8)
        mm[a:a + len(part)] = part.reshape(len(part), *shape, steps) if flat else \
            np.transpose(part, (0, *range(part.ndim - 2, 0, -1), part.ndim - 1))
    mm.flush()
    del mm
    return path


def _lava_bias(bias: np.ndarray) -> np.ndarray:
    """int32 bias images ``(N, *lava_shape)`` from torch order ``(N, *shape)``."""
    return (bias if bias.ndim == 2 else np.transpose(bias, (0, 3, 2, 1))).astype(np.int32)


def _sinks(net, total: int, folder: Path) -> list[tuple[Path, tuple[int, ...]]]:
    """A file-backed sink of ``total`` steps on every layer's output: (file, Lava shape)."""
    from .lava_io.memsink import MemSink

    files = []
    for i, layer in enumerate(net.layers):
        shape = tuple(layer.out.shape)
        files.append((folder / f"layer{i}.bin", shape))
        np.memmap(files[-1][0], dtype=np.int8, mode="w+", shape=(total, *shape)).flush()
        layer.out.connect(MemSink(shape=shape, buffer=total, path=str(files[-1][0])).a_in)
    return files


def _run(net, net_path: str, chunks: list[int], timeout: float | None, progress: bool,
         select_tag: str, reset: bool, bias: np.ndarray | None,
         trace: StateTrace | None, read_v_last: bool) -> list:
    """Run ``chunks`` (steps per sample) under the guard; between samples zero every
    state (``reset``) and set the next bias; read states into ``trace``. Returns the
    last layer's ``v`` after each sample (``read_v_last``)."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.lif.process import LIFRefractory

    from .lava_guard import LavaGuard, limits
    from .lava_refractory.model import PyLifRefractoryModelFixed

    n = len(chunks)
    time_limit, stall = limits(net, n, chunks[0], timeout, trace is not None)
    state = [(var, np.zeros(var.shape)) for var in _state_vars(net)] if reset else []
    lava_bias = None if bias is None else _lava_bias(bias)
    v_last = []
    models = {LIFRefractory: PyLifRefractoryModelFixed} if select_tag == "fixed_pt" else {}
    done = 0
    with LavaGuard(net, net_path, n, time_limit, stall, progress) as guard:
        guard.start(Loihi2SimCfg(select_tag=select_tag, exception_proc_model_map=models))
        for k, chunk in enumerate(chunks):
            if k > 0:
                for var, zeros in state:
                    var.set(zeros)
                if lava_bias is not None:
                    net.layers[0].neuron.bias_mant.set(lava_bias[k])
            if trace is not None:
                trace.run(net, done, chunk)
            else:
                net.run(condition=RunSteps(num_steps=chunk))
            done += chunk
            if read_v_last:
                v_last.append(net.layers[-1].neuron.v.get())
            guard.sample_done()
        guard.stop()
    return v_last


def _per_sample(record: np.ndarray, n: int, layer: int,
                stream: StreamLayout | None) -> np.ndarray:
    """One layer's record ``(*lava_shape, total steps)`` -> ``(N, *shape, T)`` in torch
    order."""
    if stream is not None:
        return _from_lava(stream.unpack(record, n, layer))
    per = record.reshape(*record.shape[:-1], n, -1)
    return _from_lava(np.moveaxis(per, -2, 0))

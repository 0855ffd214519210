"""The process graph of a board run, built once for the board and once for its rehearsal.

``rouser-run --backend loihi2`` and ``--backend loihi2 --rehearse`` run this one
function; they differ only where lava-loihi's code goes:

========================  ==================================  ===========================
place                     board (lava-loihi)                  rehearsal (CPU stand-in)
========================  ==================================  ===========================
flat spike input          ``eio.spike.PyToNxAdapter``         ``flat_input_hop_steps``
                                                              one-step ``Buffer``\\ s
conv (3-D) spike input    ``eio.spike.PyToN3ConvAdapter``     ``conv_input_hop_steps``
                                                              one-step ``Buffer``\\ s
output                    ``eio.spike.NxToPyAdapter``         ``output_latency_steps``
                                                              one-step ``Buffer``\\ s
run config                ``Loihi2HwCfg()``                   ``Loihi2SimCfg('fixed_pt')``
========================  ==================================  ===========================

(adapters and step counts from the hardware config, each with its public source). The
rest is the same: the netx network with ``reset_interval`` ``R`` and ``reset_offset`` the
user's ``o`` plus the input hop (as lava-dl's ``test_hdf5_nx.py``
``test_pilotnet_lif_spike_input`` runs ``PyToN3ConvAdapter`` with ``reset_offset=1``), a
:class:`~.lava_io.memsource.MemSource` that streams samples from a memory-mapped file
(or, for an input layer with neurons driven by images, its ``bias_mant`` set before each
sample as lava-dl's hardware tests set it), and a ring :class:`~.lava_io.memsink.MemSink`
on the output read after each run call. Samples run in calls of ``chunk`` samples (one
per call with bias images), each call ending where a window ends, so the host holds one
chunk's output ring whatever the number of samples; outputs are collected per call.

The run is bounded by :class:`~.lava_guard.LavaGuard`: its watchdog signals the blocked
main thread with ``signal.pthread_kill`` (``_thread.interrupt_main`` would land only when
Lava's channel wait returns), the workers are stopped, and the error is one line.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .run import BatchOutput

if TYPE_CHECKING:
    from .loihi2 import BoardPlan


def run_graph(plan: BoardPlan, x: np.ndarray, bias: np.ndarray | None, board: bool,
              timeout: float | None, progress: bool = False, record_state: bool = False,
              state_steps: tuple[int, ...] | None = None) -> BatchOutput:
    """Run samples ``x`` (uint8 ``(N, *input_shape, T)``, torch order; any array that
    slices, a memmap too) or bias images ``bias`` (int ``(N, *input_shape)``) on the
    board (``board``) or on the simulator with stand-ins. Returns the output layer's
    spikes uint8 ``(N, *shape, T)``, a membrane readout's ``v`` after each sample's
    last step (read in the run by a state reader, :mod:`.window_read`) and, with
    ``record_state``, ``u`` and ``v`` of every layer (:class:`.state_trace.StateTrace`,
    at the columns ``state_steps`` or every column; slow, for checks), all in torch
    order. ``timeout`` None: the plan's on the board, the simulator's default
    limits otherwise."""
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2HwCfg, Loihi2SimCfg

    from ..netx.file import LAVA, as_netx
    from .lava_guard import LavaGuard, limits
    from .lava_io.memsink import MemSink
    from .lava_sim import (
        SELECT_TAG,
        _from_lava,
        _input_port,
        _lava_bias,
        load_network,
        write_samples,
    )
    from .state_trace import StateTrace

    n, steps = len(x), x.shape[-1]
    net_layout, read = plan.net_layout, plan.read_layout
    netx = as_netx(plan.netx, LAVA, x.shape[1:-1])
    net = load_network(netx, x.shape[1:-1], reset_interval=net_layout.reset_interval,
                       reset_offset=net_layout.reset_offset)
    lava_bias = None if bias is None else _lava_bias(bias)
    with tempfile.TemporaryDirectory(prefix="rouser-board-") as tmp:
        if lava_bias is not None:
            net.layers[0].neuron.bias_mant.init = lava_bias[0]
        else:
            port = _input_port(net, plan.net_path, None)
            samples = write_samples(Path(tmp) / "samples.npy", x,
                                    x.ndim == 3 or len(port.shape) == 1)
            _feed_input(plan, board, samples, port)
        per_run = 1 if bias is not None else plan.chunk
        ring = per_run * read.reset_interval + read.reset_offset
        out_shape = tuple(net.out.shape)
        ring_path = Path(tmp) / "output.bin"
        np.memmap(ring_path, dtype=np.int8, mode="w+", shape=(ring, *out_shape)).flush()
        sink = MemSink(shape=out_shape, buffer=ring, path=str(ring_path))
        _read_output(plan, board, net.out, sink.a_in)
        window = _read_membrane(plan, board, net, Path(tmp) / "v_last.bin", per_run + 1) \
            if plan.membrane else None
        out = np.zeros((n, *out_shape, steps), np.uint8)
        v_last = np.zeros((n, *out_shape), np.int64) if window is not None else None
        trace = StateTrace.stream(net, net_layout, state_steps) if record_state else None
        if board:
            time_limit = stall = timeout or plan.timeout_s
            run_cfg = Loihi2HwCfg()
        else:
            time_limit, stall = limits(net, n, read.reset_interval, timeout, record_state)
            run_cfg = Loihi2SimCfg(select_tag=SELECT_TAG)
        done = 0
        with LavaGuard(net, plan.net_path, n, time_limit, stall, progress,
                       advice=plan.timeout_advice(board)) as guard:
            guard.start(run_cfg)
            for run_steps, first, count in read.runs(n, per_run):
                if first and lava_bias is not None:
                    net.layers[0].neuron.bias_mant.set(lava_bias[first])
                if trace is not None:
                    trace.run(net, done, run_steps)
                else:
                    net.run(condition=RunSteps(num_steps=run_steps))
                rows = np.arange(done, done + run_steps)[-count * read.reset_interval:]
                done += run_steps
                columns = np.moveaxis(np.fromfile(ring_path, np.int8).reshape(
                    ring, *out_shape)[rows % ring], 0, -1)
                out[first:first + count] = read.windows(columns, count, plan.depth - 1)
                if window is not None and v_last is not None:
                    v_last[first:first + count] = window.take(first, count)
                for _ in range(count):
                    guard.sample_done()
            guard.stop()
    if v_last is not None and steps < plan.depth:  # column T - 1 is still the last
        v_last[:] = 0                             # window's, as StreamLayout.unpack reads
    states = None if trace is None else \
        [_from_lava(net_layout.unpack(t, n, i // 2)) for i, t in enumerate(trace.arrays(done))]
    return BatchOutput(
        [_from_lava(out)],
        None if v_last is None else _from_lava(v_last[..., None])[..., 0],
        states[0::2] if states else None, states[1::2] if states else None)


def _delay(shape: tuple[int, ...], steps: int, into):
    """``steps`` one-step Buffers in a row ending at the port ``into``; returns the
    port to connect to (``into`` itself when ``steps`` is 0)."""
    from .lava_io.buffer import Buffer

    for _ in range(steps):
        buffer = Buffer(shape=shape)
        buffer.out.connect(into)
        into = buffer.inp
    return into


def _feed_input(plan: BoardPlan, board: bool, samples: Path, port) -> None:
    """Source -> input adapter (or its stand-in) -> ``port``, the network's input."""
    from .lava_io.memsource import MemSource

    shape, layout = tuple(port.shape), plan.layout
    source = MemSource(shape=shape, path=str(samples), interval=layout.reset_interval,
                       offset=layout.reset_offset)
    if board:
        from lava.proc import embedded_io as eio

        adapter = getattr(eio.spike, plan.input_adapter)(shape=shape)
        source.s_out.connect(adapter.inp)
        adapter.out.connect(port)
    else:
        source.s_out.connect(_delay(shape, plan.hop, port))


def _read_membrane(plan: BoardPlan, board: bool, net, path: Path, rows: int):
    """A reader of the membrane readout's ``v`` (lava-loihi's ``embedded_io.state``
    reader named in the hardware config on the board, its CPU stand-in otherwise)."""
    from .window_read import read_last_column

    reader_cls = None
    if board:
        from lava.proc import embedded_io as eio

        reader_cls = getattr(eio.state, plan.state_reader)
    return read_last_column(net.layers[-1].neuron.v, plan.net_layout, path, rows,
                            reader_cls, plan.state_read_bits)


def _read_output(plan: BoardPlan, board: bool, out, into) -> None:
    """``out`` (the network's output) -> output adapter (or its stand-in) -> ``into``."""
    shape = tuple(out.shape)
    if board:
        from lava.proc import embedded_io as eio

        adapter = getattr(eio.spike, plan.output_adapter)(shape=shape, num_message_bits=0)
        out.connect(adapter.inp)
        adapter.out.connect(into)
    else:
        out.connect(_delay(shape, plan.latency, into))

"""Reading a membrane readout's ``v`` once per sample window of a stream run.

A per-sample run reads ``v`` from the host after each sample's last step
(``Var.get()``). A stream run (a board's, its rehearsal, Lava's ``--stream``) instead
reads it in the run, as lava-dl's PilotNet SNN notebook does
(``tutorials/lava/lib/dl/netx/pilotnet_snn/run.ipynb``): a reader process on
``net.out_layer.neuron.v`` (``embedded_io.state.Read`` on a board, the CPU
:class:`~.lava_io.stateread.StateReader` otherwise), ``interval`` the reset interval,
reading after column ``T - 1`` of each window of the last layer (Lava step ``j R + o +
T`` for sample ``j``, the same column :meth:`.stream.StreamLayout.unpack` reads) and
sending one step later into a :class:`~.lava_io.memsink.MemSink` that receives at that
phase only. What arrives is 24-bit two's complement (the notebook's decoder sign-extends
it); :func:`sign_extend` undoes that (a no-op on the CPU).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .stream import StreamLayout


def sign_extend(x: np.ndarray, bits: int) -> np.ndarray:
    """int64 values of the low ``bits`` bits of ``x`` read as two's complement."""
    x = np.asarray(x, np.int64) & ((1 << bits) - 1)
    return np.where(x >= 1 << (bits - 1), x - (1 << bits), x)


@dataclass(frozen=True)
class WindowRead:
    """Where the value of each sample lands: ring file ``path`` of ``rows`` rows of
    int32 ``shape`` (Lava order); sample ``j`` in row ``(j + lag) % rows``."""

    path: Path
    rows: int
    shape: tuple[int, ...]
    lag: int
    bits: int

    def take(self, first: int, count: int) -> np.ndarray:
        """int64 ``(count, *shape)`` (Lava order) of samples ``first ..``."""
        ring = np.fromfile(self.path, np.int32).reshape(self.rows, *self.shape)
        return sign_extend(ring[(np.arange(first, first + count) + self.lag) % self.rows],
                           self.bits)


def read_last_column(var, layout: StreamLayout, path: Path, rows: int,
                     reader_cls=None, bits: int = 24) -> WindowRead:
    """Attach a reader of ``var`` after column ``T - 1`` of every window of ``layout``
    (the network's layout: the last layer's windows begin ``depth - 1`` steps after
    ``reset_offset``, but column ``c`` of every layer is at the same step) and a sink
    into a ring file at ``path`` of ``rows`` rows (at least one more than the samples of
    one run call). ``reader_cls``: lava-loihi's ``embedded_io.state.Read`` on a board,
    :class:`~.lava_io.stateread.StateReader` by default."""
    from .lava_io.memsink import MemSink
    from .lava_io.stateread import StateReader

    interval = layout.reset_interval
    phase = (layout.reset_offset + layout.steps - 1) % interval  # (t - 1) % R at the read
    shape = tuple(var.shape)
    np.memmap(path, dtype=np.int32, mode="w+", shape=(rows, *shape)).flush()
    reader = (reader_cls or StateReader)(shape=shape, interval=interval, offset=phase)
    reader.connect_var(var)
    sink = MemSink(shape=shape, buffer=rows, path=str(path), dtype="int32",
                   interval=interval, offset=phase + 1)
    reader.out.connect(sink.a_in)
    # read after step s = j R + o + T, received at step s + 1: row s // R
    return WindowRead(path, rows, shape, (layout.reset_offset + layout.steps) // interval,
                      bits)

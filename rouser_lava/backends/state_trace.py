"""``u`` and ``v`` of every layer of a Lava run, read with ``Var.get()`` after the steps
a user asked for (``--dump-state``, ``--state-steps``).

``Var.get()`` is how lava-dl reads a state from a board too
(``tests/lava/lib/dl/netx/test_hdf5_nx.py``, ``test_pilotnet_lif``: ``u.get()`` after a
run on ``Loihi2HwCfg``), and it costs about 27 us per element on the CPU simulator: so
the run stops only after the steps whose column was asked for, and a step nobody asked
for is left as zeros (the caller keeps only the asked-for columns).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np

from .stream import StreamLayout


class StateTrace:
    """Records ``u`` and ``v`` of every layer of ``net`` after the run steps (0-based
    index ``i`` = Lava step ``i + 1``) whose column, ``column(i)``, is in ``columns``
    (None: every column)."""

    def __init__(self, net, column: Callable[[int], int | None],
                 columns: Iterable[int] | None = None) -> None:
        self.layers = list(net.layers)
        self.column = column
        self.columns = None if columns is None else set(columns)
        self.reads: dict[int, list[np.ndarray]] = {}  # step index -> [u0, v0, u1, ...]

    @classmethod
    def per_sample(cls, net, steps: int, columns: Iterable[int] | None) -> StateTrace:
        """Samples of ``steps`` steps run one after the other from index 0."""
        return cls(net, lambda i: i % steps, columns)

    @classmethod
    def stream(cls, net, layout: StreamLayout,
               columns: Iterable[int] | None) -> StateTrace:
        """Samples laid out as ``layout``: column ``c`` of sample ``j`` at index ``j R +
        o + c`` (every layer; :meth:`StreamLayout.unpack`)."""
        o, interval, steps = layout.reset_offset, layout.reset_interval, layout.steps

        def column(i: int) -> int | None:
            c = (i - o) % interval
            return c if i >= o and c < steps else None

        return cls(net, column, columns)

    def _wanted(self, i: int) -> bool:
        c = self.column(i)
        return c is not None and (self.columns is None or c in self.columns)

    def run(self, net, first: int, steps: int) -> None:
        """Run the steps ``first .. first + steps - 1`` (indices), reading where wanted."""
        from lava.magma.core.run_conditions import RunSteps

        i, end = first, first + steps
        while i < end:
            j = next((k for k in range(i, end) if self._wanted(k)), end - 1)
            net.run(condition=RunSteps(num_steps=j - i + 1))
            if self._wanted(j):
                self.reads[j] = [var.get() for layer in self.layers
                                 for var in (layer.neuron.u, layer.neuron.v)]
            i = j + 1

    def arrays(self, total: int) -> list[np.ndarray]:
        """int64 ``(*lava_shape, total)`` per layer: ``u`` of layer 0, ``v`` of layer 0,
        ``u`` of layer 1, ...; zero at the steps not read."""
        out = [np.zeros((*var.shape, total), np.int64) for layer in self.layers
               for var in (layer.neuron.u, layer.neuron.v)]
        for i, values in self.reads.items():
            for record, value in zip(out, values):
                record[..., i] = value
        return out

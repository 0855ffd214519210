"""The stream layout a Loihi 2 board runs: samples back to back, states reset in time.

A board cannot set every neuron's state to zero between samples from the host the way
:func:`rouser_lava.backends.lava_sim.simulate` does; netx instead builds its CUBA
layers as ``LIFReset`` when given ``reset_interval`` ``R`` (a power of 2 on the chip)
and ``reset_offset`` ``o``. Spiking layer ``k`` (0-based, in netx's order) sets its
``u`` and ``v`` to zero, before integrating, at every Lava step ``s`` with
``s % R == (o + 1 + k) % R`` (Lava's time starts at 1; each layer one step after the
one before it, following the one-step synaptic delay per layer).

Layout (derived from those semantics and verified on Lava and the emulator by the
tests): sample ``j``'s input column ``c`` is sent at Lava step ``j R + o + 1 + c``
(array index ``j R + o + c``); columns ``T .. R - 1`` of each window are zero padding.
Then column ``c`` of every layer's output for sample ``j`` is the output at the same
step, ``j R + o + 1 + c``: layer ``k``'s window ``[j R + o + 1 + k, (j+1) R + o + k]``
begins with its reset at the step where sample ``j``'s first input can first reach it,
and sees exactly what a fresh per-sample run sees. Its first ``k`` columns ``c < k``
lie in the previous window (they carry the previous sample's late spikes), and a
per-sample run from zero state cannot spike there without a bias: they are read as
zeros. The run lasts ``N R + o`` steps.

Conditions for the stream to equal per-sample runs, spike for spike:

- ``R >= T + 1``: layer 0 at its reset step receives the input sent one step before,
  which must be padding. ``R`` does not need to cover the pipeline depth (outputs
  that arrive after column ``T - 1`` are not part of a per-sample run either); the
  default is the smallest power of 2 of at least ``T + depth``, as on the board, so
  the late spikes of a sample stay in its own window.
- no bias after the first layer and no recurrent layer: a per-sample run integrates a
  bias from step 1 (before any input arrives) and a recurrent synapse carries spikes
  across the reset. :func:`stream_warnings` names the layers concerned. The first
  layer's bias (an input layer's bias image, one per sample) is set before the run
  call that begins its window ``j``, at step ``j R + o + 1``, where that layer resets;
  so it equals a per-sample run too.
- a membrane readout (the last layer's ``v``, read after column ``T - 1``) is read in
  the run, at step ``j R + o + T`` (:mod:`rouser_lava.backends.window_read`).
- no refractory (single-spike) layer: netx's ``LIFReset`` has no refractory period,
  so in this layout both runners run such layers as plain LIF, as plain netx does
  (:func:`refractory_warnings`); per-sample runs reproduce them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError, param
from ..netx.check import refractory_period


def next_power_of_2(n: int) -> int:
    """Smallest power of 2 that is ``>= n`` (``n >= 1``)."""
    return 1 << max(int(n) - 1, 0).bit_length()


INTERVAL_FACTOR = 16  # a reset interval is at most this many times a sample's steps + 1


@dataclass(frozen=True)
class StreamLayout:
    """Where samples, resets and outputs sit in one continuous run.

    Attributes
    ----------
    steps : int
        ``T``, time steps of one sample.
    reset_interval : int
        ``R``, steps between two resets of a layer (one sample's window).
    reset_offset : int
        ``o``, netx's ``reset_offset``: the phase of the resets and of the samples.
    """

    steps: int
    reset_interval: int
    reset_offset: int = 0

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise UserError(f"stream layout: samples have {self.steps} time steps")
        if self.reset_interval < self.steps + 1:
            raise UserError(f"{param('reset_interval')} {self.reset_interval} is too short "
                            f"for the stream layout of samples of {self.steps} steps (needs "
                            f"at least {self.steps + 1}: one step of padding)")
        if self.reset_interval > INTERVAL_FACTOR * (self.steps + 1):
            raise UserError(f"{param('reset_interval')} {self.reset_interval} is more than "
                            f"{INTERVAL_FACTOR} times the {self.steps} + 1 steps a sample "
                            f"needs in the stream layout (the rest is padding, and a run's "
                            f"time and memory grow with it); give at most "
                            f"{INTERVAL_FACTOR * (self.steps + 1)}")
        if not 0 <= self.reset_offset < self.reset_interval:
            raise UserError(f"{param('reset_offset')} {self.reset_offset} outside 0.."
                            f"{self.reset_interval - 1}, the stream layout's reset interval")

    @classmethod
    def for_network(cls, steps: int, depth: int, reset_interval: int | None = None,
                    reset_offset: int = 0) -> StreamLayout:
        """Layout for ``depth`` spiking layers; ``reset_interval`` None: the smallest
        power of 2 of at least ``steps + depth``."""
        interval = reset_interval or next_power_of_2(steps + max(depth, 1))
        return cls(steps, interval, reset_offset)

    @property
    def is_power_of_2(self) -> bool:
        """Whether the reset interval is one (Loihi 2 requires it)."""
        return self.reset_interval & (self.reset_interval - 1) == 0

    def total_steps(self, samples: int) -> int:
        """Lava steps that run ``samples`` samples."""
        return samples * self.reset_interval + self.reset_offset

    def reset_phase(self, layer: int) -> int:
        """``s % R`` at the steps ``s`` (1-based) where spiking layer ``layer`` resets."""
        return (self.reset_offset + 1 + layer) % self.reset_interval

    def pack(self, x: np.ndarray) -> np.ndarray:
        """Samples ``(N, ..., T)`` -> one stream ``(..., N R + o)`` (index = step - 1)."""
        n, steps = len(x), x.shape[-1]
        if steps != self.steps:
            raise UserError(f"stream layout: samples have {steps} steps, the layout "
                            f"{self.steps}")
        windows = np.zeros((n, *x.shape[1:-1], self.reset_interval), dtype=x.dtype)
        windows[..., :steps] = x
        stream = np.moveaxis(windows, 0, -2).reshape(*x.shape[1:-1], -1)
        pad = np.zeros((*x.shape[1:-1], self.reset_offset), dtype=x.dtype)
        return np.concatenate((pad, stream), axis=-1)

    def unpack(self, stream: np.ndarray, samples: int, layer: int) -> np.ndarray:
        """A spiking layer's stream ``(..., N R + o)`` -> per-sample ``(N, ..., T)``.

        Column ``c`` of sample ``j`` is read at index ``j R + o + c``; columns
        ``c < layer`` (still the previous sample's window) are zero.
        """
        body = stream[..., self.reset_offset:self.total_steps(samples)]
        windows = body.reshape(*stream.shape[:-1], samples, self.reset_interval)
        out = np.moveaxis(windows, -2, 0)[..., :self.steps].copy()
        out[..., :min(layer, self.steps)] = 0
        return out

    def runs(self, samples: int, per_run: int) -> list[tuple[int, int, int]]:
        """Run calls of at most ``per_run`` samples each: ``(steps, first sample,
        samples)``. The first call also covers the ``o`` steps before the first window,
        so each call ends where a window ends and holds whole windows."""
        out, first = [], 0
        while first < samples:
            count = min(per_run, samples - first)
            out.append((count * self.reset_interval + (self.reset_offset if not first
                                                       else 0), first, count))
            first += count
        return out

    def windows(self, columns: np.ndarray, samples: int, layer: int) -> np.ndarray:
        """A spiking layer's stream columns ``(..., samples R)``, from the start of a
        window on -> per-sample ``(samples, ..., T)``; columns ``c < layer`` are zero
        (as :meth:`unpack`)."""
        windows = columns.reshape(*columns.shape[:-1], samples, self.reset_interval)
        out = np.moveaxis(windows, -2, 0)[..., :self.steps].copy()
        out[..., :min(layer, self.steps)] = 0
        return out

    def describe(self, samples: int) -> str:
        """One line for logs and dry runs."""
        return (f"stream layout: {samples} samples of {self.steps} steps, reset_interval "
                f"{self.reset_interval}, reset_offset {self.reset_offset}, "
                f"{self.total_steps(samples)} steps in all")


@dataclass(frozen=True)
class StreamSpec:
    """What a user chose (``--stream reset-interval``): ``reset_interval`` None for the
    default of :meth:`StreamLayout.for_network`; the layout follows from the samples."""

    reset_interval: int | None = None
    reset_offset: int = 0

    def layout(self, steps: int, depth: int) -> StreamLayout:
        """The layout for samples of ``steps`` steps and ``depth`` spiking layers."""
        return StreamLayout.for_network(steps, depth, self.reset_interval, self.reset_offset)


def stream_warnings(has_bias: list[bool], recurrent: list[bool]) -> list[str]:
    """Why a stream run would differ from per-sample runs, one line per layer.

    ``has_bias`` and ``recurrent`` hold one flag per spiking layer, in netx order.
    """
    lines = []
    for k, (bias, rec) in enumerate(zip(has_bias, recurrent)):
        if bias and k > 0:  # layer0 resets at column 0, where a per-sample run starts
            lines.append(f"layer{k} has a bias: in the stream layout its state is reset "
                         f"at column {k} of each sample, a per-sample run integrates the "
                         f"bias from column 0")
        if rec:
            lines.append(f"layer{k} is recurrent: its spikes before a reset reach it "
                         f"after the reset")
    return lines


def refractory_warnings(ref_delays: list[int]) -> list[str]:
    """One line per spiking layer whose ``refDelay`` (``ref_delays``, netx order) makes
    it refractory, which the stream layout runs as plain LIF."""
    return [f"layer{k} has refDelay {r} (a refractory, single-spike layer): the stream "
            f"layout runs it as plain LIFReset, so its later spikes reach the next layer; "
            f"run per-sample resets to reproduce it" for k, r in enumerate(ref_delays)
            if refractory_period(r)]

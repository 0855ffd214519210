"""Events to binary spike tensors, and a compact store of many binned samples.

A sample's events (``rouser_lava.data.events.EVENT_DTYPE``, times in us, relative to the
sample's start) become a uint8 tensor ``(C, H, W, T)`` (vision: ``C`` polarity,
``H`` = y, ``W`` = x, lava-dl's layout) or ``(C, T)`` (audio): event ``e`` sets bin
``t // bin_us`` of its pixel; events at or after ``bins * bin_us`` are dropped, and
several events in one bin give a single spike (clamped to 1).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class BinSpec:
    """How events are binned."""

    bin_us: int = 1000  # bin width in microseconds
    bins: int = 300  # number of bins (sample duration = bins * bin_us)
    polarity: str = "split"  # split: 2 channels (off, on); merge: 1 channel
    downsample: int = 1  # integer factor dividing x and y (DVS 128 -> 32 with 4)

    def shape(self, width: int, height: int, polarities: int) -> tuple[int, ...]:
        """Binned shape without T: ``(C, H, W)``, or ``(C,)`` for audio (height 0)."""
        if height == 0:
            return (width,)
        channels = polarities if self.polarity == "split" else 1
        return (channels, -(-height // self.downsample), -(-width // self.downsample))

    def as_dict(self) -> dict:
        return asdict(self)


def bin_indices(events: np.ndarray, spec: BinSpec, width: int, height: int) -> np.ndarray:
    """Sorted unique flat indices into ``(*spec.shape(...), T)`` of the spikes.

    Parameters
    ----------
    events : structured ``EVENT_DTYPE`` ``(E,)``, already checked against the sensor.
    width, height : int
        Sensor size; ``height == 0`` means audio (channel in ``x``).

    Returns
    -------
    int32 ``(S,)`` flat indices (C-order) of the bins holding at least one event.
    """
    t_bin = events["t"] // spec.bin_us
    keep = (t_bin >= 0) & (t_bin < spec.bins)
    ev, t_bin = events[keep], t_bin[keep]
    if height == 0:
        flat = ev["x"].astype(np.int64) * spec.bins + t_bin
    else:
        c = ev["p"].astype(np.int64) if spec.polarity == "split" else 0
        _, h, w = spec.shape(width, height, 2)
        y, x = ev["y"] // spec.downsample, ev["x"] // spec.downsample
        flat = ((c * h + y) * w + x) * spec.bins + t_bin
    return np.unique(flat).astype(np.int32)


def to_dense(indices: np.ndarray, shape: tuple[int, ...], bins: int) -> np.ndarray:
    """uint8 ``(*shape, bins)`` from flat spike indices."""
    out = np.zeros(int(np.prod(shape)) * bins, dtype=np.uint8)
    out[indices] = 1
    return out.reshape(*shape, bins)


class SparseSpikes:
    """Many binned samples held as flat spike indices; indexing gives another
    ``SparseSpikes`` and ``np.asarray`` the dense uint8 ``(N, *shape, T)``.

    Parameters
    ----------
    indptr : int64 ``(N + 1,)``, sample ``i`` owns ``indices[indptr[i]:indptr[i + 1]]``
    indices : int32 ``(S,)``, flat indices into ``(*shape, T)``
    shape : the per-sample shape without T
    bins : T
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, shape: tuple[int, ...],
                 bins: int):
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int32)
        self.sample_shape, self.bins = tuple(shape), int(bins)

    def __len__(self) -> int:
        return len(self.indptr) - 1

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self), *self.sample_shape, self.bins)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __getitem__(self, key) -> SparseSpikes:
        rows = np.arange(len(self))[key]
        starts, stops = self.indptr[rows], self.indptr[rows + 1]
        lengths = stops - starts
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        gather = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
        return SparseSpikes(indptr, self.indices[gather], self.sample_shape, self.bins)

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        size = int(np.prod(self.sample_shape)) * self.bins
        out = np.zeros((len(self), size), dtype=np.uint8)
        rows = np.repeat(np.arange(len(self)), np.diff(self.indptr))
        out[rows, self.indices] = 1
        out = out.reshape(self.shape)
        return out if dtype is None else out.astype(dtype)

"""``run_backend``'s spike counts per neuron (a compiled count in the array's memory
order) equal the int64 sums: any uint8 value, more samples than a uint16 sum holds, the
strided ``(N, *shape, T)`` views the emulator returns (conv layers channel last, frames
padded), and other dtypes."""

from __future__ import annotations

import numpy as np

from rouser_lava.backends.emu_synapse import torch_view
from rouser_lava.backends.run import spike_counts


def test_counts_equal_int64_sums():
    rng = np.random.default_rng(0)
    full = np.full((2 * 257 + 3, 2, 3, 4), 255, np.uint8)  # beyond a uint16 sum
    time_first = rng.integers(0, 256, (70, 9, 2 * 3 * 5), dtype=np.uint8)  # (N, T, C)
    strided = np.moveaxis(time_first.reshape(70, 9, 2, 3, 5), 1, -1)  # (N, C, H, W, T)
    frames = rng.integers(0, 2, (6, 9, 2 * 3 * 5 + 2), dtype=np.uint8)  # padded to 32
    channel_last = torch_view(frames, (5, 2, 3), True)  # (N, C, H, W, T), as emulated
    dense = torch_view(frames, (30,), True)
    for x in (full, strided, strided[:1], strided.astype(np.int64), strided > 100,
              channel_last, dense, np.ascontiguousarray(channel_last)):
        want = x.reshape(len(x), -1, x.shape[-1]).sum(axis=(0, 2), dtype=np.int64)
        got = spike_counts(x)
        assert got.dtype == np.int64 and np.array_equal(got, want), x.dtype
    assert spike_counts(full)[0] == 255 * 4 * len(full)  # beyond uint16

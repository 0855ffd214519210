"""``rouser-run --input``'s 0/1 check, done in chunks over a memory-mapped file: every
chunk boundary and dtype, and the file read as a view (never copied)."""

from __future__ import annotations

import numpy as np
import pytest

from rouser_lava.backends.runfile import load_input_spikes, spikes_only
from rouser_lava.errors import UserError


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int64, np.float32, np.float64, bool])
@pytest.mark.parametrize("chunk", [1, 7, 24, 10 ** 6])
def test_spikes_only_finds_any_bad_value_whatever_the_chunk(dtype, chunk):
    rng = np.random.default_rng(0)
    x = (rng.random((5, 4, 6)) < 0.3).astype(dtype)
    assert spikes_only(x, chunk)
    assert spikes_only(x[:0], chunk)
    if dtype is bool:
        return
    for index in [(0, 0, 0), (2, 1, 3), (4, 3, 5)]:  # first, middle and last chunk
        for bad in ([2, -1, 0.5, np.nan] if np.dtype(dtype).kind == "f" else
                    [2, -1] if np.dtype(dtype).kind == "i" else [2, 255]):
            y = x.copy()
            y[index] = bad
            assert not spikes_only(y, chunk), (index, bad)


def test_input_file_is_read_as_a_memory_mapped_view(tmp_path):
    x = (np.random.default_rng(1).random((3, 2 * 3 * 4, 5)) < 0.2).astype(np.uint8)
    path = tmp_path / "x.npy"
    np.save(path, x)
    got = load_input_spikes(str(path), [(2, 3, 4)])
    assert got.shape == (3, 2, 3, 4, 5) and not got.flags.writeable
    assert isinstance(got.base, np.memmap) or isinstance(got, np.memmap)
    assert np.array_equal(got.reshape(x.shape), x)
    x[2, 5, 4] = 3
    np.save(path, x)
    with pytest.raises(UserError, match="spikes must be 0 or 1"):
        load_input_spikes(str(path), [(2, 3, 4)])

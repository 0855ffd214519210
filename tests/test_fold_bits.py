"""Our ``optimize_weight_bits`` (one bitwise OR in place of netx's float passes) gives
netx's results on every matrix: random integer matrices of every sign mix and scale,
and the edge cases (all zero, one value, the extremes, matrices netx clips)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
from lava.lib.dl.netx.utils import optimize_weight_bits as netx_optimize

from rouser_lava.model.fold import optimize_weight_bits


def test_same_as_netx_on_every_matrix():
    rng = np.random.default_rng(0)
    cases = [np.zeros((3, 4), int), np.full((3, 4), -8), np.full((3, 4), 12),
             np.array([[0, 0, 64]]), np.array([[-256, 254]]), np.array([[-3, 0]]),
             np.array([[5]]), np.array([[300, -2]]), np.array([[-400, 6]])]
    for _ in range(2000):
        lo, hi = sorted(rng.integers(-300, 300, 2))
        shape = tuple(rng.integers(1, 6, 2))
        cases.append(rng.integers(lo, hi + 1, shape) << rng.integers(0, 9))
    checked = 0
    for w in cases:
        with contextlib.redirect_stdout(io.StringIO()), np.errstate(all="ignore"):
            try:
                want = netx_optimize(w)
            except (ValueError, OverflowError):  # netx cannot take it: neither can we
                continue
            got = optimize_weight_bits(w)
        assert np.array_equal(got[0], want[0]), w
        assert got[1:] == (int(want[1]), int(want[2])), w
        checked += 1
    assert checked > 1900

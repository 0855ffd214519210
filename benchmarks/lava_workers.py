"""Lava in 1 and 2 worker processes: wall time on the same network and inputs, in one run.

Network: dense 64-100-10 (digits-sized), CUBA decays as in Rouser (iDecay 1024, vDecay
123), random 8-bit weights; input: Bernoulli spikes, 10 % of the 64 x T slots. Runs
the same samples through ``simulate_parallel`` with 1 worker (this process, as
``rouser-run --backend lava``) and with 2 (``--workers 2``), checks that the spikes of
every layer, hence the predictions, are identical, and prints both wall times and a
last line ``speedup_2_workers=<ratio>``. Both times include building the network; the
2-worker time also includes starting two Python interpreters that import Lava.

    python benchmarks/lava_workers.py [--samples 80] [--steps 32]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from _netx import write_dense_network
from _result import report

from rouser_lava.backends.lava_workers import simulate_parallel

SIZES = (64, 100, 10)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=80)
    p.add_argument("--steps", type=int, default=32)
    args = p.parse_args()
    rng = np.random.default_rng(1)
    x = (rng.random((args.samples, SIZES[0], args.steps)) < 0.1).astype(np.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        net = str(Path(tmp) / "bench.net")
        write_dense_network(Path(net), SIZES, 10, 60)
        print(f"network {'-'.join(map(str, SIZES))}, {args.samples} samples, "
              f"T={args.steps}")
        runs = {}
        for workers in (1, 2):
            t0 = time.perf_counter()
            spikes = simulate_parallel(net, x, workers, progress=False).spikes
            runs[workers] = time.perf_counter() - t0, spikes
            print(f"{workers} worker(s): {runs[workers][0]:7.2f} s = "
                  f"{args.samples / runs[workers][0]:6.1f} samples/s")
    (one_s, one), (two_s, two) = runs[1], runs[2]
    rates = ", ".join(f"{100 * s.mean():.2f} %" for s in one)
    mismatches = sum(int((a != b).sum()) for a, b in zip(one, two))
    same = np.array_equal(one[-1].sum(-1).argmax(1), two[-1].sum(-1).argmax(1))
    print(f"spike rates per layer: {rates}; spike mismatches 1 vs 2 workers: {mismatches}; "
          f"identical predictions: {same}")
    if mismatches or not same:
        raise SystemExit("1 and 2 workers disagree")
    print(f"speedup_2_workers={one_s / two_s:.2f}")
    report(f"Lava simulator, 2 workers vs 1, {'-'.join(map(str, SIZES))}, "
           f"{args.samples} samples of T = {args.steps}", ("2 workers", two_s),
           ("1 worker", one_s), "s")


if __name__ == "__main__":
    main()

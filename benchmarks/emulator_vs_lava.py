"""Emulator vs Lava CPU simulator: samples/s on the same network and inputs, in one run.

Network: dense 2312-500-500-10 (N-MNIST-sized), CUBA decays as in Rouser (iDecay 1024,
vDecay 123), random 8-bit weights; input: N-MNIST-like, about 1 % of the 2312 x 300
input slots active. Prints samples/s for both, their ratio, a check that the spikes are
identical on the samples Lava ran, and the ratio to a dense-arithmetic lower bound. The
emulator runs twice: in-process on the array, and as ``rouser-run NET --input x.npy``
does (``run_path``: the netx file read, the ``.npy`` file memory-mapped and checked,
batches of 64, statistics), timed from the call to its return; the two run in turn,
twice, and the best time of each counts.

Dense-arithmetic lower bound: an implementation that ignores event sparsity must at
least do the synaptic matrix products densely, N*T x (2312*500 + 500*500 + 500*10)
multiply-adds. The bound is that product timed here with one float32 GEMM per layer on
the same batch (no neuron updates, no data movement), so
``emulator time / dense bound < 1`` means sparsity is paying off.

    python benchmarks/emulator_vs_lava.py [--lava-samples 4] [--emu-samples 200]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _netx import write_dense_network
from _result import report

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import run_path

SIZES = (2312, 500, 500, 10)
STEPS = 300
BATCH = 100  # emulator batch size


def nmnist_like(n: int, seed: int = 1) -> np.ndarray:
    """uint8 (N, 2312, 300), ~1 % active, in bursts like N-MNIST's saccades."""
    rng = np.random.default_rng(seed)
    rate = np.zeros(STEPS)
    for start in (0, 100, 200):
        rate[start:start + 100] = np.sin(np.linspace(0, np.pi, 100)) ** 2
    rate *= 0.01 / rate.mean()
    pixel = rng.random((n, SIZES[0], 1)) < 0.35  # digit strokes
    return ((rng.random((n, SIZES[0], STEPS)) < rate * 2.8) & pixel).astype(np.uint8)


def dense_bound(n: int) -> float:
    """Seconds for the dense synaptic GEMMs of n samples (best of 3)."""
    best = np.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for n_in, n_out in zip(SIZES[:-1], SIZES[1:]):
            a = torch.zeros(n * STEPS, n_in)
            torch.mm(a, torch.zeros(n_in, n_out))
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lava-samples", type=int, default=4)
    p.add_argument("--emu-samples", type=int, default=200)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        net = Path(tmp) / "bench.net"
        write_dense_network(net, SIZES, -2, 40)
        x = nmnist_like(max(args.emu_samples, args.lava_samples))
        print(f"network {'-'.join(map(str, SIZES))}, T={STEPS}, input activity "
              f"{100 * x.mean():.2f} % of slots, torch threads {torch.get_num_threads()}")

        layers = load_netx(str(net))
        emulate(layers, x[:8])  # warm-up
        np.save(Path(tmp) / "x.npy", x[:args.emu_samples])
        emu_s = cli_s = np.inf
        for _ in range(2):  # in turn, best of two: a change in load reaches both alike
            t0 = time.perf_counter()
            emu = [emulate(layers, x[i:i + BATCH]).spikes
                   for i in range(0, args.emu_samples, BATCH)]
            emu_s = min(emu_s, time.perf_counter() - t0)
            t0 = time.perf_counter()
            cli = run_path(str(net), RunOptions(input_npy=str(Path(tmp) / "x.npy"),
                                                progress=False))
            cli_s = min(cli_s, time.perf_counter() - t0)
        emu = [np.concatenate(parts) for parts in zip(*emu)]

        # Lava after the emulator: timed after Lava, the in-process emulator once came out
        # 7x below the same emulator through run_path (Lava's processes still exiting?)
        t0 = time.perf_counter()
        simulate(str(net), x[:1], progress=False)
        lava_one = time.perf_counter() - t0
        t0 = time.perf_counter()
        lava = simulate(str(net), x[:args.lava_samples], progress=False).spikes
        lava_s = time.perf_counter() - t0
        # the same build and compile happen in both runs: the difference is pure running
        lava_steady = (lava_s - lava_one) / max(args.lava_samples - 1, 1)
        cli_same = np.array_equal(cli.neuron_spikes[-1],
                                  emu[-1].sum(axis=(0, 2), dtype=np.int64))

        mismatches = sum(int((e[:args.lava_samples] != la).sum()) for e, la in zip(emu, lava))
        rates = ", ".join(f"{100 * e.mean():.2f} %" for e in emu)
        lava_rate = args.lava_samples / lava_s
        emu_rate = args.emu_samples / emu_s
        bound = dense_bound(BATCH) * args.emu_samples / BATCH
        print(f"spike rates per layer (emulator): {rates}")
        print(f"lava simulator : {args.lava_samples:5d} samples in {lava_s:7.2f} s = "
              f"{lava_rate:8.2f} samples/s (build, compile and run)")
        print(f"emulator       : {args.emu_samples:5d} samples in {emu_s:7.2f} s = "
              f"{emu_rate:8.2f} samples/s (batched, CPU)")
        print(f"lava, steady state per sample    : {lava_steady:7.2f} s (build and compile "
              f"excluded: {lava_one - lava_steady:.2f} s)")
        print(f"speed-up emulator / lava          : {emu_rate / lava_rate:8.1f} x")
        print(f"speed-up emulator / lava steady   : {emu_rate * lava_steady:8.1f} x")
        print(f"dense-arithmetic bound            : {bound:7.2f} s for "
              f"{args.emu_samples} samples; emulator / bound = {emu_s / bound:.2f}")
        if lava_steady <= 0:
            raise SystemExit(f"Lava's steady state not measurable: {args.lava_samples} samples "
                             f"took {lava_s:.2f} s, one {lava_one:.2f} s (a loaded machine); "
                             f"run more --lava-samples")
        cli_rate = args.emu_samples / cli_s
        print(f"emulator, rouser-run --input   : {cli_rate:8.2f} samples/s "
              f"({cli_rate / emu_rate:.2f} of in-process; {cli_rate * lava_steady:.1f} x lava "
              f"steady)")
        print(f"spike mismatches on the {args.lava_samples} Lava samples: {mismatches}")
        if mismatches or not cli_same:
            raise SystemExit("emulator and Lava disagree" if mismatches else
                             "rouser-run's spike counts differ from the emulator's")
        setting = (f"{'-'.join(map(str, SIZES))}, T = {STEPS}, ~1 % input, "
                   f"{torch.get_num_threads()} thread(s)")
        report(f"emulator in-process vs Lava steady state, {setting}",
               ("emulator", emu_rate), ("Lava fixed_pt", 1 / lava_steady), "samples/s")
        report(f"emulator through rouser-run --input vs Lava steady state, {setting}",
               ("rouser-run", cli_rate), ("Lava fixed_pt", 1 / lava_steady), "samples/s",
               ">= 300")
        report(f"rouser-run --input vs the emulator in-process, {setting}",
               ("rouser-run", cli_rate), ("in-process", emu_rate), "samples/s")


if __name__ == "__main__":
    main()

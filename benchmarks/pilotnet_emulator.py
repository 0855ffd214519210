"""PilotNet SNN on the emulator against Loihi 2's published throughput.

Network: lava-dl's published PilotNet SNN (``tutorials/lava/lib/dl/netx/pilotnet_snn/
network.net``, the copy in ``tests/data/lavadl_pilotnet_lif``: a bias-driven input
layer of 200 x 66 x 3 neurons, five conv layers and three dense ones). Input: the
image shipped with it (``image.npy``, Lava's ``(x, y, c)`` order) shifted by a
different number of columns for each sample (``np.roll`` along x), as each sample's
``bias_mant``; 16 steps per sample, as Lava's benchmark runs it (reset interval 16).

Reference: lava-dl's ``tutorials/lava/lib/dl/netx/pilotnet_snn/benchmark.ipynb``,
PilotNet SNN on Loihi 2 (Oheo Gulch, reset interval 16): 408.91 samples/s. That figure
is quoted, not measured here. The emulator runs as ``rouser-run NET --input-bias B.npy
--steps 16`` does (``run_path``: every sample from zero state, batches of 64), and
in the stream layout of a board (``--stream reset-interval --reset-interval 16 --steps
15``: the samples back to back in one run, 16 steps each
with the one step of padding the layout needs, netx's ``LIFReset``),
timed from the call to its return after one warm-up run (numba's kernels compile or
load from the cache then), the two modes in turn ``--repeats`` times, the best time of
each counting (on a shared machine the same run varied by up to 1.6x within the hour).

    python benchmarks/pilotnet_emulator.py [--samples 64] [--threads 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _result import report

from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import run_path
from rouser_lava.backends.stream import StreamSpec

DATA = Path(__file__).resolve().parents[1] / "tests" / "data" / "lavadl_pilotnet_lif"
LOIHI2_SAMPLES_PER_S = 408.91  # lava-dl pilotnet_snn/benchmark.ipynb, reset interval 16
STEPS = 16


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=64)
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="torch threads (numba: same)")
    p.add_argument("--repeats", type=int, default=3, help="timed runs of each mode (best)")
    args = p.parse_args()
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    image = np.load(DATA / "image.npy")  # (x, y, c)
    bias = np.stack([np.roll(image, k, axis=0) for k in range(args.samples)])
    net = str(DATA / "network.net")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bias.npy")
        np.save(path, bias)
        modes = {"per sample": (STEPS, None),
                 "stream": (STEPS - 1, StreamSpec(reset_interval=STEPS))}
        rates: dict[str, float] = {}
        for steps, stream in modes.values():
            run_path(net, RunOptions(input_bias=path, steps=steps, limit=2, progress=False,
                                     stream=stream))  # warm-up
        for _ in range(args.repeats):
            for name, (steps, stream) in modes.items():
                t0 = time.perf_counter()
                result = run_path(net, RunOptions(input_bias=path, steps=steps,
                                                  progress=False, stream=stream))
                rates[name] = max(rates.get(name, 0.0),
                                  args.samples / (time.perf_counter() - t0))
                spikes = ", ".join(str(s) for s in result.layer_spikes)
        for name in modes:
            print(f"emulator, {name:10s}: {rates[name]:8.2f} samples/s (best of "
                  f"{args.repeats}, {args.samples} samples of {STEPS} steps)")
        print(f"spikes per layer, stream: {spikes}")
    print(f"Loihi 2 (published)  : {LOIHI2_SAMPLES_PER_S:8.2f} samples/s")
    for name, rate in rates.items():
        print(f"emulator {name} / Loihi 2: {rate / LOIHI2_SAMPLES_PER_S:.3f}")
        report(f"PilotNet SNN, {name}, {STEPS} steps per sample, {args.threads} thread(s) "
               f"vs Loihi 2 (published, not measured here)", ("emulator", rate),
               ("Loihi 2", LOIHI2_SAMPLES_PER_S), "samples/s", ">= 1")


if __name__ == "__main__":
    main()

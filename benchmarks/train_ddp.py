"""Data-parallel training: epoch time on 1 and 2 processes on this machine, in one run.

Trains the same run (default: the Yin-Yang preset, 5-120-120-3, T = 100) with
``rouser-train`` once as one process and once under ``torchrun --nproc_per_node 2``
(gloo), each for ``--epochs`` epochs, and reads the epoch times rank 0 recorded
(``wall_s`` in ``NAME.metrics.jsonl``: training, metrics and evaluation). The first
epoch is left out where there are more (numba compiles or loads its kernels then).
Prints the median epoch time of each and the scaling efficiency ``t1 / (2 * t2)``
(1.0: two processes halve the epoch). On a machine with CUDA the comparison runs again
with ``--device cuda`` (two processes need two GPUs; with one only the single-process
time is printed).

    python benchmarks/train_ddp.py [--epochs 3] [--batch 32] [-- rouser-train options]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from _result import report

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = "import sys\nfrom rouser_lava.cli import train_main\nsys.exit(train_main())\n"


def epoch_seconds(procs: int, device: str, options: list[str], folder: Path) -> float:
    """Median epoch time of a run on ``procs`` processes (after the first epoch)."""
    script = folder / "rouser-train"
    script.write_text(SCRIPT)
    out = folder / f"{device}{procs}.pt"
    launch = ([sys.executable] if procs == 1 else
              [str(Path(sys.executable).parent / "torchrun"), "--standalone",
               "--nproc_per_node", str(procs)])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    subprocess.run([*launch, str(script), *options, "--device", device, "--quiet",
                    "--out", str(out)], env=env, check=True)
    rows = [json.loads(line) for line in out.with_suffix(".metrics.jsonl").open()]
    times = [row["wall_s"] for row in rows]
    return statistics.median(times[1:] or times)


def compare(device: str, procs: list[int], options: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        times = {k: epoch_seconds(k, device, options, Path(folder)) for k in procs}
    for k, t in times.items():
        print(f"{device}: {k} process(es): {t:.2f} s per epoch")
    if len(times) == 2:
        print(f"{device}: scaling efficiency t1 / (2 * t2) = {times[1] / (2 * times[2]):.2f}")
        report(f"data-parallel training on {device}, {' '.join(options)}",
               ("2 processes", times[2]), ("1 process", times[1]), "s/epoch",
               "2 (ideal scaling)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch", type=int, default=32, help="global batch")
    p.add_argument("options", nargs="*", help="more rouser-train options (after --)")
    args = p.parse_args()
    options = ["--preset", "yinyang", "--epochs", str(args.epochs), "--batch-size",
               str(args.batch), *args.options]
    compare("cpu", [1, 2], options)
    if torch.cuda.is_available():
        compare("cuda", [1, 2] if torch.cuda.device_count() >= 2 else [1], options)
        if torch.cuda.device_count() < 2:
            print("cuda: one GPU: two processes need two GPUs (one per process)")


if __name__ == "__main__":
    main()

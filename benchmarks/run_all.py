"""``make bench``: every benchmark in ``benchmarks/`` with short settings, one table.

Runs each script below in its own process (the repository on ``PYTHONPATH``), echoes
its report, collects its ``RESULT`` lines (:mod:`_result`) and writes
``benchmarks/RESULTS.md``: for each comparison the two figures measured in the same
run, their ratio and the target where the project set one, with the date, the commit,
the CPU model, the CPU count, the thread counts, the load average before and after,
and the GPU (or that there is none). A script that fails is listed as failed, with
its last line; the others still run. The documentation's performance figures come from
this file (docs/benchmarks.md includes it), so a change that slows something shows up
the next time anyone runs it.

    python benchmarks/run_all.py [--out benchmarks/RESULTS.md] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

from rouser_lava.provenance import describe, provenance

ROOT = Path(__file__).resolve().parents[1]
HERE = ROOT / "benchmarks"

# (script, short arguments): a few minutes in all on a 2-core machine. The small net's
# steps take ~20-60 ms: best of 20 rounds (5 once gave 29 ms against 17 ms a minute
# earlier, every round slowed by the shared machine)
BENCHMARKS: list[tuple[str, list[str]]] = [
    ("train_vs_slayer.py", ["--sizes", "5,120,120,3", "--steps", "100", "--batch", "32",
                            "--repeats", "20"]),
    ("train_vs_slayer.py", ["--sizes", "2312,500,500,10", "--steps", "300", "--batch", "16",
                            "--repeats", "3", "--density", "0.01"]),
    ("emulator_vs_lava.py", ["--lava-samples", "12", "--emu-samples", "128"]),
    ("pilotnet_emulator.py", ["--samples", "32"]),
    ("lava_workers.py", ["--samples", "16", "--steps", "32"]),
    ("single_spike_speed.py", ["--batches", "5", "--shd-batches", "1"]),
    ("conv_events.py", ["--repeats", "2"]),
    ("train_ddp.py", ["--epochs", "2"]),
]


def _machine() -> dict[str, str]:
    """CPU model, CPU count, GPU, commit and provenance, read when the run starts: what a
    reader needs to weigh a figure."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    record = provenance()  # its commit is read once and kept: the run's start
    head, _, dirty = record.get("commit", "unknown").partition("+")
    import torch

    gpu = (torch.cuda.get_device_name(0) if torch.cuda.is_available() else
           "none available: no GPU figures (the CUDA and nccl runs need one)")
    return {"cpu": cpu, "cpus": str(os.cpu_count()), "gpu": gpu,
            "commit": head[:7] + (" (with uncommitted changes)" if dirty else ""),
            "torch threads": str(torch.get_num_threads()),
            "provenance": describe(record)}


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(script: str, args: list[str]) -> tuple[list[dict], str, float]:
    """The ``RESULT`` records of one benchmark run, its status line and its seconds."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])}
    print(f"== {script} {' '.join(args)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, str(HERE / script), *args], env=env, cwd=ROOT,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    print(proc.stdout, end="", flush=True)
    records = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines()
               if line.startswith("RESULT ")]
    if proc.returncode:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        print(proc.stderr[-2000:], file=sys.stderr)
        return records, f"failed (exit {proc.returncode}): {last}", seconds
    return records, "ok", seconds


def _figure(side: list, unit: str) -> str:
    return f"{side[0]}: {side[1]:.4g} {unit}"


def write(out: Path, machine: dict[str, str], rows: list[tuple[str, list[dict], str, float]],
          load: tuple[str, str]) -> None:
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["# Benchmark results", "",
             "Written by `make bench` (`benchmarks/run_all.py`); do not edit by hand. Each "
             "ratio compares two figures measured in the same run on the same machine "
             "(> 1: the first is faster). Figures from other runs or machines are not "
             "comparable; a loaded machine lowers the absolute figures more than the "
             "ratios.", "",
             f"- date: {now}", f"- commit: {machine['commit']}",
             f"- CPU: {machine['cpu']} ({machine['cpus']} CPUs); torch threads by default: "
             f"{machine['torch threads']} (each row states the threads it used)",
             f"- GPU: {machine['gpu']}",
             f"- load average (1, 5, 15 min) before: {load[0]}; after: {load[1]}",
             f"- provenance: {machine['provenance']}", "",
             "| benchmark | comparison | first | second | ratio | target |",
             "|---|---|---|---|---|---|"]
    for name, records, status, _ in rows:
        script = name.split()[0]
        for r in records:
            lines.append(f"| {script} | {r['comparison']} | {_figure(r['ours'], r['unit'])} | "
                         f"{_figure(r['reference'], r['unit'])} | {r['ratio']:.3g} | "
                         f"{r['target'] or '-'} |")
        if status != "ok":
            lines.append(f"| {script} | {status} | | | | |")
    lines += ["", "| script and settings | seconds | status |", "|---|---|---|"]
    lines += [f"| `{name}` | {sec:.0f} | {status} |" for name, _, status, sec in rows]
    out.write_text("\n".join(lines) + "\n")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default=str(HERE / "RESULTS.md"))
    p.add_argument("--only", nargs="*", help="script names to run (default: all)")
    args = p.parse_args()
    machine = _machine()
    before = _load()
    rows = []
    for script, options in BENCHMARKS:
        if args.only and script not in args.only:
            continue
        records, status, seconds = run(script, options)
        rows.append((f"{script} {' '.join(options)}", records, status, seconds))
    write(Path(args.out), machine, rows, (before, _load()))
    print(f"wrote {args.out}")
    if any(status != "ok" for _, _, status, _ in rows):
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""The Rouser paper's experiments as runs of the trainer: learned vs fixed thresholds
over seeds (``compare``) and the threshold grid (``grid``), optionally deployed.

Every run trains with :func:`rouser_lava.training.trainrun.train_run` into
``REPORT/runs/<mode>-th<init>-seed<k>/model.pt`` (with its best model, metrics and
checkpoint), and with ``board`` (``--tensorboard DIR``) its TensorBoard events into
``DIR/<mode>-th<init>-seed<k>``. Both modes of a seed share the initial weights and the
data order (same seed), so they differ only in whether thresholds learn.

``report.json`` keys (``compare``): ``kind``, ``preset``, ``settings``, ``target_frac``,
``target_acc`` (``target_frac`` x the best final *validation* accuracy of all runs),
``modes`` (per mode: ``final_acc_mean``, ``final_acc_std`` (test, last epoch),
``best_acc_mean`` (test accuracy of the epoch picked on validation),
``epochs_to_target`` (first epoch whose validation accuracy reaches the target, per
seed, ``null`` if never reached),
``epochs_to_target_mean`` (over the seeds that reached it), ``reached``, ``curves``
(per epoch means over seeds: ``test_acc``, ``val_acc``, and per layer ``dead_pct``, ``spike_rate``,
``weight_change``), ``thresholds`` (final per-layer threshold lists, all seeds) and,
with ``--measure-deployed``, ``emulator_acc_mean``, ``emulator_acc_std``,
``emulator_layer_spikes_mean``), and ``runs`` (per run: ``mode``, ``seed``,
``threshold_init``, ``history``, ``final_acc``, ``final_val_acc``, ``best_epoch``,
``best_acc`` and the deployment fields). The test split never picks anything: the best
model, the target and the epochs to it all come from the validation split. ``grid``
adds ``thresholds`` and ``table`` (per initial threshold:
``fixed_acc``, ``learned_acc``, means over seeds).
"""

from __future__ import annotations

import logging
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import current_process, get_context
from pathlib import Path

import numpy as np

from .._threads import cores
from ..model.modelfile import load_model
from ..training.settings import TrainSettings
from ..training.trainrun import best_epoch, train_run

log = logging.getLogger(__name__)
MODES = ("learned", "fixed")


def _deploy(best: Path) -> dict:
    """Export a run's best model (its default threshold form: fold for cuba) and run the
    emulator on its test set."""
    from ..backends.options import RunOptions
    from ..backends.runfile import run_path
    from ..deploy.export import export_model

    net_path = best.with_name("best.net")
    export_model(str(best), str(net_path), quiet=True)
    result = run_path(str(net_path), RunOptions(progress=False))
    return {"emulator_acc": result.accuracy,
            "emulator_layer_spikes": [int(s) for s in result.layer_spikes]}


def run_one(settings: TrainSettings, mode: str, seed: int, threshold: float, root: Path,
            deploy: bool, board: Path | None = None) -> dict:
    """Train one run of ``settings`` with thresholds ``mode``, ``seed`` and initial
    threshold ``threshold`` (its TensorBoard events into a folder of ``board`` named as
    the run, when given); returns its record (see the module docstring)."""
    out = root / "runs" / f"{mode}-th{threshold:g}-seed{seed}" / "model.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    log.info("== %s thresholds, init %g, seed %d", mode, threshold, seed)
    run_settings = replace(settings, thresholds=mode, seed=seed, threshold_init=threshold)
    history = train_run(run_settings, out, progress=False, overwrite=True,
                        tensorboard=board / out.parent.name if board else None)
    net, _ = load_model(out)
    run = {"mode": mode, "seed": seed, "threshold_init": threshold, "history": history,
           **selection(history),
           "thresholds": [b.neuron.quantized_threshold().detach().tolist()
                          for b in net.spiking_blocks()]}
    if deploy:
        run.update(_deploy(out.with_name("model.best.pt")))
    return run


def _worker_init() -> None:
    """Tag a worker process's log lines with its name."""
    tag = logging.Formatter(f"[{current_process().name}] %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(tag)


def _run_in_worker(threads: int, task, *args) -> dict:
    """``task(*args)`` with ``threads`` numba and torch threads, set in the task itself.
    Two workers each spinning two OpenMP threads on two cores train 7x slower."""
    import numba
    import torch

    # (numba.config sets its attributes from a function: mypy does not see them)
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))  # type: ignore[attr-defined]
    torch.set_num_threads(threads)
    return task(*args)


def run_all(task, specs: list[tuple], jobs: int) -> list[dict]:
    """``task(*spec)`` (a run, e.g. :func:`run_one`) for each argument tuple in
    ``specs``, ``jobs`` at a time in forked processes (each with ``cores() // jobs``
    threads; fork, because Lava fixes the start method at import); results in the order
    of ``specs``. Every run is seeded on its own, so ``jobs`` changes only the wall time
    (and, through the thread count, float rounding in torch's kernels)."""
    if jobs <= 1 or len(specs) <= 1:
        return [task(*spec) for spec in specs]
    jobs = min(jobs, len(specs))
    threads = max(1, cores() // jobs)
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork"),
                             initializer=_worker_init) as pool:
        futures = [pool.submit(_run_in_worker, threads, task, *spec) for spec in specs]
        return [f.result() for f in futures]


def selection(history: list[dict]) -> dict:
    """A run's accuracies: ``final_acc`` (test, last epoch), ``final_val_acc``
    (validation, last epoch), ``best_epoch`` (picked on validation, as ``best.pt``) and
    ``best_acc`` (test accuracy of that epoch)."""
    best = history[best_epoch(history)]
    return {"final_acc": history[-1]["test_acc"], "final_val_acc": history[-1]["val_acc"],
            "best_epoch": best["epoch"], "best_acc": best["test_acc"]}


def epochs_to(history: list[dict], target: float) -> int | None:
    """First epoch whose validation accuracy reaches ``target`` (``None`` if none does)."""
    return next((row["epoch"] for row in history if row["val_acc"] >= target), None)


def _mean_curve(runs: list[dict], key, layer: int | None = None) -> list[float]:
    """Per-epoch mean over runs of ``row[key]`` (or of layer ``layer``'s ``key``)."""
    epochs = min(len(r["history"]) for r in runs)
    values = [[(row["layers"][layer][key] if layer is not None else row[key])
               for row in r["history"][:epochs]] for r in runs]
    return np.mean(values, axis=0).tolist()


def summarize(runs: list[dict], target_frac: float, deploy: bool) -> tuple[float, dict]:
    """Per-mode aggregates over seeds; returns ``(target_acc, modes)``."""
    target = target_frac * max(r["final_val_acc"] for r in runs)
    modes = {}
    for mode in MODES:
        rs = [r for r in runs if r["mode"] == mode]
        if not rs:
            continue
        layers = len(rs[0]["history"][0]["layers"])
        reach = [epochs_to(r["history"], target) for r in rs]
        got = [e for e in reach if e is not None]
        finals = [r["final_acc"] for r in rs]
        modes[mode] = {
            "final_acc_mean": float(np.mean(finals)), "final_acc_std": float(np.std(finals)),
            "best_acc_mean": float(np.mean([r["best_acc"] for r in rs])),
            "epochs_to_target": reach, "reached": len(got),
            "epochs_to_target_mean": float(np.mean(got)) if got else None,
            "curves": {
                "test_acc": _mean_curve(rs, "test_acc"),
                "val_acc": _mean_curve(rs, "val_acc"),
                "layers": [{k: _mean_curve(rs, k, i)
                            for k in ("dead_pct", "spike_rate", "weight_change")}
                           for i in range(layers)]},
            "thresholds": [sum((r["thresholds"][i] for r in rs), []) for i in range(layers)],
        }
        if deploy:
            emu = [r["emulator_acc"] for r in rs]
            modes[mode].update({
                "emulator_acc_mean": float(np.mean(emu)), "emulator_acc_std": float(np.std(emu)),
                "emulator_layer_spikes_mean": np.mean(
                    [r["emulator_layer_spikes"] for r in rs], axis=0).tolist()})
    return target, modes


def compare_modes(settings: TrainSettings, preset: str | None, seeds: int, report: Path,
                  target_frac: float = 0.95, deploy: bool = False, jobs: int = 1,
                  board: Path | None = None) -> dict:
    """Learned vs fixed thresholds over ``seeds`` seeds (``settings.seed``, +1, ...);
    ``board`` as :func:`run_one`'s."""
    specs = [(settings, mode, settings.seed + k, settings.threshold_init, report, deploy,
              board)
             for k in range(seeds) for mode in MODES]
    runs = run_all(run_one, specs, jobs)
    target, modes = summarize(runs, target_frac, deploy)
    return {"kind": "compare", "preset": preset, "settings": settings.to_dict(),
            "target_frac": target_frac, "target_acc": target, "modes": modes,
            "runs": [{k: v for k, v in r.items() if k != "thresholds"} for r in runs]}


def threshold_grid(settings: TrainSettings, preset: str | None, thresholds: list[float],
                   seeds: int, report: Path, deploy: bool = False, jobs: int = 1,
                   board: Path | None = None) -> dict:
    """Fixed thresholds at each value, and learned thresholds started from each;
    ``board`` as :func:`run_one`'s."""
    specs = [(settings, mode, settings.seed + k, th, report, deploy, board)
             for th in thresholds for k in range(seeds) for mode in MODES]
    runs = run_all(run_one, specs, jobs)
    table = []
    for th in thresholds:
        row = {"threshold": th}
        for mode in MODES:
            accs = [r["final_acc"] for r in runs if r["mode"] == mode
                    and r["threshold_init"] == th]
            row[f"{mode}_acc"] = float(np.mean(accs))
            if deploy:
                row[f"{mode}_emulator_acc"] = float(np.mean(
                    [r["emulator_acc"] for r in runs if r["mode"] == mode
                     and r["threshold_init"] == th]))
        table.append(row)
    return {"kind": "grid", "preset": preset, "settings": settings.to_dict(),
            "thresholds": thresholds, "table": table,
            "runs": [{k: v for k, v in r.items() if k != "thresholds"} for r in runs]}

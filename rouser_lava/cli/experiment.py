"""``rouser-experiment``: the Rouser paper's experiments (compare, grid, neurons,
ablation)."""

from __future__ import annotations

import argparse
import logging

from ..errors import UserError
from ..fileio import check_output_dir, wrote
from .common import (
    add_train_options,
    entry,
    flag,
    fraction,
    positive_int,
    threshold_list,
    train_settings,
    workers_value,
)

log = logging.getLogger("rouser_lava")


COMMANDS = {
    "compare": "learned vs fixed thresholds over seeds (accuracy, epochs to a target "
               "accuracy, dead neurons, spike rates, weight change, threshold histograms)",
    "grid": "fixed thresholds at each value and learned thresholds started from each "
            "(the paper's Fig. 2)",
    "neurons": "the same architecture with cuba and with single-spike neurons over seeds "
               "(accuracy trained and deployed, spikes and synaptic operations per sample "
               "per layer, and the reduction in percent; --neuron is ignored)",
    "ablation": "the paper's Fig. 6 protocol: (Th_init, tau, s) = (0.25, 3, 3) and Table "
                "II's (1.25, 3.75, 1.5), each with lr_Th 0, 1e-3 and 1e-2, over seeds; test "
                "accuracy at the epoch chosen on validation, a paired t-test per setting, "
                "dead neurons, spike rates and threshold trajectories per layer",
}
FIXED_BY_ABLATION = ("threshold_init", "lr_threshold", "surrogate_tau", "surrogate_scale",
                     "tau_grad", "scale_grad")


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-experiment`` (:func:`experiment_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-experiment",
        description="The Rouser paper's experiments. "
                    + " ".join(f"{name}: {text}." for name, text in COMMANDS.items()))
    sub = p.add_subparsers(dest="command", required=True)
    for name, text in COMMANDS.items():
        q = sub.add_parser(name, help=text, description=f"{text[0].upper()}{text[1:]}.")
        add_train_options(q)
        seeds = {"compare": 3, "ablation": 5}.get(name, 1)
        q.add_argument("--seeds", type=positive_int, default=seeds,
                       help="seeds per mode (default %(default)s)")
        q.add_argument("--report", default=f"export/experiment-{name}",
                       help="report folder (default %(default)s); runs go to REPORT/runs")
        if name not in ("neurons", "ablation"):  # neurons always deploys
            q.add_argument("--measure-deployed", action="store_true",
                           help="export each run's best model and add the emulator's "
                                "accuracy and spike counts to the report (rouser-train's "
                                "--deploy chooses a training forward pass instead)")
        if name != "ablation":  # its runs train without run files (experiments/ablation.py)
            q.add_argument("--tensorboard", default=None, metavar="DIR",
                           help="also write each run's per-epoch metrics and threshold "
                                "histograms as TensorBoard events to DIR/<run> (as "
                                "rouser-train --tensorboard); view with tensorboard "
                                "--logdir DIR")
        q.add_argument("--jobs", type=workers_value, default=1,
                       help="runs trained at once, in separate processes sharing the cores, "
                            "up to the CPU cores "
                            "(default 1; on a 2-core CPU --jobs 2 nearly halves the time)")
        if name == "compare":
            q.add_argument("--target-frac", type=fraction, default=0.95,
                           help="target validation accuracy as a fraction of the best final one "
                                "(default 0.95)")
        elif name == "grid":
            q.add_argument("--threshold-inits", type=threshold_list, required=True,
                           metavar="T1,T2,...",
                           help="comma-separated thresholds, e.g. 0.25,0.5,0.75,1,1.25")
    return p


@entry("rouser-experiment")
def experiment_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..experiments.ablation import ablation
    from ..experiments.ablation_report import write_ablation
    from ..experiments.neurons import compare_neurons
    from ..experiments.report import write_experiment_report
    from ..experiments.runs import compare_modes, threshold_grid
    from ..model.neuron import NEURONS

    # --threshold-inits (grid) and --measure-deployed are this command's, not the runs' settings
    settings = train_settings(args, thresholds=None, deploy=None)
    report = check_output_dir(args.report)
    board = check_output_dir(args.tensorboard) if getattr(args, "tensorboard", None) \
        else None
    if args.command == "ablation":
        given = [flag(n) for n in FIXED_BY_ABLATION if getattr(args, n, None) is not None]
        if given:
            raise UserError(f"{', '.join(given)}: the ablation's protocol fixes these")
        result = ablation(settings, args.preset, args.seeds, args.jobs)
        files = write_ablation(result, report)
        print((report / "report.md").read_text())
        for f in files:
            wrote(f)
        return 0
    if args.command == "neurons":
        per_neuron = {n: train_settings(args, thresholds=None, deploy=None, neuron=n)
                      for n in NEURONS}
        result = compare_neurons(per_neuron, args.preset, args.seeds, report, args.jobs,
                                 board)
    elif args.command == "compare":
        result = compare_modes(settings, args.preset, args.seeds, report, args.target_frac,
                               args.measure_deployed, args.jobs, board)
    else:
        result = threshold_grid(settings, args.preset, args.threshold_inits, args.seeds, report,
                                args.measure_deployed, args.jobs, board)
    files = write_experiment_report(result, report)
    print((report / "report.md").read_text())
    for f in files:
        wrote(f)
    if board is not None:
        wrote(board, "TensorBoard events, a folder per run")
    return 0

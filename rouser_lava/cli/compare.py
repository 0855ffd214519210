"""``rouser-compare``: the trained model against its deployed network."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from ..comparison.gates import failed_gates, parse_gate
from ..data.registry import DATASETS
from ..errors import UserError
from ..fileio import check_output_dir, refuse_overwrites, wrote
from .common import entry, lava_samples_value, timeout_value, workers_value

log = logging.getLogger("rouser_lava")


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text())
    except OSError as err:
        raise UserError(f"{path}: cannot read ({err.strerror})") from None
    except ValueError:
        raise UserError(f"{path}: not a JSON file") from None


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-compare`` (:func:`compare_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-compare",
        description="Compare a trained model with its deployed network: the torch model "
                    "and the bit-exact emulator on the whole test set, Lava's CPU "
                    "simulator on the first K samples. Reports accuracy, prediction "
                    "agreement, per-layer and per-neuron spike counts, neurons silenced "
                    "or woken by deployment, and checks emulator == Lava spike for spike "
                    "(exit status 3 if not, naming the first divergence). --fail-on turns "
                    "a loss in deployment into exit status 4.")
    p.add_argument("model", help="model.pt written by rouser-train")
    p.add_argument("net", help="netx file exported from it by rouser-export")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="dataset (default: the one the model was trained on)")
    p.add_argument("--data-root", default=None,
                   help="folder of an event dataset, instead of the one recorded")
    p.add_argument("--lava-samples", type=lava_samples_value, default=20, metavar="N",
                   help="test samples to run on the Lava simulator (default 20, or 'all')")
    p.add_argument("--timeout", type=timeout_value, default=None, metavar="SECONDS",
                   help="fail if the Lava run has not ended after this many seconds, "
                        "1 .. 604800 "
                        "(default: 60 + samples x steps x 0.02 x (layers + (neurons + "
                        "synapses) / 500000), see rouser-run --help)")
    p.add_argument("--workers", type=workers_value, default=1, metavar="K",
                   help="split the Lava samples over K worker processes (up to the CPU "
                        "cores), each with its "
                        "own network (about K times the memory; default 1)")
    p.add_argument("--report", default="export/compare",
                   help="folder for report.json, report.md and PNG plots "
                        "(default export/compare)")
    p.add_argument("--baseline", default=None, metavar="REPORT_JSON",
                   help="report.json of an earlier rouser-compare on the same dataset (e.g. "
                        "of a multi-spike network): also report how many fewer hidden "
                        "spikes and synaptic operations per sample this network needs")
    p.add_argument("--fail-on", type=parse_gate, action="append", default=[],
                   metavar="NAME=LIMIT",
                   help="exit with status 4, naming the figures, when deployment breaks a "
                        "limit (repeatable): accuracy-drop=PP (deployed accuracy at most PP "
                        "points below trained), spike-change=PCT (no layer's spike count "
                        "changes by more than PCT %%), agreement=PCT (trained and deployed "
                        "predictions agree on at least PCT %% of samples)")
    return p


@entry("rouser-compare")
def compare_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    check_output_dir(args.report)

    from ..comparison.compare import baseline_figures, compare, format_table, with_baseline
    from ..comparison.report import REPORT_FILES, write_report
    from ..data.registry import dataset_for
    from ..model.modelfile import load_model

    refuse_overwrites([("--report", Path(args.report) / name) for name in REPORT_FILES],
                      [("the model", args.model), ("the netx file", args.net),
                       ("--baseline", args.baseline)])
    net, record = load_model(args.model)
    if not Path(args.net).is_file():
        raise UserError(f"{args.net}: no such netx file")
    meta = record["dataset"]
    name = args.dataset or meta["name"]
    data = dataset_for(name, meta.get("encoding") if name == meta["name"] else None,
                       args.data_root)
    if tuple(data.input_shape) != tuple(net.input_shape):
        raise UserError(f"--dataset {name} gives input {tuple(data.input_shape)}, the model "
                        f"{args.model} takes {tuple(net.input_shape)}")
    k = len(data.x_test) if args.lava_samples is None else args.lava_samples
    baseline = None if args.baseline is None else _read_json(args.baseline)
    if baseline is not None:  # checked now, not after the whole comparison
        baseline_figures(args.baseline, baseline, data.name)
    result = compare(net, args.net, data, k, timeout=args.timeout, workers=args.workers)
    if baseline is not None:
        result = with_baseline(result, args.baseline, baseline)
    print(format_table(result))
    files = write_report(result, Path(args.report))
    for f in files:
        wrote(f)
    if result.emulator_lava_spikes or result.emulator_lava_logits:
        print("rouser-compare: error: the emulator and Lava disagree (a bug; see the "
              "first divergence above)", file=sys.stderr)
        return 3
    failures = failed_gates(result, args.fail_on)
    if failures:
        print(f"rouser-compare: error: deployment broke --fail-on: {'; '.join(failures)}",
              file=sys.stderr)
        return 4
    return 0

"""Command-line entry points: ``rouser-train``, ``rouser-export``, ``rouser-run``.

User mistakes (bad files, bad values) print one line ``<prog>: error: ...`` and exit
with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import sys
from pathlib import Path

import numpy as np

from .errors import UserError

log = logging.getLogger("rouser_lava")


def _entry(prog: str):
    """Wrap a main function: configure logging, turn UserError into a one-line exit."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv: list[str] | None = None) -> int:
            logging.basicConfig(level=logging.INFO, format="%(message)s")
            try:
                return main(argv) or 0
            except UserError as err:
                print(f"{prog}: error: {err}", file=sys.stderr)
                return 1
            except KeyboardInterrupt:
                print(f"{prog}: interrupted", file=sys.stderr)
                return 130
        return run
    return wrap


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _hidden(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128 or 256,128, got {text}") \
            from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive layer sizes, got {text}")
    return sizes


def _add_data_options(p: argparse.ArgumentParser) -> None:
    """Options that choose and bin a dataset (``None`` = the dataset's default)."""
    from .datasets import LOADERS

    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=tuple(LOADERS), default=None,
                   help="digits (built in, default), yinyang (generated), or from the "
                        "authors' files under --data-root: nmnist, dvs128, shd")
    g.add_argument("--data-root", default=None,
                   help="folder holding the dataset as released (see rouser-data info)")
    g.add_argument("--time-steps", type=_positive_int, default=None,
                   help="time steps (bins) per sample (dataset default if omitted)")
    g.add_argument("--bin-ms", type=_positive_float, default=None,
                   help="event datasets: bin width in ms (N-MNIST default 1)")
    g.add_argument("--polarity", choices=("split", "merge"), default=None,
                   help="event cameras: polarities as 2 channels (split, default) or 1")
    g.add_argument("--downsample", type=_positive_int, default=None,
                   help="DVS128: divide x and y by this factor (4: 128x128 -> 32x32)")
    g.add_argument("--encoding", choices=("latency", "rate"), default=None,
                   help="yinyang: spike code of the 4 inputs (default latency)")
    g.add_argument("--cache-dir", default=None,
                   help="where binned event datasets are cached "
                        "(default ~/.cache/rouser-lava)")
    g.add_argument("--skip-bad", action="store_true", default=None,
                   help="leave out (and report) samples whose files cannot be read, "
                        "instead of stopping")


def data_options(args: argparse.Namespace) -> dict:
    """The dataset loader's keyword arguments given on the command line."""
    from .datasets import DATA_OPTIONS

    return {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}


def _add_train_options(p: argparse.ArgumentParser) -> None:
    """Preset, data and hyperparameter options (``None`` = preset or built-in default)."""
    from .presets import PRESETS

    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="nmnist (34x34x2-500-500-10), dvs128 (128x128x2-64-11), "
                        "shd (700-200-200-20), yinyang (5-120-3), digits (64-128-10)")
    _add_data_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=_positive_int, default=None, help="default 10")
    g.add_argument("--threshold-init", type=_positive_float, default=None,
                   help="initial threshold of every neuron (default 1.25)")
    g.add_argument("--hidden", type=_hidden, default=None,
                   help="hidden layer sizes, comma-separated (default 128)")
    g.add_argument("--lr", type=_positive_float, default=None,
                   help="Adam learning rate of the weights (default 1e-3)")
    g.add_argument("--lr-threshold", type=float, default=None,
                   help="Adam learning rate of the thresholds (default 1e-3)")
    g.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                   help="constant (default) or cosine: both learning rates fall along half "
                        "a cosine to 1%% of their value in the last epoch")
    g.add_argument("--batch-size", type=_positive_int, default=None, help="default 32")
    g.add_argument("--seed", type=int, default=None, help="default 0")


@_entry("rouser-train")
def train_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-train",
        description="Train a spiking network whose CUBA LIF neurons learn one threshold "
                    "each (Rouser), with lava-dl SLAYER. Writes model.pt (loadable with "
                    "torch.load(weights_only=True)) for rouser-export and rouser-run.",
        epilog="Presets set dataset, architecture and hyperparameters of the papers' "
               "setups; any option given here overrides them. See rouser_lava/presets.py.")
    _add_train_options(p)
    p.add_argument("--out", default="export/model.pt",
                   help="model file to write (also NAME.best.pt, NAME.metrics.jsonl, "
                        "NAME.ckpt.pt beside it)")
    p.add_argument("--thresholds", choices=("learned", "fixed"), default=None,
                   help="learned per-neuron thresholds (Rouser, default) or stock "
                        "fixed thresholds (baseline)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is next to --out (NAME.ckpt.pt) "
                        "with its settings; --epochs may extend it, other options are "
                        "ignored")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    args = p.parse_args(argv)

    from .trainrun import train_model

    train_model(args)
    return 0


@_entry("rouser-export")
def export_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-export",
        description="Quantize a trained model to Loihi fixed point and write netx HDF5 "
                    "that lava.lib.dl.netx.hdf5.Network loads. model.pt is not changed.")
    p.add_argument("model", help="model.pt written by rouser-train")
    p.add_argument("net", help="netx file to write (e.g. net.net)")
    p.add_argument("--threshold-form", choices=("fold", "vector"), default="fold",
                   help="fold (default): fold each neuron's threshold into its input "
                        "weights so a layer shares one vThMant (runs on Loihi 2); "
                        "vector: per-neuron vThMant, bit-exact with training but only "
                        "for Lava's CPU simulator")
    args = p.parse_args(argv)

    from .pipeline import export_model

    export_model(args.model, args.net, args.threshold_form)
    return 0


@_entry("rouser-run")
def run_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-run",
        description="Run a trained model (model.pt) or an exported network (.net) over "
                    "a dataset's test split, or over raw spikes, and report accuracy and "
                    "spike counts per layer.")
    p.add_argument("path", help="model.pt (torch backend) or a netx .net file")
    p.add_argument("--backend", choices=("torch", "emulator", "lava"), default=None,
                   help="torch for model.pt; for .net files: emulator (default, the "
                        "bit-exact batched emulator, fast) or lava (Lava's CPU simulator, "
                        "Loihi2SimCfg fixed_pt)")
    p.add_argument("--dataset", default=None,
                   help="dataset whose test split to run (default: the one recorded in "
                        "the file)")
    p.add_argument("--input", dest="input_npy", default=None,
                   help="raw input spikes instead of a dataset: .npy array (N, C, T) of "
                        "0/1, C = the network's input size, flattened in C order of the "
                        "input shape (C, H, W) stored in the file")
    p.add_argument("--data-root", default=None,
                   help="folder of an event dataset, instead of the one recorded")
    p.add_argument("--limit", type=_positive_int, default=None,
                   help="run only the first N samples")
    p.add_argument("--json", dest="json_out", default=None, help="write results as JSON")
    p.add_argument("--dump-spikes", default=None,
                   help="write every layer's output spikes to an .npz: keys layer0, "
                        "layer1, ... and output (last layer), each uint8 (N, C, T)")
    args = p.parse_args(argv)

    from .modelfile import atomic_write
    from .pipeline import run_path

    result = run_path(args.path, args.dataset, args.backend, args.limit, args.input_npy,
                      keep_spikes=args.dump_spikes is not None, data_root=args.data_root)
    print(result.summary())
    if args.json_out:
        text = json.dumps(result.to_json(), indent=1)
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(text))
    if args.dump_spikes:
        arrays = {name: s.reshape(len(s), -1, s.shape[-1])
                  for name, s in zip(result.layer_names, result.spikes)}
        arrays["output"] = arrays[result.layer_names[-1]]

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(args.dump_spikes, write)
    return 0


def _lava_samples(text: str) -> int | None:
    if text == "all":
        return None
    return _positive_int(text)


@_entry("rouser-compare")
def compare_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-compare",
        description="Compare a trained model with its deployed network: the torch model "
                    "and the bit-exact emulator on the whole test set, Lava's CPU "
                    "simulator on the first K samples. Reports accuracy, prediction "
                    "agreement, per-layer and per-neuron spike counts, neurons silenced "
                    "or woken by deployment, and checks emulator == Lava spike for spike "
                    "(exit status 3 if not, naming the first divergence).")
    p.add_argument("model", help="model.pt written by rouser-train")
    p.add_argument("net", help="netx file exported from it by rouser-export")
    p.add_argument("--dataset", default=None,
                   help="dataset (default: the one the model was trained on)")
    p.add_argument("--data-root", default=None,
                   help="folder of an event dataset, instead of the one recorded")
    p.add_argument("--lava-samples", type=_lava_samples, default=20,
                   help="test samples to run on the Lava simulator (default 20, or 'all')")
    p.add_argument("--report", default="export/compare",
                   help="folder for report.json, report.md and PNG plots "
                        "(default export/compare)")
    args = p.parse_args(argv)

    from .compare import compare, format_table
    from .modelfile import load_model
    from .pipeline import dataset_for
    from .report import write_report

    net, record = load_model(args.model)
    if not Path(args.net).is_file():
        raise UserError(f"{args.net}: no such netx file")
    meta = record["dataset"]
    name = args.dataset or meta["name"]
    data = dataset_for(name, meta.get("encoding") if name == meta["name"] else None,
                       args.data_root)
    k = len(data.x_test) if args.lava_samples is None else args.lava_samples
    result = compare(net, args.net, data, k)
    print(format_table(result))
    files = write_report(result, Path(args.report))
    log.info("wrote %s", ", ".join(str(f) for f in files))
    if result.lava_mismatches:
        print("rouser-compare: error: the emulator and Lava disagree (a bug; see the "
              "first divergence above)", file=sys.stderr)
        return 3
    return 0


@_entry("rouser-data")
def data_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-data",
        description="Inspect datasets. 'info' checks an event dataset folder against the "
                    "authors' release layout (naming exactly what is missing) and prints "
                    "samples per split and class, event statistics and the binned shape.")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a dataset folder")
    _add_data_options(info)
    info.add_argument("--limit", type=_positive_int, default=None,
                      help="read only the first N files of each split")
    args = p.parse_args(argv)

    from .datasets import ON_DISK, load_dataset
    from .event_data import describe, make_spec

    name = args.dataset or "digits"
    if name not in ON_DISK:
        data = load_dataset(name, **data_options(args))
        print(f"{name}: built in; {len(data.x_train)} train / {len(data.x_test)} test "
              f"samples, {data.num_classes} classes, sample shape "
              f"{(*data.input_shape, data.time_steps)}")
        for split, y in (("train", data.y_train), ("test", data.y_test)):
            counts = np.bincount(y, minlength=data.num_classes)
            print(f"{split} per class: " + " ".join(f"{c}:{n}" for c, n in enumerate(counts)))
        return 0
    spec = make_spec(name, args.time_steps, args.bin_ms, args.polarity, args.downsample)
    if args.data_root is None:
        raise UserError(f"dataset '{name}' is read from disk: give --data-root DIR")
    text, bad = describe(name, args.data_root, spec, args.limit)
    print(text)
    if bad:
        raise UserError(f"{args.data_root}: {len(bad)} unreadable file(s); first: {bad[0]}")
    return 0


def _thresholds(text: str) -> list[float]:
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected values like 0.25,0.5,1, got {text}") \
            from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive thresholds, got {text}")
    return values


@_entry("rouser-experiment")
def experiment_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-experiment",
        description="The Rouser paper's experiments. compare: learned vs fixed thresholds "
                    "over seeds (accuracy, epochs to a target accuracy, dead neurons, spike "
                    "rates, weight change, threshold histograms). grid: fixed thresholds "
                    "at each value and learned thresholds started from each (Fig. 2).")
    sub = p.add_subparsers(dest="command", required=True)
    for name in ("compare", "grid"):
        q = sub.add_parser(name, help=p.description.split(". ")[1 if name == "compare" else 2])
        _add_train_options(q)
        q.add_argument("--seeds", type=_positive_int, default=3 if name == "compare" else 1,
                       help="seeds per mode (default %(default)s)")
        q.add_argument("--report", default=f"export/experiment-{name}",
                       help="report folder (default %(default)s); runs go to REPORT/runs")
        q.add_argument("--deploy", action="store_true",
                       help="export each run's best model and add the emulator's accuracy "
                            "and spike counts to the report")
        q.add_argument("--jobs", type=_positive_int, default=1,
                       help="runs trained at once, in separate processes sharing the cores "
                            "(default 1; on a 2-core CPU --jobs 2 nearly halves the time)")
        if name == "compare":
            q.add_argument("--target-frac", type=_positive_float, default=0.95,
                           help="target accuracy as a fraction of the best final accuracy "
                                "(default 0.95)")
        else:
            q.add_argument("--thresholds", type=_thresholds, required=True,
                           help="comma-separated thresholds, e.g. 0.25,0.5,0.75,1,1.25")
    args = p.parse_args(argv)

    from .experiment import compare_modes, threshold_grid
    from .experiment_report import write_experiment_report
    from .trainrun import settings

    opt = settings(argparse.Namespace(**{**vars(args), "thresholds": None}))
    report = Path(args.report)
    if args.command == "compare":
        result = compare_modes(opt, args.preset, args.seeds, report, args.target_frac,
                               args.deploy, args.jobs)
    else:
        result = threshold_grid(opt, args.preset, args.thresholds, args.seeds, report,
                                args.deploy, args.jobs)
    files = write_experiment_report(result, report)
    print((report / "report.md").read_text())
    log.info("wrote %s", ", ".join(str(f) for f in files))
    return 0

"""What every command shares: the one-line error boundary, value parsers, and the data
and training options.

User mistakes (bad files, bad values) print one line ``<prog>: error: ...`` and exit
with status 1; no traceback.
"""

from __future__ import annotations

import argparse
import functools
import logging
import sys

from ..errors import UserError


def entry(prog: str):
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


def positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def hidden_sizes(text: str) -> tuple[int, ...]:
    try:
        sizes = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes like 128 or 256,128, got {text}") \
            from None
    if not sizes or min(sizes) <= 0:
        raise argparse.ArgumentTypeError(f"expected positive layer sizes, got {text}")
    return sizes


def add_data_options(p: argparse.ArgumentParser) -> None:
    """Options that choose and bin a dataset (``None`` = the dataset's default)."""
    from ..data.registry import LOADERS

    g = p.add_argument_group("data")
    g.add_argument("--dataset", choices=tuple(LOADERS), default=None,
                   help="digits (built in, default), yinyang (generated), or from the "
                        "authors' files under --data-root: nmnist, dvs128, shd")
    g.add_argument("--data-root", default=None,
                   help="folder holding the dataset as released (see rouser-data info)")
    g.add_argument("--time-steps", type=positive_int, default=None,
                   help="time steps (bins) per sample (dataset default if omitted)")
    g.add_argument("--bin-ms", type=positive_float, default=None,
                   help="event datasets: bin width in ms (N-MNIST default 1)")
    g.add_argument("--polarity", choices=("split", "merge"), default=None,
                   help="event cameras: polarities as 2 channels (split, default) or 1")
    g.add_argument("--downsample", type=positive_int, default=None,
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
    from ..data.registry import DATA_OPTIONS

    return {k: getattr(args, k) for k in DATA_OPTIONS if getattr(args, k) is not None}


def add_train_options(p: argparse.ArgumentParser) -> None:
    """Preset, data and hyperparameter options (``None`` = preset or built-in default)."""
    from ..training.presets import PRESETS

    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help="nmnist (34x34x2-500-500-10), dvs128 (128x128x2-64-11), "
                        "shd (700-200-200-20), yinyang (5-120-3), digits (64-128-10)")
    add_data_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int, default=None, help="default 10")
    g.add_argument("--threshold-init", type=positive_float, default=None,
                   help="initial threshold of every neuron (default 1.25)")
    g.add_argument("--hidden", type=hidden_sizes, default=None,
                   help="hidden layer sizes, comma-separated (default 128)")
    g.add_argument("--lr", type=positive_float, default=None,
                   help="Adam learning rate of the weights (default 1e-3)")
    g.add_argument("--lr-threshold", type=float, default=None,
                   help="Adam learning rate of the thresholds (default 1e-3)")
    g.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                   help="constant (default) or cosine: both learning rates fall along half "
                        "a cosine to 1%% of their value in the last epoch")
    g.add_argument("--batch-size", type=positive_int, default=None, help="default 32")
    g.add_argument("--seed", type=int, default=None, help="default 0")

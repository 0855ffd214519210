"""What every command shares: the one-line error boundary, value parsers, and the data
and training options.

User mistakes (bad files, bad values) print one line ``<prog>: error: ...`` and exit
with status 1; no traceback. The library's errors name Python parameters (``lr``); the
line names their flags (``--lr``).
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import os
import signal
import sys
from typing import TYPE_CHECKING

from ..errors import UserError, name_parameters_as
from ..provenance import record_command

if TYPE_CHECKING:
    from ..training.settings import TrainSettings

# where a flag is not --param-name
FLAGS = {"input_npy": "--input", "json_out": "--json", "record_state": "--dump-state",
         "keep_spikes": "--dump-spikes", "init_dataset": "--dataset"}


def flag(param: str) -> str:
    """The command-line flag of an API parameter: ``batch_size`` -> ``--batch-size``."""
    return FLAGS.get(param, "--" + param.replace("_", "-"))


class _Levels(logging.Formatter):
    """The message alone; a warning or error starts with its level (``warning: ...``)."""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return f"{record.levelname.lower()}: {text}" if record.levelno >= logging.WARNING \
            else text


def _line(text: str) -> None:
    """``text`` and its newline in one write: the ranks of a data-parallel run share
    stderr, and ``print`` writes the two apart, so their lines could run together."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def entry(prog: str):
    """Wrap a main function: configure logging (warnings prefixed with their level),
    name parameters as flags in messages (:func:`flag`), turn UserError into a one-line
    exit."""
    def wrap(main):
        @functools.wraps(main)
        def run(argv: list[str] | None = None) -> int:
            handler = logging.StreamHandler()
            handler.setFormatter(_Levels("%(message)s"))
            logging.basicConfig(level=logging.INFO, handlers=[handler])
            record_command([prog, *argv] if argv is not None else sys.argv)
            try:
                with name_parameters_as(flag):
                    return main(argv) or 0
            except UserError as err:
                _line(f"{prog}: error: {err}")
                return 1
            except KeyboardInterrupt:
                _line(f"{prog}: interrupted")
                return 130
            finally:
                # A console script's interpreter now shuts down (torch and Lava take up
                # to a second); the command has finished and its output is complete or
                # absent, so a Ctrl-C then leaves its exit status as it is instead of
                # killing it by the signal (status -2). Python keeps SIG_IGN to the end.
                if argv is None:
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
        return run
    return wrap


def _parse(text: str, kind: type, what: str):
    try:
        value = kind(text)
    except (ValueError, OverflowError):
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'") from None
    if kind is float and not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected {what}, got '{text}'")
    return value


def positive_int(text: str) -> int:
    """An integer > 0."""
    value = _parse(text, int, "a positive integer")
    if value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def lava_samples_value(text: str) -> int | None:
    """``--lava-samples``: a positive integer, or ``all`` (None)."""
    return None if text == "all" else positive_int(text)


def non_negative_int(text: str) -> int:
    """An integer >= 0."""
    value = _parse(text, int, "an integer >= 0")
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {text}")
    return value


def int_list(text: str, check, what: str) -> tuple[int, ...]:
    """Comma-separated integers that pass ``check`` (else an argparse error naming
    ``what``)."""
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        values = ()
    if not values or not check(values):
        raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
    return values


def input_shape_value(text: str) -> tuple[int, ...]:
    """``C`` or ``C,H,W``: positive integers (one sample's shape, torch order)."""
    return int_list(text, lambda v: len(v) in (1, 3) and min(v) > 0, "C or C,H,W")


def positive_float(text: str) -> float:
    """A finite number > 0."""
    value = _parse(text, float, "a positive number")
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def bounded_float(low: float, high: float, what: str, low_open: bool = True):
    """A parser of finite numbers in ``(low, high]`` (``[low, high]`` if not
    ``low_open``), named ``what`` in its errors."""
    def parse(text: str) -> float:
        value = _parse(text, float, what)
        if not (low < value if low_open else low <= value) or value > high:
            side = "(" if low_open else "["
            raise argparse.ArgumentTypeError(f"expected {what} in {side}{low:g}, {high:g}], "
                                             f"got {text}")
        return value
    return parse


learning_rate = bounded_float(0.0, 1.0, "a learning rate")  # Adam diverges above ~1


def threshold_value(text: str) -> float:
    """A threshold Loihi can hold: ``vThMant = threshold * 64`` in ``1 .. 2**17 - 1``."""
    from ..loihi import TH_MANT_MAX, TH_SCALE

    return bounded_float(1 / TH_SCALE, TH_MANT_MAX / TH_SCALE, "a threshold",
                         low_open=False)(text)

fraction = bounded_float(0.0, 1.0, "a fraction")
decay_fraction = bounded_float(0.0, 1.0, "a decay", low_open=False)


def seed_value(text: str) -> int:
    """A seed in ``0 .. 2**32 - 1`` (numpy's and torch's common range)."""
    value = _parse(text, int, "a seed (an integer)")
    if not 0 <= value < 1 << 32:
        raise argparse.ArgumentTypeError(f"expected a seed in 0..{(1 << 32) - 1}, got {text}")
    return value


def comma_list(parse_one, example: str):
    """A parser of comma-separated values, each read by ``parse_one`` (an argparse
    type), at least one, none empty (``128,,64`` is refused); ``example`` shows the
    form in errors."""
    def parse(text: str) -> tuple:
        parts = [part.strip() for part in text.split(",")]
        if not all(parts):
            raise argparse.ArgumentTypeError(f"expected values like {example}, got '{text}' "
                                             f"(an empty value)")
        return tuple(parse_one(part) for part in parts)
    return parse


def bounded_int(low: int, high: int, what: str):
    """A parser of integers in ``low .. high``, named ``what`` in its errors."""
    def parse(text: str) -> int:
        value = _parse(text, int, what)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"expected {what} in {low}..{high}, got {text}")
        return value
    return parse


def cores() -> int:
    """CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        os.cpu_count() or 1


def workers_value(text: str) -> int:
    """Worker processes: ``1`` up to the cores this process may use (more only share
    them and multiply the memory)."""
    return bounded_int(1, cores(), "a number of worker processes (up to the cores)")(text)


# a run of Lava or a board: at least a second (a start-up takes longer), at most a week
timeout_value = bounded_float(1.0, 7 * 86400.0, "a timeout in seconds", low_open=False)
STEPS_MAX = 1 << 24  # time steps: netx's tSample bound (netx/check.py)
reset_interval_value = bounded_int(2, STEPS_MAX, "a reset interval (steps)")
reset_offset_value = bounded_int(0, STEPS_MAX - 1, "a reset offset (steps)")


hidden_sizes = comma_list(positive_int, "128 or 256,128")
threshold_list = comma_list(threshold_value, "0.25,0.5,1")


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
    from ..training.presets import CORES, PRESETS, architecture

    def shown(name: str) -> str:
        cores = f"; {CORES[name]} Loihi 2 cores" if name in CORES else ""
        return f"{name} ({architecture(name)}{cores})"

    p.add_argument("--preset", choices=tuple(PRESETS), default=None,
                   help=", ".join(shown(name) for name in PRESETS))
    add_data_options(p)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=positive_int, default=None, help="default 10")
    g.add_argument("--threshold-init", type=threshold_value, default=None,
                   help="initial threshold of every neuron, 1/64 .. 2048 (Loihi's 17-bit "
                        "vThMant; default 1.25)")
    g.add_argument("--hidden", type=hidden_sizes, default=None,
                   help="hidden layer sizes of a dense net, comma-separated (default 128)")
    g.add_argument("--arch", default=None, metavar="SPEC",
                   help="the layers, '-'-separated: c<C>[k<K>][s<S>][p<P>][g<G>] conv "
                        "(kernel K default 3, stride, padding, groups), p<K> sum pool KxK "
                        "(stride K), f flatten, d<N> dense, r<N> recurrent; a trailing b "
                        "on c, d, r adds a learnable bias; the last layer has one neuron "
                        "per class; e.g. "
                        "c16k5s2-p2-c32k3-p2-f-d128-d11 or r256-d20 (replaces --hidden)")
    g.add_argument("--lr", type=learning_rate, default=None,
                   help="Adam learning rate of the weights, in (0, 1] (default 1e-3)")
    g.add_argument("--lr-threshold", type=learning_rate, default=None,
                   help="Adam learning rate of the thresholds, in (0, 1] (default 1e-3)")
    g.add_argument("--lr-schedule", choices=("constant", "cosine"), default=None,
                   help="constant (default) or cosine: both learning rates fall along half "
                        "a cosine to 1%% of their value in the last epoch")
    g.add_argument("--batch-size", type=positive_int, default=None, help="default 32")
    add_surrogate_options(p)
    g.add_argument("--seed", type=seed_value, default=None, help="0 .. 2**32-1 (default 0)")


SURROGATE_HELP = (
    "The cuba neuron's surrogate gradient, in one of two conventions per run. The paper's: "
    "dS/dV = (s/tau) exp(-|V - Th|/tau), V and Th in weight units. lava-dl's: "
    "tau = 100 * tau_grad * threshold_init and s = 0.1 * scale_grad / 2 (slayer/neuron/"
    "cuba.py, TAU_RHO_MULT and SCALE_RHO_MULT). lava-dl's NMNIST values (threshold 1.25, "
    "tau_grad 0.03, scale_grad 3, the default) are tau 3.75, s 0.15; the paper's Table II "
    "(tau 3.75, s 1.5) is tau_grad 0.03, scale_grad 30; its Fig. 6 (Th 0.25, tau 3, s 3) "
    "is tau_grad 0.12, scale_grad 60. With Adam a constant factor on s scales every "
    "gradient of a parameter alike and barely changes training; tau changes its shape.")


def add_surrogate_options(p: argparse.ArgumentParser) -> None:
    """``--surrogate-tau/--surrogate-scale`` (the paper's) and ``--tau-grad/--scale-grad``
    (lava-dl's); ``None`` = not given."""
    g = p.add_argument_group("surrogate gradient", SURROGATE_HELP)
    g.add_argument("--surrogate-tau", type=positive_float, default=None, metavar="TAU",
                   help="the paper's tau: width, in voltage units (default: lava-dl's)")
    g.add_argument("--surrogate-scale", type=positive_float, default=None, metavar="S",
                   help="the paper's s: dS/dV peaks at s/tau (default: lava-dl's)")
    g.add_argument("--tau-grad", type=positive_float, default=None,
                   help="lava-dl's tau_grad: tau = 100 * tau_grad * threshold_init "
                        "(default 0.03)")
    g.add_argument("--scale-grad", type=positive_float, default=None,
                   help="lava-dl's scale_grad: s = 0.05 * scale_grad (default 3)")


def train_settings(args: argparse.Namespace, **override) -> TrainSettings:
    """The run settings that the options of ``add_train_options`` and rouser-train give,
    each setting the option of its name, with ``override`` (``None``: not given):
    command line over preset over built-in defaults."""
    from dataclasses import fields

    from ..training.presets import resolve
    from ..training.settings import TrainSettings

    given = {f.name: getattr(args, f.name, None) for f in fields(TrainSettings)}
    return resolve(args.preset, {**given, **override})

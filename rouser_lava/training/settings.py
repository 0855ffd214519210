"""``TrainSettings``: every setting of one training run, validated once.

The command line (with a preset, see :func:`rouser_lava.training.presets.resolve`), a
Python caller and a checkpoint (:meth:`TrainSettings.from_dict`) all give one of these
to :func:`rouser_lava.training.trainrun.train_run`; nothing past it re-checks a value
or supplies a default. Errors are UserErrors naming the parameter
(:func:`rouser_lava.errors.param`: ```lr``` from Python, ``--lr`` from the CLI).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from ..data.registry import DATA_OPTIONS, LOADERS
from ..errors import UserError, param
from ..model.archspec import check_arch_syntax
from ..model.neuron import FOLD_EXACT, NEURONS, READOUTS, TH_MANT_MAX, TH_SCALE, NeuronConfig
from .loop import LR_SCHEDULES, TrainConfig

THRESHOLDS = ("learned", "fixed")  # per-neuron thresholds trained (Rouser), or stock fixed
DEPLOYS = ("vector", "fold-exact")  # the deployed form the forward pass is bit-exact with
SURROGATE = ("tau_grad", "scale_grad", "surrogate_tau", "surrogate_scale")  # neuron's
SEED_END = 1 << 32  # seeds lie in 0 .. 2**32 - 1 (numpy's and torch's common range)


@dataclass(frozen=True)
class TrainSettings:
    """One run of ``rouser-train``: the data, the network, the optimiser and the files
    to start from. Defaults are :class:`TrainConfig`'s and :class:`NeuronConfig`'s.

    With ``init``, the network (architecture, neuron settings, weights) and the data
    encoding are the model file's: ``hidden``, ``arch``, ``threshold_init``, ``thresholds``,
    ``neuron``, ``readout``, the decays and ``dataset`` are unused. Raises UserError
    naming the parameter for any value out of range.
    """

    dataset: str = "digits"  # data.registry.LOADERS name
    epochs: int = TrainConfig.epochs  # passes over the training set (in all, when resumed)
    batch_size: int = TrainConfig.batch_size  # global batch: samples per optimiser step
    lr: float = TrainConfig.lr  # Adam learning rate of the weights, in (0, 1]
    lr_threshold: float = TrainConfig.lr_threshold  # of the thresholds, in (0, 1]
    lr_schedule: str = TrainConfig.lr_schedule  # "constant" or "cosine" (loop.lr_factor)
    seed: int = TrainConfig.seed  # initial weights and data order, 0 .. 2**32 - 1
    hidden: tuple[int, ...] = TrainConfig.hidden  # hidden layer sizes of a new dense net
    arch: str | None = None  # a new net's layers (model/archspec.py); None: dense, hidden
    threshold_init: float = NeuronConfig.threshold  # initial threshold, 1/64 .. 2048
    thresholds: str = "learned"  # "learned" (Rouser) or "fixed" (stock slayer CUBA)
    deploy: str = "vector"  # "vector", or "fold-exact": the forward pass is the fold export
    neuron: str = NeuronConfig.neuron  # "cuba" or "single-spike", every layer
    readout: str | None = None  # "spikes" or "membrane"; None: membrane for single-spike
    current_decay: float = NeuronConfig.current_decay  # fraction of u lost per step, 0..1
    voltage_decay: float = NeuronConfig.voltage_decay  # fraction of v lost per step, 0..1
    # the cuba neuron's surrogate, one convention per run (model/neuron.py maps them):
    tau_grad: float | None = None  # lava-dl's width, x 100 x threshold_init; None: 0.03
    scale_grad: float | None = None  # lava-dl's height, x 0.05 is the paper's s; None: 3
    surrogate_tau: float | None = None  # the paper's tau: dS/dV = (s/tau) exp(-|V-Th|/tau)
    surrogate_scale: float | None = None  # the paper's s
    true_rate: float = TrainConfig.true_rate  # spike-rate loss: the labelled output's rate
    false_rate: float = TrainConfig.false_rate  # spike-rate loss: the other outputs' rate
    init: str | None = None  # a model.pt to fine-tune, instead of a new dense net
    init_dataset: str | None = None  # with init: the data of a model that records none
    # data options (data.registry.DATA_OPTIONS; None: the dataset's default)
    data_root: str | None = None  # folder holding an on-disk dataset as released
    time_steps: int | None = None  # bins per sample
    bin_ms: float | None = None  # event datasets: bin width in ms
    polarity: str | None = None  # event cameras: "split" (2 channels) or "merge"
    downsample: int | None = None  # DVS128: x and y divided by this
    encoding: str | None = None  # yinyang: "latency" or "rate"
    cache_dir: str | None = None  # where binned event datasets are cached
    skip_bad: bool | None = None  # leave out samples whose files cannot be read

    def __post_init__(self):
        hidden: object = self.hidden
        if isinstance(hidden, list):  # as a checkpoint holds it
            object.__setattr__(self, "hidden", tuple(hidden))
        if self.readout is None:  # the paper's readout for single-spike networks
            object.__setattr__(self, "readout",
                               "membrane" if self.neuron == "single-spike" else "spikes")
        _choice("dataset", self.dataset, tuple(LOADERS))
        for name in ("epochs", "batch_size"):
            _whole(name, getattr(self, name), 1)
        for name in ("lr", "lr_threshold"):
            _number(name, getattr(self, name), 0.0, 1.0, "in (0, 1]", low_open=True)
        _choice("lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _whole("seed", self.seed, 0, SEED_END - 1)
        if not (isinstance(self.hidden, tuple) and self.hidden
                and all(_is_int(h) and h >= 1 for h in self.hidden)):
            raise UserError(f"{param('hidden')} must be one or more sizes >= 1, got "
                            f"{self.hidden!r}")
        _number("threshold_init", self.threshold_init, 1 / TH_SCALE, TH_MANT_MAX / TH_SCALE,
                f"in [1/{TH_SCALE}, {TH_MANT_MAX}/{TH_SCALE}] (Loihi's 17-bit vThMant)")
        _choice("thresholds", self.thresholds, THRESHOLDS)
        _choice("deploy", self.deploy, DEPLOYS)
        _choice("neuron", self.neuron, NEURONS)
        _choice("readout", self.readout, READOUTS)
        for name in ("current_decay", "voltage_decay", "true_rate", "false_rate"):
            _number(name, getattr(self, name), 0.0, 1.0, "in [0, 1]")
        for name in ("time_steps", "downsample"):
            if getattr(self, name) is not None:
                _whole(name, getattr(self, name), 1)
        self._check_surrogate()
        if self.bin_ms is not None:
            _number("bin_ms", self.bin_ms, 0.0, math.inf, "> 0", low_open=True)
        if self.init is None:  # else the model file's neuron, checked when it is read
            check_fold_exact(self.deploy, self.neuron, self.resolved_readout)
            if self.arch is not None:
                check_arch_syntax(self.arch, self.neuron, self.resolved_readout)

    def _check_surrogate(self) -> None:
        """UserError for a surrogate value <= 0, for both conventions in one run, or for
        a surrogate setting with the single-spike neuron (which has its own)."""
        lava = ("tau_grad", "scale_grad")
        paper = ("surrogate_tau", "surrogate_scale")
        given = [n for n in lava + paper if getattr(self, n) is not None]
        for name in given:
            _number(name, getattr(self, name), 0.0, math.inf, "> 0", low_open=True)
        if any(n in lava for n in given) and any(n in paper for n in given):
            raise UserError(f"give the surrogate either as {param('tau_grad')}/"
                            f"{param('scale_grad')} (lava-dl) or as {param('surrogate_tau')}/"
                            f"{param('surrogate_scale')} (the paper's), not both")
        if given and self.neuron != "cuba":
            raise UserError(f"{param(given[0])} applies to {param('neuron')} cuba only "
                            f"(single-spike has its own surrogate)")

    @property
    def resolved_readout(self) -> str:
        """``readout``, which ``__post_init__`` has set when it was None."""
        assert self.readout is not None
        return self.readout

    @property
    def fold_exact(self) -> bool:
        """True when the forward pass is the fold export (``deploy='fold-exact'``)."""
        return self.deploy == "fold-exact"

    @property
    def data_options(self) -> dict:
        """The dataset loader's keyword arguments that are set."""
        return {k: getattr(self, k) for k in DATA_OPTIONS if getattr(self, k) is not None}

    def train_config(self) -> TrainConfig:
        """The training loop's settings."""
        return TrainConfig(epochs=self.epochs, batch_size=self.batch_size, lr=self.lr,
                           lr_threshold=self.lr_threshold, true_rate=self.true_rate,
                           false_rate=self.false_rate, seed=self.seed,
                           lr_schedule=self.lr_schedule, hidden=self.hidden)

    def neuron_config(self) -> NeuronConfig:
        """The neuron settings of a new network."""
        return NeuronConfig(threshold=self.threshold_init, fold_exact=self.fold_exact,
                            learn_threshold=self.thresholds == "learned",
                            neuron=self.neuron, readout=self.resolved_readout,
                            current_decay=self.current_decay,
                            voltage_decay=self.voltage_decay,
                            **{n: getattr(self, n) for n in SURROGATE
                               if getattr(self, n) is not None})

    def to_dict(self) -> dict:
        """Plain data (``hidden`` as a list), as a checkpoint and a model file hold it."""
        return {**asdict(self), "hidden": list(self.hidden)}

    @classmethod
    def from_dict(cls, values: dict) -> TrainSettings:
        """Settings from :meth:`to_dict`'s data, or from the settings of a checkpoint an
        earlier version wrote: keys it lacks (``lr_schedule``, ``neuron``, ``readout``,
        the decays, unset data options) take their defaults."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise UserError(f"unknown training setting(s): {', '.join(unknown)}")
        values = dict(values)
        if isinstance(values.get("deploy"), bool):  # rouser-experiment's --deploy flag,
            values["deploy"] = "vector"  # which earlier versions stored and trained as vector
        return cls(**values)


def check_fold_exact(deploy: str, neuron: str, readout: str) -> None:
    """UserError unless ``deploy`` is vector or the network's ``neuron`` and ``readout``
    are what fold-exact training needs (:data:`rouser_lava.model.neuron.FOLD_EXACT`)."""
    if deploy == "fold-exact" and (neuron, readout) != FOLD_EXACT:
        raise UserError(f"{param('deploy')} fold-exact needs {param('neuron')} "
                        f"{FOLD_EXACT[0]} and {param('readout')} {FOLD_EXACT[1]} (got "
                        f"{neuron}, {readout}): the fold assumes reset to zero")


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole(name: str, value, low: int, high: int | None = None) -> None:
    """UserError unless ``value`` is an integer in ``low .. high``."""
    if not (_is_int(value) and value >= low and (high is None or value <= high)):
        want = f"an integer >= {low}" if high is None else f"an integer in {low}..{high}"
        raise UserError(f"{param(name)} must be {want}, got {value!r}")


def _number(name: str, value, low: float, high: float, want: str,
            low_open: bool = False) -> None:
    """UserError unless ``value`` is a number in ``[low, high]`` (``(low, high]`` if
    ``low_open``); ``want`` says so in the message."""
    ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
          and not math.isnan(value) and (low < value if low_open else low <= value)
          and value <= high)
    if not ok:
        raise UserError(f"{param(name)} must be a number {want}, got {value!r}")


def _choice(name: str, value, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise UserError(f"unknown {param(name)} {value!r} (choose from: "
                        f"{', '.join(choices)})")

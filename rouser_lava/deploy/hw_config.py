"""Targets as data: ``hw_configs/<name>.json`` read into a frozen :class:`HwConfig`.

A config names its ``target`` (``simulator`` or ``loihi2``), how to run on it (``run``)
and the chip's ``limits``. JSON holds no comments, so every number stands beside its
source: ``"neurons_per_core": {"value": 4096, "source": "inferred: ..."}``; the
sources come back in design-rule and resource messages. ``--hw-config`` takes a path
or a bare name of a file in ``hw_configs/`` (``loihi2-oheogulch``).

Every problem with a file is one UserError naming the file and the field.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import NoReturn

from ..errors import UserError

CONFIG_DIR = Path(__file__).resolve().parents[2] / "hw_configs"
TARGETS = ("simulator", "loihi2")
# Chip generations Lava names for Loihi 2 (lava/utils/loihi.py, ChipGeneration): most
# INRC systems are N3B3, some N3C1.
LOIHI2_GENERATIONS = ("N3B2", "N3B3", "N3C1", "N3D1")


@dataclass(frozen=True)
class ChipLimits:
    """Per-target limits, plain values. Value ranges hold on every target; the
    per-core resources are ``None`` on the simulator (no core limit)."""

    weight_bits: int  # weight mantissa bits; mixed signs hold -2**bits .. 2**bits - 2
    threshold_bits: int  # unsigned vThMant bits
    decay_bits: int  # du, dv in 0 .. 2**bits
    state_bits: int  # signed u, v
    bias_bits: int  # signed bias mantissa
    delay_max: int  # synaptic delay, steps
    per_neuron_threshold: bool  # a vThMant vector per population
    reset_interval_power_of_2: bool  # netx reset_interval must be 2**k
    cores_per_chip: int | None = None  # neurocores Lava's mapper counts
    neurons_per_core: int | None = None
    synmem_per_core: int | None = None  # SynMem units
    # calibration constants of the core model (deploy/resource_map.py):
    dense_synapses_per_unit: int | None = None  # one axon's row: ceil(n / this) units
    dense_neuron_units: float | None = None  # SynMem units per dense neuron on a core
    conv_neurons_per_core: int | None = None  # neurons of one conv tile (x * y * c)
    conv_synapses_per_unit: float | None = None  # units per kernel entry: c / this ...
    conv_units_per_row: float | None = None  # ... + this, per C_in/groups * kH * kW
    axons_per_core: int | None = None  # input axons
    axon_map_per_core: int | None = None
    neuron_groups_per_core: int | None = None
    embedded_cores_per_chip: int | None = None

    @property
    def weight_range(self) -> tuple[int, int]:
        """Integer weights netx's ``optimize_weight_bits`` keeps intact (-256..254)."""
        return -(1 << self.weight_bits), (1 << self.weight_bits) - 2

    @property
    def threshold_max(self) -> int:
        return (1 << self.threshold_bits) - 1

    @property
    def decay_max(self) -> int:
        return 1 << self.decay_bits

    @property
    def state_max(self) -> int:
        return (1 << (self.state_bits - 1)) - 1

    @property
    def bias_range(self) -> tuple[int, int]:
        return -(1 << (self.bias_bits - 1)), (1 << (self.bias_bits - 1)) - 1


_BOOLS = ("per_neuron_threshold", "reset_interval_power_of_2")
_REAL = ("dense_neuron_units", "conv_synapses_per_unit", "conv_units_per_row")
_LOIHI_ONLY = tuple(f.name for f in fields(ChipLimits) if f.default is None)

# Every number's range, unit and why: the value ranges can be narrower than Loihi 2's
# (a smaller target) but not wider, as Lava's fixed-point models compute in Loihi's
# widths; the per-core resources and calibration constants within 16x of Loihi 2's.
RANGES: dict[str, tuple[float, float, str]] = {
    "limits.weight_bits": (1, 8, "bits; Lava's Dense holds at most 8-bit mantissas"),
    "limits.threshold_bits": (1, 17, "bits; Loihi's vThMant is 17-bit"),
    "limits.decay_bits": (1, 12, "bits; Loihi's du, dv are 12-bit"),
    "limits.state_bits": (2, 24, "bits, signed; Loihi's u, v are 24-bit"),
    "limits.bias_bits": (2, 13, "bits, signed; Loihi's bias mantissa is 13-bit"),
    "limits.delay_max": (0, 62, "steps; netx clamps delays to 62"),
    "limits.cores_per_chip": (1, 2048, "neurocores; Loihi 2 has 128"),
    "limits.neurons_per_core": (1, 1 << 17, "neurons; Loihi 2 has at most 8192"),
    "limits.synmem_per_core": (1, 1 << 18, "SynMem units; Loihi 2 has 12000"),
    "limits.dense_synapses_per_unit": (1, 64, "synapses per SynMem unit"),
    "limits.dense_neuron_units": (0.01, 1024, "SynMem units per neuron"),
    "limits.conv_neurons_per_core": (1, 1 << 17, "neurons per conv tile"),
    "limits.conv_synapses_per_unit": (0.01, 1024, "channels per SynMem unit"),
    "limits.conv_units_per_row": (0.01, 1024, "SynMem units per kernel row"),
    "limits.axons_per_core": (1, 1 << 18, "input axons"),
    "limits.axon_map_per_core": (1, 1 << 18, "axon map entries"),
    "limits.neuron_groups_per_core": (1, 1024, "neuron groups"),
    "limits.embedded_cores_per_chip": (1, 64, "x86 cores; Loihi 2 has 6"),
    "chips": (1, 1 << 16, "chips; Hala Point has 1152"),
    "run.timeout_s": (1, 7 * 86400, "seconds, at most a week"),
    "run.output_latency_steps": (0, 1024, "steps"),
    "run.flat_input_hop_steps": (0, 1024, "steps"),
    "run.conv_input_hop_steps": (0, 1024, "steps"),
}


class Fact(str):
    """A text setting that stands beside its source (``{"value": "...", "source":
    "..."}``), e.g. which lava-loihi adapter carries an input kind."""


_RUN: dict[str, dict[str, type]] = {
    "simulator": {"run_cfg": str, "select_tag": str},
    "loihi2": {"output_latency_steps": int, "flat_input_adapter": Fact,
               "flat_input_hop_steps": int, "conv_input_adapter": Fact,
               "conv_input_hop_steps": int, "bias_input": Fact, "output_adapter": Fact,
               "state_reader": Fact, "state_read_bits": int, "timeout_s": int}}


@dataclass(frozen=True)
class HwConfig:
    """One target: ``run`` holds plain run settings (simulator: ``run_cfg``,
    ``select_tag``; loihi2: the I/O path per input kind, each adapter with the steps it
    adds (``*_hop_steps``, ``output_latency_steps``), and ``timeout_s``); ``sources``
    maps ``limits.X``, ``run.X`` and ``chips`` to where the value comes from."""

    name: str
    path: str
    target: str  # 'simulator' or 'loihi2'
    run: MappingProxyType
    limits: ChipLimits
    sources: MappingProxyType
    partition: str | None = None  # SLURM partition (loihi2)
    board: str | None = None  # SLURM board, None: any
    loihi_gen: str | None = None  # 'N3B3' or 'N3C1' (LOIHI2_GENERATIONS)
    chips: int | None = None  # chips on the board; None: no limit (simulator)

    def source(self, key: str) -> str:
        """Where ``key`` (``limits.neurons_per_core``, ``chips``, ...) comes from."""
        return self.sources.get(key, "")


def resolve_config_path(name_or_path: str) -> Path:
    """A path as given, or ``hw_configs/<name>.json`` for a bare name (with or without
    ``.json``) that names no file here."""
    path = Path(name_or_path)
    if len(path.parts) > 1 or path.is_file():
        return path
    bundled = CONFIG_DIR / (path.name if path.suffix == ".json" else f"{path.name}.json")
    return bundled if path.suffix != ".json" or bundled.is_file() else path


class _Reader:
    """Reads fields of one config file, naming file and field in errors."""

    def __init__(self, path: Path):
        self.path = path
        self.sources: dict[str, str] = {}  # field -> where its value comes from

    def fail(self, field: str, problem: str) -> NoReturn:
        raise UserError(f"{self.path}: field '{field}': {problem}")

    def number(self, where: dict, key: str, field: str, kind: type, required: bool = True):
        if key not in where:
            if required:
                self.fail(field, "missing")
            return None
        item = where[key]
        shown = "true or false" if kind is bool else \
            "a positive number" if kind is float else "a non-negative integer"
        if not isinstance(item, dict) or set(item) != {"value", "source"} or \
                not isinstance(item["source"], str):
            self.fail(field, f'expected {{"value": <{shown}>, "source": "<where it comes '
                             f'from>"}}')
        value = item["value"]
        ok = isinstance(value, bool) if kind is bool else not isinstance(value, bool) and (
            isinstance(value, (int, float)) and value > 0 if kind is float
            else isinstance(value, int) and value >= 0)
        if not ok:
            self.fail(field, f"value {json.dumps(value)}: expected {shown}")
        if field in RANGES:
            low, high, unit = RANGES[field]
            if not low <= value <= high:  # NaN too
                self.fail(field, f"value {json.dumps(value)}: expected {low:g} .. {high:g} "
                                 f"({unit})")
        self.sources[field] = item["source"]
        return value

    def fact(self, where: dict, key: str, field: str) -> Fact:
        item = where.get(key)
        if not isinstance(item, dict) or set(item) != {"value", "source"} or \
                not isinstance(item["source"], str) or not isinstance(item["value"], str) \
                or not item["value"]:
            self.fail(field, 'expected {"value": "<text>", "source": "<where it comes '
                             'from>"}')
        self.sources[field] = item["source"]
        return Fact(item["value"])

    def text(self, where: dict, key: str, field: str, nullable: bool = False):
        value = where.get(key)
        if not (isinstance(value, str) and value or nullable and value is None):
            self.fail(field, f"expected a string{' or null' if nullable else ''}, got "
                             f"{json.dumps(value)}")
        return value


def load_hw_config(name_or_path: str) -> HwConfig:
    """Read and check a hardware config (a path, or a bare name in ``hw_configs/``)."""
    path = resolve_config_path(name_or_path)
    if not path.is_file():
        bundled = ", ".join(sorted(p.stem for p in CONFIG_DIR.glob("*.json")))
        raise UserError(f"{path}: no such hardware config (bundled: {bundled})")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise UserError(f"{path}: not a readable JSON hardware config ({err})") from None
    r = _Reader(path)
    if not isinstance(data, dict):
        r.fail("(top level)", "expected a JSON object")
    target = data.get("target")
    if target not in TARGETS:
        r.fail("target", f"{json.dumps(target)}: expected one of {', '.join(TARGETS)}")
    loihi = target == "loihi2"
    for section in ("run", "limits"):
        if not isinstance(data.get(section), dict):
            r.fail(section, "missing or not an object")
    run = {}
    for key, kind in _RUN[target].items():
        field = f"run.{key}"
        run[key] = r.number(data["run"], key, field, kind) if kind is int else \
            r.fact(data["run"], key, field) if kind is Fact else r.text(data["run"], key, field)
    limits = {}
    for f in fields(ChipLimits):
        kind = bool if f.name in _BOOLS else float if f.name in _REAL else int
        limits[f.name] = r.number(data["limits"], f.name, f"limits.{f.name}", kind,
                                  required=loihi or f.name not in _LOIHI_ONLY)
    for section, known in (("limits", limits), ("run", run)):
        unknown = sorted(set(data[section]) - set(known))
        if unknown:
            r.fail(f"{section}.{unknown[0]}", f"unknown (known: {', '.join(known)})")
    extra = {}
    if loihi:
        extra = {"partition": r.text(data, "partition", "partition"),
                 "board": r.text(data, "board", "board", nullable=True),
                 "loihi_gen": r.text(data, "loihi_gen", "loihi_gen"),
                 "chips": r.number(data, "chips", "chips", int)}
        if extra["loihi_gen"] not in LOIHI2_GENERATIONS:
            r.fail("loihi_gen", f"{json.dumps(extra['loihi_gen'])}: expected one of "
                                f"{', '.join(LOIHI2_GENERATIONS)} (lava.utils.loihi."
                                f"ChipGeneration)")
    return HwConfig(path.stem, str(path), target, MappingProxyType(run),
                    ChipLimits(**limits), MappingProxyType(r.sources), **extra)

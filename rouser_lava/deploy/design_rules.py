"""Design rules: what a netx network must satisfy to run on a target, checked before
anything is written or submitted (the compiler reports a network too big for the chip
only late, "Partitioning could not converge": sgluege/sdnn_loihi2_compiler_test).
Shared by ``rouser-export``, ``rouser-map`` and the board backend; reads a netx file
(through :mod:`rouser_lava.netx.check`) or an in-memory one.

Value rules (they hold on the simulator too), per synaptic layer:

- ``weights``: integers that netx's ``optimize_weight_bits`` packs into an 8-bit
  mantissa with a shared exponent without clipping: ``-256..254`` with mixed signs,
  ``0..255`` excitatory, ``-256..0`` inhibitory;
- ``threshold``: ``vThMant`` an integer in ``0 .. 2**17 - 1``;
- ``decay``: ``iDecay``, ``vDecay`` integers in ``0 .. 4096`` (12-bit, 4096 = none);
- ``bias``: a 13-bit signed mantissa;
- ``delay``: integers in ``0 .. 62``.

Chip rules (targets with a core limit):

- ``threshold``: one ``vThMant`` per population unless the target allows a vector;
- ``axons``: a dense neuron's fan-in must reach one core (``axons_per_core``);
- ``synmem``: at the finest split the cost model allows (one dense neuron, one conv
  output channel per core) a layer's synapses must fit one core's SynMem;
- ``chips``: cores from :mod:`.resource_map` within the board's chips;
- ``reset_interval``: a power of 2.

Warning only: ``state``, 24-bit headroom. One step's synaptic input to a neuron, at
worst ``sum(|w|)`` of its positive (or negative) weights ``<< 6``, beyond signed 24
bits wraps ``u`` (the emulator and Lava's simulator reproduce the wrap).

Every failure is one line naming layer, rule, need and limit, e.g. ``layer 2 (dense):
threshold: vThMant 140000 needs 18 bits, limit 17-bit (0..131071)``; all failures are
raised together as one :class:`DesignRuleError`.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..netx.check import check_open, open_netx
from ..resources import require_memory
from .hw_config import HwConfig
from .resource_map import SYNAPTIC, ResourceMap, map_resources

RULE_BYTES_PER_SYNAPSE = 24  # a layer's weights as float64, and the rules' temporaries


class DesignRuleError(UserError):
    """A network breaks design rules of a target; ``violations`` lists them all."""

    def __init__(self, where: str, hw: HwConfig, violations: list[Violation]):
        self.violations = violations
        lines = "\n".join(f"  {v}" for v in violations)
        super().__init__(f"{where}: {len(violations)} design-rule failure(s) on {hw.name}:"
                         f"\n{lines}")


@dataclass(frozen=True)
class Violation:
    """One broken rule. ``chip``: a rule of the chip only (the file still runs on the
    simulator)."""

    where: str  # 'layer 2 (dense)' or 'network'
    rule: str
    detail: str
    chip: bool = False

    def __str__(self) -> str:
        return f"{self.where}: {self.rule}: {self.detail}"


def _bits(value: int) -> int:
    """Bits of an unsigned integer."""
    return max(int(value), 0).bit_length()


def _weight_rule(w: np.ndarray, bits: int) -> str | None:
    if not np.all(np.isfinite(w)) or not np.all(w == np.round(w)):
        return "non-integer values, limit integers (an 8-bit mantissa)"
    lo, hi = int(w.min()), int(w.max())
    top = 1 << bits
    if lo < 0 < hi:
        if -top <= lo and hi <= top - 2:
            return None
        need = max(_bits(-lo - 1), _bits(hi + 1))
        return (f"range {lo}..{hi} needs {need} bits, limit {bits}-bit mantissa "
                f"({-top}..{top - 2}, mixed signs)")
    if hi <= top - 1 and lo >= -top:
        return None
    span = f"0..{top - 1}" if lo >= 0 else f"{-top}..0"
    return (f"range {lo}..{hi} needs {_bits(max(hi, -lo - 1))} bits, limit {bits}-bit "
            f"mantissa ({span}, one sign)")


def _state_rule(w: np.ndarray, hw: HwConfig) -> str | None:
    rows = w.reshape(len(w), -1)
    worst = 64 * max(float(np.clip(rows, 0, None).sum(1).max()),
                     -float(np.clip(rows, None, 0).sum(1).min()))
    limit = hw.limits.state_max
    if worst <= limit:
        return None
    return (f"one step's synaptic input can reach {worst:,.0f} (needs "
            f"{_bits(int(worst)) + 1} bits), limit {hw.limits.state_bits}-bit u "
            f"(+-{limit:,}): u wraps")


def _range(field: str, values: np.ndarray, lo: int, hi: int, limit: str) -> str | None:
    """``field``'s integers within ``lo..hi``, else a line naming the worst value."""
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    bad = values[~np.isfinite(values) | (values != np.round(values)) | (values < lo)
                 | (values > hi)]
    if not bad.size:
        return None
    worst = bad[np.argmax(np.where(np.isfinite(bad), np.abs(bad), np.inf))]
    shown = f"{worst:g}" if worst != np.round(worst) or not np.isfinite(worst) \
        else f"{int(worst)}"
    return f"{field} {shown}{'' if bad.size == 1 else f' ({bad.size} values)'}, limit {limit}"


def _layer_rules(group, name: str, kind: str, hw: HwConfig) -> tuple[list, list]:
    """(failures, warnings) of one synaptic layer's values; ``name`` as
    :meth:`NetxSummary.layer_name` gives it."""
    lim, where = hw.limits, f"{name} ({kind})"
    fails, warns = [], []
    weights = [np.asarray(group[k][()], np.float64) for k in ("weight", "weight_rec")
               if k in group]
    for w in weights:
        problem = _weight_rule(w, lim.weight_bits)
        if problem:
            fails.append(Violation(where, "weights", problem))
    if not fails:
        state = _state_rule(np.hstack([w.reshape(len(w), -1) for w in weights]), hw)
        if state:
            warns.append(Violation(where, "state", state))
    neuron = group["neuron"] if "neuron" in group else {}
    if "vThMant" in neuron:
        vth = np.asarray(neuron["vThMant"][()])
        top = lim.threshold_max
        problem = _range("vThMant", vth, 0, top, f"{lim.threshold_bits}-bit (0..{top})")
        if problem and np.all(np.isfinite(vth)) and vth.max() > top:
            problem = problem.replace(", limit", f" needs {_bits(vth.max())} bits, limit", 1)
        if problem:
            fails.append(Violation(where, "threshold", problem))
        if vth.size > 1 and not lim.per_neuron_threshold:
            fails.append(Violation(where, "threshold", f"per-neuron vThMant ({vth.size} "
                                   f"values), limit one per population on {hw.name}",
                                   chip=True))
    for key in ("iDecay", "vDecay"):
        if key in neuron:
            problem = _range(key, neuron[key][()], 0, lim.decay_max,
                             f"{lim.decay_bits}-bit (0..{lim.decay_max})")
            if problem:
                fails.append(Violation(where, "decay", problem))
    checks = (("bias", group, *lim.bias_range, f"{lim.bias_bits}-bit signed mantissa"),
              ("delay", group, 0, lim.delay_max, f"0..{lim.delay_max} steps"))
    for key, holder, lo, hi, limit in checks:
        if key in holder:
            problem = _range(key, holder[key][()], lo, hi,
                             limit if key == "delay" else f"{limit} ({lo}..{hi})")
            if problem:
                fails.append(Violation(where, key, problem))
    return fails, warns


def _chip_rules(rmap: ResourceMap, hw: HwConfig, reset_interval: int | None) -> list:
    lim, fails = hw.limits, []
    if lim.axons_per_core is not None:
        for la in rmap.layers:
            if la.kind != "conv" and la.fan_in > lim.axons_per_core:
                fails.append(Violation(la.name, "axons", f"fan-in of {la.fan_in:,} input "
                                       f"axons, limit {lim.axons_per_core:,} per core",
                                       chip=True))
    if lim.synmem_per_core is not None:
        for la in rmap.layers:
            if la.syn_units > lim.synmem_per_core:
                fails.append(Violation(la.name, "synmem", f"{la.syn_units:,} SynMem units "
                                       f"on one core at the finest split, limit "
                                       f"{lim.synmem_per_core:,} per core", chip=True))
    if not rmap.fits:
        fails.append(Violation("network", "chips", f"{rmap.cores} cores need {rmap.chips} "
                               f"chips at {rmap.cores_per_chip} per chip, limit "
                               f"{rmap.chips_available} on {hw.name}", chip=True))
    if reset_interval is not None and lim.reset_interval_power_of_2 and \
            (reset_interval < 1 or reset_interval & (reset_interval - 1)):
        fails.append(Violation("network", "reset_interval", f"{reset_interval}, limit a "
                               f"power of 2 on {hw.name}", chip=True))
    return fails


def check_design_rules(source: str | os.PathLike | io.BytesIO, hw: HwConfig,
                       reset_interval: int | None = None, chip_rules_warn: bool = False,
                       name: str | None = None) -> list[Violation]:
    """Check a netx network (a path, or an in-memory file) against ``hw``.

    Parameters
    ----------
    source : path-like or io.BytesIO
        The netx file.
    hw : HwConfig
        The target.
    reset_interval : int, optional
        netx's ``reset_interval`` the network will run with.
    chip_rules_warn : bool
        Return broken chip rules as warnings instead of raising (``rouser-export``:
        the file still runs on the simulator).
    name : str, optional
        How to name the file in errors (default: ``source``).

    Returns
    -------
    list of Violation
        Warnings (``state`` headroom; chip rules with ``chip_rules_warn``).

    Raises
    ------
    DesignRuleError
        Listing every failure.
    """
    import h5py

    where = name or str(source)
    with open_netx(source) as opened:  # named as ``where``, not as a BytesIO object
        summary = check_open(opened, where, values=False)
    largest = max(layer.synapses for layer in summary.layers)  # read one layer at a time
    require_memory(RULE_BYTES_PER_SYNAPSE * largest, f"the design rules on {where} "
                   f"({largest:,} synapses in one layer)", "check a smaller network")
    fails, warns = [], []
    with h5py.File(source, "r") as f:
        for layer in summary.layers:
            if layer.kind in SYNAPTIC:
                more, warn = _layer_rules(f["layer"][str(layer.index)],
                                          summary.layer_name(layer.index), layer.kind, hw)
                fails += more
                warns += warn
    fails += _chip_rules(map_resources(summary, hw), hw, reset_interval)
    if chip_rules_warn:
        warns += [v for v in fails if v.chip]
        fails = [v for v in fails if not v.chip]
    if fails:
        raise DesignRuleError(where, hw, fails)
    return warns

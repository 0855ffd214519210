"""Reading one netx layer group's fields for :mod:`rouser_lava.netx.check`: each value
checked (numbers, integers, ranges, sizes, ASCII strings) and every failure one
UserError naming the file, the layer, the field, the value and what is allowed.

:class:`FileValues` keeps what was read from one open file, so that the checks' two
passes (structure, then values) and the emulator's loader read each dataset once."""

from __future__ import annotations

from typing import NoReturn

import numpy as np

from ..errors import UserError
from ..loihi import (
    BIAS_MAX,
    BIAS_MIN,
    DECAY_MAX,
    NO_SPIKE_VTH,
    TH_MANT_MAX,
    WEIGHT_ABS_MAX,
)
from ..resources import require_memory

NEURON_TYPES = ("CUBA", "LOIHI", "SDNN", "RF", "RF_IZ", "RF_PHASE")


class FileValues:
    """What was looked up and read in one open HDF5 file: ``group[field]`` (None where
    the group holds no such field) and ``group[field][()]``, each done once and kept
    (arrays read-only), for every later pass over the file to take from here."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], object] = {}
        self._read: dict[tuple[str, str], object] = {}

    def item(self, group, field: str):
        """``group[field]``, or None where ``group`` holds no ``field``."""
        key = (group.name, field)
        if key not in self._items:
            self._items[key] = group[field] if field in group else None
        return self._items[key]

    def has_value(self, group, field: str) -> bool:
        """Whether ``group[field]`` was read already."""
        return (group.name, field) in self._read

    def value(self, group, field: str):
        """``group[field][()]`` (the field must exist), read from the file once."""
        key = (group.name, field)
        if key not in self._read:
            value = self.item(group, field)[()]
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
            self._read[key] = value
        return self._read[key]


class LayerReader:
    """Reads and checks the fields of one layer group, naming them in errors; values
    come from ``values`` (read from the file where not yet there)."""

    def __init__(self, path: str, index: int, group, values: FileValues | None = None):
        self.path, self.index, self.group = path, index, group
        self.values = FileValues() if values is None else values
        self.kind = "?"

    def fail(self, field: str, value, problem: str) -> NoReturn:
        shown = np.array2string(np.asarray(value).reshape(-1)[:4], separator=",") \
            if np.ndim(value) else value
        raise UserError(f"{self.path}: layer/{self.index} ({self.kind}): {field} {shown}: "
                        f"{problem}")

    def item(self, field: str):
        """The layer group's ``field`` (a dataset or group), None where absent."""
        return self.values.item(self.group, field)

    def has(self, field: str, group=None) -> bool:
        """Whether the layer group (or ``group``) holds ``field``."""
        return self.values.item(self.group if group is None else group, field) is not None

    def raw(self, field: str, group=None):
        group = self.group if group is None else group
        item = self.values.item(group, field)
        if item is None:
            raise UserError(f"{self.path}: layer/{self.index} ({self.kind}): missing "
                            f"'{field}'")
        if not hasattr(item, "shape"):
            self.fail(field, "(a group)", "expected a dataset")
        return item

    def numbers(self, field: str, group=None, integer: bool = True, lo=None, hi=None,
                sizes: tuple[int, ...] | None = None) -> np.ndarray:
        """A numeric dataset as an array; integers, range and size checked. The size,
        and the memory reading it needs, are checked from the stored shape first, so a
        small compressed dataset that expands beyond memory is refused unread."""
        item = self.raw(field, group)
        if sizes is not None and item.size not in sizes:
            self.fail(field, f"of size {item.size}", f"expected size "
                      f"{' or '.join(str(s) for s in sorted(set(sizes)))}")
        where = self.group if group is None else group
        if not self.values.has_value(where, field):  # to be read from the file: does it fit?
            require_memory(16 * item.size, f"{self.path}: layer/{self.index} ({self.kind}): "
                           f"reading {field} of shape {item.shape}", "is this the right file?")
        try:
            value = np.asarray(self.values.value(where, field))
        except (OSError, TypeError, ValueError) as err:
            self.fail(field, "?", f"unreadable ({err})")
        if value.dtype.kind not in "biuf":
            self.fail(field, value.dtype, "expected numbers")
        if value.dtype.kind == "f":
            if not np.all(np.isfinite(value)):
                self.fail(field, value[~np.isfinite(value)], "must be finite")
            if integer and not np.all(value == np.round(value)):
                self.fail(field, value[value != np.round(value)], "must be integers")
        if lo is not None and value.size and value.min() < lo:
            self.fail(field, value.min(), f"below the allowed range {lo}..{hi}")
        if hi is not None and value.size and value.max() > hi:
            self.fail(field, value.max(), f"above the allowed range {lo}..{hi}")
        return value

    def text(self, field: str, group=None) -> str:
        item = self.raw(field, group)
        if item.size != 1:
            self.fail(field if group is None else f"neuron/{field}", f"of size {item.size}",
                      "expected one ASCII string")
        value = self.values.value(self.group if group is None else group, field)
        value = value.reshape(-1)[0] if isinstance(value, np.ndarray) and value.size else value
        if not isinstance(value, bytes):
            self.fail(field if group is None else f"neuron/{field}", value,
                      "expected an ASCII string")
        return value.decode("ascii", "replace")

    def shape(self) -> tuple[int, ...]:
        if self.raw("shape").size > 3:  # refused unread
            self.fail("shape", f"of size {self.raw('shape').size}", "expected (C,) or (C, H, W)")
        value = self.numbers("shape", lo=1, hi=1 << 24)
        if value.ndim != 1 or len(value) not in (1, 3):
            self.fail("shape", value, "expected (C,) or (C, H, W)")
        return tuple(int(s) for s in value)

    def vector(self, size: int | None = None) -> tuple[int, ...]:
        """A dense or flatten layer's ``shape`` as ``(N,)``: netx reads only its product,
        and lava-dl writes ``(N, 1, 1)`` or ``(1, 1, N)``, so singleton dimensions may
        stand anywhere; ``size``, when known, is the product it must have."""
        expected = "expected (N,), with singleton dimensions in any order ((N, 1, 1), (1, 1, N))"
        if self.raw("shape").size > 3:  # refused unread
            self.fail("shape", f"of size {self.raw('shape').size}", expected)
        value = self.numbers("shape", lo=1, hi=1 << 24)
        if value.ndim != 1 or not 1 <= len(value) <= 3 or np.sum(value > 1) > 1:
            self.fail("shape", value, expected)
        if size is not None and int(np.prod(value)) != size:
            self.fail("shape", value, f"holds {int(np.prod(value))} neurons; expected "
                      f"{size}")
        return (int(np.prod(value)),)

    def weight(self, field: str, rows: int, cols: int | None, values: bool) -> int:
        """The number of columns of ``field`` viewed as ``(rows, cols)``: 2-D or more
        with leading axis ``rows``, or, for one row, the ``(cols,)`` lava-dl writes for a
        one-output dense layer (netx reshapes a 1-D weight to ``(rows, -1)``)."""
        data = self.raw(field)
        dims = tuple(data.shape)
        if len(dims) == 1 and rows == 1:
            dims = (1, *dims)
        if len(dims) < 2 or dims[0] != rows or cols is not None and \
                int(np.prod(dims[1:])) != cols:
            self.fail(field, f"of shape {tuple(data.shape)}",
                      f"expected ({rows}, {'?' if cols is None else cols})"
                      + (f" or ({cols},)" if rows == 1 and cols is not None else ""))
        if values and not np.any(self.numbers(field, lo=-WEIGHT_ABS_MAX, hi=WEIGHT_ABS_MAX)):
            self.fail(field, "all zero", "netx cannot scale an all-zero weight matrix "
                      "(optimize_weight_bits divides by its largest weight)")
        return int(np.prod(dims[1:]))

    def neuron(self, shape: tuple[int, ...], values: bool) -> tuple[int, bool]:
        """The ``neuron`` group (if any) and the layer's ``bias``: returns ``refDelay``
        (0 when absent) and whether the neurons form a membrane readout."""
        channels, size = shape[0], int(np.prod(shape))
        per = (1, channels, size)
        if values and self.has("bias") and self.kind != "input":
            bias = self.numbers("bias", lo=BIAS_MIN, hi=BIAS_MAX, sizes=per)
            if len(shape) == 3 and bias.shape not in ((channels,), tuple(shape[::-1])):
                self.fail("bias", f"of shape {bias.shape}", f"expected ({channels},) or "
                          f"(W, H, C) = {tuple(shape[::-1])}")
        if not self.has("neuron"):
            return 0, False
        group, ref_delay, membrane = self.item("neuron"), 0, False
        kind = self.text("type", group)
        if kind not in NEURON_TYPES:
            self.fail("neuron/type", kind, f"unknown (known: {', '.join(NEURON_TYPES)})")
        lo = 0 if values else None  # ranges: only with values (design rules check theirs)
        if kind in ("CUBA", "LOIHI") or self.has("vThMant", group):
            vth = self.numbers("vThMant", group, lo=lo, sizes=per)
            if values and vth.size and vth.max() > TH_MANT_MAX and \
                    not np.all(vth == NO_SPIKE_VTH):
                self.fail("vThMant", vth.max(), f"above the allowed range "
                          f"0..{TH_MANT_MAX} (or {NO_SPIKE_VTH}, lava-dl's Affine: no spikes)")
        if kind in ("CUBA", "LOIHI"):
            for field in ("iDecay", "vDecay"):
                self.numbers(field, group, lo=lo, hi=DECAY_MAX if values else None,
                             sizes=(1,))
            membrane = bool(np.all((vth == TH_MANT_MAX) | (vth == NO_SPIKE_VTH))) and \
                int(self.numbers("vDecay", group).reshape(-1)[0]) == 0
        if self.has("refDelay", group):
            ref_delay = int(self.numbers("refDelay", group, lo=0, hi=1 << 20,
                                         sizes=(1,)).reshape(-1)[0])
        if self.has("gradedSpike", group):
            self.numbers("gradedSpike", group, lo=lo, hi=1 if values else None, sizes=(1,))
        return ref_delay, membrane

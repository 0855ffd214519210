"""The dataset record a model file and a netx file carry, checked where it is read.

``rouser-train`` stores ``{"name": ..., "encoding": {...}}`` in ``model.pt`` (plus
``train``, the loop's settings) and ``rouser-export`` copies it into the netx file's
``rouser_dataset`` attribute; ``rouser-run``, ``rouser-compare``, ``rouser-export`` and
``rouser-train --init`` rebuild the test data from it. A file from elsewhere or edited
by hand can hold anything there, so every field is checked against the same ranges as
the command-line options and the loaders' arguments before any loader sees it.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from ..errors import UserError

MAX_STEPS = 1 << 24  # time steps per sample: netx's tSample bound (netx/check.py)
SEED_END = 1 << 32


def _whole(low: int, high: int) -> Callable[[object], bool]:
    return lambda v: isinstance(v, int) and not isinstance(v, bool) and low <= v <= high


def _real(low: float, high: float, low_open: bool = False) -> Callable[[object], bool]:
    return lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and \
        math.isfinite(v) and (low < v if low_open else low <= v) and v <= high


def _text(v) -> bool:
    return isinstance(v, str) and bool(v)


# encoding field -> (check, what it must be); the loaders' keyword arguments
ENCODING_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "time_steps": (_whole(1, MAX_STEPS), f"an integer in 1..{MAX_STEPS}"),
    "max_rate": (_real(0.0, 1.0), "a number in [0, 1]"),
    "test_fraction": (_real(0.0, 1.0, low_open=True), "a number in (0, 1]"),
    "seed": (_whole(0, SEED_END - 1), f"an integer in 0..{SEED_END - 1}"),
    "encoding": (lambda v: v in ("latency", "rate"), "latency or rate"),
    "data_root": (_text, "a folder name"),
    "cache_dir": (_text, "a folder name"),
    "bin_ms": (_real(0.0, 1e6, low_open=True), "a number of ms in (0, 1e6]"),
    "polarity": (lambda v: v in ("split", "merge"), "split or merge"),
    "downsample": (_whole(1, 1 << 16), "an integer in 1..65536"),
    "skip_bad": (lambda v: isinstance(v, bool), "true or false"),
}


def check_dataset_record(value, where: str, datasets: tuple[str, ...]) -> dict:
    """A copy of ``value``, a dataset record (``{"name", "encoding", ...}``), or UserError
    starting with ``where`` (the file and the field holding it) naming the field and
    what it must be. ``name`` is None (an imported network) or one of ``datasets``;
    ``encoding`` may be absent (``{}``); other keys (``train``) pass unchecked."""
    if not isinstance(value, dict):
        raise UserError(f"{where}: expected a dataset record {{'name': ..., 'encoding': "
                        f"{{...}}}}, got {type(value).__name__}")
    name = value.get("name")
    if name is not None and name not in datasets:
        raise UserError(f"{where}: dataset name {name!r}: expected one of "
                        f"{', '.join(datasets)} (or none)")
    encoding = value.get("encoding", {})
    if not isinstance(encoding, dict):
        raise UserError(f"{where}: encoding: expected a mapping of loader options, got "
                        f"{type(encoding).__name__}")
    for key, item in encoding.items():
        if key not in ENCODING_FIELDS:
            raise UserError(f"{where}: encoding field {key!r}: unknown (known: "
                            f"{', '.join(ENCODING_FIELDS)})")
        check, want = ENCODING_FIELDS[key]
        if not check(item):
            raise UserError(f"{where}: encoding.{key} {item!r}: expected {want}")
    if name is not None:
        from .registry import loader_options  # the loaders' module imports this one's users

        accepted = loader_options(name)
        for key in encoding:
            if key not in accepted:
                raise UserError(f"{where}: encoding field {key!r}: not an option of dataset "
                                f"'{name}' (its options: {', '.join(accepted)})")
    return dict(value)

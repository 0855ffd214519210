"""Every value of a NIR graph, checked before :mod:`.nir_import` computes with it.

``nir.read`` returns whatever the file holds: a ``dt`` stored as text or as an array, a
NaN weight, a negative time constant, a conv stride of ``"2"``. :func:`check_graph`
checks the graph's metadata and every numeric field of its nodes against what a
framework can have meant; :func:`check_output` checks that the Output node's shape is
the last layer's. Each failure is one UserError naming the node (or ``metadata``), the
field and what is allowed; :func:`~.nir_import.import_nir` adds the file name.

Time constants (``tau``, ``tau_mem``, ``tau_syn``) may be infinite (no leak, as
``rouser-export`` writes a decay of 0), and so may the gains ``r`` and ``w_in`` that go
with them (``tau / dt``); weights and thresholds are bounded like a model file's
(:data:`rouser_lava.model.record.PARAMETER_MAX`).
"""

from __future__ import annotations

import math
from typing import NoReturn

import nir
import numpy as np

from ..errors import UserError
from ..model.record import PARAMETER_MAX

DT_RANGE = (1e-9, 10.0)  # seconds: a nanosecond to ten seconds per step
GEOMETRY_MAX = 1 << 10
# field -> (lowest allowed, highest allowed, whether the lowest is excluded, infinity ok)
FIELDS = {
    "weight": (-PARAMETER_MAX, PARAMETER_MAX, False, False),
    "bias": (-PARAMETER_MAX, PARAMETER_MAX, False, False),
    "v_threshold": (0.0, PARAMETER_MAX, True, False),
    "v_leak": (-PARAMETER_MAX, PARAMETER_MAX, False, False),
    "v_reset": (-PARAMETER_MAX, PARAMETER_MAX, False, False),
    "tau": (0.0, math.inf, True, True),
    "tau_mem": (0.0, math.inf, True, True),
    "tau_syn": (0.0, math.inf, True, True),
    "r": (0.0, math.inf, False, True),
    "w_in": (0.0, math.inf, False, True),
}
GEOMETRY = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1}  # field -> lowest


def _fail(name: str, node, field: str, problem: str) -> NoReturn:
    raise UserError(f"node '{name}' ({type(node).__name__}): {field}: {problem}")


def _numbers(name: str, node, field: str, value) -> np.ndarray:
    try:
        array = np.asarray(value)
    except (TypeError, ValueError):
        _fail(name, node, field, "not an array of numbers")
    if array.dtype.kind not in "biuf":
        _fail(name, node, field, f"expected numbers, got {array.dtype}")
    return array.astype(np.float64)


def _check_field(name: str, node, field: str, value) -> None:
    low, high, low_open, infinite = FIELDS[field]
    array = _numbers(name, node, field, value)
    if np.isnan(array).any() or not infinite and np.isinf(array).any():
        _fail(name, node, field, f"must be {'not NaN' if infinite else 'finite'}")
    if not array.size:
        return
    bad = array.min() if (array.min() <= low if low_open else array.min() < low) else \
        array.max() if array.max() > high else None
    if bad is not None:
        _fail(name, node, field, f"{bad:.4g}: expected a value in {'(' if low_open else '['}"
              f"{_shown(low)}, {_shown(high)}]")


def _shown(bound: float) -> str:
    return f"{bound:.0f}" if math.isfinite(bound) and bound == int(bound) else f"{bound:g}"


def _check_geometry(name: str, node) -> None:
    for field, low in GEOMETRY.items():
        value = getattr(node, field, None)
        if value is None or field == "padding" and isinstance(value, str):
            continue  # a padding name is refused by the importer, naming it
        array = _numbers(name, node, field, value)
        if array.size not in (1, 2) or np.any(array != np.round(array)) or \
                array.min() < low or array.max() > GEOMETRY_MAX:
            _fail(name, node, field, f"{array.reshape(-1)[:2].tolist()}: expected one or "
                  f"two integers in {low}..{GEOMETRY_MAX}")


def _check_shape(name: str, node, field: str, types) -> None:
    if not isinstance(types, dict) or not types:
        _fail(name, node, field, "expected a mapping of port names to shapes")
    for port, shape in types.items():
        array = _numbers(name, node, f"{field}['{port}']", shape)
        if array.ndim != 1 or array.size > 3 or np.any(array != np.round(array)) or \
                array.size and array.min() < 1:
            _fail(name, node, f"{field}['{port}']", f"{array.tolist()}: expected a shape "
                  f"(C,) or (C, H, W) of positive integers")


def check_metadata(metadata) -> dict:
    """The graph's metadata as a dict, its ``dt`` (seconds) and ``convention`` checked."""
    metadata = {} if metadata is None else metadata
    if not isinstance(metadata, dict):
        raise UserError(f"metadata: expected a mapping, got {type(metadata).__name__}")
    dt = metadata.get("dt")
    if dt is not None:
        if isinstance(dt, np.ndarray) and dt.shape == () and dt.dtype.kind in "iuf":
            dt = dt.item()
        if not isinstance(dt, (int, float)) or isinstance(dt, bool) or \
                not DT_RANGE[0] <= dt <= DT_RANGE[1]:
            raise UserError(f"metadata: dt {dt!r}: expected one number of seconds in "
                            f"{DT_RANGE[0]:g}..{DT_RANGE[1]:g}")
    convention = metadata.get("convention")
    if convention is not None and not isinstance(convention, str):
        raise UserError(f"metadata: convention {convention!r}: expected a name")
    return {**metadata, "dt": dt}


def check_graph(graph: nir.NIRGraph) -> dict:
    """UserError unless every numeric field of every node of ``graph`` is a finite (or,
    for time constants and their gains, infinite) number in its range; returns the
    checked metadata (:func:`check_metadata`)."""
    metadata = check_metadata(graph.metadata)
    for name, node in graph.nodes.items():
        for field in FIELDS:
            value = getattr(node, field, None)
            if value is not None:
                _check_field(name, node, field, value)
        if isinstance(node, nir.Conv2d):
            _check_geometry(name, node)
        if isinstance(node, nir.Flatten):
            for field in ("start_dim", "end_dim"):
                value = getattr(node, field)
                if not isinstance(value, (int, np.integer)) or isinstance(value, bool):
                    _fail(name, node, field, f"{value!r}: expected an integer")
        if isinstance(node, nir.Input):
            _check_shape(name, node, "input_type", node.input_type)
    return metadata


def check_output(name: str, node, shape: tuple[int, ...]) -> None:
    """UserError when the Output node states a shape that does not hold the last
    layer's ``shape`` (compared by size: frameworks write ``(N,)``, ``(C, H, W)`` or
    add singleton axes)."""
    types = getattr(node, "output_type", None)
    if not isinstance(types, dict):
        return
    for port, stated in types.items():
        array = _numbers(name, node, f"output_type['{port}']", stated).reshape(-1)
        if array.size and (np.any(array != np.round(array)) or array.min() < 1
                           or int(np.prod(array)) != int(np.prod(shape))):
            _fail(name, node, f"output_type['{port}']", f"{array.astype(int).tolist()}: "
                  f"the last layer gives {tuple(shape)}")

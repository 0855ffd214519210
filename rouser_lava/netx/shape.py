"""The shape of one input sample of a netx file, in torch order ``(C,)`` or ``(C, H, W)``.

A file tells it by an ``input`` layer's ``shape`` or a first dense layer's input size.
lava-dl's exporter also writes networks that begin with a conv layer and no input
layer; netx then needs ``input_shape``, and so do our runners. The conv layer fixes the
input channels (``C_in / groups`` of its weight times ``groups``) and, per spatial
axis, only a range of sizes: ``out = (size + 2 pad - dil (k - 1) - 1) // stride + 1``
holds for ``stride`` consecutive sizes. The shape counts as unambiguous when exactly one
candidate is left: always with stride 1; else when the samples decide it (the one
candidate whose size equals the flattened ``--input``'s, or the dataset's shape).
Otherwise ``--input-shape C,H,W`` gives it.
"""

from __future__ import annotations

import h5py
import numpy as np

from ..errors import UserError, param
from .check import NetxSummary, check_open, open_netx


def _pair(group, field: str, default: int) -> list[int]:
    value = np.asarray(group[field][()]).reshape(-1) if field in group else [default]
    return [int(v) for v in np.broadcast_to(value, (2,))]


def netx_input_shapes(path: str, given: tuple[int, ...] | None = None) -> list[tuple[int, ...]]:
    """The input shapes a sample of ``path`` may have: ``[given]`` (checked against the
    file), the one the file states, or every shape a first conv layer's geometry
    allows (UserError if there is none, or the first layer tells nothing)."""
    with open_netx(path) as f:
        return input_shapes(f, check_open(f, path, False, given), given)


def input_shapes(f: h5py.File, summary: NetxSummary,
                 given: tuple[int, ...] | None = None) -> list[tuple[int, ...]]:
    """:func:`netx_input_shapes` of the open file ``f`` whose check is ``summary``."""
    path = summary.path
    if given is not None:
        return [tuple(given)]
    if summary.input_shape is not None:
        return [summary.input_shape]
    first = summary.layers[0]
    if first.kind != "conv":
        raise UserError(f"{path}: cannot tell the input shape (no input layer before "
                        f"'{first.kind}'); pass {param('input_shape')} C,H,W")
    g = f["layer/0"]
    dims = g["weight"].shape
    groups = int(np.asarray(g["groups"][()]).reshape(-1)[0]) if "groups" in g else 1
    stride, pad, dil = _pair(g, "stride", 1), _pair(g, "padding", 0), _pair(g, "dilation", 1)
    sizes = []
    for out, k, s, p, d in zip(first.shape[1:], dims[2:4], stride, pad, dil):
        lo = (out - 1) * s - 2 * p + d * (k - 1) + 1
        sizes.append([size for size in range(lo, lo + s) if size >= 1])
    shapes: list[tuple[int, ...]] = [(dims[1] * groups, h, w) for h in sizes[0]
                                     for w in sizes[1]]
    if not shapes:
        raise UserError(f"{path}: layer 0 (conv): no input size gives its shape "
                        f"{first.shape}")
    return shapes


def pick_input_shape(path: str, shapes: list[tuple[int, ...]], size: int | None = None,
                     shape: tuple[int, ...] | None = None, source: str = "") -> tuple[int, ...]:
    """The one shape of ``shapes`` that fits samples of flat ``size`` or of ``shape``
    (from ``source``, for the error); UserError naming the candidates otherwise."""
    fits = [s for s in shapes if (size is None or int(np.prod(s)) == size) and
            (shape is None or tuple(shape) == s)]
    if len(fits) == 1:
        return fits[0]
    listed = " ".join(str(s) for s in shapes[:6]) + (" ..." if len(shapes) > 6 else "")
    what = f"samples of size {size}" if size is not None else f"samples of shape {shape}"
    if not fits:
        raise UserError(f"{path}: {what}{source} fit none of the network's input shapes "
                        f"{listed}")
    raise UserError(f"{path}: the input shape is ambiguous for {what}{source} ({listed}); "
                    f"pass {param('input_shape')} C,H,W")

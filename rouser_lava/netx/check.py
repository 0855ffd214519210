"""One validator for netx HDF5 files, used by every reader before it trusts a number.

A netx file is a tree ``/layer/0 .. /layer/{n-1}``; each layer has a ``type``, a
``shape`` (torch order: ``(C,)`` or ``(C, H, W)``) and, by type, weights, geometry and
a ``neuron`` group (see :mod:`rouser_lava.netx.write`). Lava rejects some broken
files deep in its compiler, hangs on others (a NaN ``vThMant``), and a compiled
kernel given shapes that do not chain reads out of bounds. :func:`check_netx`
checks, before anything is built:

- layer indices contiguous from 0, each layer's required keys present, known layer
  and neuron types;
- shapes consistent from layer to layer: dense weights ``(prod(shape), prod(in))``
  (trailing singleton axes allowed, and ``(prod(in),)`` for one output, as lava-dl
  writes it), ``dense_rec``'s square ``weight_rec``, conv kernels, channels, groups and
  output size from the geometry, flatten sizes;
- a dense or flatten layer's ``shape`` ``(N,)`` with singleton dimensions anywhere
  (lava-dl writes ``(N, 1, 1)`` and ``(1, 1, N)``; netx reads only the product), its
  product the layer's size; the summary gives it as ``(N,)``;
- weights finite integers (Lava truncates others) within what an 8-bit weight with
  Loihi's largest exponent holds; ``vThMant`` integers in ``0 .. 2**17 - 1`` (one value,
  per channel or per neuron), or ``2**18 - 1`` everywhere, which lava-dl's ``Affine``
  block writes for neurons that never spike; decays integers in ``0 .. 4096``; bias
  integers in Lava's int16 ``bias_mant`` (one value or one per neuron for dense layers;
  one per channel ``(C,)`` or per neuron in Lava's order ``(W, H, C)`` for conv layers,
  as netx broadcasts them); dense delays integers in ``0 .. 62``, one value, one per
  output, one per input or ``(C_out, C_in)``; ``refDelay`` a non-negative integer;
- an ``input`` layer's ``neuron`` group like any other; its ``weight`` and ``bias``
  (which netx reads with ``int()`` and then ignores) single values, ``()`` or ``(1,)``.

Two neuron fields change how our runners run a layer (plain netx ignores both):

- ``refDelay`` ``r >= 2`` (:data:`REFRACTORY_MIN`): a refractory layer; after a spike the
  neuron holds ``v`` (at 0) for ``r`` steps while ``u`` integrates (Lava's
  ``LIFRefractory`` with ``refractory_period = r``). With ``r >= T`` it fires at most
  once per sample: a single-spike layer. ``r`` of 0 or 1 (slayer writes 1) is Lava's
  plain ``LIF``, whose reset to 0 already is Loihi's one-step refractory delay.
- the last spiking layer is a membrane readout when it is CUBA/LOIHI with ``vDecay`` 0
  and every ``vThMant`` ``2**17 - 1`` (or lava-dl's ``Affine`` ``2**18 - 1``): a perfect
  integrator that does not spike (unless ``v`` comes within 64 of the 24-bit clip); its
  output is ``v`` at the last step.

Every failure is one UserError: ``file: layer i (type): field value: problem
(allowed range)``. The result describes the network's geometry for the readers
(input shape, neurons and synapses per layer).
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass

import h5py
import numpy as np

from ..errors import UserError
from ..loihi import (
    DELAY_MAX,
    WEIGHT_ABS_MAX,
)
from ..resources import require_memory
from .fields import FileValues, LayerReader
from .network import BIAS_NEURONS_ATTR

CHECKED = ("input", "dense", "dense_rec", "conv", "flatten")  # geometry checked here
LAYER_TYPES = (*CHECKED, "dense_comp", "pool", "average", "concat", "convT", "unpool")
REFRACTORY_MIN = 2  # refDelay from which a layer is built as LIFRefractory


def refractory_period(ref_delay: int) -> int:
    """Steps a neuron holds ``v`` after a spike for a file's ``refDelay`` (0: plain LIF)."""
    return int(ref_delay) if ref_delay >= REFRACTORY_MIN else 0


@dataclass(frozen=True)
class NetxLayer:
    """One layer's geometry: ``shape`` out and ``in_shape`` in (torch order; ``None``
    where the file does not say), ``neurons`` and ``synapses`` (weight entries); its
    neurons' ``ref_delay`` (``refDelay``, 0 when absent), whether they form a
    ``membrane`` readout (vDecay 0, vThMant ``2**17 - 1`` or ``2**18 - 1``) and their
    ``neuron_type`` (``CUBA``, ``SDNN``, ...; empty without a neuron group); how many
    of a ``dense_rec`` layer's neurons (its last ones) are ``bias_neurons``
    (:mod:`rouser_lava.interop.bias_neurons`; the layer's ``rouser_bias_neurons``
    attribute)."""

    index: int
    kind: str
    shape: tuple[int, ...]
    in_shape: tuple[int, ...] | None
    neurons: int
    synapses: int
    ref_delay: int = 0
    membrane: bool = False
    neuron_type: str = ""
    bias_neurons: int = 0


@dataclass(frozen=True)
class NetxSummary:
    """A checked netx file: its layers and ``time_steps`` (``/simulation/tSample``)."""

    path: str
    layers: list[NetxLayer]
    time_steps: int | None

    @property
    def input_shape(self) -> tuple[int, ...] | None:
        """Shape of one input sample (the ``input`` layer's, else the first layer's
        input: a dense layer's size or the shape given to :func:`check_netx`), or None
        when neither tells."""
        return self.layers[0].shape if self.layers[0].kind == "input" \
            else self.layers[0].in_shape

    def layer_name(self, index: int) -> str:
        """The name of netx's ``layer/<index>`` everywhere (tables, messages, JSON, the
        ``--dump-spikes`` keys): ``layer0``, ``layer1``, ... counting the layers with
        neurons from 0 (:attr:`spiking`, as a run's layers and a model's
        ``layer_names``); ``input`` for an input layer without neurons."""
        position = [layer.index for layer in self.spiking]
        if index in position:
            return f"layer{position.index(index)}"
        return "input" if self.layers[index].kind == "input" else f"netx layer/{index}"

    @property
    def spiking(self) -> list[NetxLayer]:
        """The layers with neurons (an input layer with a neuron group, dense, dense_rec,
        conv), in netx's order."""
        return [layer for layer in self.layers if layer.neurons > 0]

    @property
    def membrane_readout(self) -> bool:
        """Whether the last spiking layer is a membrane readout (predictions: argmax of
        its ``v`` at the last step)."""
        return bool(self.spiking) and self.spiking[-1].membrane


def _conv(layer: LayerReader, shape, prev, values: bool) -> int:
    if len(shape) != 3:
        layer.fail("shape", shape, "a conv layer's shape is (C, H, W)")
    data = layer.raw("weight")
    dims = tuple(data.shape)
    if len(dims) < 4 or any(d != 1 for d in dims[4:]) or dims[0] != shape[0]:
        layer.fail("weight", f"of shape {dims}", f"expected ({shape[0]}, C_in/groups, kH, kW)")
    groups = int(layer.numbers("groups", lo=1, hi=shape[0], sizes=(1,)).reshape(-1)[0]) \
        if layer.has("groups") else 1
    geo = {}
    for field, lo in (("stride", 1), ("padding", 0), ("dilation", 1)):
        value = layer.numbers(field, lo=lo, hi=1 << 16, sizes=(1, 2)) if layer.has(field) \
            else np.array([lo if field != "stride" else 1])
        geo[field] = np.broadcast_to(value.reshape(-1), (2,)).astype(int)
    if shape[0] % groups:
        layer.fail("groups", groups, f"does not divide the {shape[0]} output channels")
    for field, want in (("outChannels", (shape[0],)), ("inChannels", (dims[1] * groups,)),
                        ("kernelSize", dims[2:4])):
        if layer.has(field) and tuple(np.broadcast_to(
                layer.numbers(field, sizes=(1, 2)).reshape(-1), (len(want),))) != want:
            layer.fail(field, layer.numbers(field), f"the weight says {want}")
    if prev is not None:
        if len(prev) != 3 or prev[0] != dims[1] * groups:
            layer.fail("weight", f"of shape {dims}", f"does not take input {prev} with "
                       f"{groups} group(s)")
        hw = [(size + 2 * p - d * (k - 1) - 1) // s + 1 for size, k, s, p, d in
              zip(prev[1:], dims[2:4], geo["stride"], geo["padding"], geo["dilation"])]
        if tuple(hw) != shape[1:]:
            layer.fail("shape", shape, f"the geometry gives (C, {hw[0]}, {hw[1]}) from "
                       f"input {prev}")
    if values:
        layer.numbers("weight", lo=-WEIGHT_ABS_MAX, hi=WEIGHT_ABS_MAX)
    return int(np.prod(dims))


def _layer(layer: LayerReader, prev: tuple[int, ...] | None, values: bool) -> NetxLayer:
    kind = layer.kind = layer.text("type")
    if kind not in LAYER_TYPES:
        layer.fail("type", kind, f"unknown layer type (known: {', '.join(LAYER_TYPES)})")
    g, synapses = layer.group, 0
    if kind not in CHECKED:  # readers refuse these; their geometry is not checked here
        shape = layer.shape() if layer.has("shape") else prev or (0,)
        return NetxLayer(layer.index, kind, shape, prev, 0, 0)
    if kind == "flatten":
        if prev is None:
            layer.fail("type", kind, "a flatten needs a layer before it")
        shape = (int(np.prod(prev)),)
        if layer.has("shape"):
            layer.vector(shape[0])
        return NetxLayer(layer.index, kind, shape, prev, 0, 0)
    shape = layer.vector() if kind in ("dense", "dense_rec") else layer.shape()
    size = int(np.prod(shape))
    if kind == "input":
        if prev is not None and prev != shape:
            layer.fail("shape", shape, f"does not take samples of shape {prev}")
        for field in ("weight", "bias"):  # netx's unused transform, read with int()
            if layer.has(field) and layer.has("neuron"):
                layer.numbers(field, integer=False, sizes=(1,))
        ref_delay, membrane = layer.neuron(shape, values)
        neurons = size if layer.has("neuron") else 0
        return NetxLayer(layer.index, kind, shape, None, neurons, 0, ref_delay, membrane,
                         _neuron_type(layer))
    helpers = 0
    if kind in ("dense", "dense_rec"):
        cols = None if prev is None else int(np.prod(prev))
        cols = layer.weight("weight", size, cols, values)
        for field, want in (("outFeatures", size), ("inFeatures", cols)):
            if layer.has(field) and int(layer.numbers(field, sizes=(1,)).reshape(-1)[0]) != want:
                layer.fail(field, layer.numbers(field), f"the weight says {want}")
        if kind == "dense_rec":
            synapses += size * layer.weight("weight_rec", size, size, values)
            helpers = g.attrs.get(BIAS_NEURONS_ATTR, 0)
            if not isinstance(helpers, (int, np.integer)) or not 0 <= helpers < size:
                layer.fail(BIAS_NEURONS_ATTR, helpers, f"an integer in 0..{size - 1}")
        if layer.has("delay"):
            delay = layer.numbers("delay", lo=0 if values else None,
                                  hi=DELAY_MAX if values else None,
                                  sizes=(1, size, cols, size * cols))
            if delay.size > 1 and delay.shape not in ((size,), (cols,), (size, cols)):
                layer.fail("delay", f"of shape {delay.shape}", f"expected one value, "
                           f"({size},), ({cols},) or ({size}, {cols})")
        synapses += size * cols
        prev = prev if prev is not None else (cols,)
    elif kind == "conv":
        synapses = _conv(layer, shape, prev, values)
    ref_delay, membrane = layer.neuron(shape, values)
    return NetxLayer(layer.index, kind, shape, prev, size, synapses, ref_delay, membrane,
                     _neuron_type(layer), int(helpers))


def _neuron_type(layer: LayerReader) -> str:
    """The layer's neuron ``type`` (checked by :meth:`LayerReader.neuron`), or ``""``."""
    return layer.text("type", layer.item("neuron")) if layer.has("neuron") else ""


def check_netx(path: str, values: bool = True,
               input_shape: tuple[int, ...] | None = None) -> NetxSummary:
    """Check a netx file's structure (and, with ``values``, every number in it).

    ``values=False`` reads only shapes and small fields, not the weight arrays, and
    checks no value ranges: for a quick look at the geometry. ``input_shape`` (torch
    order), the samples' shape, is checked against an input layer's shape or serves
    as the input of a first layer that is not one (a conv layer's geometry is then
    checked from it). Raises UserError naming the file, the layer, the field, the value
    and what is allowed.
    """
    with open_netx(path) as f:
        return check_open(f, path, values, input_shape)


def open_netx(path) -> h5py.File:
    """``path`` opened read-only as HDF5 (UserError naming the file if it cannot be)."""
    try:
        return h5py.File(path, "r")
    except (OSError, ValueError) as err:
        reason = "no such file" if not isinstance(path, io.IOBase) and \
            not os.path.exists(path) else \
            f"not a readable netx HDF5 file ({str(err).splitlines()[0][:100]})"
        raise UserError(f"{path}: {reason}") from None


def check_open(f: h5py.File, path, values: bool = True,
               input_shape: tuple[int, ...] | None = None,
               read: FileValues | None = None) -> NetxSummary:
    """:func:`check_netx` on an open file ``f`` (``path`` names it in errors); ``read``
    holds what earlier passes over ``f`` read (and keeps what this one reads)."""
    if "layer" not in f or not hasattr(f["layer"], "keys"):
        raise UserError(f"{path}: not a netx network (no /layer group)")
    keys = list(f["layer"].keys())
    bad = [k for k in keys if not k.isdigit()]
    if bad or not keys:
        raise UserError(f"{path}: /layer holds {bad[0] if bad else 'nothing'!r}; "
                        f"expected layers named 0, 1, 2, ...")
    indices = sorted(int(k) for k in keys)
    missing = sorted(set(range(indices[-1] + 1)) - set(indices))
    if missing:
        raise UserError(f"{path}: layer indices are not contiguous (layer {missing[0]} "
                        f"is missing)")
    layers, prev = [], None if input_shape is None else tuple(input_shape)
    read = FileValues() if read is None else read
    for i in indices:
        group = f["layer"][str(i)]
        if not hasattr(group, "keys"):
            raise UserError(f"{path}: layer/{i} is not a group")
        layer = _layer(LayerReader(str(path), i, group, read), prev, values)
        layers.append(layer)
        prev = layer.shape
    steps = None
    if "simulation/tSample" in f:
        item = f["simulation/tSample"]
        t = np.asarray(item[()] if getattr(item, "size", 0) == 1 else [-1]).reshape(-1)
        if t.size != 1 or t.dtype.kind not in "iu" or not 0 < int(t[0]) <= 1 << 24:
            raise UserError(f"{path}: /simulation/tSample {t[:2]}: expected one integer "
                            f"in 1..{1 << 24} (time steps per sample)")
        steps = int(t[0])
    return NetxSummary(str(path), layers, steps)


def check_open_fits(f: h5py.File, path, bytes_per_synapse: int, reader: str, advice: str,
                    input_shape: tuple[int, ...] | None = None,
                    read: FileValues | None = None) -> NetxSummary:
    """:func:`check_netx` of the open file ``f`` for a reader that needs
    ``bytes_per_synapse``: the structure first, then the memory (UserError naming
    ``reader`` and ``advice`` if it does not fit), then every value (reading the weights
    only once they fit; each dataset read once, kept in ``read`` when given)."""
    read = FileValues() if read is None else read
    require_fits(check_open(f, path, False, input_shape, read), bytes_per_synapse, reader,
                 advice)
    return check_open(f, path, True, input_shape, read)


def require_fits(summary: NetxSummary, bytes_per_synapse: int, reader: str,
                 advice: str) -> None:
    """UserError naming ``reader`` and ``advice`` unless ``bytes_per_synapse`` for every
    synapse of ``summary`` fits in the memory available."""
    synapses = sum(layer.synapses for layer in summary.layers)
    require_memory(bytes_per_synapse * synapses, f"{reader} on {summary.path} "
                   f"({synapses:,} synapses)", advice)

"""Measured activity of a netx network on real inputs (``rouser-map --dataset/--input``),
from the bit-exact emulator.

Per spiking layer and per sample: output spikes, activation sparsity
``1 - spikes / (neurons * steps)``, and synaptic operations into the layer (NeuroBench's
"synaptic operations"): every spike of the layer's input costs one operation per
synapse it drives. Dense: ``spikes_in * C_out`` (``dense_rec`` adds the layer's own
spikes times ``C_out``); conv: each output neuron counts the input spikes inside its
receptive field (a conv with an all-ones kernel, padding and stride included).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from ..netx.file import NetxFile, read_netx
from .emulator import emulate
from .runfile import load_inputs

BATCH = 64  # samples per emulator call: bounds memory on long event samples


@dataclass(frozen=True)
class LayerActivity:
    """Per-sample means for one spiking layer (in file order, flatten left out)."""

    spikes_per_sample: float
    synops_per_sample: float
    sparsity: float  # 1 - spikes / (neurons * steps)


@dataclass(frozen=True)
class Activity:
    """``layers`` in the order of the file's synaptic layers."""

    samples: int
    steps: int
    layers: list[LayerActivity]

    @property
    def synops_per_sample(self) -> float:
        return sum(la.synops_per_sample for la in self.layers)


def layer_synops(layer, counts_in: np.ndarray, shape_in: tuple[int, ...],
                 counts_own: np.ndarray) -> float:
    """Synaptic operations into ``layer`` (an ``EmuLayer``) for spike counts of its
    input neurons ``counts_in`` (``(*shape_in,)`` or flat, summed over any samples and
    steps) and of its own neurons ``counts_own`` (used by ``dense_rec``): linear in
    the counts, so per-sample means follow from totals. Computed in float64. An input
    layer's neurons have no synapse: 0."""
    if layer.kind == "input":
        return 0.0
    if layer.kind != "conv":
        fan_out = int(np.prod(layer.shape))
        own = float(np.sum(counts_own, dtype=np.float64)) if layer.weight_rec_t.size else 0.0
        return (float(np.sum(counts_in, dtype=np.float64)) + own) * fan_out
    counts = torch.from_numpy(np.asarray(counts_in, np.float64).reshape(1, *shape_in))
    ones = torch.ones(layer.weight.shape, dtype=torch.float64)
    return float(F.conv2d(counts, ones, **layer.conv).sum().item())


def network_synops(layers: list, input_counts: np.ndarray,
                   layer_counts: list[np.ndarray]) -> list[float]:
    """:func:`layer_synops` of every spiking layer of ``layers`` (the emulator's, flatten
    included) for the per-neuron spike counts of the input (``(*input_shape,)``) and of
    each spiking layer (flat, netx order), summed over the same samples."""
    synops: list[float] = []
    counts_in, shape_in = np.asarray(input_counts), tuple(input_counts.shape)
    for layer in layers:
        if layer.kind == "flatten":
            shape_in = (int(np.prod(shape_in)),)
            continue
        own = layer_counts[len(synops)]
        synops.append(layer_synops(layer, counts_in, shape_in, own))
        counts_in, shape_in = own, layer.shape
    return synops


def measure_activity(netx: NetxFile | str, dataset: str | None = None,
                     input_npy: str | None = None, limit: int | None = None,
                     data_root: str | None = None) -> Activity:
    """Run the emulator on the netx file ``netx`` (read with
    :func:`rouser_lava.netx.file.read_netx`, or its path) over a dataset's test split
    (``dataset``, default: the one recorded in the file) or spikes from ``input_npy``
    and average per sample."""
    if not isinstance(netx, NetxFile):
        netx = read_netx(str(netx), layers=True)
    x, _ = load_inputs(netx.path, netx.metadata.dataset, netx.input_shapes, dataset,
                       input_npy, data_root, limit)
    input_shape = x.shape[1:-1]
    layers = netx.emulator_layers(input_shape)
    spiking = [la for la in layers if la.kind != "flatten"]
    counts_in = np.zeros(input_shape, np.int64)
    counts = [np.zeros(int(np.prod(la.shape)), np.int64) for la in spiking]
    for start in range(0, len(x), BATCH):
        batch = np.ascontiguousarray(x[start:start + BATCH], dtype=np.uint8)
        counts_in += batch.sum(axis=(0, -1), dtype=np.int64)
        for total, s in zip(counts, emulate(layers, batch).spikes):
            total += s.reshape(len(s), -1, s.shape[-1]).sum(axis=(0, 2), dtype=np.int64)
    synops = network_synops(layers, counts_in, counts)
    spikes = [float(c.sum()) for c in counts]
    n, steps = len(x), int(x.shape[-1])
    return Activity(n, steps, [
        LayerActivity(spikes[k] / n, synops[k] / n,
                      1.0 - spikes[k] / (n * steps * int(np.prod(la.shape))))
        for k, la in enumerate(spiking)])

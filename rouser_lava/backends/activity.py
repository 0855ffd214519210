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

from ..deploy.export import read_metadata
from .emulator import emulate, load_netx, netx_input_shape
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


def _synops(layer, s_in: np.ndarray, shape_in: tuple[int, ...], own: np.ndarray) -> int:
    """Synaptic operations into ``layer`` over a batch: ``s_in`` uint8 ``(N, *shape_in,
    T)`` input spikes, ``own`` the layer's output spikes."""
    if layer.kind != "conv":
        fan_out = int(np.prod(layer.shape))
        total = int(s_in.sum(dtype=np.int64)) * fan_out
        return total + (int(own.sum(dtype=np.int64)) * fan_out if layer.weight_rec_t.size else 0)
    frames = torch.from_numpy(np.moveaxis(s_in, -1, 1).reshape(-1, *shape_in).astype(np.float32))
    ones = torch.ones_like(layer.weight)
    return int(F.conv2d(frames, ones, **layer.conv).sum().item())


def measure_activity(path: str, dataset: str | None = None, input_npy: str | None = None,
                     limit: int | None = None, data_root: str | None = None) -> Activity:
    """Run the emulator over a dataset's test split (``dataset``, default: the one
    recorded in the file) or spikes from ``input_npy`` and average per sample."""
    input_shape = netx_input_shape(path)
    x, _ = load_inputs(path, read_metadata(path)["dataset"], input_shape, dataset,
                       input_npy, data_root, limit)
    layers = load_netx(path)
    spiking = [la for la in layers if la.kind != "flatten"]
    spikes = np.zeros(len(spiking))
    synops = np.zeros(len(spiking))
    for start in range(0, len(x), BATCH):
        batch = np.ascontiguousarray(x[start:start + BATCH], dtype=np.uint8)
        out = emulate(layers, batch).spikes
        s_in, shape_in, k = batch, tuple(input_shape), 0
        for layer in layers:
            if layer.kind == "flatten":
                shape_in = (int(np.prod(shape_in)),)
                s_in = s_in.reshape(len(s_in), -1, s_in.shape[-1])
                continue
            synops[k] += _synops(layer, s_in, shape_in, out[k])
            spikes[k] += float(out[k].sum(dtype=np.int64))
            s_in, shape_in, k = out[k], layer.shape, k + 1
    n, steps = len(x), int(x.shape[-1])
    return Activity(n, steps, [
        LayerActivity(spikes[k] / n, synops[k] / n,
                      1.0 - spikes[k] / (n * steps * int(np.prod(la.shape))))
        for k, la in enumerate(spiking)])

"""``QuantizedNetwork`` -> netx HDF5 (``.net``) that unmodified ``lava.lib.dl.netx`` loads.

File tree (the keys ``netx.hdf5.Network`` reads)::

    /layer/0            type='input', shape=(C,) or (C, H, W)
    /layer/i            type='dense': shape=(C_out,), inFeatures, outFeatures,
                                      weight int (C_out, C_in)
                        type='conv':  shape=(C, H, W), inChannels, outChannels,
                                      kernelSize, stride, padding, dilation, groups,
                                      weight int (C_out, C_in/groups, kH, kW)
                        type='dense_rec': as dense, and weight_rec int (C_out, C_out)
                        type='flatten': shape=(C*H*W,)
                        bias int (C,) where the layer has one (netx: bias_mant)
    /layer/i/neuron     type='CUBA', iDecay, vDecay, vThMant (scalar or (C,)),
                        refDelay, gradedSpike=False
    /simulation         Ts=1, tSample=T

``refDelay`` is 1 (what slayer writes: Lava's plain ``LIF``) except for single-spike
layers, where it is ``T``, the sample length: our runners build such a layer as
``LIFRefractory`` (:mod:`rouser_lava.netx.check`), which after a spike at step
``t >= 1`` holds ``v`` through step ``t + T > T``, so each neuron fires at most once in
a sample of ``T`` steps, as in training; the runners clear the refractory state
between samples. ``T`` is the shortest period that does this (any longer one runs the
same), and keeps the number small for hardware with a narrow refractory field. A
membrane readout is written as it is quantized (``vDecay`` 0, ``vThMant`` ``2**17 -
1``), which the runners recognise (``NetxSummary.membrane_readout``).

``bias`` is written only for layers that have one (netx reads it as ``bias_mant``
with ``bias_exp`` 6, lava-dl ``netx/hdf5.py``). Root attributes
``rouser_threshold_form``, ``rouser_dataset`` (JSON) and ``rouser_provenance`` (JSON,
:mod:`rouser_lava.provenance`) describe how the file was made; netx ignores them.
The file is built in memory (:func:`netx_bytes`) and written
atomically (:func:`write_netx`).
"""

from __future__ import annotations

import io
import json
import os

import h5py
import numpy as np

from ..fileio import write_bytes
from ..provenance import provenance as current_provenance
from .network import BIAS_NEURONS_ATTR, QuantizedNetwork


def _put_type(group: h5py.Group, name: str) -> None:
    group.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def _write_layer(group: h5py.Group, layer, time_steps: int) -> None:
    _put_type(group, layer.kind)
    group.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    if layer.kind == "flatten":
        return
    spec = layer.spec
    if layer.kind in ("dense", "dense_rec"):
        group.create_dataset("inFeatures", data=spec["in_features"])
        group.create_dataset("outFeatures", data=spec["out_features"])
    else:
        group.create_dataset("inChannels", data=spec["in_channels"])
        group.create_dataset("outChannels", data=spec["out_channels"])
        for key, name in (("kernel_size", "kernelSize"), ("stride", "stride"),
                          ("padding", "padding"), ("dilation", "dilation")):
            group.create_dataset(name, data=np.array(spec[key], dtype=np.int64))
        group.create_dataset("groups", data=spec["groups"])
    group.create_dataset("weight", data=layer.weight)
    if layer.weight_rec is not None:
        group.create_dataset("weight_rec", data=layer.weight_rec)
    if spec.get("bias_neurons"):  # an attribute: netx reads datasets only
        group.attrs[BIAS_NEURONS_ATTR] = int(spec["bias_neurons"])
    if layer.bias is not None:
        group.create_dataset("bias", data=layer.bias)
    neuron = group.create_group("neuron")
    _put_type(neuron, "CUBA")
    neuron.create_dataset("iDecay", data=layer.i_decay)
    neuron.create_dataset("vDecay", data=layer.v_decay)
    neuron.create_dataset("vThMant", data=layer.v_th_mant)
    neuron.create_dataset("refDelay", data=int(time_steps) if layer.single_spike else 1)
    neuron.create_dataset("gradedSpike", data=False)


def netx_bytes(qnet: QuantizedNetwork, time_steps: int, dataset: dict | None = None,
               provenance: dict | None = None) -> bytes:
    """``qnet`` as the bytes of a netx HDF5 file (built in memory: HDF5 crashes on a
    full disk, Python raises).

    Parameters
    ----------
    qnet : QuantizedNetwork
        Network in Loihi fixed point.
    time_steps : int
        Steps per sample, stored as ``/simulation/tSample``.
    dataset : dict, optional
        Dataset name and encoding, stored as a root attribute.
    provenance : dict, optional
        Where the file came from (default: this process's,
        :func:`rouser_lava.provenance.provenance`), stored as a root attribute.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["rouser_threshold_form"] = qnet.threshold_form
        f.attrs["rouser_dataset"] = json.dumps(dataset or {})
        f.attrs["rouser_provenance"] = json.dumps(
            provenance if provenance is not None else current_provenance())
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1)
        sim.create_dataset("tSample", data=int(time_steps))
        layers = f.create_group("layer")
        inp = layers.create_group("0")
        _put_type(inp, "input")
        inp.create_dataset("shape", data=np.array(qnet.input_shape, dtype=np.int64))
        for i, layer in enumerate(qnet.layers, start=1):
            _write_layer(layers.create_group(str(i)), layer, time_steps)
    return buffer.getvalue()


def write_netx(qnet: QuantizedNetwork, path: str | os.PathLike, time_steps: int,
               dataset: dict | None = None, provenance: dict | None = None) -> None:
    """Write ``qnet`` as netx HDF5 at ``path`` (atomically; its folder must exist);
    arguments as :func:`netx_bytes`."""
    write_bytes(path, netx_bytes(qnet, time_steps, dataset, provenance))

"""Small networks built from lava-dl's own blocks and written by its own ``export_hdf5``,
in PilotNet SNN's layout: an input layer with neurons driven by a bias image, strided
convolutions, a flatten, dense layers down to one output.

lava-dl 0.6.0 writes a flatten's ``shape`` as ``(N, 1, 1)``, a dense layer's as ``(N,)``
and a one-output weight as ``(1, N)``. The PilotNet SNN file lava-dl publishes
(``tutorials/lava/lib/dl/netx/pilotnet_snn/network.net``, from an earlier exporter)
holds the same numbers as ``(1, 1, N)``, ``(N, 1, 1)`` and ``(N,)``: ``published=True``
rewrites the file into that layout (nothing else changes).
"""

from __future__ import annotations

import h5py
import numpy as np

INPUT_SHAPE = (3, 11, 13)  # (C, H, W); bias images are (W, H, C) = (13, 11, 3)
READOUT_VTH = 131071  # PilotNet's membrane readout: vThMant 2**17 - 1, vDecay 0


def pilotnet_like(path, *, input_neurons: bool = True, norm: bool = True,
                  readout: bool = False, published: bool = False, seed: int = 0,
                  input_threshold: float = 0.5) -> str:
    """Write ``path``: input ``INPUT_SHAPE`` (with CUBA neurons, lava-dl's Input weight
    and bias, when ``input_neurons``), conv 3->6 k3 stride 2 -> (6, 5, 6), conv 6->8 k3
    stride (2, 1) padding (1, 0) -> (8, 3, 4), flatten 96, dense 96->12->6->1. ``norm``
    gives the conv and dense layers lava-dl's MeanOnlyBatchNorm (exported as ``bias``);
    ``readout`` makes the last layer a membrane readout as in PilotNet."""
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(seed)
    params = {"threshold": 0.5, "current_decay": 0.3, "voltage_decay": 0.1,
              "requires_grad": False}
    syn = {**params, "norm": slayer.neuron.norm.MeanOnlyBatchNorm} if norm else params
    last = {**syn, "threshold": READOUT_VTH / 64, "voltage_decay": 0.0} if readout else syn
    inp = slayer.block.cuba.Input({**params, "threshold": input_threshold}, weight=1.0,
                                  bias=0.25) if input_neurons \
        else slayer.block.cuba.Input(delay_shift=False)  # its step delay needs neurons
    blocks = [inp,
              slayer.block.cuba.Conv(syn, 3, 6, 3, stride=2, weight_scale=4),
              slayer.block.cuba.Conv(syn, 6, 8, 3, stride=(2, 1), padding=(1, 0),
                                     weight_scale=4),
              slayer.block.cuba.Flatten(),
              slayer.block.cuba.Dense(syn, 96, 12, weight_scale=6),
              slayer.block.cuba.Dense(syn, 12, 6, weight_scale=6),
              slayer.block.cuba.Dense(last, 6, 1, weight_scale=6)]
    x = torch.rand(2, *INPUT_SHAPE, 4)
    with torch.no_grad():
        for block in blocks:  # lava-dl sets its shapes on the first call
            x = block(x)
    with h5py.File(path, "w") as f:
        for i, block in enumerate(blocks):
            block.export_hdf5(f.create_group(f"layer/{i}"))
        if published:
            _published_layout(f["layer"])
    return str(path)


def _published_layout(layers: h5py.Group) -> None:
    for i in range(len(layers)):
        g = layers[str(i)]
        kind = g["type"][0].decode()
        if kind not in ("flatten", "dense"):
            continue
        n = int(np.prod(g["shape"][()]))
        del g["shape"]
        g.create_dataset("shape", data=np.array([1, 1, n] if kind == "flatten" else [n, 1, 1]))
        if kind == "dense" and n == 1:
            weight = g["weight"][()].reshape(-1)
            del g["weight"]
            g.create_dataset("weight", data=weight)


def set_shape(path, index: int, shape) -> None:
    """Rewrite layer ``index``'s ``shape`` dataset of the file at ``path``."""
    with h5py.File(path, "r+") as f:
        del f[f"layer/{index}/shape"]
        f.create_dataset(f"layer/{index}/shape", data=np.array(shape))


def dense_affine(path, seed: int = 0) -> str:
    """Write ``path``: lava-dl's Dense 10->8 and Affine 8->3 (a dense layer whose
    ``vThMant`` lava-dl writes as ``2**18 - 1``: neurons that never spike)."""
    import torch
    from lava.lib.dl import slayer

    torch.manual_seed(seed)
    params = {"threshold": 0.5, "current_decay": 0.3, "voltage_decay": 0.1,
              "requires_grad": False}
    blocks = [slayer.block.cuba.Dense(params, 10, 8, weight_scale=3),
              slayer.block.cuba.Affine(params, 8, 3, weight_scale=3)]
    x = torch.rand(1, 10, 4)
    with torch.no_grad():
        for block in blocks:
            x = block(x)
    with h5py.File(path, "w") as f:
        for i, block in enumerate(blocks):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    return str(path)

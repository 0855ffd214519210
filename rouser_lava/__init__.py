"""rouser-lava: train SNNs with learnable per-neuron thresholds (Rouser) in lava-dl
SLAYER, export them to Loihi fixed point as netx HDF5, run and compare them on Lava.

The names below are the Python API; each is imported on first use, so
``import rouser_lava`` starts neither Lava nor torch nor any compiled kernel.

========================  ==========================================================
``NeuronConfig``          neuron settings (threshold init, decays, surrogate)
``Dense``, ``Conv``,      Rouser blocks: slayer synapse + CUBA neurons with one
``Pool``, ``Recurrent``,  learnable threshold per neuron (per channel in conv and
``Flatten``               pool); sum pooling; dense + recurrent weights
``dense_spec``,           layer descriptions the blocks are built from
``conv_spec``,
``pool_spec``,
``recurrent_spec``
``parse_arch``,           ``--arch`` strings <-> layer descriptions
``format_arch``
``RouserNet``             a network of blocks; ``RouserNet.from_blocks`` wraps the
                          blocks of your own ``nn.Module``
``SpikeDataset``,         spike data ``(N, *input_shape, T)``; datasets by name
``load_dataset``
``TrainConfig``,          the training loop of ``rouser-train``
``train``, ``evaluate``
``save_model``,           ``model.pt`` (loads with ``torch.load(weights_only=True)``)
``load_model``
``quantize_network``      trained net -> Loihi fixed point (fold or vector thresholds)
``write_netx``            -> netx HDF5 that ``lava.lib.dl.netx`` loads
``import_netx``,          a lava-dl netx file or a NIR graph -> a trainable Rouser
``import_nir``            network (``ImportResult``: net and what was approximated)
``export_nir``            a Rouser network -> NIR graph (Lava convention)
``read_netx``             a netx file read and checked once (``NetxFile``), for the
                          runners below
``load_netx``,            the bit-exact batched emulator of Lava's fixed_pt models
``emulate``
``simulate``              Lava's CPU simulator (Loihi2SimCfg, fixed_pt)
``run_path``,             ``rouser-run``: a model or netx file over a dataset or
``RunOptions``,           spikes on a backend (``RunOptions``: what and how, checked
``RunResult``             in one place) -> ``RunResult`` (accuracy, spikes per layer)
``compare``               trained model vs emulator vs Lava on a test set
``UserError``             the one error type for bad input
========================  ==========================================================
"""

from __future__ import annotations

import importlib

from ._threads import set_thread_defaults

set_thread_defaults()  # before torch or numba loads: see rouser_lava._threads

_API = {
    "NeuronConfig": "model.neuron",
    "Dense": "model.blocks", "Conv": "model.blocks", "Flatten": "model.blocks",
    "dense_spec": "model.blocks", "conv_spec": "model.blocks", "RouserNet": "model.blocks",
    "Pool": "model.blocks", "pool_spec": "model.blocks", "recurrent_spec": "model.blocks",
    "Recurrent": "model.recurrent",
    "parse_arch": "model.archspec", "format_arch": "model.archspec",
    "save_model": "model.modelfile", "load_model": "model.modelfile",
    "SpikeDataset": "data.dataset", "load_dataset": "data.registry",
    "TrainConfig": "training.loop", "train": "training.loop", "evaluate": "training.loop",
    "quantize_network": "deploy.quantize", "write_netx": "netx.write",
    "import_netx": "interop.netx_import", "import_nir": "interop.nir_import",
    "export_nir": "interop.nir_export",
    "load_netx": "backends.emulator", "emulate": "backends.emulator",
    "simulate": "backends.lava_sim", "read_netx": "netx.file",
    "run_path": "backends.runfile", "RunOptions": "backends.options",
    "RunResult": "backends.run",
    "compare": "comparison.compare",
    "UserError": "errors",
}

__all__ = sorted(_API)


def __getattr__(name: str):
    if name not in _API:
        raise AttributeError(f"module 'rouser_lava' has no attribute '{name}'")
    value = getattr(importlib.import_module(f".{_API[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_API))

"""The steps behind the CLI: train -> model.pt, model.pt -> .net, run either."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from .data import SpikeDataset
from .datasets import load_dataset
from .emulator import netx_input_shape
from .errors import UserError
from .export import read_metadata, write_netx
from .hw_limits import check_loihi2
from .modelfile import load_model
from .quantize import QuantizedNetwork, quantize_network
from .run import RunResult, netx_backend, run_backend, torch_backend

log = logging.getLogger(__name__)


def dataset_for(name: str, encoding: dict | None = None,
                data_root: str | None = None) -> SpikeDataset:
    """Load dataset ``name`` with the encoding a model was trained with; ``data_root``
    replaces the recorded folder (a model moved to another machine)."""
    encoding = dict(encoding or {})
    if data_root is not None:
        encoding["data_root"] = data_root
    return load_dataset(name, **encoding)


def format_export_report(qnet: QuantizedNetwork) -> str:
    """Per-layer table of what quantization did."""
    rows = [f"threshold form: {qnet.threshold_form}",
            f"{'layer':<8}{'w_exp':>6}{'w_bits':>7}{'clipped':>8}  {'threshold range':<17}"
            f"{'shared Th':>10}{'max rel w err':>14}"]
    for r in qnet.reports:
        shared = "-" if r.th_ref is None else f"{r.th_ref:.4f}"
        rows.append(f"{r.name:<8}{r.weight_exp:>6}{r.weight_bits:>7}{r.clipped:>8}  "
                    f"{r.th_min:>7.4f}..{r.th_max:<7.4f} {shared:>10}"
                    f"{100 * r.max_rel_error:>13.2f}%")
    return "\n".join(rows)


def export_model(model_path: str, net_path: str, threshold_form: str,
                 quiet: bool = False) -> QuantizedNetwork:
    """``rouser-export``: quantize ``model_path`` and write ``net_path``."""
    net, record = load_model(model_path)
    if Path(net_path).resolve() == Path(model_path).resolve():
        raise UserError(f"{net_path}: output would overwrite the model file")
    qnet = quantize_network(net, threshold_form)
    chip_warnings = check_loihi2(qnet)
    dataset = record["dataset"]
    encoding = dataset.get("encoding", {})
    steps = encoding.get("time_steps") or dataset_for(dataset["name"], encoding).time_steps
    write_netx(qnet, net_path, steps, dataset)
    if not quiet:
        print(format_export_report(qnet))
    if chip_warnings:
        log.warning("warning: per-neuron vThMant (%s) runs on Lava's CPU simulator only; "
                    "Lava's LIF holds one vth per population (lava#819) and Loihi 2 has "
                    "no per-neuron threshold: use --threshold-form fold for the chip",
                    ", ".join(w.split(":")[0] for w in chip_warnings))
    log.info("wrote %s", net_path)
    return qnet


def load_input_spikes(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """``--input X.npy``: uint8 ``(N, C, T)`` with C = prod(input_shape) in C order,
    reshaped to ``(N, *input_shape, T)``."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such input file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable .npy array ({err})") from None
    size = int(np.prod(input_shape))
    if x.ndim != 3 or x.shape[1] != size:
        raise UserError(f"{path}: expected spikes of shape (N, {size}, T), got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise UserError(f"{path}: spikes must be 0 or 1")
    return x.astype(np.uint8).reshape(len(x), *input_shape, x.shape[-1])


def run_path(path: str, dataset: str | None = None, backend: str | None = None,
             limit: int | None = None, input_npy: str | None = None,
             keep_spikes: bool = False, progress: bool = True,
             data_root: str | None = None) -> RunResult:
    """``rouser-run``: run a model file (torch) or a netx file (emulator or lava) on a
    dataset's test split or on raw spikes from a .npy file."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such file")
    is_model = p.suffix == ".pt"
    backend = backend or ("torch" if is_model else "emulator")
    if is_model != (backend == "torch"):
        kind = "a model file (.pt)" if is_model else "a netx file"
        fits = "torch" if is_model else "emulator or lava"
        raise UserError(f"{path}: backend '{backend}' cannot run {kind}; use {fits}")
    if is_model:
        net, record = load_model(path)
        meta, input_shape = record["dataset"], net.input_shape
    else:
        meta, input_shape = read_metadata(path)["dataset"], netx_input_shape(path)
    if input_npy is not None:
        x, y = load_input_spikes(input_npy, input_shape), None
    else:
        name = dataset or meta.get("name")
        if not name:
            raise UserError(f"{path}: no dataset recorded in the file; pass --dataset "
                            f"or --input")
        data = dataset_for(name, meta.get("encoding") if name == meta.get("name") else None,
                           data_root)
        if data.input_shape != tuple(input_shape):
            raise UserError(f"{path}: network input {tuple(input_shape)} does not fit "
                            f"dataset '{name}' samples {data.input_shape}")
        x, y = data.x_test, data.y_test
    if limit is not None:
        x, y = x[:limit], None if y is None else y[:limit]
    if is_model:
        fn, batch = torch_backend(net), 128
    else:
        fn, batch = netx_backend(backend, path, progress)
    return run_backend(backend, fn, x, y, batch, keep=len(x) if keep_spikes else 0,
                       progress=progress)

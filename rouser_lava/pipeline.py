"""The steps behind the CLI: train -> model.pt, model.pt -> .net, run either."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch

from .data import SpikeDataset
from .datasets import DATA_OPTIONS, load_dataset
from .emulator import netx_input_shape
from .errors import UserError
from .export import read_metadata, write_netx
from .hw_limits import check_loihi2
from .modelfile import load_model, save_model
from .neuron import NeuronConfig
from .presets import resolve
from .quantize import QuantizedNetwork, quantize_network
from .run import RunResult, netx_backend, run_backend, torch_backend
from .train import TrainConfig, config_dict, dense_net, train

log = logging.getLogger(__name__)


def dataset_for(name: str, encoding: dict | None = None,
                data_root: str | None = None) -> SpikeDataset:
    """Load dataset ``name`` with the encoding a model was trained with; ``data_root``
    replaces the recorded folder (a model moved to another machine)."""
    encoding = dict(encoding or {})
    if data_root is not None:
        encoding["data_root"] = data_root
    return load_dataset(name, **encoding)


def train_model(args) -> list[dict]:
    """``rouser-train``: build, train and save a model from parsed CLI arguments."""
    out = Path(args.out)
    if not out.parent.is_dir():
        raise UserError(f"{out}: folder '{out.parent}' does not exist")
    builtin = {**config_dict(TrainConfig()), "dataset": "digits", "threshold_init": 1.25}
    given = {k: getattr(args, k) for k in ("dataset", "epochs", "batch_size", "lr",
                                           "lr_threshold", "seed", "hidden",
                                           "threshold_init", *DATA_OPTIONS)}
    opt = resolve(args.preset, given, builtin)
    data = load_dataset(opt["dataset"], **{k: opt.get(k) for k in DATA_OPTIONS})
    cfg = TrainConfig(epochs=opt["epochs"], batch_size=opt["batch_size"], lr=opt["lr"],
                      lr_threshold=opt["lr_threshold"], seed=opt["seed"],
                      hidden=tuple(opt["hidden"]))
    neuron = NeuronConfig(threshold=opt["threshold_init"],
                          learn_threshold=args.thresholds == "learned")
    torch.manual_seed(cfg.seed)
    net = dense_net(data, cfg.hidden, neuron)
    log.info("training %s on %s: %d train / %d test samples, %d steps, thresholds %s",
             "-".join(str(s) for s in [data.input_shape[0], *cfg.hidden, data.num_classes]),
             data.name, len(data.x_train), len(data.x_test), data.time_steps, args.thresholds)
    history = train(net, data, cfg, progress=not args.quiet)
    save_model(out, net, {"name": data.name, "encoding": data.encoding,
                          "train": config_dict(cfg)}, history)
    log.info("wrote %s", out)
    return history


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


def export_model(model_path: str, net_path: str, threshold_form: str) -> QuantizedNetwork:
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

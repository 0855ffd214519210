"""``rouser-run``'s step: a model file (torch) or a netx file (emulator or Lava) over a
dataset's test split or raw spikes from a ``.npy`` file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.registry import dataset_for
from ..deploy.export import read_metadata
from ..errors import UserError
from ..model.modelfile import load_model
from .emulator import netx_input_shape
from .run import BatchOutput, RunResult, netx_backend, run_backend, torch_backend
from .stream import StreamSpec

if TYPE_CHECKING:
    from .loihi2 import BoardPlan


def load_input_spikes(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """``--input X.npy``: uint8 ``(N, C, T)`` with C = prod(input_shape) in C order,
    reshaped to ``(N, *input_shape, T)``."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such input file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: not a readable .npy array ({err})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UserError(f"{path}: is an .npz archive; --input takes one .npy array")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: holds {x.dtype} values; expected 0/1 spikes")
    size = int(np.prod(input_shape))
    if x.ndim != 3 or x.shape[1] != size:
        raise UserError(f"{path}: expected spikes of shape (N, {size}, T), got {x.shape}")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise UserError(f"{path}: holds {x.shape[0]} samples of {x.shape[2]} steps; need at "
                        f"least one of each")
    if not np.isin(x, (0, 1)).all():
        raise UserError(f"{path}: spikes must be 0 or 1")
    return x.astype(np.uint8).reshape(len(x), *input_shape, x.shape[-1])


def load_inputs(path: str, meta: dict, input_shape: tuple[int, ...], dataset: str | None,
                input_npy: str | None, data_root: str | None = None,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples for the network at ``path``: spikes ``(N, *input_shape, T)`` and labels
    (None for ``--input``): from ``input_npy``, else the test split of ``dataset`` or of
    the dataset recorded in ``meta``; the first ``limit`` only."""
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
    return x, y


def run_path(path: str, dataset: str | None = None, backend: str | None = None,
             limit: int | None = None, input_npy: str | None = None,
             keep_spikes: bool = False, progress: bool = True,
             data_root: str | None = None, timeout: float | None = None,
             stream: StreamSpec | None = None, workers: int = 1) -> RunResult:
    """``rouser-run``: run a model file (torch) or a netx file (emulator or lava) on a
    dataset's test split or on raw spikes from a .npy file. ``timeout``: seconds the
    Lava run may take (None: the default of ``lava_guard.limits``); ``stream``: run the
    netx file in a board's stream layout (:mod:`rouser_lava.backends.stream`);
    ``workers``: Lava processes to split the samples over (lava only)."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such file")
    is_model = p.suffix == ".pt"
    backend = backend or ("torch" if is_model else "emulator")
    if is_model and stream is not None:
        raise UserError(f"{path}: the stream layout runs netx files; a model file runs "
                        f"on torch, one sample at a time")
    if is_model != (backend == "torch"):
        kind = "a model file (.pt)" if is_model else "a netx file"
        fits = "torch" if is_model else "emulator or lava"
        raise UserError(f"{path}: backend '{backend}' cannot run {kind}; use {fits}")
    if workers != 1 and backend != "lava":
        raise UserError(f"--workers {workers}: only the lava backend runs in worker "
                        f"processes, not {backend}")
    if is_model:
        net, record = load_model(path)
        x, y = load_inputs(path, record["dataset"], net.input_shape, dataset, input_npy,
                           data_root, limit)
        fn, batch = torch_backend(net), 128
    else:
        x, y = _netx_samples(path, dataset, input_npy, data_root, limit)
        fn, batch = netx_backend(backend, path, progress, timeout, stream, workers)
    return run_backend(backend, fn, x, y, batch, keep=len(x) if keep_spikes else 0,
                       progress=progress)


def board_run(path: str, hw_config: str, dataset: str | None = None,
              limit: int | None = None, input_npy: str | None = None,
              data_root: str | None = None, timeout: float | None = None,
              stream: StreamSpec | None = None,
              dry_run: bool = False,
              keep_spikes: bool = False) -> tuple[BoardPlan, RunResult | None]:
    """``rouser-run --backend loihi2``: check and plan the run (design rules, resource
    map, stream layout); unless ``dry_run``, run it on the board (output layer only)."""
    from ..deploy.hw_config import load_hw_config
    from .loihi2 import plan_run, run_on_board

    if not Path(path).is_file() or Path(path).suffix == ".pt":
        raise UserError(f"{path}: the loihi2 backend runs an exported netx file "
                        f"(rouser-export model.pt net.net)")
    hw = load_hw_config(hw_config)
    x, y = _netx_samples(path, dataset, input_npy, data_root, limit)
    plan = plan_run(path, hw, len(x), x.shape[-1], stream, timeout)
    if dry_run:
        return plan, None
    result = run_backend("loihi2", lambda batch: BatchOutput(run_on_board(plan, batch)), x, y,
                         batch_size=len(x), keep=len(x) if keep_spikes else 0)
    result.layer_names = [f"layer{plan.depth - 1}"]
    return plan, result


def _netx_samples(path: str, dataset: str | None, input_npy: str | None,
                  data_root: str | None, limit: int | None):
    return load_inputs(path, read_metadata(path)["dataset"], netx_input_shape(path),
                       dataset, input_npy, data_root, limit)

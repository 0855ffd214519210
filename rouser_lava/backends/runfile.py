"""``rouser-run``'s step: a model file (torch) or a netx file (emulator or Lava) over a
dataset's test split, raw spikes from a ``.npy`` file, or (for a netx input layer with
neurons) one bias image per sample from a ``.npy`` file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.registry import dataset_for
from ..deploy.export import read_metadata
from ..deploy.netx_check import BIAS_MAX, BIAS_MIN, check_netx
from ..deploy.netx_input import netx_input_shapes, pick_input_shape
from ..errors import UserError
from ..model.modelfile import load_model
from .run import BatchOutput, RunResult, netx_backend, run_backend, torch_backend
from .stream import StreamSpec

if TYPE_CHECKING:
    from .loihi2 import BoardPlan


def _load_npy(path: str, option: str, what: str) -> np.ndarray:
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such input file")
    try:
        x = np.load(p, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: not a readable .npy array ({err})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UserError(f"{path}: is an .npz archive; {option} takes one .npy array")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: holds {x.dtype} values; expected {what}")
    return x


def load_input_spikes(path: str, shapes: list[tuple[int, ...]]) -> np.ndarray:
    """``--input X.npy``: uint8 ``(N, C, T)`` with C = prod(input_shape) in C order,
    reshaped to ``(N, *input_shape, T)``; ``input_shape`` is the one of ``shapes``
    (the network's possible input shapes) of size C."""
    x = _load_npy(path, "--input", "0/1 spikes")
    want = int(np.prod(shapes[0])) if len(shapes) == 1 else None
    if x.ndim != 3 or want is not None and x.shape[1] != want:
        raise UserError(f"{path}: expected spikes of shape (N, {want or 'C'}, T), got "
                        f"{x.shape}")
    input_shape = pick_input_shape(path, shapes, size=x.shape[1],
                                   source=" (from --input)")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise UserError(f"{path}: holds {x.shape[0]} samples of {x.shape[2]} steps; need at "
                        f"least one of each")
    if not np.isin(x, (0, 1)).all():
        raise UserError(f"{path}: spikes must be 0 or 1")
    return x.astype(np.uint8).reshape(len(x), *input_shape, x.shape[-1])


def load_input_bias(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """``--input-bias X.npy``: one integer image per sample, ``(N, *lava_shape)`` or one
    ``lava_shape`` (Lava's order, the reverse of the file's ``shape``: ``(x, y, c)``), as
    lava-dl sets ``bias_mant``; returns int64 ``(N, *input_shape)`` in torch order."""
    b = _load_npy(path, "--input-bias", "integer bias values")
    lava_shape = tuple(input_shape[::-1])
    if b.shape == lava_shape:
        b = b[None]
    if b.shape[1:] != lava_shape or not len(b):
        dims = ", ".join(map(str, lava_shape))
        raise UserError(f"{path}: expected bias images (N, {dims}) or one ({dims}) (Lava's "
                        f"order, the reverse of the input layer's shape), got {b.shape}")
    if not np.all(np.isfinite(b)) or not np.all(b == np.round(b)):
        raise UserError(f"{path}: bias values must be integers (Lava's bias_mant is int16)")
    if b.min() < BIAS_MIN or b.max() > BIAS_MAX:
        raise UserError(f"{path}: bias values span {b.min():.0f}..{b.max():.0f}; Lava's "
                        f"int16 bias_mant holds {BIAS_MIN}..{BIAS_MAX}")
    return np.ascontiguousarray(np.transpose(b.astype(np.int64),
                                             (0, *range(b.ndim - 1, 0, -1))))


def load_inputs(path: str, meta: dict, shapes: list[tuple[int, ...]], dataset: str | None,
                input_npy: str | None, data_root: str | None = None,
                limit: int | None = None) -> tuple[np.ndarray, np.ndarray | None]:
    """Samples for the network at ``path``: spikes ``(N, *input_shape, T)`` and labels
    (None for ``--input``): from ``input_npy``, else the test split of ``dataset`` or of
    the dataset recorded in ``meta``; the first ``limit`` only. ``input_shape`` is the
    one of ``shapes`` (the network's possible input shapes) that fits the samples."""
    if input_npy is not None:
        x, y = load_input_spikes(input_npy, shapes), None
    else:
        name = dataset or meta.get("name")
        if not name:
            raise UserError(f"{path}: no dataset recorded in the file; pass --dataset "
                            f"or --input")
        data = dataset_for(name, meta.get("encoding") if name == meta.get("name") else None,
                           data_root)
        pick_input_shape(path, shapes, shape=data.input_shape,
                         source=f" (dataset '{name}')")
        x, y = data.x_test, data.y_test
    if limit is not None:
        x, y = x[:limit], None if y is None else y[:limit]
    return x, y


def run_path(path: str, dataset: str | None = None, backend: str | None = None,
             limit: int | None = None, input_npy: str | None = None,
             keep_spikes: bool = False, progress: bool = True,
             data_root: str | None = None, timeout: float | None = None,
             stream: StreamSpec | None = None, workers: int = 1,
             input_bias: str | None = None, steps: int | None = None,
             input_shape: tuple[int, ...] | None = None, record_state: bool = False,
             state_steps: list[int] | None = None) -> RunResult:
    """``rouser-run``: run a model file (torch) or a netx file (emulator or lava) on a
    dataset's test split or on raw spikes from a .npy file. ``timeout``: seconds the
    Lava run may take (None: the default of ``lava_guard.limits``); ``stream``: run the
    netx file in a board's stream layout (:mod:`rouser_lava.backends.stream`);
    ``workers``: Lava processes to split the samples over (lava only); ``input_bias``
    and ``steps``: bias images (:func:`load_input_bias`) run for ``steps`` steps instead
    of spikes; ``input_shape``: the samples' shape (torch order) where the file does not
    state it; ``record_state``: keep ``u`` and ``v`` of every layer at ``state_steps``
    (None: every step)."""
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
    if is_model and (input_bias or input_shape or record_state):
        raise UserError(f"{path}: --input-bias, --input-shape and --dump-state run netx "
                        f"files; a model file takes spikes on torch")
    bias = None
    if is_model:
        net, record = load_model(path)
        x, y = load_inputs(path, record["dataset"], [net.input_shape], dataset, input_npy,
                           data_root, limit)
        fn, batch = torch_backend(net), 128
    else:
        x, y, bias = _netx_samples(path, dataset, input_npy, data_root, limit, input_shape,
                                   input_bias, steps)
        fn, batch = netx_backend(backend, path, progress, timeout, stream, workers,
                                 record_state, x.shape[1:-1])
    if state_steps is not None and max(state_steps) >= x.shape[-1]:
        raise UserError(f"--state-steps {max(state_steps)}: the samples have "
                        f"{x.shape[-1]} steps (0..{x.shape[-1] - 1})")
    return run_backend(backend, fn, x, y, batch, keep=len(x) if keep_spikes else 0,
                       progress=progress, bias=bias, state_steps=state_steps)


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
    x, y, _ = _netx_samples(path, dataset, input_npy, data_root, limit)
    plan = plan_run(path, hw, len(x), x.shape[-1], stream, timeout)
    if dry_run:
        return plan, None
    result = run_backend("loihi2", lambda batch, _: BatchOutput(run_on_board(plan, batch)),
                         x, y, batch_size=len(x), keep=len(x) if keep_spikes else 0)
    result.layer_names = [f"layer{plan.depth - 1}"]
    return plan, result


def _netx_samples(path: str, dataset: str | None, input_npy: str | None,
                  data_root: str | None, limit: int | None,
                  input_shape: tuple[int, ...] | None = None, input_bias: str | None = None,
                  steps: int | None = None):
    """Spikes ``(N, *input_shape, T)``, labels or None, and bias images ``(N,
    *input_shape)`` or None for a netx file."""
    shapes = netx_input_shapes(path, input_shape)
    if input_bias is None:
        if steps is not None:
            raise UserError("--steps goes with --input-bias (spike inputs have their own)")
        x, y = load_inputs(path, read_metadata(path)["dataset"], shapes, dataset, input_npy,
                           data_root, limit)
        return x, y, None
    if dataset is not None or input_npy is not None or steps is None:
        raise UserError("--input-bias needs --steps T and replaces --dataset and --input")
    first = check_netx(path, values=False).layers[0]
    if first.kind != "input" or not first.neurons:
        raise UserError(f"{path}: --input-bias drives an input layer with a neuron group; "
                        f"this network's first layer is {first.kind} without one")
    bias = load_input_bias(input_bias, shapes[0])[:limit]
    return np.zeros((len(bias), *shapes[0], steps), np.uint8), None, bias

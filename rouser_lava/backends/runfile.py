"""``rouser-run``'s step: a model file (torch) or a netx file (emulator or Lava) over a
dataset's test split, raw spikes from a ``.npy`` file, or (for a netx input layer with
neurons) one bias image per sample from a ``.npy`` file."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..data.registry import dataset_for
from ..errors import UserError, param
from ..loihi import BIAS_MAX, BIAS_MIN
from ..model.blocks import bias_neurons
from ..model.modelfile import load_model
from ..netx.file import LAVA, NetxFile, read_netx
from ..netx.shape import pick_input_shape
from ..resources import require_npy_fits
from .options import DEFAULT_BOARD, RunOptions
from .run import BatchOutput, RunResult, netx_backend, run_backend, torch_backend

if TYPE_CHECKING:
    from .loihi2 import BoardPlan


CHECK_CHUNK = 1 << 24  # values per pass of the 0/1 check (16 MB of uint8)


def _load_npy(path: str, option: str, what: str, mmap: bool = False) -> np.ndarray:
    """The array in the ``.npy`` file ``path`` (``mmap``: memory-mapped read-only, read
    from disk as it is used), UserError unless it is one readable numeric array."""
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such input file")
    require_npy_fits(p, option, in_memory=not mmap)
    try:
        x = np.load(p, allow_pickle=False, mmap_mode="r" if mmap else None)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"{path}: not a readable .npy array ({err})") from None
    if not isinstance(x, np.ndarray):
        x.close()
        raise UserError(f"{path}: is an .npz archive; {option} takes one .npy array")
    if x.dtype.kind not in "biuf":
        raise UserError(f"{path}: holds {x.dtype} values; expected {what}")
    return x


def spikes_only(x: np.ndarray, chunk: int = CHECK_CHUNK) -> bool:
    """Whether every value of ``x`` is 0 or 1, checked in chunks of about ``chunk``
    values (whole rows of the first axis): a memory-mapped file is read once, a chunk
    at a time, and never copied whole; unsigned and bool arrays by their maximum."""
    rows = max(1, chunk // max(1, x[0].size)) if len(x) else 1
    for start in range(0, len(x), rows):
        part = x[start:start + rows]
        if x.dtype.kind in "ub":
            if part.size and part.max() > 1:
                return False
        elif not ((part == 0) | (part == 1)).all():
            return False
    return True


def load_input_spikes(path: str, shapes: list[tuple[int, ...]]) -> np.ndarray:
    """``--input X.npy``: 0/1 spikes ``(N, C, T)`` with C = prod(input_shape) in C
    order, as a read-only memory-mapped view ``(N, *input_shape, T)`` of the file (its
    dtype kept: the runners convert each batch as they read it); ``input_shape`` is
    the one of ``shapes`` (the network's possible input shapes) of size C."""
    x = _load_npy(path, param("input_npy"), "0/1 spikes", mmap=True)
    want = int(np.prod(shapes[0])) if len(shapes) == 1 else None
    if x.ndim != 3 or want is not None and x.shape[1] != want:
        raise UserError(f"{path}: expected spikes of shape (N, {want or 'C'}, T), got "
                        f"{x.shape}")
    input_shape = pick_input_shape(path, shapes, size=x.shape[1],
                                   source=f" (from {param('input_npy')})")
    if x.shape[0] == 0 or x.shape[2] == 0:
        raise UserError(f"{path}: holds {x.shape[0]} samples of {x.shape[2]} steps; need at "
                        f"least one of each")
    if not spikes_only(x):
        raise UserError(f"{path}: spikes must be 0 or 1")
    return x.reshape(len(x), *input_shape, x.shape[-1])


def load_input_bias(path: str, input_shape: tuple[int, ...]) -> np.ndarray:
    """``--input-bias X.npy``: one integer image per sample, ``(N, *lava_shape)`` or one
    ``lava_shape`` (Lava's order, the reverse of the file's ``shape``: ``(x, y, c)``), as
    lava-dl sets ``bias_mant``; returns int64 ``(N, *input_shape)`` in torch order."""
    b = _load_npy(path, param("input_bias"), "integer bias values")
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
            raise UserError(f"{path}: no dataset recorded in the file; pass "
                            f"{param('dataset')} or {param('input_npy')}")
        data = dataset_for(name, meta.get("encoding") if name == meta.get("name") else None,
                           data_root)
        pick_input_shape(path, shapes, shape=data.input_shape,
                         source=f" (dataset '{name}')")
        x, y = data.x_test, data.y_test
    if limit is not None:
        x, y = x[:limit], None if y is None else y[:limit]
    return x, y


def run_path(path: str, options: RunOptions | None = None) -> RunResult:
    """``rouser-run``: run a model file (torch) or a netx file (emulator or lava) on a
    dataset's test split, raw spikes from a .npy file or bias images, as ``options``
    (:class:`RunOptions`, default: the file's backend over its dataset) say. The netx
    file is read once (:func:`rouser_lava.netx.file.read_netx`) and every later step
    takes what was read."""
    o = options or RunOptions()
    p = Path(path)
    if not p.is_file():
        raise UserError(f"{path}: no such file")
    is_model = p.suffix.lower() == ".pt"
    backend = o.backend or ("torch" if is_model else "emulator")
    o.check_file(path, is_model, backend)
    bias = None
    if is_model:
        net, record = load_model(path)
        x, y = load_inputs(path, record["dataset"], [net.input_shape], o.dataset,
                           o.input_npy, o.data_root, o.limit)
        fn, batch = torch_backend(net), 128
        helpers = [bias_neurons(s) for s in net.arch if s["kind"] != "flatten"]
    else:
        netx = read_netx(path, o.input_shape, layers=backend == "emulator",
                         reader=LAVA if backend == "lava" else None)
        x, y, bias = _netx_samples(netx, o)
        fn, batch = netx_backend(backend, netx, o.progress, o.timeout, o.stream, o.workers,
                                 o.record_state, x.shape[1:-1], o.state_steps)
        helpers = [la.bias_neurons for la in netx.summary.spiking]
    _check_state_steps(o, x.shape[-1])
    result = run_backend(backend, fn, x, y, batch, keep=len(x) if o.keep_spikes else 0,
                         progress=o.progress, bias=bias,
                         state_steps=None if o.state_steps is None else list(o.state_steps))
    return replace(result, bias_neurons=helpers if any(helpers) else [])


def board_run(path: str, options: RunOptions) -> tuple[BoardPlan, RunResult | None]:
    """``rouser-run --backend loihi2``: check and plan the run (design rules, resource
    map, stream layout); unless ``options.dry_run``, run it on the board, or with
    ``options.rehearse`` the same process graph on Lava's CPU simulator: the output
    layer's spikes, a membrane readout's ``v``, and with ``options.record_state`` every
    layer's ``u`` and ``v``."""
    from ..deploy.hw_config import load_hw_config
    from .loihi2 import plan_run, rehearse, run_on_board

    if not Path(path).is_file() or Path(path).suffix.lower() == ".pt":
        raise UserError(f"{path}: the loihi2 backend runs an exported netx file "
                        f"(rouser-export model.pt net.net)")
    hw = load_hw_config(options.hw_config or DEFAULT_BOARD)
    netx = read_netx(path, reader=LAVA)  # every value checked, as for the simulator
    options.check_file(path, False, "loihi2")
    x, y, bias = _netx_samples(netx, options)
    _check_state_steps(options, x.shape[-1])
    plan = plan_run(netx, hw, len(x), x.shape[-1], options.stream, options.timeout,
                    bias=bias is not None, chunk=options.chunk_samples)
    if options.dry_run:
        return plan, None

    def run(batch: np.ndarray, batch_bias: np.ndarray | None) -> BatchOutput:
        if options.rehearse:
            return rehearse(plan, batch, batch_bias, options.timeout, options.progress,
                            options.record_state, options.state_steps)
        return run_on_board(plan, batch, batch_bias, options.timeout, options.record_state,
                            options.state_steps)

    result = run_backend("loihi2", run, x, y, batch_size=len(x),
                         keep=len(x) if options.keep_spikes else 0,
                         first_layer=plan.depth - 1, bias=bias, progress=False,
                         state_steps=None if options.state_steps is None
                         else list(options.state_steps))
    return plan, result


def _check_state_steps(o: RunOptions, steps: int) -> None:
    if o.state_steps is not None and max(o.state_steps) >= steps:
        raise UserError(f"{param('state_steps')} {max(o.state_steps)}: the samples have "
                        f"{steps} steps (0..{steps - 1})")


def _netx_samples(netx: NetxFile, o: RunOptions):
    """Spikes ``(N, *input_shape, T)``, labels or None, and bias images ``(N,
    *input_shape)`` or None for the netx file ``netx``."""
    shapes = netx.input_shapes
    if o.input_bias is None:
        x, y = load_inputs(netx.path, netx.metadata.dataset, shapes, o.dataset, o.input_npy,
                           o.data_root, o.limit)
        return x, y, None
    first = netx.summary.layers[0]
    if first.kind != "input" or not first.neurons:
        raise UserError(f"{netx.path}: {param('input_bias')} drives an input layer with a "
                        f"neuron group; this network's first layer is {first.kind} without one")
    assert o.steps is not None  # RunOptions.check_file: input_bias needs steps
    bias = load_input_bias(o.input_bias, shapes[0])[:o.limit]
    return np.zeros((len(bias), *shapes[0], o.steps), np.uint8), None, bias

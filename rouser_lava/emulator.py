"""Batched, bit-exact emulator of what Lava's ``fixed_pt`` models do with a netx network.

Reproduced (lava-nc 0.10.0, lava-dl 0.6.0, ``Loihi2SimCfg(select_tag='fixed_pt')``):

- Layers ``input`` (shape only), ``dense``, ``dense_rec``, ``conv`` and ``flatten``;
  neuron types ``CUBA`` and ``LOIHI`` (netx maps both to Lava's ``LIF``); a dense layer
  without a neuron group gets netx's default (iDecay 0, vDecay 4096, vThMant 1 << 17).
- Dense weights exactly as Lava ends up using them: netx's ``optimize_weight_bits``
  (clip to [-256, 254] for mixed signs, left-shift by the chosen exponent), then the
  Dense model's ``clip_weights`` (8 bits) and ``truncate_weights`` with the sign mode
  Lava determines from the matrix. The activation is ``sum(W[:, spiking])`` shifted by
  the weight exponent (``>>`` floors negative values) and arrives one step later (the
  Dense ``a_buff``). ``dense_rec`` has two synapses (feed-forward and recurrent, each
  shifted separately, sign mode per matrix) that both feed the neuron.
- Conv: file weights used as they are (Lava's Conv model has no exponent and no clip),
  netx's kernel flip cancels Lava's, so the operation is torch's ``conv2d`` on
  ``(C, H, W)``; the activation is clamped to signed 24 bits and delayed one step.
- LIF, per step: ``u = sign(u) (|u (4096 - iDecay)| >> 12) + (a << 6)`` with 24-bit
  wrap (``u > 2**23 -> u - 2**24``, ``u <= -2**23 -> u + 2**24``);
  ``v = sign(v) (|v (4096 - vDecay)| >> 12) + u + (bias << 6)`` clipped to
  ``+-(2**23 - 1)``; spike when ``v > vThMant << 6`` (scalar, per channel or per
  neuron), then ``v = 0``. No refractory period; binary spikes.
- Time: input column ``t`` is Lava step ``t + 1``; output column ``t`` is what a sink
  records at step ``t + 1``. Every sample starts from zero state.

Refused with a clear error: layer types netx cannot build (pool, average, concat,
convT, unpool), ``dense_comp``, synaptic ``delay``, ``input`` layers with a neuron
(graded input encoders), other neuron types, and graded (multi-bit) spikes.

Arithmetic: synaptic sums are integers computed in float32 (exact while below 2**24,
checked) over all time steps at once, sparse where spikes are sparse; the neuron
recurrence runs in float64, which holds every intermediate exactly (< 2**53).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from . import _slayer  # noqa: F401  (quiet lava-dl import before netx)
from .errors import UserError

UV_MAX = 1 << 23
SPARSE_BELOW = 0.05  # spike density under which synaptic sums use a sparse product
UNSUPPORTED = ("pool", "average", "concat", "convT", "unpool", "dense_comp")


@dataclass(frozen=True)
class EmuLayer:
    """One spiking layer (or a flatten) in the emulator's torch layout.

    ``weight`` is float32 holding integers: ``(C_out, C_in)`` or
    ``(C_out, C_in / groups, kH, kW)``; ``vth`` and ``bias`` are float64 broadcastable
    to ``(N, *shape)``.
    """

    kind: str
    shape: tuple[int, ...]
    weight: torch.Tensor | None = None
    weight_rec: torch.Tensor | None = None
    weight_exp: int = 0
    conv: dict | None = None
    i_decay: int = 0
    v_decay: int = 0
    vth: torch.Tensor | None = None
    bias: torch.Tensor | None = None


@dataclass
class EmuResult:
    """Emulated run: uint8 spikes ``(N, *shape, T)`` per spiking layer, optionally
    int64 ``u`` and ``v`` of the same shapes (post-reset ``v``, as Lava holds it)."""

    spikes: list[np.ndarray]
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None


def _lava_dense_weight(weight: np.ndarray, num_bits: int) -> np.ndarray:
    """Weights as Lava's Dense fixed_pt model ends up using them."""
    from lava.utils.weightutils import clip_weights, determine_sign_mode, truncate_weights

    mode = determine_sign_mode(weight)
    return truncate_weights(clip_weights(weight, mode, num_bits=8), mode, num_bits)


def _neuron_fields(cfg, path: str, name: str, shape: tuple[int, ...], bias) -> dict:
    kind = cfg["type"] if cfg is not None else "CUBA"
    if kind not in ("CUBA", "LOIHI"):
        raise UserError(f"{path}: {name} has neuron type {kind}; only CUBA and LOIHI are "
                        f"reproduced")
    if cfg is None:  # netx's non-leaky integrator default
        i_decay, v_decay, vth = 0, 4096, np.array(1 << 18 - 1)
    else:
        i_decay, v_decay = int(cfg["iDecay"]), int(cfg["vDecay"])
        vth = np.asarray(cfg["vThMant"]).astype(np.int64)
        if "gradedSpike" in cfg.keys() and bool(np.any(cfg.f["gradedSpike"][()])):
            raise UserError(f"{path}: {name} has graded spikes; Lava's CUBA has none")
    channels, size = shape[0], int(np.prod(shape))

    def per_channel(values: np.ndarray, what: str) -> torch.Tensor:
        values = np.asarray(values, dtype=np.float64)
        if values.size == 1:
            return torch.tensor(float(values.reshape(-1)[0]), dtype=torch.float64)
        if len(shape) == 1 and values.size == size:
            return torch.from_numpy(values.reshape(shape))
        if len(shape) == 3 and values.size == channels:
            return torch.from_numpy(values.reshape(channels, 1, 1))
        raise UserError(f"{path}: {name} {what} of size {values.size} fits neither one "
                        f"value, one per channel nor one per neuron")

    return {"i_decay": i_decay, "v_decay": v_decay,
            "vth": per_channel(vth * 64, "vThMant"),
            "bias": per_channel(np.zeros(1) if bias is None else np.asarray(bias) * 64,
                                "bias")}


def load_netx(path: str) -> list[EmuLayer]:
    """Read a netx HDF5 file into emulator layers (refusing what is not reproduced)."""
    from lava.lib.dl.netx.utils import NetDict, optimize_weight_bits

    try:
        net = NetDict(str(path))
        layers_cfg = net["layer"]
        count = len(layers_cfg)
    except (OSError, KeyError) as err:
        raise UserError(f"{path}: not a readable netx file ({err})") from None
    layers: list[EmuLayer] = []
    shape: tuple[int, ...] | None = None
    for i in range(count):
        cfg = layers_cfg[i]
        kind, name = cfg["type"], f"layer {i}"
        keys = set(cfg.keys())
        if kind in UNSUPPORTED or kind not in ("input", "dense", "dense_rec", "conv",
                                               "flatten"):
            raise UserError(f"{path}: {name} has type '{kind}', which is not reproduced")
        if "delay" in keys:
            raise UserError(f"{path}: {name} has synaptic delays, which are not reproduced")
        if kind == "input":
            if "neuron" in keys:
                raise UserError(f"{path}: {name} is an input layer with a neuron (graded "
                                f"input encoder), which is not reproduced")
            shape = tuple(int(s) for s in cfg["shape"])
            continue
        if kind == "flatten":
            shape = (int(np.prod(shape)),) if shape is not None else None
            layers.append(EmuLayer("flatten", shape or (0,)))
            continue
        bias = cfg["bias"] if "bias" in keys else None
        neuron = cfg["neuron"] if "neuron" in keys else None
        if kind == "conv":
            out_shape = tuple(int(s) for s in cfg["shape"])
            weight = cfg["weight"]
            conv = {k: tuple(int(v) for v in np.broadcast_to(cfg[k], (2,)))
                    for k in ("stride", "padding", "dilation")}
            conv["groups"] = int(np.asarray(cfg["groups"]).reshape(-1)[0])
            layers.append(EmuLayer(
                "conv", out_shape, torch.from_numpy(weight.reshape(weight.shape[:4])
                                                    .astype(np.float32)), conv=conv,
                **_neuron_fields(neuron, path, name, out_shape, bias)))
        else:
            out_shape = (int(np.prod(cfg["shape"])),)
            weight = cfg["weight"].reshape(out_shape[0], -1)
            rec = None
            if kind == "dense_rec":
                rec = cfg["weight_rec"].reshape(out_shape[0], -1)
                both, bits, exp, _ = optimize_weight_bits(np.hstack((weight, rec)))
                weight, rec = both[:, :weight.shape[1]], both[:, weight.shape[1]:]
                rec = torch.from_numpy(_lava_dense_weight(rec, bits).astype(np.float32))
            else:
                weight, bits, exp, _ = optimize_weight_bits(weight)
            weight = torch.from_numpy(_lava_dense_weight(weight, bits).astype(np.float32))
            layers.append(EmuLayer(kind, out_shape, weight, rec, int(exp),
                                   **_neuron_fields(neuron, path, name, out_shape, bias)))
        shape = out_shape
    if not any(la.kind != "flatten" for la in layers):
        raise UserError(f"{path}: no spiking layer to run")
    return layers


def netx_input_shape(path: str) -> tuple[int, ...]:
    """Input shape of a netx file in torch order: the ``input`` layer's ``shape``, else
    the first dense layer's input size."""
    import h5py

    try:
        with h5py.File(path, "r") as f:
            first = f["layer/0"]
            kind = first["type"][()].reshape(-1)[0].decode("ascii")
            if kind == "input" and "shape" in first:
                return tuple(int(s) for s in first["shape"][()])
            if kind in ("dense", "dense_rec"):
                return (int(first["weight"].shape[-1]),)
    except (OSError, KeyError) as err:
        raise UserError(f"{path}: not a readable netx file ({err})") from None
    raise UserError(f"{path}: cannot tell the input shape (no input layer before '{kind}')")


def _shift(a: torch.Tensor, exp: int) -> torch.Tensor:
    """``a << exp`` or ``a >> -exp`` (floor) on float-held integers."""
    return a * (1 << exp) if exp >= 0 else torch.floor(a / (1 << -exp))


def _csr_product(rows: torch.Tensor, cols: torch.Tensor, n_rows: int, n_cols: int,
                 weight: torch.Tensor) -> torch.Tensor:
    """``S @ weight.T`` for a 0/1 matrix S given by row-sorted (row, col) indices."""
    crow = torch.zeros(n_rows + 1, dtype=torch.int64)
    crow[1:] = torch.bincount(rows, minlength=n_rows).cumsum(0)
    with warnings.catch_warnings():  # "sparse CSR support is in beta"
        warnings.simplefilter("ignore", UserWarning)
        sparse = torch.sparse_csr_tensor(crow, cols, torch.ones(len(cols)), (n_rows, n_cols))
    return sparse @ weight.t()


def _synapse(layer: EmuLayer, s: torch.Tensor) -> torch.Tensor:
    """Activations before the one-step delay for spikes ``s`` (``(N, T, *shape_in)``,
    uint8); returns float32 ``(N, T, *shape)``."""
    n, steps = s.shape[:2]
    if layer.kind == "conv":
        a = F.conv2d(s.reshape(n * steps, *s.shape[2:]).float(), layer.weight, **layer.conv)
        return a.reshape(n, steps, *a.shape[1:]).clamp(-UV_MAX, UV_MAX - 1)  # 24-bit a_buf
    x = s.reshape(n * steps, -1)  # (N*T, C_in), rows in (n, t) order
    if float(x.count_nonzero()) < SPARSE_BELOW * x.numel():  # event sparsity
        rows, cols = x.nonzero(as_tuple=True)  # row-major, so already CSR-sorted
        a = _csr_product(rows, cols, x.shape[0], x.shape[1], layer.weight)
    else:
        a = x.float() @ layer.weight.t()
    return _shift(a, layer.weight_exp).reshape(n, steps, -1)


def _first_synapse(layer: EmuLayer, x: np.ndarray) -> torch.Tensor:
    """Layer 0 straight from the input ``(N, *shape, T)``: a sparse input to a dense
    layer becomes CSR rows ``(n, t)`` from its nonzero indices, without transposing
    the whole array."""
    if x.ndim != 3 or np.count_nonzero(x) >= SPARSE_BELOW * x.size:
        return _synapse(layer, torch.from_numpy(np.moveaxis(x, -1, 1).copy()))
    n, c, steps = x.shape
    sample, chan, step = torch.from_numpy(x).nonzero(as_tuple=True)
    rows, order = torch.sort(sample * steps + step, stable=True)
    a = _csr_product(rows, chan[order], n * steps, c, layer.weight)
    return _shift(a, layer.weight_exp).reshape(n, steps, -1)


def _decay(x: torch.Tensor, decay: int) -> torch.Tensor:
    """``sign(x) * ((|x| * (4096 - decay)) >> 12)`` on float64-held integers."""
    return torch.trunc(x * ((4096 - decay) / 4096))


def _abs_max(a: torch.Tensor) -> float:
    """``max |a|`` in one pass (0 for empty tensors)."""
    if not a.numel():
        return 0.0
    lo, hi = torch.aminmax(a)
    return max(-float(lo), float(hi))


def _check_exact(a_max: float, layer_index: int) -> None:
    if a_max >= 2 ** 24:
        raise UserError(f"layer {layer_index}: synaptic sum exceeds 2**24; the float32 "
                        f"emulation would not be exact")


def _gain(decay: int, steps: int) -> float:
    """Upper bound of ``|y| / max|x|`` for ``y = rtz(y (4096 - decay) / 4096) + x``."""
    if decay == 0:
        return float(steps)
    return min(steps, 4096 / decay) if 0 < decay <= 4096 else float("inf")


def _lif(layer: EmuLayer, a: torch.Tensor, a_max: float, record_state: bool):
    """The neuron recurrence over activations ``a`` (``(N, T, *shape)``, not yet
    delayed; ``a_max = max|a|``). Returns bool spikes and, if recorded, float64 u and
    v, all ``(N, T, *shape)``."""
    n, steps = a.shape[:2]
    u = torch.zeros(n, *a.shape[2:], dtype=torch.float64)
    v = torch.zeros_like(u)
    fired = torch.zeros(a.shape, dtype=torch.bool)
    u_rec = torch.zeros(a.shape, dtype=torch.float64) if record_state else None
    v_rec = torch.zeros_like(u_rec) if record_state else None
    k_u, k_v = (4096 - layer.i_decay) / 4096, (4096 - layer.v_decay) / 4096
    # Wrap of u and clip of v cannot happen below these bounds; skipping them is exact.
    a_max = 64 * a_max
    if layer.weight_rec is not None:  # floor shifts add at most 1 before << 6
        a_max += 64 * (float(layer.weight_rec.abs().sum(1).max())
                       * 2.0 ** max(layer.weight_exp, 0) + 1)
    u_bound = a_max * _gain(layer.i_decay, steps)
    v_bound = (u_bound + _abs_max(layer.bias)) * _gain(layer.v_decay, steps)
    may_wrap, may_clip = u_bound > UV_MAX - 1, v_bound > UV_MAX - 1
    has_bias = _abs_max(layer.bias) > 0
    rec_a = None
    for t in range(steps):
        u.mul_(k_u).trunc_()
        if t > 0:  # Dense/Conv deliver the previous step's activation
            u.add_(a[:, t - 1], alpha=64)
        if rec_a is not None:
            u.add_(rec_a, alpha=64)
        if may_wrap:
            u = torch.where(u > UV_MAX, u - 2 * UV_MAX, u)
            u = torch.where(u <= -UV_MAX, u + 2 * UV_MAX, u)
        v.mul_(k_v).trunc_().add_(u)
        if has_bias:
            v.add_(layer.bias)
        if may_clip:
            v.clamp_(1 - UV_MAX, UV_MAX - 1)
        spikes = torch.gt(v, layer.vth)
        v.masked_fill_(spikes, 0)
        fired[:, t] = spikes
        if layer.weight_rec is not None:
            rec_a = _shift(spikes.reshape(n, -1).float() @ layer.weight_rec.t(),
                           layer.weight_exp)
        if record_state:
            u_rec[:, t], v_rec[:, t] = u, v
    return fired, u_rec, v_rec


def _time_last(x: torch.Tensor, dtype) -> np.ndarray:
    """``(N, T, ...)`` -> ``(N, ..., T)`` numpy array of ``dtype``."""
    return x.movedim(1, -1).contiguous().numpy().astype(dtype, copy=False)


def emulate(layers: list[EmuLayer], x: np.ndarray | torch.Tensor,
            record_state: bool = False) -> EmuResult:
    """Run spikes ``x`` (``(N, C, T)`` or ``(N, C, H, W, T)``, 0/1) through ``layers``."""
    x = np.asarray(x, dtype=np.uint8)
    s = None  # spikes entering the next layer, (N, T, *shape)
    spikes, us, vs = [], [], []
    for index, layer in enumerate(layers):
        if layer.kind == "flatten":
            if s is None:
                x = x.reshape(len(x), -1, x.shape[-1])
            else:
                s = s.reshape(s.shape[0], s.shape[1], -1)
            continue
        a = _first_synapse(layer, x) if s is None else _synapse(layer, s)
        a_max = _abs_max(a)
        _check_exact(a_max, index)
        fired, u_rec, v_rec = _lif(layer, a, a_max, record_state)
        spikes.append(_time_last(fired, np.uint8))
        if record_state:
            us.append(_time_last(u_rec, np.int64))
            vs.append(_time_last(v_rec, np.int64))
        s = fired.to(torch.uint8)
    return EmuResult(spikes, us if record_state else None, vs if record_state else None)

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
  neuron), then ``v = 0``; binary spikes. A layer with ``refDelay`` ``r >= 2`` is
  refractory as our runner builds it on Lava (``LIFRefractory``,
  :mod:`rouser_lava.backends.lava_refractory.model`): after a spike ``v`` is held
  (at 0) for ``r`` steps while ``u`` integrates; below 2 there is no refractory period.
- Time: input column ``t`` is Lava step ``t + 1``; output column ``t`` is what a sink
  records at step ``t + 1``. Every sample starts from zero state (refractory state
  included), or, with ``stream``, the samples run back to back and netx's ``LIFReset``
  zeroes ``u`` and ``v`` of layer ``k`` at the steps ``s`` with ``s % R ==
  (reset_offset + 1 + k) % R`` (:mod:`rouser_lava.backends.stream`).

Refused with a clear error: layer types netx cannot build (pool, average, concat,
convT, unpool), ``dense_comp``, synaptic ``delay``, ``input`` layers with a neuron
(graded input encoders), other neuron types, and graded (multi-bit) spikes.

Arithmetic: exact integers throughout. Synaptic sums are event-driven where spikes
are sparse (each spike adds one weight column; int32) and float32 matrix products
where they are dense or the layer is a convolution (exact while every sum stays below
2**24; checked from the weights, refused otherwise). The neuron recurrence runs in a
compiled int64 kernel (:mod:`rouser_lava.backends.emu_kernels`), one sample per thread.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from .. import _slayer  # noqa: F401  (quiet lava-dl import before netx)
from ..deploy.netx_check import check_netx, check_netx_fits, refractory_period
from ..errors import UserError
from ..model.fold import lava_dense_synapse, lava_dense_weight
from ..resources import require_memory
from .emu_kernels import UV_MAX, event_sum, lif
from .stream import StreamLayout, refractory_warnings, stream_warnings

log = logging.getLogger(__name__)

SPARSE_BELOW = 0.05  # spike density under which synaptic sums use a sparse product
BYTES_PER_SYNAPSE = 32  # peak while loading: the file's int64, netx's copy, float32, int32
UNSUPPORTED = ("pool", "average", "concat", "convT", "unpool", "dense_comp")


@dataclass(frozen=True)
class EmuLayer:
    """One spiking layer (or a flatten) in the emulator's layout.

    ``weight`` is float32 holding integers, ``(C_out, C_in)`` or
    ``(C_out, C_in / groups, kH, kW)``, for the dense products; ``weight_t`` is the
    int32 transpose ``(C_in, C_out)`` of a dense weight for event-driven sums and
    ``weight_rec_t`` that of a recurrent one (``(0, 0)`` when there is none).
    ``vth`` and ``bias`` are int64 ``(prod(shape),)`` (already ``<< 6``).
    ``sum_bound`` bounds ``|sum|`` of any binary input's synaptic sum (after the shift).
    ``ref_delay`` is the refractory period in steps (0: plain LIF; see
    :func:`rouser_lava.deploy.netx_check.refractory_period`).
    """

    kind: str
    shape: tuple[int, ...]
    weight: torch.Tensor | None = None
    weight_t: np.ndarray | None = None
    weight_rec_t: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    weight_exp: int = 0
    sum_bound: float = 0.0
    conv: dict | None = None
    i_decay: int = 0
    v_decay: int = 0
    vth: np.ndarray | None = None
    bias: np.ndarray | None = None
    ref_delay: int = 0


@dataclass
class EmuResult:
    """Emulated run: uint8 spikes ``(N, *shape, T)`` per spiking layer, optionally
    int64 ``u`` and ``v`` of the same shapes (post-reset ``v``, as Lava holds it), and
    int64 ``v_last`` ``(N, *shape)``: the last layer's ``v`` after the last step (a
    membrane readout's output; None in the stream layout)."""

    spikes: list[np.ndarray]
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    v_last: np.ndarray | None = None


def _neuron_fields(cfg, path: str, name: str, shape: tuple[int, ...], bias) -> dict:
    kind = cfg["type"] if cfg is not None else "CUBA"
    if kind not in ("CUBA", "LOIHI"):
        raise UserError(f"{path}: {name} has neuron type {kind}; only CUBA and LOIHI are "
                        f"reproduced")
    ref_delay = 0
    if cfg is None:  # netx's non-leaky integrator default
        i_decay, v_decay, vth = 0, 4096, np.array(1 << 18 - 1)
    else:
        i_decay, v_decay = int(cfg["iDecay"]), int(cfg["vDecay"])
        vth = np.asarray(cfg["vThMant"]).astype(np.int64)
        if "refDelay" in cfg.keys():
            ref_delay = refractory_period(int(np.asarray(cfg["refDelay"]).reshape(-1)[0]))
        if "gradedSpike" in cfg.keys() and bool(np.any(cfg.f["gradedSpike"][()])):
            raise UserError(f"{path}: {name} has graded spikes; Lava's CUBA has none")
    channels, size = shape[0], int(np.prod(shape))

    def per_neuron(values: np.ndarray, what: str) -> np.ndarray:
        values = np.asarray(values).astype(np.int64)
        if values.size == 1:
            return np.full(size, values.reshape(-1)[0], dtype=np.int64)
        if values.size == size:
            return values.reshape(-1)
        if len(shape) == 3 and values.size == channels:
            return np.repeat(values.reshape(-1), size // channels)
        raise UserError(f"{path}: {name} {what} of size {values.size} fits neither one "
                        f"value, one per channel nor one per neuron")

    return {"i_decay": i_decay, "v_decay": v_decay, "ref_delay": ref_delay,
            "vth": per_neuron(vth * 64, "vThMant"),
            "bias": per_neuron(np.zeros(1) if bias is None else np.asarray(bias) * 64,
                               "bias")}


def load_netx(path: str) -> list[EmuLayer]:
    """Read a netx HDF5 file into emulator layers (refusing what is not reproduced)."""
    from lava.lib.dl.netx.utils import NetDict, optimize_weight_bits

    check_netx_fits(path, BYTES_PER_SYNAPSE, "the emulator", "run a smaller network")
    layers_cfg = NetDict(str(path))["layer"]
    count = len(layers_cfg)
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
            weight = weight.reshape(weight.shape[:4])
            layers.append(EmuLayer(
                "conv", out_shape, torch.from_numpy(weight.astype(np.float32)), conv=conv,
                sum_bound=float(np.abs(weight).sum((1, 2, 3)).max()),
                **_neuron_fields(neuron, path, name, out_shape, bias)))
        else:
            out_shape = (int(np.prod(cfg["shape"])),)
            weight = cfg["weight"].reshape(out_shape[0], -1)
            rec = np.zeros((0, 0), np.int32)
            if kind == "dense_rec":
                rec = cfg["weight_rec"].reshape(out_shape[0], -1)
                both, bits, exp, _ = optimize_weight_bits(np.hstack((weight, rec)))
                weight, rec = both[:, :weight.shape[1]], both[:, weight.shape[1]:]
                rec = np.ascontiguousarray(lava_dense_weight(rec, bits).T, np.int32)
                weight = lava_dense_weight(weight, bits)
            else:
                weight, exp = lava_dense_synapse(weight)
            layers.append(EmuLayer(kind, out_shape, torch.from_numpy(weight.astype(np.float32)),
                                   np.ascontiguousarray(weight.T, np.int32), rec, int(exp),
                                   float(np.abs(weight).sum(1).max()) * 2.0 ** max(exp, 0),
                                   **_neuron_fields(neuron, path, name, out_shape, bias)))
        shape = out_shape
    if not any(la.kind != "flatten" for la in layers):
        raise UserError(f"{path}: no spiking layer to run")
    return layers


def netx_input_shape(path: str) -> tuple[int, ...]:
    """Input shape of a netx file in torch order: the ``input`` layer's ``shape``, else
    the first dense layer's input size (structure checked, weights not read)."""
    summary = check_netx(path, values=False)
    if summary.input_shape is None:
        raise UserError(f"{path}: cannot tell the input shape (no input layer before "
                        f"'{summary.layers[0].kind}')")
    return summary.input_shape


def _shift(a: np.ndarray, exp: int) -> np.ndarray:
    """``a << exp`` or ``a >> -exp`` (which floors, as Lava's does)."""
    if exp == 0:
        return a
    return a << exp if exp > 0 else a >> -exp


def _require_exact(bound: float, what: str) -> None:
    if bound >= 2 ** 24:
        raise UserError(f"{what}: synaptic sums can reach {bound:.0f} >= 2**24, beyond what "
                        f"the emulator reproduces exactly")


def _synapse(layer: EmuLayer, s: np.ndarray, shape_in: tuple[int, ...],
             time_last: bool) -> np.ndarray:
    """Activations before the one-step delay, int32 ``(N, T, prod(shape))``, for uint8
    spikes ``s``: ``(N, *shape_in, T)`` if ``time_last`` else ``(N, T, prod(shape_in))``."""
    n, steps = len(s), s.shape[-1] if time_last else s.shape[1]
    if layer.kind == "conv":
        _require_exact(layer.sum_bound, "conv")
        frames = np.moveaxis(s, -1, 1) if time_last else s
        frames = torch.from_numpy(np.ascontiguousarray(frames)).reshape(n * steps, *shape_in)
        a = F.conv2d(frames.float(), layer.weight, **layer.conv)
        return a.clamp_(-UV_MAX, UV_MAX - 1).to(torch.int32).reshape(n, steps, -1).numpy()
    s = s.reshape(n, -1, steps) if time_last else s
    if s.shape[1 if time_last else 2] != layer.weight_t.shape[0]:  # the kernel's bound
        raise UserError(f"{layer.kind} layer takes {layer.weight_t.shape[0]} inputs, "
                        f"got {s.shape[1 if time_last else 2]}")
    if np.count_nonzero(s) < SPARSE_BELOW * s.size:  # event sparsity
        a = np.empty((n, steps, layer.weight_t.shape[1]), np.int32)
        event_sum(s, time_last, layer.weight_t, a)
    else:
        _require_exact(layer.sum_bound, "dense")
        x = torch.from_numpy(np.ascontiguousarray(np.moveaxis(s, -1, 1) if time_last else s))
        a = (x.reshape(n * steps, -1).float() @ layer.weight.t()).to(torch.int32).numpy()
        a = a.reshape(n, steps, -1)
    a = _shift(a, layer.weight_exp)
    if layer.sum_bound >= 2 ** 24:  # Lava's int32 ``a << 6`` would overflow: check the real sums
        _require_exact(float(np.abs(a).max()), "dense")
    return a


def _lif(layer: EmuLayer, a: np.ndarray, record_state: bool, reset: tuple[int, int]):
    """The neuron recurrence over activations ``a`` (int32 ``(N, T, C)``, not yet
    delayed), with ``reset`` = (interval, phase) of ``LIFReset`` or (0, 0) (the stream
    layout runs refractory layers as plain ``LIFReset``, as Lava does). Returns uint8
    spikes and int64 u and v (empty unless recorded), all ``(N, T, C)``, and int64 v
    after the last step ``(N, C)``."""
    size = a.shape[2]
    if not len(layer.vth) == len(layer.bias) == size or layer.weight_rec_t.shape[0] not in \
            (0, size) or layer.weight_rec_t.shape[0] != layer.weight_rec_t.shape[1]:
        raise UserError(f"{layer.kind} layer of {size} neurons has {len(layer.vth)} "
                        f"thresholds, {len(layer.bias)} biases and a recurrent weight "
                        f"{layer.weight_rec_t.shape}")  # the kernel's bounds
    fired = np.zeros(a.shape, np.uint8)
    state_shape = a.shape if record_state else (0, 0, 0)
    u_rec, v_rec = np.zeros(state_shape, np.int64), np.zeros(state_shape, np.int64)
    v_last = np.zeros((a.shape[0], size), np.int64)
    lif(a, layer.i_decay, layer.v_decay, layer.bias, layer.vth, layer.weight_rec_t,
        layer.weight_exp, *reset, layer.ref_delay if reset[0] == 0 else 0, fired, u_rec,
        v_rec, v_last)
    return fired, u_rec, v_rec, v_last


def _time_last(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(N, T, prod(shape))`` -> ``(N, *shape, T)``."""
    return np.ascontiguousarray(np.moveaxis(x.reshape(len(x), x.shape[1], *shape), 1, -1))


def emulate(layers: list[EmuLayer], x: np.ndarray | torch.Tensor,
            record_state: bool = False, stream: StreamLayout | None = None) -> EmuResult:
    """Run spikes ``x`` (``(N, C, T)`` or ``(N, C, H, W, T)``, 0/1) through ``layers``.

    Every sample starts from zero state; with ``stream``, the samples instead run back
    to back in one continuous run with ``LIFReset`` resets, laid out and read back as
    :class:`rouser_lava.backends.stream.StreamLayout` says (what Lava and a board do).
    ``v_last`` (the last layer's ``v`` after the last step) comes with every
    per-sample run: it costs one copy per layer.
    """
    s = np.ascontiguousarray(x, dtype=np.uint8)  # spikes entering the next layer
    n = len(s)
    if stream is not None:
        spiking = [la for la in layers if la.vth is not None]
        for line in stream_warnings([bool(la.bias.any()) for la in spiking],
                                    [la.weight_rec_t.size > 0 for la in spiking]) + \
                refractory_warnings([la.ref_delay for la in spiking]):
            log.warning("warning: %s", line)
        s = stream.pack(s)[None]
    shape_in, time_last = s.shape[1:-1], True
    per_step = sum(int(np.prod(la.shape)) for la in layers if la.kind != "flatten")
    require_memory(s.shape[0] * s.shape[-1] * per_step * (40 if record_state else 8),
                   f"the emulator on {n} samples of {x.shape[-1]} steps",
                   "run fewer samples at once or fewer steps")
    spikes, us, vs = [], [], []
    for layer in layers:
        if layer.kind != "flatten":  # a flatten only changes how shape_in is read
            k = len(spikes)
            reset = (0, 0) if stream is None else (stream.reset_interval,
                                                   stream.reset_phase(k))
            fired, u_rec, v_rec, v_last = _lif(layer, _synapse(layer, s, shape_in, time_last),
                                               record_state, reset)
            spikes.append(_time_last(fired, layer.shape))
            if record_state:
                us.append(_time_last(u_rec, layer.shape))
                vs.append(_time_last(v_rec, layer.shape))
            s, time_last = fired, False
        shape_in = layer.shape if layer.kind != "flatten" else (int(np.prod(shape_in)),)
    if stream is not None:
        spikes, us, vs = ([stream.unpack(r[0], n, k) for k, r in enumerate(rec)]
                          for rec in (spikes, us, vs))
    return EmuResult(spikes, us if record_state else None, vs if record_state else None,
                     None if stream is not None else v_last.reshape(spikes[-1].shape[:-1]))

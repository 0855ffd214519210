"""Batched, bit-exact emulator of what Lava's ``fixed_pt`` models do with a netx network.

Reproduced (lava-nc 0.10.0, lava-dl 0.6.0, ``Loihi2SimCfg(select_tag='fixed_pt')``;
the file layouts in :mod:`rouser_lava.netx.layers`):

- Layers ``input``, ``dense``, ``dense_rec``, ``conv`` and ``flatten``; neuron types
  ``CUBA`` and ``LOIHI`` (netx maps both to Lava's ``LIF``); a dense layer without a
  neuron group gets netx's default (iDecay 0, vDecay 4096, vThMant 1 << 17). Any
  ``iDecay``/``vDecay`` in 0..4096 (4096: no memory). ``bias`` as ``bias_mant << 6``:
  one value, per channel or per neuron.
- An ``input`` layer with a neuron group (slayer's ``Input`` block) is a spiking layer
  with no synapse: input spikes reach its ``u`` in the same step (Lava's source on
  ``neuron.a_in``), and a per-sample bias (``bias_mant`` set per sample, lava-dl's way
  to feed an image) drives it. A network may begin with a conv layer and no input
  layer (the input shape then comes from the samples).
- Dense weights exactly as Lava ends up using them: netx's ``optimize_weight_bits``
  (clip to [-256, 254] for mixed signs, left-shift by the chosen exponent), then the
  Dense model's ``clip_weights`` (8 bits) and ``truncate_weights`` with the sign mode
  Lava determines from the matrix. The activation is ``sum(W[:, spiking])`` shifted by
  the weight exponent (``>>`` floors negative values) and arrives one step later (the
  Dense ``a_buff``). ``dense_rec`` has two synapses (feed-forward and recurrent, each
  shifted separately, sign mode per matrix) that both feed the neuron. Axonal
  ``delay`` ``d`` (Lava's ``DelayDense``): a synapse's weight arrives ``d`` steps later
  still; each delay group's sum is shifted on its own.
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
  zeroes ``u`` and ``v`` of spiking layer ``k`` (an input layer with neurons is layer
  0) at the steps ``s`` with ``s % R == (reset_offset + 1 + k) % R``
  (:mod:`rouser_lava.backends.stream`).

Refused with a one-line error: layer types netx cannot build (pool, average, concat,
convT, unpool), ``dense_comp``, sigma-delta and resonate-and-fire neurons, graded
(multi-bit) spikes, and ``dense_rec`` with delays. netx ignores a conv layer's
``delay`` and an input layer's ``weight`` and ``bias``; so does the emulator.

Arithmetic: exact integers throughout. Synaptic sums
(:mod:`rouser_lava.backends.emu_synapse`) are event-driven where few inputs spike or
change from one step to the next (each adds or takes back one weight column, or for a
conv (groups 1) its kernel; int32) and float32 matrix products or ``conv2d`` where
they are dense (exact while every sum stays below 2**24; checked from the weights,
refused otherwise). Conv layers and 3-D input layers keep their neurons channel last
inside the emulator (nothing is transposed between layers); the spikes and states it
returns are views in torch order. The neuron recurrence runs in a compiled,
branch-free kernel (:mod:`rouser_lava.backends.emu_kernels`), over samples and blocks
of neurons in parallel.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numba
import numpy as np
import torch

from ..errors import UserError
from ..loihi import BIAS_MAX, BIAS_MIN
from ..netx.layers import EmuLayer, load_netx
from ..resources import large_zeros, require_memory
from .emu_kernels import lif
from .emu_synapse import Workspace, input_drive, internal_order, padded, synapse, torch_view
from .stream import StreamLayout, refractory_warnings, stream_warnings

LIF_BLOCK = 4096  # neurons run together: their u and v stay in a core's cache
SUB_BATCH_BYTES = 32 << 20  # samples run together: their largest layer's int32 sums (calibrated)

__all__ = ["EmuLayer", "EmuResult", "emulate", "input_bias", "load_netx"]  # load: netx.layers

log = logging.getLogger(__name__)

@dataclass
class EmuResult:
    """Emulated run: uint8 spikes ``(N, *shape, T)`` per spiking layer, optionally
    int64 ``u`` and ``v`` of the same shapes (post-reset ``v``, as Lava holds it), and
    int64 ``v_last`` ``(N, *shape)``: the last layer's ``v`` after each sample's last
    step (a membrane readout's output)."""

    spikes: list[np.ndarray]
    u: list[np.ndarray] | None = None
    v: list[np.ndarray] | None = None
    v_last: np.ndarray | None = None


def _lif(layer: EmuLayer, a: np.ndarray, lag: int, vth: np.ndarray, bias: np.ndarray,
         reset: tuple[int, int], bias_window: tuple[int, int], read: tuple[int, int],
         fired: np.ndarray, u_rec: np.ndarray, v_rec: np.ndarray, v_last: np.ndarray) -> None:
    """The neuron recurrence over activations ``a`` (int32 ``(N, T, C)``, reaching ``u``
    ``lag`` steps later; ``(1, 1, C)`` zeros: no input), in the layer's internal order,
    with thresholds ``vth`` int64 ``(C,)`` and ``bias`` int64 ``(1 or N, C)`` (both
    ``<< 6``, in internal order), with ``reset`` =
    (interval, phase) of ``LIFReset`` or (0, 0) (the stream layout runs refractory
    layers as plain ``LIFReset``, as Lava does). ``bias_window`` (interval, offset),
    when the interval is not 0: ``bias`` holds one row per stream window instead.
    ``read`` (interval, phase): where ``v`` is read (interval 0: after the last step).
    Writes, in internal order, uint8 spikes into ``fired`` ``(N, T, L)`` (zeros on
    entry), int64 ``u`` and ``v`` into ``u_rec`` and ``v_rec`` ``(N, T, C)`` unless they
    are empty, and the int64 ``v`` read into ``v_last`` ``(N, rows, C)``."""
    size = a.shape[2]
    per_sample = bias_window[0] == 0  # else any number of rows: one per window
    if not len(vth) == bias.shape[1] == size or \
            per_sample and bias.shape[0] not in (1, len(fired)) or \
            layer.weight_rec_t.shape[0] not in (0, size) or \
            layer.weight_rec_t.shape[0] != layer.weight_rec_t.shape[1]:
        raise UserError(f"{layer.kind} layer of {size} neurons has {len(vth)} "
                        f"thresholds, biases {bias.shape} and a recurrent weight "
                        f"{layer.weight_rec_t.shape}")  # the kernel's bounds
    blocks = 1 if layer.weight_rec_t.size else max(  # neurons whose state fits a core's cache
        -(-size // LIF_BLOCK), min(size // 1024, -(-2 * numba.get_num_threads() // len(fired))))
    lif(a, lag, layer.i_decay, layer.v_decay, np.ascontiguousarray(bias), vth,
        layer.weight_rec_t, layer.weight_exp, *reset,
        layer.ref_delay if reset[0] == 0 else 0, *bias_window, *read, blocks, fired,
        u_rec, v_rec, v_last)


def input_bias(layers: list[EmuLayer], bias: np.ndarray) -> np.ndarray:
    """Per-sample ``bias_mant`` of the input layer's neurons, int ``(N, *shape)`` in torch
    order, as int64 ``(N, prod(shape))`` ``<< 6``; UserError unless the first layer is an
    input layer with neurons and the values fit Lava's int16 ``bias_mant``."""
    if layers[0].kind != "input":
        raise UserError("a bias input needs an input layer with a neuron group (the "
                        "network's first layer is not one)")
    bias = np.asarray(bias)
    if bias.shape[1:] != layers[0].shape:
        raise UserError(f"bias input of shape {bias.shape[1:]} per sample does not fit the "
                        f"input layer {layers[0].shape}")
    if bias.size and (bias.min() < BIAS_MIN or bias.max() > BIAS_MAX):
        raise UserError(f"bias input spans {bias.min()}..{bias.max()}, beyond Lava's int16 "
                        f"bias_mant ({BIAS_MIN}..{BIAS_MAX})")
    return bias.reshape(len(bias), -1).astype(np.int64) << 6


def emulate(layers: list[EmuLayer], x: np.ndarray | torch.Tensor,
            record_state: bool = False, stream: StreamLayout | None = None,
            bias: np.ndarray | None = None) -> EmuResult:
    """Run spikes ``x`` (``(N, C, T)`` or ``(N, C, H, W, T)``, 0/1) through ``layers``.

    An input layer with neurons takes ``x`` on ``a_in`` (no synaptic delay) and, with
    ``bias`` (int ``(N, *input_shape)``, torch order), one ``bias_mant`` per sample.
    Every sample starts from zero state; with ``stream``, the samples instead run back
    to back in one continuous run with ``LIFReset`` resets, laid out and read back as
    :class:`rouser_lava.backends.stream.StreamLayout` says (what Lava and a board do),
    sample ``j``'s bias held from the step where the input layer's window ``j`` begins
    (as a host sets ``bias_mant`` before each sample's run call). ``v_last`` is the
    last layer's ``v`` after each sample's last step: after step ``T`` of a per-sample
    run, or at column ``T - 1`` of the sample's window in the stream (zero when that
    column is still the previous window's, as :meth:`StreamLayout.unpack` reads it).
    """
    s = np.ascontiguousarray(x, dtype=np.uint8)  # spikes entering the next layer
    n = len(s)
    sample_bias = None if bias is None else input_bias(layers, bias)
    spiking = [la for la in layers if la.vth is not None]
    bias_window, read = (0, 0), (0, 0, 1)
    if stream is not None:
        # (a layer with vth has a bias too: netx.layers.load_layers sets both)
        for line in stream_warnings([bool(la.bias.any()) for la in spiking],  # type: ignore[union-attr]
                                    [la.weight_rec_t.size > 0 for la in spiking]) + \
                refractory_warnings([la.ref_delay for la in spiking]):
            log.warning("%s", line)
        s = stream.pack(s)[None]
        bias_window = (stream.reset_interval, stream.reset_offset)
        read = (stream.reset_interval, stream.reset_offset + stream.steps - 1, n)
    sizes = [int(np.prod(la.shape)) for la in spiking]
    require_memory(s.shape[0] * s.shape[-1] * sum(sizes) * (40 if record_state else 8),
                   f"the emulator on {n} samples of {x.shape[-1]} steps",
                   "run fewer samples at once or fewer steps")
    runs, steps = len(s), s.shape[-1]  # one run in the stream layout
    orders = [internal_order(la.shape) for la in spiking]
    neurons = [_internal_neurons(la, o) for la, o in zip(spiking, orders)]
    if sample_bias is not None and orders[0] is not None:  # the input layer's, per sample
        sample_bias = np.ascontiguousarray(sample_bias[:, orders[0]])
    fired = [large_zeros((runs, steps, padded(c)), np.uint8) for c in sizes]
    states = [(runs, steps, c) if record_state else (0, 0, 0) for c in sizes]
    us = [large_zeros(shape, np.int64) for shape in states]
    vs = [large_zeros(shape, np.int64) for shape in states]
    v_read = np.zeros((runs, read[2], sizes[-1]), np.int64)
    sub = max(1, min(runs, SUB_BATCH_BYTES // (4 * steps * max(sizes))))
    sub = max(1, -(-runs // max(1, -(-runs // sub))))  # sub-batches of even sizes
    work = Workspace()
    for i in range(0, runs, sub):
        part = slice(i, i + sub)
        _run(layers, s[part], None if sample_bias is None else
             sample_bias if stream is not None else sample_bias[part],
             stream, bias_window, read[:2], orders, neurons, [f[part] for f in fired],
             [u[part] for u in us], [v[part] for v in vs], v_read[part], work)
    shapes = [la.shape for la in spiking]
    spikes = [torch_view(f, shape, True) for f, shape in zip(fired, shapes)]
    us, vs = ([torch_view(r, shape, True) for r, shape in zip(rec, shapes)] if record_state
              else [] for rec in (us, vs))
    v_last = torch_view(v_read.reshape(n, sizes[-1]), shapes[-1], False)
    if stream is not None:
        spikes, us, vs = ([stream.unpack(r[0], n, k) for k, r in enumerate(rec)]
                          for rec in (spikes, us, vs))
        if stream.steps - 1 < len(spiking) - 1:  # column T - 1 lies before the window
            v_last[:] = 0
    return EmuResult(spikes, us if record_state else None, vs if record_state else None,
                     v_last)


def _internal_neurons(layer: EmuLayer, order: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray]:
    """A spiking layer's int64 thresholds ``(C,)`` and bias ``(1, C)`` (``<< 6``) in its
    internal order ``order`` (None: its own)."""
    assert layer.vth is not None and layer.bias is not None  # load_layers sets both
    if order is None:
        return layer.vth, layer.bias[None]
    return layer.vth[order], np.ascontiguousarray(layer.bias[order][None])


def _run(layers: list[EmuLayer], s: np.ndarray, sample_bias: np.ndarray | None,
         stream: StreamLayout | None, bias_window: tuple[int, int], read: tuple[int, int],
         orders: list, neurons: list[tuple[np.ndarray, np.ndarray]],
         fired: list[np.ndarray], us: list[np.ndarray], vs: list[np.ndarray],
         v_read: np.ndarray, work: Workspace) -> None:
    """:func:`emulate` on the input spikes ``s`` ``(N, *shape, T)`` of some samples (all
    of them in the stream layout, and their input-layer bias ``sample_bias``, internal
    order), writing into the outputs' rows of those samples; ``orders`` and ``neurons``
    per spiking layer (:func:`rouser_lava.backends.emu_synapse.internal_order`,
    :func:`_internal_neurons`)."""
    shape_in, time_last, order = s.shape[1:-1], True, None
    k = 0
    for layer in layers:
        if layer.kind != "flatten":  # a flatten only changes how shape_in is read
            reset = (0, 0) if stream is None else (stream.reset_interval,
                                                   stream.reset_phase(k))
            if layer.kind == "input":
                if tuple(shape_in) != layer.shape:
                    raise UserError(f"input layer {layer.shape} does not take samples of "
                                    f"shape {tuple(shape_in)}")
                a, lag = input_drive(s, layer.shape, work), 0
            else:
                a, lag = synapse(layer, s, shape_in, order, time_last, work), 1
            image = sample_bias if layer.kind == "input" else None
            last = k == len(fired) - 1
            vth, bias = neurons[k]
            _lif(layer, a, lag, vth, bias if image is None else image, reset,
                 (0, 0) if image is None else bias_window, read if last else (0, 0),
                 fired[k], us[k], vs[k], v_read if last else np.zeros((len(s), 1, a.shape[2]),
                                                                     np.int64))
            s, time_last, order = fired[k], False, orders[k]
            k += 1
        shape_in = layer.shape if layer.kind != "flatten" else (int(np.prod(shape_in)),)

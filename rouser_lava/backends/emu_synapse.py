"""The emulator's synaptic sums in its internal neuron order, event-driven where that
touches fewer inputs than a dense product.

Internal order: a layer of shape ``(C, H, W)`` (a conv layer, or an input layer of
that shape) keeps its neurons channel last, ``(H, W, C)``, so that each input's
kernel adds to contiguous output rows and no layer's activations or spikes are ever
transposed; a 1-D layer keeps its own order. :func:`internal_order` gives the
permutation, and a dense layer after a channel-last one reads its weight columns
through it. Spike frames are uint8 ``(F, L)``: a frame per sample and step, the
layer's neurons in internal order, zero-padded to ``L``, a multiple of 8
(:func:`padded`), so that the kernels scan them eight bytes at a time.

Dense products (float32 ``conv2d`` or a matrix product, exact while every sum stays
below 2**24, checked from the weights) take over where the spikes, or their changes
from the frame before, are dense: the kernels' cost follows the smaller of the two
(:func:`rouser_lava.backends.emu_kernels.frame_sums`), the dense product's does not.
"""

from __future__ import annotations

import numba
import numpy as np
import torch
import torch.nn.functional as F

from ..errors import UserError
from ..loihi import UV_MAX
from ..model.event_conv import conv_taps
from ..netx.layers import EmuLayer
from ..resources import large_zeros
from .emu_kernels import activity, event_sum_time_last, frame_sums

SPARSE_BELOW = 0.05  # inputs touched per input and frame under which sums are event-driven
CONV_SPARSE_GAIN = 4  # a conv's dense product is slower: event-driven below 4 x that
INT32_BOUND = 2 ** 31 - 1  # a dense layer's sums are not clamped (int32, checked)


def padded(size: int) -> int:
    """``size`` rounded up to a multiple of 8 (a frame's length)."""
    return -(-size // 8) * 8


def channel_last(shape: tuple[int, ...]) -> bool:
    """Whether a layer of ``shape`` keeps its neurons channel last internally."""
    return len(shape) == 3


def internal_order(shape: tuple[int, ...]) -> np.ndarray | None:
    """int64 ``(prod(shape),)``: internal neuron ``i`` is torch-order neuron ``p[i]``;
    None where the two orders agree."""
    if not channel_last(shape):
        return None
    return np.arange(int(np.prod(shape))).reshape(shape).transpose(1, 2, 0).ravel()


def torch_view(x: np.ndarray, shape: tuple[int, ...], time_axis: bool) -> np.ndarray:
    """Internal-order values ``x`` ``(N, T, >= prod(shape))`` (with ``time_axis``) or
    ``(N, >= prod(shape))`` as a view ``(N, *shape, T)`` or ``(N, *shape)`` in torch
    order (the frames' padding dropped)."""
    lead = x.shape[:2] if time_axis else x.shape[:1]
    size = int(np.prod(shape))
    x = x[..., :size]
    if channel_last(shape):
        c, h, w = shape
        x = np.moveaxis(x.reshape(*lead, h, w, c), -1, -3)
    else:
        x = x.reshape(*lead, *shape)
    return np.moveaxis(x, 1, -1) if time_axis else x


def require_exact(bound: float, what: str) -> None:
    if bound >= 2 ** 24:
        raise UserError(f"{what}: synaptic sums can reach {bound:.0f} >= 2**24, beyond what "
                        f"the emulator reproduces exactly")


def _chunks(frames: int) -> np.ndarray:
    """Frame boundaries of the kernels' parallel chunks: a few per thread."""
    k = max(1, min(frames, 4 * numba.get_num_threads()))
    return np.linspace(0, frames, k + 1).round().astype(np.int64)


def _event_cost(frames: np.ndarray) -> int:
    """Inputs the event kernel touches: per frame the fewer of spikes and changes."""
    spikes, changes = activity(frames)
    return int(np.minimum(spikes, changes).sum())


def _kernel_weight(weight: np.ndarray) -> np.ndarray:
    """Integer weights ``(..., C_out)`` for :func:`frame_sums`: int16 where they fit
    (half the memory traffic), else int32, the last axis zero-padded to a multiple of
    8 (no scalar remainder after the vector adds; measured 15 % off a 36-channel
    conv)."""
    fits = weight.size == 0 or np.abs(weight).max() < 2 ** 15
    out = np.zeros((*weight.shape[:-1], padded(weight.shape[-1])),
                   np.int16 if fits else np.int32)
    out[..., :weight.shape[-1]] = weight
    return out


class Workspace:
    """int32 buffers for the synaptic sums of one emulator call, reused from layer to
    layer and batch to batch: fresh memory costs a page fault on first touch
    (:func:`rouser_lava.resources.large_zeros`), more than the sums themselves on a
    large layer. A buffer holds until the next :meth:`take` of its name."""

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}
        self._weights: dict[tuple, tuple[torch.Tensor, np.ndarray]] = {}

    def take(self, name: str, shape: tuple[int, ...]) -> np.ndarray:
        """An uninitialised int32 array of ``shape``."""
        size = int(np.prod(shape))
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size:
            buffer = self._buffers[name] = large_zeros((size,), np.int32)
        return buffer[:size].reshape(shape)

    def kernel_weight(self, weight: torch.Tensor, order: np.ndarray | None,
                      layout: str) -> np.ndarray:
        """:func:`_kernel_weight` of a conv weight (``layout`` ``"conv"``: ``(C_in, kh,
        kw, C_pad)``) or of a dense one with its columns in ``order`` (``"dense"``:
        ``(C_in, 1, 1, C_pad)``), made once per call and weight."""
        key = (id(weight), layout)
        if key not in self._weights:  # the tensor is kept: its id stays its own
            if layout == "conv":
                moved = weight.numpy().transpose(1, 2, 3, 0)
            else:
                w = weight.numpy() if order is None else weight.numpy()[:, order]
                moved = w.T.reshape(w.shape[1], 1, 1, w.shape[0])
            self._weights[key] = (weight, _kernel_weight(moved))
        return self._weights[key][1]


def conv_sum(layer: EmuLayer, frames: np.ndarray, shape_in: tuple[int, ...],
             out: np.ndarray, work: Workspace) -> np.ndarray:
    """A conv layer's sums of channel-last frames ``(F, L)`` of inputs ``shape_in`` ``(C,
    H, W)``, clamped to signed 24 bits, into ``out``: int32 ``(F, H_out * W_out *
    C_out)`` (channel last), what ``F.conv2d`` gives."""
    assert layer.weight is not None and layer.conv is not None  # load_layers sets both
    require_exact(layer.sum_bound, "conv")
    c_in, height, width = shape_in
    c_out, _, kh, kw = layer.weight.shape
    (sy, sx), (py, px), (dy, dx) = (layer.conv[k] for k in ("stride", "padding", "dilation"))
    _, h_out, w_out = layer.shape
    size = height * width * c_in
    if layer.conv["groups"] == 1 and \
            _event_cost(frames) < SPARSE_BELOW * CONV_SPARSE_GAIN * frames.shape[0] * size:
        frame_sums(frames, work.kernel_weight(layer.weight, None, "conv"),
                   conv_taps(height, h_out, kh, sy, py, dy),
                   conv_taps(width, w_out, kw, sx, px, dx),
                   np.repeat(np.arange(width), c_in), np.tile(np.arange(c_in), width),
                   _chunks(len(frames)), UV_MAX, out.reshape(len(frames), h_out, w_out, c_out))
        return out
    x = torch.from_numpy(frames[:, :size]).reshape(-1, height, width, c_in).permute(0, 3, 1, 2)
    summed = F.conv2d(x.float(), layer.weight, **layer.conv).clamp_(-UV_MAX, UV_MAX - 1)
    out[:] = summed.permute(0, 2, 3, 1).reshape(len(frames), -1).numpy()
    return out


def dense_sum(weight: torch.Tensor, exact_bound: float, frames: np.ndarray,
              order: np.ndarray | None, out: np.ndarray, work: Workspace) -> np.ndarray:
    """``sum(W[:, spiking])`` (unshifted) of frames ``(F, L)`` whose first ``C_in`` bytes
    are the inputs in the order ``order`` (None: the weight's), into ``out``: int32
    ``(F, C_out)``."""
    c_out, c_in = weight.shape
    if _event_cost(frames) < SPARSE_BELOW * frames.shape[0] * c_in:
        frame_sums(frames, work.kernel_weight(weight, order, "dense"),
                   np.zeros((1, 1, 2), np.int64), np.zeros((1, 1, 2), np.int64),
                   np.zeros(c_in, np.int64), np.arange(c_in), _chunks(len(frames)), INT32_BOUND,
                   out.reshape(len(frames), 1, 1, c_out))
        return out
    require_exact(exact_bound, "dense")
    if order is not None:
        weight = weight[:, torch.from_numpy(order)]
    out[:] = (torch.from_numpy(frames[:, :c_in]).float() @ weight.t()).numpy()
    return out


def dense_sum_time_last(weight: torch.Tensor, exact_bound: float, x: np.ndarray,
                        out: np.ndarray, work: Workspace) -> np.ndarray:
    """``sum(W[:, spiking])`` (unshifted) of input spikes ``x`` uint8 ``(N, C_in, T)``
    (a network's input, time last: event-driven without a transposing copy where its
    bytes pack into words), into ``out``: int32 ``(N, T, C_out)``."""
    n, c_in, steps = x.shape
    if np.count_nonzero(x) < SPARSE_BELOW * x.size and (c_in * steps) % 8 == 0:
        event_sum_time_last(x, work.kernel_weight(weight, None, "dense")[:, 0, 0], out)
        return out
    frames = frames_of(x, (c_in,))
    dense_sum(weight, exact_bound, frames.reshape(n * steps, -1), None,
              out.reshape(n * steps, -1), work)
    return out


def frames_of(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Spikes ``x`` ``(N, *shape, T)`` in torch order as frames uint8 ``(N, T, L)`` in
    internal order (a copy)."""
    n, steps = len(x), x.shape[-1]
    moved = np.transpose(x, (0, 4, 2, 3, 1)) if channel_last(shape) else np.moveaxis(x, -1, 1)
    size = int(np.prod(shape))
    frames = np.zeros((n, steps, padded(size)), np.uint8)
    frames[:, :, :size] = moved.reshape(n, steps, size)
    return frames


def _shift(a: np.ndarray, exp: int) -> np.ndarray:
    """``a <<= exp`` or ``a >>= -exp`` (which floors, as Lava's does), in place."""
    if exp > 0:
        a <<= exp
    elif exp < 0:
        a >>= -exp
    return a


def synapse(layer: EmuLayer, s: np.ndarray, shape_in: tuple[int, ...],
            order: np.ndarray | None, time_last: bool, work: Workspace) -> np.ndarray:
    """Activations as the synapse sends them, int32 ``(N, T, prod(shape))`` in the
    layer's internal order (``a[:, t]`` reaches ``u`` at step ``t + 1``; a ``work``
    buffer), for uint8 spikes ``s``: the network's input ``(N, *shape_in, T)`` if
    ``time_last``, else the previous layer's frames ``(N, T, L)`` in its internal order
    ``order``. An axonal delay ``d`` moves a synapse's share ``d`` steps later."""
    n, steps = len(s), s.shape[-1] if time_last else s.shape[1]
    size = int(np.prod(layer.shape))
    if layer.kind == "conv":
        frames = frames_of(s, shape_in) if time_last else s
        return conv_sum(layer, frames.reshape(n * steps, -1), shape_in,
                        work.take("sum", (n * steps, size)), work).reshape(n, steps, size)
    assert layer.weight is not None  # a dense layer's (netx.layers.load_layers)
    if int(np.prod(shape_in)) != layer.weight.shape[1]:  # the kernels' bound
        raise UserError(f"{layer.kind} layer takes {layer.weight.shape[1]} inputs, got "
                        f"{int(np.prod(shape_in))}")

    def summed(weight: torch.Tensor, name: str) -> np.ndarray:
        out = work.take(name, (n, steps, size))
        if time_last:
            dense_sum_time_last(weight, layer.sum_bound, s.reshape(n, -1, steps), out, work)
        else:
            dense_sum(weight, layer.sum_bound, s.reshape(n * steps, -1), order,
                      out.reshape(n * steps, size), work)
        return _shift(out, layer.weight_exp)

    a = summed(layer.weight, "sum")
    for d, weight in layer.delayed:
        if d < steps:
            a[:, d:] += summed(weight, "delayed")[:, :steps - d]
    if layer.sum_bound >= 2 ** 24:  # Lava's int32 ``a << 6`` would overflow: check the real sums
        require_exact(float(np.abs(a).max()), "dense")
    return a


def input_drive(s: np.ndarray, shape: tuple[int, ...], work: Workspace) -> np.ndarray:
    """Input spikes ``(N, *shape, T)`` as an input layer's ``a_in``, int32 ``(N, T, C)``
    in internal order (a ``work`` buffer); ``(1, 1, C)`` zeros (no input) when no input
    spikes, as with a bias input."""
    size = int(np.prod(shape))
    if not s.any():
        return np.zeros((1, 1, size), np.int32)
    a = work.take("sum", (len(s), s.shape[-1], size))
    a[:] = frames_of(s, shape)[:, :, :size]
    return a

"""The layers of a netx HDF5 file as netx (lava-dl 0.6.0) builds them: the typed layout
the emulator runs and the importers read.

What each file field becomes (read in ``lava/lib/dl/netx/hdf5.py`` and
``netx/blocks/process.py``):

- ``input`` without a ``neuron`` group: only its ``shape``. With one (slayer's
  ``block.cuba.Input``): a spiking layer of that shape, netx's ``Input`` block, whose
  LIF has no synapse: a source wired to ``neuron.a_in`` reaches ``u`` in the same step
  (no one-step delay), and ``neuron.bias_mant`` (set per sample) drives it as a bias.
  netx ignores the layer's own ``weight`` and ``bias`` (its unused ``transform``).
- ``bias`` of dense and conv layers: ``bias_mant`` with ``bias_exp`` 6. A dense layer
  takes one value or one per neuron; a conv layer one per channel ``(C,)`` or one per
  neuron in Lava's order ``(W, H, C)`` (netx broadcasts nothing else).
- ``delay`` of a dense layer: Lava's ``DelayDense`` (``max_delay`` 62). A scalar is
  every synapse's; a vector of ``C_out`` values one per output neuron (checked first),
  of ``C_in`` values one per input; ``(C_out, C_in)`` one per synapse. A synapse of
  delay ``d`` adds its weight ``d`` steps after a plain Dense would; every step the
  sums of each delay group are shifted by the weight exponent separately (floors
  add per group). netx ignores a conv layer's ``delay`` (so does the emulator, with a
  warning); ``dense_rec`` with delays is refused (netx then drops the weight exponent
  and gives the recurrent synapse the feed-forward delays).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import torch

from .. import _slayer  # noqa: F401  (quiet lava-dl import before netx)
from ..errors import UserError
from ..loihi import DELAY_MAX
from ..model.fold import lava_dense_rec_synapse, lava_dense_synapse
from .check import check_open_fits, open_netx, refractory_period
from .fields import FileValues

log = logging.getLogger(__name__)

BYTES_PER_SYNAPSE = 32  # peak while loading, upper-bound-ish: the file's int64 (held until
# load_layers returns), the shifted and Lava-clipped int64 copies, the float32 weight
UNSUPPORTED = ("pool", "average", "concat", "convT", "unpool", "dense_comp")


@dataclass(frozen=True)
class EmuLayer:
    """One spiking layer (or a flatten) in the emulator's layout.

    ``kind`` is ``input`` (an input layer's neurons), ``dense``, ``dense_rec``,
    ``conv`` or ``flatten``. ``weight`` is float32 holding integers, ``(C_out, C_in)`` or
    ``(C_out, C_in / groups, kH, kW)`` (the emulator makes its integer kernel weights
    from it); ``weight_rec_t`` is the int32 transpose ``(C, C)`` of a recurrent weight
    (``(0, 0)`` when there is none). ``delayed`` holds, per axonal delay ``d > 0``,
    ``(d, weight)`` of the synapses with that delay (``weight`` then holds those of
    delay 0).
    ``vth`` and ``bias`` are int64 ``(prod(shape),)`` (already ``<< 6``).
    ``sum_bound`` bounds ``|sum|`` of any binary input's synaptic sum (after the shift).
    ``ref_delay`` is the refractory period in steps (0: plain LIF; see
    :func:`rouser_lava.netx.check.refractory_period`).
    """

    kind: str
    shape: tuple[int, ...]
    weight: torch.Tensor | None = None
    weight_rec_t: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.int32))
    weight_exp: int = 0
    sum_bound: float = 0.0
    conv: dict | None = None
    i_decay: int = 0
    v_decay: int = 0
    vth: np.ndarray | None = None
    bias: np.ndarray | None = None
    ref_delay: int = 0
    delayed: tuple = ()


def _per_neuron(values, shape: tuple[int, ...], where: str, what: str,
                lava_order: bool) -> np.ndarray:
    """One value, one per channel or one per neuron, as int64 ``(prod(shape),)`` in torch
    order (``lava_order``: a per-neuron array of a 3-D layer is ``(W, H, C)``)."""
    values = np.asarray(values).astype(np.int64)
    channels, size = shape[0], int(np.prod(shape))
    if values.size == 1:
        return np.full(size, values.reshape(-1)[0], dtype=np.int64)
    if len(shape) == 3 and values.size == channels:
        return np.repeat(values.reshape(-1), size // channels)
    if lava_order and len(shape) == 3 and values.shape == shape[::-1]:
        return np.ascontiguousarray(values.transpose(2, 1, 0)).reshape(-1)
    if values.size == size and not (lava_order and len(shape) == 3):
        return values.reshape(-1)
    want = f"(W, H, C) = {shape[::-1]}" if lava_order and len(shape) == 3 else "per neuron"
    raise UserError(f"{where} {what} of shape {values.shape} fits neither one value, one "
                    f"per channel nor one per neuron {want}")


def _neuron_fields(cfg, where: str, shape: tuple[int, ...], bias) -> dict:
    kind = cfg["type"] if cfg is not None else "CUBA"
    if kind not in ("CUBA", "LOIHI"):
        raise UserError(f"{where} has neuron type {kind}; only CUBA and LOIHI are "
                        f"reproduced (sigma-delta and resonate-and-fire neurons are not)")
    ref_delay = 0
    if cfg is None:  # netx's non-leaky integrator default
        i_decay, v_decay, vth = 0, 4096, np.array(1 << 18 - 1)
    else:
        i_decay, v_decay = int(cfg["iDecay"]), int(cfg["vDecay"])
        vth = np.asarray(cfg["vThMant"]).astype(np.int64)
        if "refDelay" in cfg.keys():
            ref_delay = refractory_period(int(np.asarray(cfg["refDelay"]).reshape(-1)[0]))
        if "gradedSpike" in cfg.keys() and bool(np.any(cfg.value("gradedSpike"))):
            raise UserError(f"{where} has graded spikes; Lava's CUBA has none")
    return {"i_decay": i_decay, "v_decay": v_decay, "ref_delay": ref_delay,
            "vth": _per_neuron(vth * 64, shape, where, "vThMant", False),
            "bias": _per_neuron(np.zeros(1) if bias is None else np.asarray(bias) * 64,
                                shape, where, "bias", True)}


def _delays(raw, rows: int, cols: int, where: str) -> np.ndarray:
    """A dense layer's ``delay`` as netx expands it: int ``(C_out, C_in)``."""
    delay = np.clip(np.asarray(raw), 0, DELAY_MAX).astype(np.int64)
    if delay.size == 1:
        return np.full((rows, cols), delay.reshape(-1)[0])
    if delay.ndim == 1 and delay.size in (rows, cols):  # per output neuron wins a tie
        return np.repeat(delay[:, None], cols, 1) if delay.size == rows else \
            np.repeat(delay[None, :], rows, 0)
    if delay.shape == (rows, cols):
        return delay
    raise UserError(f"{where} delay of shape {delay.shape} fits neither one value, one per "
                    f"output ({rows}), one per input ({cols}) nor ({rows}, {cols})")


def _dense(cfg, kind: str, where: str, keys: set) -> dict:
    """Weights (and delay groups) of a dense or dense_rec layer as Lava uses them."""
    rows = int(np.prod(cfg["shape"]))
    weight = cfg["weight"].reshape(rows, -1)
    rec = np.zeros((0, 0), np.int32)
    if kind == "dense_rec":
        if "delay" in keys:
            raise UserError(f"{where} is dense_rec with delays, which is not reproduced "
                            f"(netx drops the weight exponent there)")
        weight, rec, exp = lava_dense_rec_synapse(weight, cfg["weight_rec"].reshape(rows, -1))
        rec = np.ascontiguousarray(rec.T, np.int32)
    else:
        weight, exp = lava_dense_synapse(weight)
    bound = float(np.abs(weight).sum(1).max()) * 2.0 ** max(exp, 0)
    delayed = []
    if "delay" in keys:
        rows, cols = weight.shape
        delay = _delays(cfg["delay"], rows, cols, where)
        for d in np.unique(delay[(delay > 0) & (weight != 0)]):
            part = np.where(delay == d, weight, 0)
            delayed.append((int(d), torch.from_numpy(part.astype(np.float32))))
        weight = np.where(delay == 0, weight, 0)
    return {"weight": torch.from_numpy(weight.astype(np.float32)),
            "weight_rec_t": rec,
            "weight_exp": int(exp), "sum_bound": bound, "delayed": tuple(delayed)}


def load_netx(path: str, input_shape: tuple[int, ...] | None = None) -> list[EmuLayer]:
    """Read a netx HDF5 file into emulator layers (refusing what is not reproduced);
    ``input_shape`` (torch order) checks a file without an input layer against it."""
    with open_netx(path) as f:
        read = FileValues()
        check_open_fits(f, path, BYTES_PER_SYNAPSE, "the emulator", "run a smaller network",
                        input_shape, read)
        return load_layers(f, path, input_shape, read)


def _net_dict(f, read: FileValues):
    """lava-dl's ``NetDict`` (``lava/lib/dl/netx/utils.py``: dictionary access to an
    HDF5 group, strings decoded, ``weight``, ``weight_rec`` and ``bias`` as ``int``)
    over ``f``, its datasets taken from ``read`` (the values the checks read) instead
    of read again; an ``int`` array is not copied (``read`` keeps it read-only)."""
    from lava.lib.dl.netx.utils import NetDict

    class Read(NetDict):
        def __getitem__(self, key):
            if key in self.str_keys:
                value = read.value(self.f, key)
                return (value[0] if len(read.item(self.f, key).shape) > 0
                        else value).decode("ascii")
            if key in self.copy_keys:
                return np.asarray(read.value(self.f, key)).astype(int, copy=False)
            if key in self.array_keys:
                return read.value(self.f, key)
            return Read(f=self.f[str(key) if isinstance(key, int) else key])

        def value(self, key: str):
            """The dataset ``key`` as read (``[()]``)."""
            return read.value(self.f, key)

    return Read(f=f)


def load_layers(f, path: str, input_shape: tuple[int, ...] | None = None,
                read: FileValues | None = None) -> list[EmuLayer]:
    """:func:`load_netx` of the open, checked file ``f`` (memory and values checked;
    ``read``: what the checks read from it)."""
    layers_cfg = _net_dict(f, FileValues() if read is None else read)["layer"]
    layers: list[EmuLayer] = []
    shape: tuple[int, ...] | None = input_shape
    for i in range(len(layers_cfg)):
        cfg = layers_cfg[i]
        kind, where = cfg["type"], f"{path}: layer/{i}"
        keys = set(cfg.keys())
        if kind in UNSUPPORTED or kind not in ("input", "dense", "dense_rec", "conv",
                                               "flatten"):
            raise UserError(f"{where} has type '{kind}', which is not reproduced")
        if kind == "flatten":
            shape = (int(np.prod(shape)),) if shape is not None else None
            layers.append(EmuLayer("flatten", shape or (0,)))
            continue
        out_shape = tuple(int(s) for s in cfg["shape"])
        neuron = cfg["neuron"] if "neuron" in keys else None
        if kind == "input":
            if neuron is not None:
                layers.append(EmuLayer("input", out_shape,
                                       **_neuron_fields(neuron, where, out_shape, None)))
            shape = out_shape
            continue
        bias = cfg["bias"] if "bias" in keys else None
        if kind == "conv":
            if "delay" in keys:
                log.warning("%s: netx ignores a conv layer's delay; so does the "
                            "emulator", where)
            weight = cfg["weight"]
            conv: dict = {k: tuple(int(v) for v in np.broadcast_to(cfg[k], (2,)))
                          for k in ("stride", "padding", "dilation")}
            conv["groups"] = int(np.asarray(cfg["groups"]).reshape(-1)[0])
            weight = weight.reshape(weight.shape[:4])
            layers.append(EmuLayer(
                "conv", out_shape, torch.from_numpy(weight.astype(np.float32)), conv=conv,
                sum_bound=float(np.abs(weight).sum((1, 2, 3)).max()),
                **_neuron_fields(neuron, where, out_shape, bias)))
        else:
            out_shape = (int(np.prod(out_shape)),)
            layers.append(EmuLayer(kind, out_shape, **_dense(cfg, kind, where, keys),
                                   **_neuron_fields(neuron, where, out_shape, bias)))
        shape = out_shape
    if not any(la.kind != "flatten" for la in layers):
        raise UserError(f"{path}: no spiking layer to run")
    return layers

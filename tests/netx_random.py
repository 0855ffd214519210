"""Random netx networks written directly with h5py (not through our exporter), covering
what the emulator claims: dense, conv (stride, padding, groups), dense_rec, flatten,
decays 0 and 4096, scalar / per-channel / per-neuron thresholds, biases, all sign modes,
and weights and inputs strong enough to hit the 24-bit wrap of u and clip of v.

With ``lavadl=True`` also what lava-dl writes beyond that: input layers with a neuron
group (slayer's ``block.cuba.Input``, with its ignored ``weight`` and ``bias``), conv-first
networks without an input layer, per-neuron conv biases in Lava's ``(W, H, C)`` order,
and axonal ``delay`` in dense layers (one value, per output, per input or per synapse)."""

from __future__ import annotations

import h5py
import numpy as np


def _put(group: h5py.Group, key: str, value) -> None:
    if key == "type":
        group.create_dataset("type", (1,), "S10", [value.encode("ascii")])
    else:
        group.create_dataset(key, data=value)


def _weights(rng: np.random.Generator, shape: tuple[int, ...], strong: bool,
             saturate: bool = False) -> np.ndarray:
    if saturate:  # all-excitatory or all-inhibitory, near full scale: u wraps, v clips
        sign = 1 if rng.random() < 0.6 else -1
        return sign * rng.integers(200, 255, shape)
    mode = rng.choice(["mixed", "mixed", "excitatory", "inhibitory", "small"])
    hi = 254 if strong else int(rng.integers(8, 200))
    w = rng.integers(-hi, hi + 1, shape)
    if mode == "excitatory":
        w = np.abs(w)
    elif mode == "inhibitory":
        w = -np.abs(w)
    elif mode == "small":
        w = rng.integers(-6, 7, shape) * 2
    return w


def _neuron(group: h5py.Group, rng: np.random.Generator, channels: int, size: int,
            strong: bool, saturate: bool = False, refractory: bool = False) -> None:
    n = group.create_group("neuron")
    _put(n, "type", str(rng.choice(["CUBA", "LOIHI"])))
    for key in ("iDecay", "vDecay"):
        decay = 0 if saturate else int(rng.choice([0, 4096, int(rng.integers(0, 4097))]))
        _put(n, key, decay)
    if saturate:
        top = 131071
    elif strong and rng.random() < 0.3:
        top = int(rng.integers(3000, 131072))
    else:
        top = int(rng.integers(5, 400))
    form = rng.choice(["scalar", "channel", "neuron"] if size == channels else
                      ["scalar", "channel"])
    if form == "scalar":
        vth = int(rng.integers(1, top + 1))
    else:
        vth = rng.integers(1, top + 1, channels if form == "channel" else size)
    _put(n, "vThMant", vth)
    _put(n, "refDelay", int(rng.choice([1, 2, 5, 1000])) if refractory else 1)
    _put(n, "gradedSpike", False)


def _delay(rng: np.random.Generator, out: int, size: int) -> np.ndarray | int:
    hi = int(rng.choice([4, 12, 62]))
    form = rng.choice(["scalar", "out", "in", "synapse"])
    shape = {"scalar": (), "out": (out,), "in": (size,), "synapse": (out, size)}[form]
    return int(rng.integers(0, hi + 1)) if not shape else rng.integers(0, hi + 1, shape)


def write_random_netx(path: str, seed: int, refractory: bool = False,
                      lavadl: bool = False) -> tuple[tuple[int, ...], dict]:
    """Write a random network (``refractory``: ``refDelay`` drawn from 1, 2, 5 and 1000
    per layer, else 1; ``lavadl``: the layouts of the module docstring); returns its
    input shape ``(C,)`` or ``(C, H, W)`` and a description of what it contains
    (``input_neuron``: the first layer is an input layer with neurons)."""
    rng = np.random.default_rng(seed)
    strong = bool(rng.random() < 0.4)
    saturate = bool(rng.random() < 0.2)  # first layer driven into the 24-bit limits
    conv_first = bool(rng.random() < 0.5) and not saturate  # saturate needs fan-in
    input_neuron = lavadl and bool(rng.random() < 0.6)
    no_input = lavadl and conv_first and not input_neuron and bool(rng.random() < 0.6)
    info = {"strong": strong, "saturate": saturate, "kinds": [], "input_neuron": input_neuron,
            "delay": False}
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        index = 0

        def new_input(shape: tuple[int, ...]) -> None:
            if no_input:
                return
            g = new("input")
            _put(g, "shape", np.array(shape))
            if input_neuron:  # slayer's Input block also writes a scalar weight and bias
                _put(g, "weight", np.array([64.0]))
                _put(g, "bias", np.array([0.0]))
                _neuron(g, rng, shape[0], int(np.prod(shape)), strong)

        def new(kind: str) -> h5py.Group:
            nonlocal index
            g = layers.create_group(str(index))
            _put(g, "type", kind)
            index += 1
            info["kinds"].append(kind)
            return g

        if conv_first:
            shape = (int(rng.integers(1, 4)) * 2, int(rng.integers(4, 8)),
                     int(rng.integers(4, 8)))
            new_input(shape)
            input_shape = shape
            for _ in range(int(rng.integers(1, 3))):
                c_in, h, w = shape
                groups = 2 if c_in % 2 == 0 and rng.random() < 0.4 else 1
                c_out = int(rng.integers(1, 3)) * groups
                k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
                stride = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
                pad = (int(rng.integers(0, 2)), int(rng.integers(0, 2)))
                out_hw = [(size + 2 * p - kk) // s + 1
                          for size, kk, s, p in zip((h, w), k, stride, pad)]
                if min(out_hw) < 1:
                    break
                shape = (c_out, *out_hw)
                g = new("conv")
                for key, value in (("shape", np.array(shape)), ("inChannels", c_in),
                                   ("outChannels", c_out), ("kernelSize", np.array(k)),
                                   ("stride", np.array(stride)), ("padding", np.array(pad)),
                                   ("dilation", np.array([1, 1])), ("groups", groups)):
                    _put(g, key, value)
                first = saturate and info["kinds"].count("conv") == 1
                _put(g, "weight", _weights(rng, (c_out, c_in // groups, *k), strong, first))
                if rng.random() < 0.4:
                    per_neuron = lavadl and rng.random() < 0.5  # Lava's (W, H, C) order
                    _put(g, "bias", rng.integers(-150, 150, shape[::-1] if per_neuron
                                                 else c_out))
                _neuron(g, rng, c_out, int(np.prod(shape)), strong, first, refractory)
            _put(new("flatten"), "shape", np.array([int(np.prod(shape))]))
            size = int(np.prod(shape))
        else:
            size = int(rng.integers(20, 28) if saturate else rng.integers(6, 24))
            new_input((size,))
            input_shape = (size,)
        for last in [False] * int(rng.integers(0, 2)) + [True]:
            out = int(rng.integers(3, 7)) if last else int(rng.integers(5, 16))
            kind = "dense_rec" if not last and rng.random() < 0.4 else "dense"
            g = new(kind)
            _put(g, "shape", np.array([out]))
            _put(g, "inFeatures", size)
            _put(g, "outFeatures", out)
            first = saturate and len(info["kinds"]) == 2 and not conv_first
            _put(g, "weight", _weights(rng, (out, size), strong, first))
            if kind == "dense_rec":
                _put(g, "weight_rec", _weights(rng, (out, out), strong))
            elif lavadl and rng.random() < 0.5:
                _put(g, "delay", _delay(rng, out, size))
                info["delay"] = True
            if rng.random() < 0.4:
                _put(g, "bias", rng.integers(-150, 150, out))
            _neuron(g, rng, out, out, strong, first, refractory)
            size = out
    return tuple(int(s) for s in input_shape), info

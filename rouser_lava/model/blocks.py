"""SLAYER blocks parameterised by the Rouser neuron, and the network built from them.

A network is described by plain data (``arch``: a list of layer dicts) so that it
can be stored in ``model.pt`` and rebuilt without pickled classes:

- ``{"kind": "dense", "in_features": 64, "out_features": 128}``
- ``{"kind": "conv", "in_channels": 2, "out_channels": 8, "kernel_size": [3, 3],
  "stride": [1, 1], "padding": [1, 1], "dilation": [1, 1], "groups": 1}``
- ``{"kind": "flatten"}``
- ``{"kind": "pool", "channels": 8, "kernel_size": [2, 2], "weight": 1.0}``: sum
  pooling (stride = kernel, no padding) with one constant weight into CUBA neurons, one
  learnable threshold per channel (lava-dl's ``slayer.block.cuba.Pool``); it runs and
  exports as the depthwise conv :func:`pool_conv_spec` (netx has no pool layer).
- ``{"kind": "recurrent", "in_features": 64, "out_features": 128}``: dense and
  recurrent weights into one population (:mod:`.recurrent`), netx ``dense_rec``. An
  imported layer may add ``"bias_neurons": n``: its last ``n`` neurons carry biases of
  the current (:mod:`rouser_lava.interop.bias_neurons`), not data.

A dense or conv dict may add ``"current_decay"`` and ``"voltage_decay"`` (fractions,
as in ``NeuronConfig``): that layer's decays in place of the shared ones (an imported
network whose layers decay differently, :mod:`rouser_lava.interop.imported`).

Synapses are lava-dl's (``slayer.synapse.Dense`` / ``Conv``) with slayer's 8-bit
weight quantization hook, so weights are multiples of 1/32 in [-4, 3.97] — exactly
what netx stores as even integers in [-256, 254]. Each spiking block delays its
output by one step, as slayer's ``delay_shift`` does, to model Loihi's one-step
synaptic delay.

The neuron of every block is ``NeuronConfig.neuron``'s (``RouserCuba`` or
``RouserSingleSpike``); with ``NeuronConfig.readout == "membrane"`` the last block
holds a ``MembraneReadout`` instead and outputs its voltage ``v``, delayed one step
like every block's output: on Lava the readout's input arrives one step late (the
synapse's delay buffer), so the ``v`` the host reads after the last step ``T - 1``
holds the hidden spikes up to ``T - 2``, and the logits ``output[..., -1]`` are the
undelayed ``v`` at ``T - 2``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, cast

import numpy as np
import torch
from torch import nn

from .._slayer import slayer
from .event_conv import fold_conv, spike_conv
from .event_synapse import spike_linear
from .fold import lava_dense_synapse
from .neuron import NeuronConfig, RouserCuba
from .recurrent import Recurrent
from .single_spike import MembraneReadout
from .synapse import (
    W_SCALE,
    fold,
    fold_key,
    make_neuron,
    new_bias,
    quantize_weight,
    run_population,
)
from .synapse import delay_one_step as delay_one_step  # re-exported

POOL_WEIGHT = 1.0  # a pool's constant weight (threshold units): mantissa 64

class Dense(nn.Module):
    """Fully connected synapse followed by a Rouser population (``make_neuron``).

    Input spikes ``(N, C_in, T)``; output spikes ``(N, C_out, T)`` (the membrane
    readout's voltage when ``readout`` and the config asks for it).
    """

    def __init__(self, spec: dict, neuron: NeuronConfig, weight_scale: float = 1.0,
                 readout: bool = False):
        super().__init__()
        self.spec = spec
        self.synapse = slayer.synapse.Dense(
            spec["in_features"], spec["out_features"],
            weight_scale=weight_scale, pre_hook_fx=quantize_weight,
        )
        self.neuron = make_neuron(spec["out_features"], neuron, readout)
        self.bias = new_bias(spec, spec["out_features"], self.neuron)
        self._fold_cache: tuple[tuple, tuple[torch.Tensor, int, int]] | None = None

    def weight(self) -> torch.Tensor:
        """float32 ``(C_out, C_in)``: the weights the forward pass uses (quantized)."""
        w = quantize_weight(self.synapse.weight.detach())
        return w.reshape(w.shape[0], w.shape[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``(N, C_out, T)`` for spikes ``x`` ``(N, C_in, T)``.

        The synaptic sum is ``W @ x`` per sample, what slayer's ``Dense`` computes as a
        1x1x1 ``conv3d``: one matrix product over all samples and steps, or the sum over
        the spiking inputs only where they are sparse (:func:`.event_synapse.spike_linear`,
        chosen by its measured cost model, backward included). Weights are multiples of 1/32
        and inputs are 0/1, so every partial sum is exact in float32 and the order of
        summation cannot change a value.
        """
        w = quantize_weight(self.synapse.weight)
        w = w.reshape(w.shape[0], -1)
        if self.neuron.config.fold_exact:
            return self._fold_forward(x, w)
        return run_population(self.neuron, spike_linear(x, w), self.bias)

    def _fold_forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Spikes of the fold export on Lava: the sum of Lava's effective integer weights
        over the spikes, shifted (floored) by netx's weight exponent, into neurons with
        the shared threshold; gradients those of the unfolded current ``w x``, from the
        same single sum."""
        w_eff, exp, m = self._fold_run(w)
        current = spike_linear(x, w, (w_eff, exp))  # (N, C_out, T), value: the fold's
        return run_population(self.neuron, current, self.bias,
                              (current.detach() / W_SCALE, m))

    def _fold_run(self, w: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        """Lava's effective integer weights of the fold (float32 ``(C_out, C_in)``), their
        exponent and the shared ``vThMant``; computed once per change of the weights or
        thresholds (an optimizer step changes both tensors' versions), not per pass."""
        neuron = cast(RouserCuba, self.neuron)  # fold_exact: a cuba neuron
        key = fold_key(self.synapse.weight, neuron.threshold)
        if self._fold_cache is None or self._fold_cache[0] != key:
            w_int, m = fold(w, neuron)
            w_eff, exp = lava_dense_synapse(w_int)
            self._fold_cache = (key, (torch.from_numpy(w_eff.astype(np.float32)), exp, m))
        return self._fold_cache[1]


class Conv(nn.Module):
    """2-D convolution synapse followed by a Rouser population (one threshold per
    output channel). Input ``(N, C_in, H, W, T)``; output ``(N, C_out, H', W', T)``.
    """

    def __init__(self, spec: dict, neuron: NeuronConfig, weight_scale: float = 1.0,
                 readout: bool = False):
        super().__init__()
        self.spec = spec
        self.synapse = slayer.synapse.Conv(
            spec["in_channels"], spec["out_channels"], tuple(spec["kernel_size"]),
            stride=tuple(spec["stride"]), padding=tuple(spec["padding"]),
            dilation=tuple(spec["dilation"]), groups=spec["groups"],
            weight_scale=weight_scale, pre_hook_fx=quantize_weight,
        )
        self.neuron = make_neuron(spec["out_channels"], neuron, readout)
        self.bias = new_bias(spec, spec["out_channels"], self.neuron)
        self._fold_cache: tuple[tuple, tuple[torch.Tensor, int]] | None = None

    def weight(self) -> torch.Tensor:
        """float32 ``(C_out, C_in / groups, kH, kW)``: quantized forward weights."""
        return quantize_weight(self.synapse.weight.detach())[..., 0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        syn = self.synapse
        if not self.neuron.config.fold_exact:  # slayer's synapse, events where sparse
            a = spike_conv(x, quantize_weight(syn.weight), (syn.stride, syn.padding,
                                                            syn.dilation, syn.groups))
            return run_population(self.neuron, a, self.bias)
        w = quantize_weight(syn.weight)
        w_run, m = self._fold_run(w)
        # Lava's Conv: file weights as they are, 24-bit activation; one convolution
        a = fold_conv(x, w, w_run, (syn.stride, syn.padding, syn.dilation, syn.groups))
        return run_population(self.neuron, a, self.bias, (a.detach() / W_SCALE, m))

    def _fold_run(self, w: torch.Tensor) -> tuple[torch.Tensor, int]:
        """The fold's integer weights (float32, ``w``'s shape) and shared ``vThMant``,
        computed once per change of the weights or thresholds (as ``Dense._fold_run``)."""
        neuron = cast(RouserCuba, self.neuron)  # fold_exact: a cuba neuron
        key = fold_key(self.synapse.weight, neuron.threshold)
        if self._fold_cache is None or self._fold_cache[0] != key:
            w_int, m = fold(w, neuron)
            self._fold_cache = (key, (torch.from_numpy(w_int.astype(np.float32)), m))
        return self._fold_cache[1]


class Pool(Conv):
    """Sum pooling with one constant weight (``spec["weight"]``, threshold units, not
    trained) into a Rouser population with one threshold per channel: the depthwise
    conv :func:`pool_conv_spec`, which is what the block runs and exports (lava-dl's
    ``netx/hdf5.py`` builds ``pool`` layers never: it raises NotImplementedError).
    Input ``(N, C, H, W, T)``; output ``(N, C, H // k, W // k, T)``."""

    def __init__(self, spec: dict, neuron: NeuronConfig, weight_scale: float = 1.0,
                 readout: bool = False):
        super().__init__(pool_conv_spec(spec), neuron, readout=readout)
        self.spec = spec
        with torch.no_grad():
            self.synapse.weight.fill_(float(spec.get("weight", POOL_WEIGHT)))
        self.synapse.weight.requires_grad_(False)


class Flatten(nn.Module):
    """``(N, C, H, W, T) -> (N, C*H*W, T)`` in C-order, as netx flattens."""

    def __init__(self, spec: dict):
        super().__init__()
        self.spec = spec

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], -1, x.shape[-1])


def layer_shapes(input_shape: tuple[int, ...], arch: list[dict]) -> list[tuple[int, ...]]:
    """Output shape (without batch and time) of every layer in ``arch``."""
    shapes, shape = [], tuple(input_shape)
    for spec in arch:
        if spec["kind"] == "dense":
            shape = (spec["out_features"],)
        elif spec["kind"] == "conv":
            hw = [
                (size + 2 * p - d * (k - 1) - 1) // s + 1
                for size, k, s, p, d in zip(shape[1:], spec["kernel_size"], spec["stride"],
                                            spec["padding"], spec["dilation"])
            ]
            shape = (spec["out_channels"], *hw)
        elif spec["kind"] == "pool":
            shape = (shape[0], *(size // k for size, k in zip(shape[1:], spec["kernel_size"])))
        elif spec["kind"] == "recurrent":
            shape = (spec["out_features"],)
        else:
            shape = (int(np.prod(shape)),)
        shapes.append(shape)
    return shapes


def conv_spec(in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
              padding: int = 0, dilation: int = 1, groups: int = 1) -> dict:
    """A conv layer dict with square kernel, stride, padding and dilation."""
    return {"kind": "conv", "in_channels": in_channels, "out_channels": out_channels,
            "kernel_size": [kernel_size] * 2, "stride": [stride] * 2,
            "padding": [padding] * 2, "dilation": [dilation] * 2, "groups": groups}


def dense_spec(in_features: int, out_features: int) -> dict:
    """A dense layer dict."""
    return {"kind": "dense", "in_features": in_features, "out_features": out_features}


def pool_spec(channels: int, kernel_size: int, weight: float = POOL_WEIGHT) -> dict:
    """A sum-pooling layer dict with a square ``kernel_size`` (= its stride)."""
    return {"kind": "pool", "channels": channels, "kernel_size": [kernel_size] * 2,
            "weight": weight}


def recurrent_spec(in_features: int, out_features: int, bias: bool = False) -> dict:
    """A recurrent layer dict (``bias``: a learnable bias per neuron)."""
    spec = {"kind": "recurrent", "in_features": in_features, "out_features": out_features}
    return {**spec, "bias": True} if bias else spec


def bias_neurons(spec: dict) -> int:
    """How many of a layer's neurons (its last ones) are bias neurons."""
    return int(spec.get("bias_neurons", 0))


def neurons_text(spec: dict, size: int) -> str:
    """``"38 neurons + 2 bias neurons"`` for a layer of ``size`` neurons, or ``"40"``
    without bias neurons."""
    n = bias_neurons(spec)
    return f"{size - n} neurons + {n} bias neurons" if n else str(size)


def pool_conv_spec(spec: dict) -> dict:
    """The depthwise conv a pool layer dict is: ``groups = in = out = channels``,
    kernel = stride = the pool size, no padding."""
    c, k = spec["channels"], list(spec["kernel_size"])
    return {"kind": "conv", "in_channels": c, "out_channels": c, "kernel_size": k,
            "stride": k, "padding": [0, 0], "dilation": [1, 1], "groups": c}


def layer_config(neuron: NeuronConfig, spec: dict) -> NeuronConfig:
    """``neuron`` with the layer's own decays where ``spec`` gives them."""
    own: dict[str, Any] = {k: float(spec[k]) for k in ("current_decay", "voltage_decay")
                           if k in spec}
    return dataclasses.replace(neuron, **own) if own else neuron


class RouserNet(nn.Module):
    """A feed-forward SNN of Rouser blocks.

    Parameters
    ----------
    input_shape : tuple of int
        ``(C,)`` or ``(C, H, W)``: one sample's shape without time.
    arch : list of dict
        Layer descriptions (see module docstring).
    neuron : NeuronConfig
        Neuron settings shared by all spiking layers (a layer dict may override the
        decays).
    """

    def __init__(self, input_shape: tuple[int, ...], arch: list[dict], neuron: NeuronConfig):
        super().__init__()
        self.input_shape = tuple(int(s) for s in input_shape)
        self.arch = [dict(spec) for spec in arch]
        self.neuron_config = neuron
        kinds = {"dense": Dense, "conv": Conv, "pool": Pool, "recurrent": Recurrent}
        last = max(i for i, s in enumerate(arch) if s["kind"] in kinds)
        self.blocks = nn.ModuleList(
            kinds[s["kind"]](s, layer_config(neuron, s), readout=i == last)
            if s["kind"] in kinds else Flatten(s) for i, s in enumerate(arch)
        )

    @classmethod
    def from_blocks(cls, input_shape: tuple[int, ...], blocks) -> RouserNet:
        """A ``RouserNet`` over existing blocks, shared and not copied.

        ``blocks`` (``Dense``, ``Conv``, ``Flatten``, in the order the data passes
        them) may belong to a user's own ``nn.Module``: training that module trains
        this net, which can then be saved, quantized and exported. Raises ValueError
        when the blocks do not chain or do not share one ``NeuronConfig``.
        """
        blocks = list(blocks)
        if not blocks or not all(isinstance(b, (Dense, Conv, Recurrent, Flatten))
                                 for b in blocks):
            raise ValueError("blocks must be Dense, Conv, Pool, Recurrent or Flatten "
                             "blocks, at least one")
        configs = {b.neuron.config for b in blocks if not isinstance(b, Flatten)}
        if len(configs) != 1:
            raise ValueError("the spiking blocks must share one NeuronConfig")
        spiking = [b for b in blocks if not isinstance(b, Flatten)]
        want = [False] * (len(spiking) - 1) + [next(iter(configs)).readout == "membrane"]
        if [isinstance(b.neuron, MembraneReadout) for b in spiking] != want:
            raise ValueError("with readout 'membrane' the last block, and only it, holds "
                             "the readout (build it with readout=True)")
        arch = [dict(b.spec) for b in blocks]
        shape = tuple(int(s) for s in input_shape)
        for i, (spec, out) in enumerate(zip(arch, layer_shapes(shape, arch))):
            flat = len(shape) == 1 and shape[0] == spec.get("in_features")
            fits = {"dense": flat, "recurrent": flat,
                    "conv": len(shape) == 3 and shape[0] == spec.get("in_channels"),
                    "pool": len(shape) == 3 and shape[0] == spec.get("channels")}
            if not fits.get(spec["kind"], True):
                raise ValueError(f"block {i} ({spec['kind']}) cannot take input of shape "
                                 f"{shape}")
            shape = out
        net = cls.__new__(cls)
        nn.Module.__init__(net)
        net.input_shape = tuple(int(s) for s in input_shape)
        net.arch, net.neuron_config = arch, configs.pop()
        net.blocks = nn.ModuleList(blocks)
        return net

    def spiking_blocks(self) -> list[nn.Module]:
        """The Dense, Conv, Pool and Recurrent blocks, in order."""
        return [b for b in self.blocks if not isinstance(b, Flatten)]

    def layer_names(self) -> list[str]:
        """``layer0``, ``layer1``, ... for the spiking blocks."""
        return [f"layer{i}" for i in range(len(self.spiking_blocks()))]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Spikes of every spiking layer, in order; the last one is the output (with
        the membrane readout: its voltage ``v``, float32 ``(N, K, T)``, logits at
        ``[..., -1]``; see :meth:`logits`).

        ``x`` is ``(N, *input_shape, T)`` float32 in {0, 1}.
        """
        outputs = []
        for block in self.blocks:
            x = block(x)
            if not isinstance(block, Flatten):
                outputs.append(x)
        return outputs

    def logits(self, output: torch.Tensor) -> torch.Tensor:
        """float32 ``(N, K)`` class scores from the last layer's ``output`` ``(N, K, T)``:
        spike counts, or the membrane readout's ``v`` at the last step."""
        return output[..., -1] if self.neuron_config.readout == "membrane" else output.sum(-1)

    def spike_outputs(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """``outputs`` of :meth:`forward` with the membrane readout's voltage replaced by
        its spikes (none)."""
        if self.neuron_config.readout != "membrane":
            return outputs
        return [*outputs[:-1], torch.zeros_like(outputs[-1])]

    @torch.no_grad()
    def clamp_(self) -> None:
        """Keep learned thresholds representable (call after each optimizer step)."""
        for block in self.spiking_blocks():
            block.neuron.clamp_()

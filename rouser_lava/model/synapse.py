"""What every Rouser block shares: slayer's 8-bit weight grid, the Loihi 2 fold of a
population's thresholds into its weights (and bias), the population a block holds, and
the one-step synaptic delay of Loihi's output.

A bias is Loihi's ``bias_mant`` (netx's ``bias``, ``bias_exp`` 6, lava-dl
``src/lava/lib/dl/netx/hdf5.py``): ``bias_mant << 6`` is added to ``v`` every step from
Lava's first step on, before any input has arrived. A block with a bias therefore runs
its neurons on the delayed current (one more leading step, bias only) instead of
delaying its spikes; without a bias the two are the same.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._slayer import slayer
from ..loihi import BIAS_MAX, BIAS_MIN
from .fold import DEFAULT_MAX_GAIN, choose_shared_threshold, folded_weights
from .neuron import NeuronConfig, RouserCuba
from .single_spike import MembraneReadout, RouserSingleSpike

W_SCALE = 64  # weight unit on Loihi: a weight of 1.0 is mantissa 64


def quantize_weight(weight: torch.Tensor, descale: bool = False) -> torch.Tensor:
    """slayer's 8-bit weight quantization: step 2/64, range [-256/64, 254/64] (STE).

    With ``descale=True`` returns the integer-valued mantissa scale (``w * 64``).
    """
    q = slayer.utils.quantize(weight, step=2 / W_SCALE).clamp(-256 / W_SCALE, 254 / W_SCALE)
    return q * W_SCALE if descale else q


def fold(weight: torch.Tensor, neuron: RouserCuba) -> tuple[np.ndarray, int]:
    """The Loihi 2 fold of ``neuron``'s thresholds into ``weight`` (float32
    ``(C_out, ...)``, quantized), exactly as ``rouser-export`` writes it: the integer
    weights (int64, same shape) and the shared ``vThMant``."""
    w_mant = np.rint(weight.detach().double().numpy() * W_SCALE).astype(np.int64)
    th_mant = neuron.threshold_mant().numpy()
    m = choose_shared_threshold(w_mant, th_mant, DEFAULT_MAX_GAIN)
    return folded_weights(w_mant, th_mant, m)[0], m


def fold_key(*tensors: torch.Tensor | None) -> tuple[int, ...]:
    """What a block's fold depends on: the identity, storage and version of its weight,
    threshold (and other) tensors, None skipped. An in-place change (an optimizer step,
    ``clamp_``, ``load_state_dict``) raises a version, so the key changes exactly when
    the fold may."""
    return tuple(v for t in tensors if t is not None
                 for v in (id(t), t.data_ptr(), t._version))


def make_neuron(num_channels: int, config: NeuronConfig, readout: bool) -> nn.Module:
    """The population a block holds: the readout's when ``readout`` and the config asks
    for the membrane readout, else the config's neuron."""
    if readout and config.readout == "membrane":
        return MembraneReadout(num_channels, config)
    kinds = {"cuba": RouserCuba, "single-spike": RouserSingleSpike}
    return kinds[config.neuron](num_channels, config)


def delay_one_step(x: torch.Tensor) -> torch.Tensor:
    """Shift spikes ``(..., T)`` one step later, dropping the last (Loihi's synaptic
    delay); the same values and gradient as ``slayer.axon.delay(x, 1)``, without its
    per-call tensor set-up."""
    if x.dim() == 3 and x.stride(1) == 1 and x.stride(2) != 1:  # a (N, T, C) tensor seen
        # as (N, C, T) (a dense layer's current): shift it in that layout, no copy back
        return nn.functional.pad(x.transpose(1, 2)[:, :-1], (0, 0, 1, 0)).transpose(1, 2)
    return nn.functional.pad(x[..., :-1], (1, 0))



def quantize_bias(bias: torch.Tensor) -> torch.Tensor:
    """A bias (threshold units) on Loihi's grid: multiples of 1/64 within the int16
    ``bias_mant`` (straight-through gradient)."""
    q = torch.round(bias * W_SCALE).clamp(BIAS_MIN, BIAS_MAX) / W_SCALE
    return bias + (q - bias).detach()


def bias_mant(bias: torch.Tensor) -> np.ndarray:
    """int64 ``bias_mant`` of a trained bias ``(C,)``."""
    return np.rint(quantize_bias(bias.detach()).double().cpu().numpy() * W_SCALE) \
        .astype(np.int64)


def fold_bias(b_mant: np.ndarray, th_mant: np.ndarray, m: int) -> np.ndarray:
    """int64 ``bias_mant`` of the fold with shared ``vThMant`` ``m``: each neuron's bias
    scaled like its weights (``m / th_mant_i``), rounded and clipped to int16."""
    scaled = np.rint(b_mant.astype(np.float64) * m / th_mant.astype(np.float64))
    return np.clip(scaled, BIAS_MIN, BIAS_MAX).astype(np.int64)


def new_bias(spec: dict, size: int, neuron: nn.Module) -> nn.Parameter | None:
    """The learnable bias ``(C,)`` (zeros) a block's ``spec`` asks for with ``"bias":
    True``, else None; ValueError unless ``neuron`` is a plain cuba population."""
    if not spec.get("bias"):
        return None
    if type(neuron) is not RouserCuba:
        raise ValueError("a bias needs the cuba neuron and a spiking layer (no "
                         "single-spike neuron, no membrane readout)")
    return nn.Parameter(torch.zeros(size))


def run_population(neuron: nn.Module, current: torch.Tensor, bias: nn.Parameter | None,
                   folded: tuple[torch.Tensor, int] | None = None) -> torch.Tensor:
    """A block's output spikes ``(N, C, ..., T)``: ``neuron`` on ``current`` (and the
    fold's run ``folded``, see :meth:`RouserCuba.forward`), delayed one step as Loihi's
    synapse delays them; with a ``bias``, the neurons run on the delayed current with the
    bias (the fold's, scaled by ``m / vThMant_i``, when folded)."""
    if bias is None:
        return delay_one_step(neuron(current) if folded is None else neuron(current, folded))
    b_run = bias_mant(bias)
    if folded is not None:
        b_run = fold_bias(b_run, neuron.threshold_mant().cpu().numpy(), folded[1])
        folded = (delay_one_step(folded[0]), folded[1])
    return neuron(delay_one_step(current), folded,
                  (quantize_bias(bias), torch.from_numpy(b_run).to(current.device)))

"""What every Rouser block shares: slayer's 8-bit weight grid, the Loihi 2 fold of a
population's thresholds into its weights, the population a block holds, and the
one-step synaptic delay of Loihi's output."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from .._slayer import slayer
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


"""The network in Loihi fixed point, as netx stores it: the contract between
quantization (:mod:`rouser_lava.deploy.quantize`), the netx writer
(:mod:`rouser_lava.netx.write`) and the reports of ``rouser-export``."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

THRESHOLD_FORMS = ("fold", "vector")
BIAS_NEURONS_ATTR = "rouser_bias_neurons"  # a dense_rec layer's bias neurons (its last ones)


@dataclass(frozen=True)
class QuantLayer:
    """One layer in Loihi fixed point, as netx stores it.

    Attributes
    ----------
    kind : str
        ``dense``, ``dense_rec``, ``conv`` or ``flatten`` (netx's layer type; a pool
        block is a ``conv``).
    spec : dict
        Geometry from the architecture (see model/blocks.py).
    shape : tuple of int
        Output shape ``(C,)`` or ``(C, H, W)``.
    weight : np.ndarray or None
        int32 ``(C_out, C_in)`` or ``(C_out, C_in / groups, kH, kW)`` in units of
        1/64 of the threshold scale (netx's ``weight``).
    v_th_mant : np.ndarray or None
        int64 ``()`` (one per layer) or ``(C,)`` (one per neuron/channel).
    i_decay, v_decay : int
        12-bit decays.
    single_spike : bool
        A single-spike layer: each neuron fires at most once per sample (written with
        ``refDelay`` = the sample length).
    weight_rec : np.ndarray or None
        int32 ``(C, C)``: a ``dense_rec`` layer's recurrent weights.
    bias : np.ndarray or None
        int64 ``(C,)``: ``bias_mant`` per neuron (netx's ``bias``; None: no bias).
    """

    kind: str
    spec: dict
    shape: tuple[int, ...]
    weight: np.ndarray | None = None
    v_th_mant: np.ndarray | None = None
    i_decay: int = 0
    v_decay: int = 0
    single_spike: bool = False
    weight_rec: np.ndarray | None = None
    bias: np.ndarray | None = None


@dataclass(frozen=True)
class LayerReport:
    """What quantization did to one spiking layer.

    ``max_rel_error`` is the largest ``|w_deployed - w_trained|`` relative to the
    largest ``|w|`` of the same neuron's input row, with ``w_deployed`` read back in
    the trained scale (``w_q * Th_i / Th_ref``).
    """

    name: str
    weight_exp: int  # exponent netx's optimize_weight_bits picks
    weight_bits: int  # mantissa bits netx keeps
    clipped: int  # weights clipped to [-256, 254]
    th_min: float  # smallest learned threshold
    th_max: float  # largest learned threshold
    th_ref: float | None  # shared threshold after folding (None: vector form)
    max_rel_error: float


@dataclass(frozen=True)
class QuantizedNetwork:
    """The contract between quantization, export and the runners."""

    input_shape: tuple[int, ...]
    layers: list[QuantLayer]
    threshold_form: str
    reports: list[LayerReport] = field(default_factory=list)

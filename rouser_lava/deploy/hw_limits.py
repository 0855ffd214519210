"""Hardware limits as data (``hw_configs/*.json``) plus small design-rule checks.

Every check raises ``HardwareLimitError`` naming the layer and the resource, before
anything is written or submitted (a network too big for the chip has been reported
to hang instead of failing: lava#826).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import numpy as np

from ..errors import UserError
from .quantize import QuantizedNetwork

CONFIG_DIR = Path(__file__).resolve().parents[2] / "hw_configs"


class HardwareLimitError(UserError):
    """A network does not fit the target: names the layer and the resource."""


@cache
def load_config(name: str) -> dict:
    """Read ``hw_configs/<name>.json``."""
    path = CONFIG_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: cannot read hardware config ({err})") from None


def check_loihi2(qnet: QuantizedNetwork, limits: dict | None = None) -> list[str]:
    """Check ``qnet`` against Loihi 2 limits.

    Returns warnings for limits that only matter on the chip (per-neuron
    thresholds); raises HardwareLimitError for values the hardware cannot hold.
    """
    lim = limits or load_config("loihi2_limits")
    warnings, total = [], 0
    names = iter(r.name for r in qnet.reports)
    for layer in qnet.layers:
        if layer.kind == "flatten":
            continue
        name = next(names)
        total += int(np.prod(layer.shape))

        def fail(what: str, name: str = name) -> None:
            raise HardwareLimitError(f"{name}: {what}")

        if layer.weight.min() < lim["weight_min"] or layer.weight.max() > lim["weight_max"]:
            fail(f"weights span [{layer.weight.min()}, {layer.weight.max()}], outside "
                 f"[{lim['weight_min']}, {lim['weight_max']}] (8-bit mantissa)")
        if layer.v_th_mant.min() < 1 or layer.v_th_mant.max() > lim["vth_mant_max"]:
            fail(f"vThMant {int(layer.v_th_mant.max())} outside 1..{lim['vth_mant_max']} "
                 f"(17-bit mantissa)")
        for key, value in (("iDecay", layer.i_decay), ("vDecay", layer.v_decay)):
            if not 0 <= value <= lim["decay_max"]:
                fail(f"{key} {value} outside 0..{lim['decay_max']} (12-bit decay)")
        if layer.v_th_mant.ndim and not lim["per_neuron_threshold"]:
            warnings.append(f"{name}: per-neuron vThMant is not supported on Loihi 2")
    capacity = lim["neurocores_per_chip"] * lim["neurons_per_core"]
    if total > capacity:
        raise HardwareLimitError(f"network: {total} neurons exceed one chip's "
                                 f"{capacity} ({lim['neurocores_per_chip']} cores x "
                                 f"{lim['neurons_per_core']})")
    return warnings

"""What ``rouser-train --init`` checks before fine-tuning: the options given (or set
by a preset) that contradict the model it starts from, named with both values."""

from __future__ import annotations

import math

import numpy as np

from ..errors import UserError, param
from ..model.archspec import format_arch, parse_arch
from ..model.blocks import RouserNet, layer_shapes
from ..model.modelfile import load_model


def net_sizes(net: RouserNet) -> str:
    """``64-128-10``: input size and the size of every spiking layer."""
    shapes = layer_shapes(net.input_shape, net.arch)
    return "-".join(str(int(np.prod(sh))) for sh in
                    [net.input_shape, *(sh for sp, sh in zip(net.arch, shapes)
                                        if sp["kind"] != "flatten")])


# options whose value, with ``init``, comes from the model file (``init`` records no
# dataset: the data options are used, so only the network's are compared)
NETWORK_OPTIONS = ("hidden", "arch", "neuron", "readout", "threshold_init", "thresholds",
                   "current_decay", "voltage_decay")
DATA_FIXED = ("dataset", "time_steps", "encoding", "bin_ms", "polarity", "downsample")


def _model_values(net: RouserNet, meta: dict) -> dict:
    """What a model file fixes of :data:`NETWORK_OPTIONS` and :data:`DATA_FIXED` (its
    ``arch`` as ``--arch`` spells it; an arch ``--arch`` cannot spell, such as an
    imported network's per-layer decays, is an arch no ``--arch`` given matches)."""
    nc = net.neuron_config
    dense = all(spec["kind"] == "dense" for spec in net.arch)
    values = {"hidden": tuple(s["out_features"] for s in net.arch[:-1]) if dense else "conv",
              "neuron": nc.neuron, "readout": nc.readout, "threshold_init": nc.threshold,
              "thresholds": "learned" if nc.learn_threshold else "fixed",
              "current_decay": nc.current_decay, "voltage_decay": nc.voltage_decay,
              "arch": _spelled(net.arch)}
    if meta.get("name"):
        values.update({"dataset": meta["name"], **{k: v for k, v in meta["encoding"].items()
                                                    if k in DATA_FIXED}})
    return values


def check_init_options(init: str, given: dict, preset: dict | None = None,
                       preset_name: str | None = None) -> None:
    """UserError naming both when an option ``given`` (name -> value, as set) or set by
    the preset (``preset``, named ``preset_name``) contradicts the model ``init`` fine-
    tunes, whose network (and, when it records one, data encoding) it keeps."""
    net, record = load_model(init)
    fixed = _model_values(net, record["dataset"])
    sources = [(name, value, f"{param(name)} {_shown(value)}", param(name))
               for name, value in given.items()]
    sources += [(name, value, f"{param('preset')} {preset_name} (its {param(name)} "
                              f"{_shown(value)})", param("preset"))
                for name, value in (preset or {}).items()
                if name != "threshold_init" and name not in given]
    for name, value, what, option in sources:
        if name not in fixed:
            continue
        have = fixed[name]
        if name == "arch":  # the same layers may be spelled another way
            value = _arch_as_model(value, net)
        same = have == (tuple(value) if isinstance(value, (list, tuple)) else value) or \
            isinstance(have, float) and isinstance(value, (int, float)) and \
            math.isclose(have, value, abs_tol=1e-9)
        if not same:
            on = f" on {record['dataset']['name']}" if record["dataset"].get("name") else ""
            raise UserError(f"{what} contradicts {param('init')} {init}: the model is "
                            f"{net_sizes(net)}{on} with {param(name)} {_shown(have)}; leave "
                            f"{option} out to fine-tune it as it is")


def _spelled(arch: list[dict]) -> str | None:
    try:
        return format_arch(arch)
    except UserError:
        return None


def _arch_as_model(spec: str, net: RouserNet) -> str:
    """``spec`` (an ``--arch``) on the model's input and classes, written as
    :func:`format_arch` writes it; the spec itself when it does not fit them."""
    try:
        return format_arch(parse_arch(spec, net.input_shape,
                                      int(net.arch[-1].get("out_features", 0))))
    except UserError:
        return spec


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

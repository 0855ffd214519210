"""How many Loihi 2 neurocores and chips a netx network needs: a cost model from the
file's geometry alone (weights are not read), calibrated on every compiler table that
lava-dl's netx notebooks saved (``tutorials/lava/lib/dl/netx/``: Oxford, MNIST,
PilotNet SNN and SDNN, YOLO-KP). Constants (limits from the :class:`HwConfig`, each
with its source in ``hw_configs/``)::

    dense   a core holding n of the layer's N neurons stores, per input axon, a row of
            ceil(n / dense_synapses_per_unit) SynMem units, plus dense_neuron_units per
            neuron:  units(n) = fan_in * ceil(n / 4) + 48 * n.
            Split as the compiler's partitioner does: start on ceil(N / 4096) cores and
            multiply the cores by ceil(units / synmem_per_core) until the fullest core
            fits (1 -> 6 -> 12 cores for PilotNet's 2560 -> 100).
    conv    tiled in whole (x, y, c) blocks as the compiler prints them (``Conv(x, y, c)``,
            x along W): c = ceil(C / m), the smallest m whose kernel slice fits,
            units(c) = (c / conv_synapses_per_unit + conv_units_per_row) * C_in/groups * kH * kW
                     = (c / 16 + 0.75) * fan_in;
            y = H if H * c fits conv_neurons_per_core (3584), else the largest power of
            2 that does; x the largest power of 2 with x * y * c <= 3584 (at most W);
            cores = ceil(W / x) * ceil(H / y) * ceil(C / c).
    input   an input layer with neurons takes cores like a conv layer (3-D) or a dense
            layer (1-D) without synapses; an SDNN input layer (a delta encoder, which
            lava-dl's SDNN notebooks skip with ``skip_layers=1``) and an input layer
            without neurons take none, nor does a flatten.
    chips   ceil(sum(cores) / cores_per_chip).

A conv layer's input reaches each core as one or two conv axons (the compiler's
``AxonIn``), so only a dense layer's fan-in counts against ``axons_per_core``.
``binding`` names what set the layer's cores. Against the tables (docs/design/core-model.md):
totals exact on all five networks, and cores exact on every layer listed; per-core
SynMem units within about 30 % (the compiler's figures depend on the weights too:
PilotNet SNN and SDNN differ on equal geometry). Other layer types are refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace

from ..errors import UserError
from ..model.blocks import neurons_text
from ..netx.check import NetxSummary
from .hw_config import HwConfig

SYNAPTIC = ("dense", "dense_rec", "conv")
NO_CORES = ("input", "flatten")  # no cores unless an input layer has (non-SDNN) neurons
HOST_NEURONS = ("SDNN",)  # an input layer of these is the host's delta encoder


@dataclass(frozen=True)
class LayerCost:
    """One layer's needs on the fullest of its cores; ``cores`` and ``binding`` are None
    on a target without a core limit (the simulator)."""

    index: int
    kind: str
    neurons: int
    synapses: int  # weights stored (a conv's kernel entries)
    fan_in: int  # inputs of one neuron
    axons: int  # input axons a core receives (dense: fan_in; conv: 1 conv axon)
    syn_units: int  # SynMem units of synapses on the fullest core (as the compiler prints)
    cores: int | None
    binding: str | None  # what set the cores: 'neurons', 'synmem' or 'axons'
    tile: tuple[int, int, int] | None = None  # conv and 3-D input: (x, y, c) per core
    label: str = ""  # NetxSummary.layer_name: layer0, layer1, ... (netx's index counts more)
    bias_neurons: int = 0  # of ``neurons`` (NetxLayer.bias_neurons)

    @property
    def name(self) -> str:
        return f"{self.label or f'netx layer/{self.index}'} ({self.kind})"


@dataclass(frozen=True)
class ResourceMap:
    """A network's needs on one target. ``chips_available`` is the board's (None:
    no limit); ``fits`` when the chips needed are at most those available."""

    hw_config: str
    target: str
    layers: list[LayerCost]
    cores: int | None
    chips: int | None
    chips_available: int | None
    cores_per_chip: int | None

    @property
    def fits(self) -> bool:
        return self.chips_available is None or self.chips is None or \
            self.chips <= self.chips_available

    def to_json(self) -> dict:
        """Plain values for ``--json``."""
        return {"hw_config": self.hw_config, "target": self.target,
                "layers": [{"name": la.name, **asdict(la)} for la in self.layers],
                "neurons": sum(la.neurons for la in self.layers),
                "synapses": sum(la.synapses for la in self.layers),
                "cores": self.cores, "chips": self.chips,
                "chips_available": self.chips_available,
                "cores_per_chip": self.cores_per_chip, "fits": self.fits}

    def table(self) -> str:
        """A readable per-layer table with totals."""
        def dash(value) -> str:
            return "-" if value is None else f"{value:,}"

        head = (f"{'layer':<20}{'neurons':>9}{'synapses':>12}{'fan-in':>8}{'axons':>8}"
                f"{'syn units':>11}{'cores':>7}  binding")
        rows = [head]
        for la in self.layers:
            tile = "" if la.tile is None else f"  Conv{la.tile}"
            rows.append(f"{la.name:<20}{la.neurons:>9,}{la.synapses:>12,}{la.fan_in:>8,}"
                        f"{la.axons:>8,}{la.syn_units:>11,}{dash(la.cores):>7}  "
                        f"{la.binding or '-'}{tile}")
        rows.append(f"{'total':<20}{sum(la.neurons for la in self.layers):>9,}"
                    f"{sum(la.synapses for la in self.layers):>12,}{'':>27}"
                    f"{dash(self.cores):>7}")
        rows += [f"{la.label}: {neurons_text({'bias_neurons': la.bias_neurons}, la.neurons)} "
                 f"(the bias neurons carry an imported graph's biases)"
                 for la in self.layers if la.bias_neurons]
        return "\n".join(rows)

    def summary(self) -> str:
        """One line: cores and chips needed against the board."""
        if self.cores is None:
            return f"{self.hw_config}: no core limit ({self.target})"
        return (f"{self.hw_config}: {self.cores} cores -> {self.chips} chip(s) at "
                f"{self.cores_per_chip} cores per chip; the board has "
                f"{self.chips_available}")


def _pow2_floor(value: float) -> int:
    """The largest power of 2 at most ``value`` (1 below 2)."""
    return 1 << max(int(value), 1).bit_length() - 1


def _dense_split(neurons: int, fan_in: int, lim) -> tuple[int, int, str]:
    """(cores, synapse rows' units on the fullest core, binding) of a 1-D layer, split
    as the compiler's partitioner does: cores multiplied by the worst core's SynMem
    ratio (rows plus ``dense_neuron_units`` per neuron) until it fits."""
    def rows(cores: int) -> int:
        return fan_in * math.ceil(math.ceil(neurons / cores) / lim.dense_synapses_per_unit)

    def ratio(cores: int) -> float:
        extra = lim.dense_neuron_units * math.ceil(neurons / cores) if fan_in else 0
        return (rows(cores) + extra) / lim.synmem_per_core

    cores = max(1, math.ceil(neurons / lim.neurons_per_core))
    binding = "neurons"
    while ratio(cores) > 1 and cores < neurons:
        cores = min(neurons, cores * math.ceil(ratio(cores)))
        binding = "synmem"
    return cores, rows(cores), binding


def _conv_split(shape: tuple[int, ...], fan_in: int, lim) -> tuple[int, int, str, tuple]:
    """(cores, units per core, binding, (x, y, c)) of a 3-D layer ``(C, H, W)`` tiled
    in whole blocks as the compiler prints them (``Conv(x, y, c)``, x along W)."""
    chans, height, width = shape
    cap = lim.conv_neurons_per_core

    def units(c: int) -> int:
        return math.ceil((c / lim.conv_synapses_per_unit + lim.conv_units_per_row) *
                         fan_in) if fan_in else 0

    # the most channels whose kernel slice fits: units(c) <= synmem_per_core
    fits = chans if not fan_in else math.floor(
        (lim.synmem_per_core / fan_in - lim.conv_units_per_row) * lim.conv_synapses_per_unit)
    while fits > 1 and units(fits) > lim.synmem_per_core:  # float rounding at the edge
        fits -= 1
    most = max(1, min(chans, cap, fits))
    parts = math.ceil(chans / most)  # the fewest channel groups of at most `most`
    binding = "synmem" if fits < min(chans, cap) else "neurons"
    c = math.ceil(chans / parts)
    y = height if height * c <= cap else min(height, _pow2_floor(cap / c))
    x = min(width, _pow2_floor(cap / (y * c)))
    cores = math.ceil(width / x) * math.ceil(height / y) * parts
    return cores, units(c), binding, (x, y, c)


def _cost(layer, hw: HwConfig, label: str) -> LayerCost:
    lim = hw.limits
    n = layer.neurons
    fan_in = layer.synapses // (layer.shape[0] if layer.kind == "conv" else n)
    axons = 1 if layer.kind == "conv" else fan_in
    if lim.neurons_per_core is None:
        return LayerCost(layer.index, layer.kind, n, layer.synapses, fan_in, axons, 0,
                         None, None, label=label)
    tile = None
    if len(layer.shape) == 3 and layer.kind in ("conv", "input"):
        cores, units, binding, tile = _conv_split(layer.shape, fan_in, lim)
    else:
        cores, units, binding = _dense_split(n, fan_in, lim)
    # a loihi2 config gives every core limit (hw_config); every core of a dense layer
    # needs all its axons
    if lim.axons_per_core is not None and axons > lim.axons_per_core:
        cores, binding = max(cores, math.ceil(axons / lim.axons_per_core)), "axons"
    return LayerCost(layer.index, layer.kind, n, layer.synapses, fan_in, axons, units,
                     cores, binding, tile, label)


def _takes_cores(layer) -> bool:
    if layer.kind == "input":
        return layer.neurons > 0 and layer.neuron_type not in HOST_NEURONS
    return layer.kind not in NO_CORES


def map_resources(summary: NetxSummary, hw: HwConfig) -> ResourceMap:
    """The cost model above over a checked netx file (:func:`check_netx`; its
    structure check, ``values=False``, is enough: any neuron type, SDNN too)."""
    layers = []
    for layer in summary.layers:
        if not _takes_cores(layer):
            continue
        if layer.kind not in (*SYNAPTIC, "input"):
            raise UserError(f"{summary.path}: {summary.layer_name(layer.index)} "
                            f"({layer.kind}): not "
                            f"estimated (only {', '.join(SYNAPTIC)} layers are)")
        layers.append(replace(_cost(layer, hw, summary.layer_name(layer.index)),
                              bias_neurons=layer.bias_neurons))
    if not layers:
        raise UserError(f"{summary.path}: no synaptic layer to map")
    lim = hw.limits
    # cores_per_chip set: a loihi2 config, which sets neurons_per_core too (la.cores not None)
    cores = None if lim.cores_per_chip is None else \
        sum(la.cores for la in layers)  # type: ignore[misc]
    chips = None if cores is None else \
        math.ceil(cores / lim.cores_per_chip)  # type: ignore[operator]  # set with cores
    return ResourceMap(hw.name, hw.target, layers, cores, chips, hw.chips,
                       lim.cores_per_chip)

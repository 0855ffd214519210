"""A NIR graph (``.nir``) -> a trainable Rouser network, with a per-layer report of
what Loihi's integer CUBA cannot hold exactly.

NIR is declarative: ``CubaLIF`` says ``tau_syn dI/dt = -I + w_in S`` and ``tau_mem
dv/dt = (v_leak - v) + r I``; each framework discretizes it its own way, and the graph
does not say which, nor its time step, nor its reset. A :class:`Convention` says how
a framework turns ``(tau, r, w_in, dt)`` into the fraction of state lost per step and
the gains of the two inputs; the source's per-step dynamics are then

    I[t] = (1 - a) I[t-1] + g_I W s[t];   v[t] = (1 - b) v[t-1] + g_v I[t]

and Loihi's ``u = g_v I`` gives weights ``g_I g_v W`` (per neuron) and the source's
thresholds, exactly when ``a`` and ``b`` are multiples of 1/4096 and the weights and
thresholds land on Rouser's grids (:func:`~rouser_lava.interop.imported.fit_grid`).
``LIF`` is the same with an instantaneous current (``iDecay`` 4096); ``IF`` adds ``r``
times its input and never leaks (``vDecay`` 0).

Conventions (``decay``: fraction lost per step; ``g_I``, ``g_v``):

- ``lava`` (the NIR paper's, and ``rouser-export``'s; dt 1e-4) and ``snntorch``
  (``Synaptic``/``Leaky`` export, dt 1e-4 hard-coded): forward Euler, ``dt / tau``,
  ``g_I = w_in dt / tau_syn``, ``g_v = r dt / tau_mem`` (both 1 as they export).
- ``norse`` (dt 1e-3): Euler decays, ``g_I = w_in`` (spikes jump the current), ``g_v =
  r dt / tau_mem``; Norse's membrane reads the previous step's current (reported).
- ``sinabs`` (tau in steps, dt 1): ``1 - exp(-dt / tau)``, ``g_v = r (1 - exp(-dt /
  tau))`` (its normalised input).
- ``rockpool``: ``1 - exp(-dt / tau)``, gains 1, dt recovered as ``min(tau_mem / (1 +
  r))`` where not given.

Reset: Loihi resets to zero. ``reset="subtract"`` (snnTorch's, Sinabs' and Rockpool's
default; their exports all write ``v_reset = 0``) is approximated by reset to zero
(reported) or refused with ``strict``; so are per-neuron time constants (one decay per
layer: the mean). snnTorch's ``reset_delay=True`` (its default; its ``RSynaptic`` has no
working other) holds ``v`` at 0 for one step after a spike, which a graph cannot say.

Structure (:mod:`.nir_graph`): subgraphs are inlined; a loop ``N -> R -> N`` (``R``
``Affine``/``Linear``) makes neuron node ``N``'s layer recurrent (netx ``dense_rec``,
``R``'s weights scaled like the input weights); ``SumPool2d`` followed by neurons is a
pool layer (one constant weight), followed by a synapse it is folded into that synapse
(exact).

Bias: Loihi adds ``bias_mant`` to ``v`` every step. ``v_leak`` is exactly that: ``v_leak
* (fraction of v lost per step)``. An ``Affine`` bias ``b`` enters the current (snnTorch:
``syn[t] = alpha syn[t-1] + W x[t] + b``). Where the first layer is recurrent (and not
the last, its current decaying), bias neurons appended to it carry the biases of it and
of the next layer into their currents exactly, from each layer's first input on
(:mod:`.bias_neurons`: the Braille network with bias agrees with snnTorch on 100 % / 100
% of its two layers' neuron-steps in fold form and 99.999 % / 100 % in vector form, up
from 94.5 % / 93.4 % in fold form, ``tests/test_nir_arch.py``). Elsewhere ``b`` is exact
(``g b`` added to ``v``) where the current does not persist (``LIF``, ``IF``, ``iDecay``
4096), else mapped to the current's steady state ``g b / a`` (reported: the first
``~1/a`` steps differ), and Loihi's bias acts from Lava's first step, ``k`` steps before
layer ``k``'s first input arrives (the per-layer synaptic delay).

Refused always, with one line naming the node and the field: branches, ``v_reset !=
0``, a synapse without neurons after it (but a pool's), thresholds ``<= 0``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import nir
import numpy as np

from ..errors import UserError, param
from ..loihi import STATE_SCALE
from ..model.blocks import layer_shapes, pool_spec
from . import bias_neurons
from .imported import ImportedLayer, ImportResult, build_network, decay_12bit, fit_layer
from .nir_check import check_graph, check_output
from .nir_graph import (
    NEURONS,
    chain,
    fail,
    flatten_dims,
    inline_subgraphs,
    pool_size,
    read_nir,
    recurrent_loops,
    synapse,
    synapse_bias,
    unpool_conv,
    unpool_dense,
)


@dataclass(frozen=True)
class Convention:
    """How one framework discretizes NIR's neurons with time step ``dt``."""

    dt: float | None  # its time step in seconds (None: recovered from the graph)
    decay: str  # "euler": dt / tau lost per step; "exp": 1 - exp(-dt / tau)
    current_gain: str  # "euler": w_in dt / tau_syn; "jump": w_in
    voltage_gain: str  # "euler": r dt / tau_mem; "exp": r (1 - exp(-dt / tau)); "one": 1
    reset: str  # its default reset after a spike: "zero" or "subtract"
    lag: bool = False  # its membrane reads the previous step's current


CONVENTIONS = {
    "lava": Convention(1e-4, "euler", "euler", "euler", "zero"),
    "snntorch": Convention(1e-4, "euler", "euler", "euler", "subtract"),
    "norse": Convention(1e-3, "euler", "jump", "euler", "zero", lag=True),
    "sinabs": Convention(1.0, "exp", "jump", "exp", "subtract"),
    "rockpool": Convention(None, "exp", "jump", "one", "subtract"),
}
_fail = fail


def _fraction(tau: np.ndarray, dt: float, how: str) -> np.ndarray:
    """Fraction of the state lost per step (0 for ``tau = inf``)."""
    ratio = dt / tau
    return ratio if how == "euler" else 1.0 - np.exp(-ratio)


def _gain(k: np.ndarray, tau: np.ndarray, dt: float, how: str) -> np.ndarray:
    """Input gain ``k dt / tau`` (``k = tau / dt = inf`` with ``tau = inf`` is 1),
    ``k (1 - exp(-dt / tau))``, ``k`` or 1."""
    if how == "one":
        return np.ones_like(tau)
    if how == "jump":
        return k
    if how == "exp":
        return k * (1.0 - np.exp(-dt / tau))
    with np.errstate(invalid="ignore"):
        g = k * dt / tau
    return np.where(np.isinf(k) & np.isinf(tau), 1.0, g)


class _Layer:
    """Turns one neuron node (after its synapse) into an ``ImportedLayer``."""

    def __init__(self, name: str, node, shape: tuple[int, ...], conv: Convention, dt: float,
                 strict: bool, notes: list[str]):
        self.name, self.node, self.shape = name, node, shape
        self.conv, self.dt, self.strict, self.notes = conv, dt, strict, notes

    def param(self, field: str, default: float | None = None) -> np.ndarray:
        value = getattr(self.node, field, None)
        value = default if value is None else value
        try:
            return np.broadcast_to(np.asarray(value, np.float64), self.shape).copy()
        except ValueError:
            shape = np.shape(value)  # type: ignore[arg-type]  # also None (shape ())
            _fail(self.name, self.node, field, f"of shape {shape} does not fit the "
                  f"layer's neurons {self.shape}")

    def approximate(self, field: str, what: str) -> None:
        if self.strict:
            _fail(self.name, self.node, field, f"{what}, which Loihi cannot represent "
                  f"({param('strict')})")
        self.notes.append(f"node '{self.name}': {what}")

    def per_layer(self, field: str, fraction: np.ndarray) -> float:
        """One decay (fraction lost per step) for the layer: the mean where neurons
        differ (reported)."""
        if np.ptp(fraction) > 1e-9:
            self.approximate(field, f"per-neuron {field} (decays {fraction.min():.4g}.."
                             f"{fraction.max():.4g} per step) -> one decay per layer (the "
                             f"mean)")
        return float(fraction.mean())

    def per_channel(self, field: str, values: np.ndarray) -> np.ndarray:
        """``(C,)`` from per-neuron values, which must agree within a channel."""
        rows = values.reshape(self.shape[0], -1)
        if np.any(rows != rows[:, :1]):
            _fail(self.name, self.node, field, "differs between neurons of one channel; a "
                  "Rouser conv layer has one value per channel")
        return rows[:, 0]

    def hosts(self) -> bool:
        """Whether bias neurons can live in this layer (:mod:`.bias_neurons`): its
        current decays (12-bit ``iDecay > 0``)."""
        if not isinstance(self.node, nir.CubaLIF):
            return True
        frac = _fraction(self.param("tau_syn"), self.dt, self.conv.decay).mean()
        return bool(np.rint(frac * STATE_SCALE) > 0)

    def build(self, spec: dict, weight: np.ndarray, reset: str,
              bias: np.ndarray | None = None, weight_rec: np.ndarray | None = None,
              carry: bool = False) -> ImportedLayer:
        """The layer of this neuron node after ``weight`` (and a recurrent
        ``weight_rec``, and the current ``bias`` of its synapses: with ``carry`` as the
        layer's ``current_bias``, for bias neurons to carry, else added to ``v``)."""
        node, dt, conv = self.node, self.dt, self.conv
        if np.any(self.param("v_reset", 0.0) != 0):
            _fail(self.name, node, "v_reset", "non-zero; Loihi resets to 0")
        if reset == "subtract":
            self.approximate("reset", "subtractive reset mapped to reset to zero: the "
                             "voltage above threshold is lost at each spike, so strongly "
                             "driven neurons fire less often")
        r = self.param("r", 1.0)
        v_bias = np.zeros(self.shape)
        i_each = np.ones(self.shape)
        if isinstance(node, nir.IF):
            i_frac, v_frac, gain = 1.0, 0.0, r
        else:
            tau_mem = self.param("tau" if isinstance(node, nir.LIF) else "tau_mem")
            v_each = _fraction(tau_mem, dt, conv.decay)
            v_frac = self.per_layer("tau_mem", v_each)
            v_bias = self.param("v_leak", 0.0) * v_each  # v_leak's drive per step
            gain = _gain(r, tau_mem, dt, conv.voltage_gain)
            i_frac = 1.0
            if isinstance(node, nir.CubaLIF):
                tau_syn = self.param("tau_syn")
                i_each = _fraction(tau_syn, dt, conv.decay)
                i_frac = self.per_layer("tau_syn", i_each)
                gain = gain * _gain(self.param("w_in", 1.0), tau_syn, dt, conv.current_gain)
        carried = None
        if bias is not None and np.any(bias != 0):
            b = np.broadcast_to(bias.reshape(-1, *[1] * (len(self.shape) - 1)), self.shape)
            if np.any(i_each <= 0):
                _fail(self.name, node, "bias", "drives a current that never decays")
            if carry:
                carried = (b * gain).reshape(-1, 1)  # a weight from a neuron firing each step
            else:
                if np.any(np.abs(i_each - 1) > 1e-12):
                    self.approximate("bias", "the synapse's bias enters the current; here "
                                     "it is the current's steady state added to v (the first "
                                     f"~{1 / float(i_each.min()):.3g} steps differ)")
                v_bias = v_bias + b * gain / i_each
        th = self.param("v_threshold")
        if np.any(th <= 0) or not np.all(np.isfinite(th)) or not np.all(np.isfinite(gain)):
            _fail(self.name, node, "v_threshold" if np.any(th <= 0) else "r",
                  "must be positive and finite")
        if len(self.shape) == 3:
            th, gain = self.per_channel("v_threshold", th), self.per_channel("r/w_in", gain)
            v_bias = self.per_channel("bias/v_leak", v_bias)
        w = weight * gain.reshape(-1, *[1] * (weight.ndim - 1))
        cols = w.reshape(len(w), -1).shape[1]
        extra = [] if weight_rec is None else [weight_rec * gain.reshape(-1, 1)]
        extra += [] if carried is None else [carried]
        if extra:
            w = np.hstack((w.reshape(len(w), -1), *extra))
        w, th, b_out, grid_notes = fit_layer(f"node '{self.name}'", w, th, v_bias.reshape(-1))
        self.notes += grid_notes
        rec = current = None
        if carried is not None:
            w, current = w[:, :-1], w[:, -1]
        if weight_rec is not None:
            w, rec = w[:, :cols], w[:, cols:]
        i_decay = decay_12bit(f"node '{self.name}'", "current decay", i_frac, self.notes)
        v_decay = decay_12bit(f"node '{self.name}'", "voltage decay", v_frac, self.notes)
        if spec["kind"] == "pool":
            if len(np.unique(w)) != 1:
                _fail(self.name, node, "r/w_in", "the gain into the pool's neurons differs "
                      "between channels; a Rouser pool has one weight")
            spec = {**spec, "weight": float(w.reshape(-1)[0])}
        has_bias = bool(np.any(b_out != 0))
        if has_bias:
            spec = {**spec, "bias": True}
        return ImportedLayer(spec, w, th, i_decay, v_decay, rec, b_out if has_bias else None,
                             current)


def _setting(graph: nir.NIRGraph, meta: dict, convention: str | None, dt: float | None
             ) -> tuple[str, Convention, float]:
    name = convention or meta.get("convention")
    if name not in CONVENTIONS:
        raise UserError(f"the graph does not say which framework wrote it; give "
                        f"{param('convention')} "
                        f"({', '.join(CONVENTIONS)})" if name is None else
                        f"unknown convention '{name}' (choose from: {', '.join(CONVENTIONS)})")
    conv = CONVENTIONS[name]
    dt = dt or meta.get("dt") or conv.dt
    if dt is None:  # Rockpool hides dt in r = tau_mem exp(-dt / tau_mem) / dt
        neurons = [n for n in graph.nodes.values() if isinstance(n, NEURONS[:2])]
        dt = min(float(np.min(np.asarray(getattr(n, "tau_mem", getattr(n, "tau", np.inf)))
                              / (1 + np.asarray(n.r)))) for n in neurons) if neurons else 1.0
    return name, conv, float(dt)


def import_nir(source: str | os.PathLike | nir.NIRGraph, dt: float | None = None,
               convention: str | None = None, reset: str | None = None,
               strict: bool = False) -> ImportResult:
    """Import a NIR graph (a ``.nir`` path or a ``NIRGraph``) as a trainable Rouser
    network; see the module docstring. ``None`` options come from the graph's metadata
    or the convention's defaults. Raises UserError naming the node and the field."""
    path = str(source) if not isinstance(source, nir.NIRGraph) else "graph"
    graph = source if isinstance(source, nir.NIRGraph) else read_nir(path)
    try:
        name, conv, dt = _setting(graph, check_graph(graph), convention, dt)
        reset = reset or conv.reset
        nodes, edges = inline_subgraphs(graph)
        loops, edges = recurrent_loops(nodes, edges)
        names = chain({k: v for k, v in nodes.items() if k not in loops.values()}, edges)
        shape = tuple(int(s) for s in np.asarray(
            nodes[names[0]].input_type["input"]).reshape(-1))
        if len(shape) not in (1, 3):
            _fail(names[0], nodes[names[0]], "input_type", f"{shape}; expected (C,) "
                  f"or (C, H, W)")
        notes: list[str] = []
        layers = _layers(nodes, names[1:-1], loops, shape,
                         lambda key, out: _Layer(key, nodes[key], out, conv, dt, strict,
                                                 notes), reset)
        check_output(names[-1], nodes[names[-1]],
                     layer_shapes(shape, [la.spec for la in layers])[-1])
        if conv.lag:
            notes.append(f"{name}: the membrane reads the previous step's current there; "
                         f"here it reads this step's: each layer's spikes come one step "
                         f"earlier (a shift, not a change of the spike trains)")
        net = build_network(shape, bias_neurons.attach(layers))
    except UserError as err:
        raise UserError(f"{path}: {err}") from None
    return ImportResult(net, notes, None, path)


def _layers(nodes: dict, names: list[str], loops: dict[str, str], shape: tuple[int, ...],
            layer, reset: str) -> list[ImportedLayer]:
    """The layers of the chain ``names`` (between Input and Output) on input ``shape``;
    ``layer(key, out_shape)`` gives the :class:`_Layer` of a neuron node."""
    layers: list[ImportedLayer] = []
    neurons = sum(isinstance(nodes[k], NEURONS) for k in names)
    host = False  # the first layer hosts bias neurons (:mod:`.bias_neurons`)
    pending = None  # (spec, weight, bias) of a synapse waiting for its neurons
    pool = None  # (kernel, unpooled shape, flattened since) of a pool without neurons yet
    for key in names:
        node = nodes[key]
        if isinstance(node, nir.SumPool2d) and pending is None and pool is None:
            kernel = pool_size(key, node, shape)
            pool = (kernel, shape, False)
            shape = layer_shapes(shape, [pool_spec(shape[0], 1) | {"kernel_size":
                                                                   list(kernel)}])[0]
        elif isinstance(node, (nir.Affine, nir.Linear, nir.Conv2d)) and pending is None:
            spec, weight = synapse(key, node, shape)
            if pool is not None:  # a pool without neurons: one linear map with this one
                kernel, unpooled, flat = pool
                spec, weight = (unpool_conv(key, node, spec, weight, kernel, unpooled)
                                if spec["kind"] == "conv" else
                                ({**spec, "in_features": int(np.prod(unpooled))},
                                 unpool_dense(weight, kernel, unpooled)))
                shape = (int(np.prod(unpooled)),) if flat else unpooled
                pool = None
            pending = (spec, weight, synapse_bias(node))
        elif isinstance(node, NEURONS) and (pending is not None or
                                            (pool is not None and not pool[2])):
            if pending is None:  # a pool with neurons: a pool layer
                assert pool is not None
                kernel, shape, _ = pool
                spec = pool_spec(shape[0], 1) | {"kernel_size": list(kernel)}
                pending, pool = (spec, np.ones((shape[0], 1, *kernel)), None), None
            spec, weight, bias = pending
            rec = None
            if key in loops:
                if spec["kind"] != "dense":
                    _fail(key, node, "edges", "a recurrent loop on a conv or pool layer "
                          "(only dense layers are recurrent here)")
                spec = {"kind": "recurrent", "in_features": spec["in_features"],
                        "out_features": spec["out_features"]}
                rec_node = nodes[loops[key]]
                rec = np.asarray(rec_node.weight, np.float64)
                if rec.shape != (len(weight), len(weight)):
                    _fail(loops[key], rec_node, "weight", f"of shape {rec.shape}; the loop "
                          f"needs ({len(weight)}, {len(weight)})")
                rec_bias = synapse_bias(rec_node)
                if rec_bias is not None:
                    bias = rec_bias if bias is None else bias + rec_bias
            out = layer_shapes(shape, [spec])[0]
            maker = layer(key, out)
            index = sum(la.weight is not None for la in layers)  # of this spiking layer
            carry = host and index == 1
            if index == 0 and rec is not None and neurons > 1 and maker.hosts():
                host = carry = True
            layers.append(maker.build(spec, weight, reset, bias, rec, carry))
            pending, shape = None, out
        elif isinstance(node, nir.Flatten) and pending is None:
            flatten_dims(key, node, shape)
            if len(shape) > 1:
                if pool is not None:  # the flatten reads the unpooled input
                    pool = (pool[0], pool[1], True)
                layers.append(ImportedLayer({"kind": "flatten"}))
                shape = (int(np.prod(shape)),)
        else:
            _fail(key, node, "type", "follows a synapse; a neuron must" if pending else
                  "has no Rouser block here (a synapse: Affine, Linear or Conv2d, then a "
                  "neuron: CubaLIF, LIF or IF; SumPool2d; Flatten)")
    if pending is not None or pool is not None or not layers:
        raise UserError("the graph has no spiking layer" if not layers else
                        "the graph ends without neurons after its last synapse or pool")
    return layers

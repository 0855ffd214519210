"""A Rouser model -> a NIR graph (``.nir``) in the Lava convention of the NIR paper.

Nodes, in order: ``Input``, then per layer ``Affine`` (dense, recurrent) or ``Conv2d``
(conv) or ``SumPool2d`` (pool: kernel = stride, no padding) followed by ``CubaLIF``, a
``Flatten`` where the model flattens, and ``Output``. A recurrent layer adds a
``Linear`` node ``rec{i}`` holding its recurrent weights, with the loop ``neuron{i} ->
rec{i} -> neuron{i}`` (how snnTorch writes ``RSynaptic``, flattened).
Values (what a reader needs to rebuild the integer network):

- weights ``w_mant / 64`` (the model's quantized weights), zero bias;
- ``CubaLIF``: ``tau_syn = dt * 4096 / iDecay`` and ``tau_mem = dt * 4096 / vDecay``
  (forward Euler: ``dt / tau`` is the fraction lost per step; a decay of 0 is
  ``tau = inf``), ``r = tau_mem / dt`` and ``w_in = tau_syn / dt`` (so the current adds
  the weighted spikes and the voltage adds the current unscaled, as on Loihi),
  ``v_leak = 0``, ``v_reset = 0`` (Loihi resets to zero), and the per-neuron
  ``v_threshold = vThMant / 64``, shaped ``(C,)`` or ``(C, H, W)``;
- a pool's constant weight ``p`` is its neurons' input gain: ``r = p tau_mem / dt``;
- a bias ``b`` (Loihi adds it to ``v`` every step) is ``v_leak = b tau_mem / dt`` (the
  leak's drive per step, ``v_leak dt / tau_mem``, is ``b``); with ``vDecay`` 0 it is the
  ``Affine`` bias where the current does not persist (``iDecay`` 4096), else refused;
- graph metadata ``{"source": "rouser-lava", "convention": "lava", "dt": dt}``: NIR
  stores no time step, and ``rouser-import`` reads these back; and ``provenance``, a
  JSON string (:mod:`rouser_lava.provenance`: where the file came from).

NIR is declarative: it does not carry Loihi's one-step synaptic delay per layer or its
truncation toward zero each step; ``rouser-import`` of this file rebuilds the same
integer network exactly. Only CUBA models with the spiking readout are exported. The
graph is built without ``nir``'s type check: nir 1.0.8 infers a wrong output width for
a Conv2d with a non-square kernel and unequal padding (``(4, 6, 5)`` for
``(2, 6, 7)``, kernel (3, 2), padding (1, 0); torch and Lava give ``(4, 6, 6)``).
"""

from __future__ import annotations

import io
import json
import os

import nir
import numpy as np

from ..errors import UserError
from ..fileio import check_output_file, refuse_overwrites, write_bytes
from ..loihi import STATE_SCALE
from ..model.blocks import RouserNet, layer_shapes
from ..model.modelfile import load_model
from ..model.synapse import quantize_bias
from ..provenance import export_provenance
from ..provenance import provenance as current_provenance

DT = 1e-4  # the NIR paper's Lava convention


def _tau(decay: int, dt: float) -> np.floating:
    """Time constant whose forward-Euler step loses ``decay / 4096`` (``inf``: none)."""
    return np.float64(np.inf) if decay == 0 else np.float64(dt * STATE_SCALE / decay)


def _per_neuron(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(C,)`` values broadcast to the layer's neurons ``shape``."""
    return np.broadcast_to(values.reshape(-1, *[1] * (len(shape) - 1)), shape).copy()


def _neuron(name: str, block, shape: tuple[int, ...], dt: float
            ) -> tuple[nir.CubaLIF, np.ndarray | None]:
    """The layer's ``CubaLIF`` node, and the bias its synapse must carry (None: the
    bias, if any, is the node's ``v_leak``)."""
    cfg = block.neuron.config
    th = _per_neuron(block.neuron.quantized_threshold().detach().double().numpy(), shape)
    tau_syn, tau_mem = _tau(cfg.i_decay, dt), _tau(cfg.v_decay, dt)
    full = np.ones(shape)
    r = tau_mem / dt * full
    if block.spec["kind"] == "pool":
        if not np.isfinite(tau_mem):
            raise UserError(f"{name}: a pool whose neurons never leak (vDecay 0) has no "
                            f"NIR form here")
        r = r * float(block.spec.get("weight", 1.0))
    v_leak, synapse_bias = 0 * full, None
    bias = getattr(block, "bias", None)
    if bias is not None:
        b = _per_neuron(quantize_bias(bias.detach()).double().numpy(), shape)
        if cfg.v_decay > 0:
            v_leak = b * tau_mem / dt
        elif cfg.i_decay == STATE_SCALE:
            synapse_bias = b.reshape(len(b), -1)[:, 0]
        else:
            raise UserError(f"{name}: a bias with vDecay 0 and a persistent current "
                            f"(iDecay < 4096) has no exact NIR form")
    return nir.CubaLIF(tau_syn=tau_syn * full, tau_mem=tau_mem * full, r=r, v_leak=v_leak,
                       v_threshold=th, v_reset=0 * full,
                       w_in=tau_syn / dt * full), synapse_bias


def nir_graph(net: RouserNet, dt: float = DT, provenance: dict | None = None
              ) -> nir.NIRGraph:
    """``net`` as a NIR graph (see the module docstring); ``net`` is not changed.
    ``provenance`` defaults to this process's (:func:`rouser_lava.provenance.provenance`)."""
    cfg = net.neuron_config
    if (cfg.neuron, cfg.readout) != ("cuba", "spikes"):
        raise UserError(f"NIR export supports cuba models with the spiking readout (this "
                        f"one: {cfg.neuron} neurons, {cfg.readout} readout)")
    nodes = {"input": nir.Input(input_type={"input": np.array(net.input_shape)})}
    edges, prev, shape = [], "input", tuple(net.input_shape)
    blocks = iter(net.spiking_blocks())
    for i, (spec, out) in enumerate(zip(net.arch, layer_shapes(net.input_shape, net.arch))):
        if spec["kind"] == "flatten":
            nodes[f"flatten{i}"] = nir.Flatten(input_type={"input": np.array(shape)},
                                               start_dim=0, end_dim=-1)
            edges.append((prev, f"flatten{i}"))
            prev, shape = f"flatten{i}", tuple(out)
            continue
        block = next(blocks)
        w = block.weight().double().numpy()
        k = sum(s["kind"] != "flatten" for s in net.arch[:i])  # its name: net.layer_names()
        neuron, bias = _neuron(f"layer{k} ({spec['kind']})", block, tuple(out), dt)
        bias = np.zeros(len(w)) if bias is None else bias
        if spec["kind"] in ("dense", "recurrent"):
            synapse = nir.Affine(weight=w, bias=bias)
        elif spec["kind"] == "pool":
            k = np.array(spec["kernel_size"])
            synapse = nir.SumPool2d(kernel_size=k, stride=k, padding=np.zeros(2, int))
        else:
            synapse = nir.Conv2d(input_shape=tuple(shape[1:]), weight=w,
                                 stride=tuple(spec["stride"]), padding=tuple(spec["padding"]),
                                 dilation=tuple(spec["dilation"]), groups=spec["groups"],
                                 bias=bias)
        nodes[f"synapse{i}"], nodes[f"neuron{i}"] = synapse, neuron
        edges += [(prev, f"synapse{i}"), (f"synapse{i}", f"neuron{i}")]
        if spec["kind"] == "recurrent":
            nodes[f"rec{i}"] = nir.Linear(weight=block.weight_rec().double().numpy())
            edges += [(f"neuron{i}", f"rec{i}"), (f"rec{i}", f"neuron{i}")]
        prev, shape = f"neuron{i}", tuple(out)
    nodes["output"] = nir.Output(output_type={"output": np.array(shape)})
    edges.append((prev, "output"))
    return nir.NIRGraph(nodes=nodes, edges=edges, type_check=False,  # see below
                        metadata={"source": "rouser-lava", "convention": "lava", "dt": dt,
                                  "provenance": json.dumps(provenance if provenance is not None
                                                           else current_provenance())})


def export_nir(net: RouserNet, path: str | os.PathLike, dt: float = DT,
               provenance: dict | None = None) -> None:
    """Write ``net`` as a NIR graph at ``path`` (atomically; serialised in memory);
    ``provenance`` as :func:`nir_graph`."""
    check_output_file(path)
    buffer = io.BytesIO()
    nir.write(buffer, nir_graph(net, dt, provenance))
    write_bytes(path, buffer.getvalue())


def export_nir_model(model_path: str, nir_path: str) -> None:
    """``rouser-export model.pt FILE.nir``."""
    check_output_file(nir_path)
    refuse_overwrites([("the NIR file", nir_path)], [("the model", model_path)])
    net, record = load_model(model_path)
    try:
        export_nir(net, nir_path, provenance=export_provenance(record))
    except UserError as err:
        raise UserError(f"{model_path}: {err}") from None
    print(f"wrote {nir_path} (NIR, Lava convention, dt {DT:g} s)")

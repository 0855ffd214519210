"""The structure of a NIR graph as ``rouser-import`` reads it: the file read
(:func:`read_nir`), nested subgraphs inlined, recurrent loops found, the feed-forward
chain from ``Input`` to ``Output``, each synapse's layer dict, weight and bias, full
flattens checked, and sum pooling without neurons of its own folded into the synapse
after it.

- Subgraphs: snnTorch writes a recurrent layer (``RLeaky``, ``RSynaptic``) as a
  ``NIRGraph`` node ``{input, lif, w_rec, output}`` with the cycle ``lif -> w_rec ->
  lif`` (snnTorch ``snntorch/export_nir.py``); nirtorch may flatten it into the parent
  as nodes ``1.lif`` and ``1.w_rec``. Both forms become the same flat graph here.
- A recurrent loop is a neuron node ``N`` and an ``Affine``/``Linear`` node ``R`` with
  the edges ``N -> R -> N`` and no other edge at ``R``.
- ``SumPool2d`` (kernel = stride, no padding) followed by a synapse is a linear map
  followed by a linear map: the pair is one synapse on the unpooled input
  (:func:`unpool_conv`, :func:`unpool_dense`), exact; the design rules then check its
  fan-in at export.
"""

from __future__ import annotations

import os
from collections import defaultdict
from typing import NoReturn

import nir
import numpy as np

from ..errors import UserError

NEURONS = (nir.CubaLIF, nir.LIF, nir.IF)
SYNAPSES = (nir.Affine, nir.Linear)


def fail(name: str, node, field: str, problem: str) -> NoReturn:
    """One-line UserError naming the node, its type and the field."""
    raise UserError(f"node '{name}' ({type(node).__name__}): {field}: {problem}")


def inline_subgraphs(graph: nir.NIRGraph) -> tuple[dict, list[tuple[str, str]]]:
    """The graph's nodes and edges with every nested ``NIRGraph`` node replaced by its
    inner nodes (named ``outer.inner``); edges into a subgraph go to the successors of
    its ``Input``, edges out of it leave from the predecessors of its ``Output``."""
    nodes = dict(graph.nodes)
    edges = [(str(a), str(b)) for a, b in graph.edges]
    while True:
        name = next((k for k, v in nodes.items() if isinstance(v, nir.NIRGraph)), None)
        if name is None:
            return nodes, edges
        inner_nodes, inner_edges = inline_subgraphs(nodes.pop(name))
        ports = {k for k, v in inner_nodes.items() if isinstance(v, (nir.Input, nir.Output))}
        nodes.update({f"{name}.{k}": v for k, v in inner_nodes.items() if k not in ports})
        entry = [f"{name}.{b}" for a, b in inner_edges
                 if isinstance(inner_nodes[a], nir.Input) and b not in ports]
        leave = [f"{name}.{a}" for a, b in inner_edges
                 if isinstance(inner_nodes.get(b), nir.Output) and a not in ports]
        ends = {name, *(f"{name}.{p}" for p in ports)}
        new = [(f"{name}.{a}", f"{name}.{b}") for a, b in inner_edges
               if a not in ports and b not in ports]
        for a, b in edges:
            if a in ends and b in ends:
                fail(name, graph, "edges", "an edge from a subgraph to itself")
            new += [(a, e) for e in entry] if b in ends else \
                [(x, b) for x in leave] if a in ends else [(a, b)]
        edges = new


def recurrent_loops(nodes: dict, edges: list[tuple[str, str]]
                    ) -> tuple[dict[str, str], list[tuple[str, str]]]:
    """``{neuron: recurrent synapse}`` for every loop ``N -> R -> N`` (``R`` an
    ``Affine`` or ``Linear`` with no other edge), and the edges without the loops."""
    succ: dict[str, list[str]] = defaultdict(list)
    pred: dict[str, list[str]] = defaultdict(list)
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    loops = {a: b for a, b in edges if isinstance(nodes.get(a), NEURONS)
             and isinstance(nodes.get(b), SYNAPSES) and succ[b] == [a] and pred[b] == [a]}
    cut = {(n, r) for n, r in loops.items()} | {(r, n) for n, r in loops.items()}
    return loops, [e for e in edges if e not in cut]


def chain(nodes: dict, edges: list[tuple[str, str]]) -> list[str]:
    """Node names from the one ``Input`` to the one ``Output``; refuses anything else."""
    outgoing: dict[str, list[str]] = {}
    for src, dst in edges:
        outgoing.setdefault(src, []).append(dst)
    inputs = [n for n, node in nodes.items() if isinstance(node, nir.Input)]
    if len(inputs) != 1:
        raise UserError(f"the graph has {len(inputs)} Input nodes; exactly one is imported")
    names = inputs
    while not isinstance(nodes[names[-1]], nir.Output):
        nxt = outgoing.get(names[-1], [])
        if len(nxt) != 1 or nxt[0] in names or nxt[0] not in nodes:
            fail(names[-1], nodes[names[-1]], "edges", f"{len(nxt)} successors {nxt}; a "
                 f"feed-forward chain from Input to Output (with recurrent loops N -> R -> "
                 f"N) is imported")
        names.append(nxt[0])
    left = sorted(set(nodes) - set(names))
    if left:
        fail(left[0], nodes[left[0]], "edges", "not on the Input-to-Output chain")
    return names


def synapse_bias(node) -> np.ndarray | None:
    """float64 ``(C_out,)`` bias of a synapse node (None when it has none or only 0)."""
    bias = getattr(node, "bias", None)
    if bias is None or not np.any(np.asarray(bias) != 0):
        return None
    return np.broadcast_to(np.asarray(bias, np.float64).reshape(-1),
                           (np.asarray(node.weight).shape[0],)).copy()


def synapse(name: str, node, shape: tuple[int, ...]) -> tuple[dict, np.ndarray]:
    """The layer dict and float64 weight of an Affine, Linear or Conv2d node."""
    weight = np.asarray(node.weight, np.float64)
    if isinstance(node, nir.Conv2d):
        if len(shape) != 3 or weight.ndim != 4 or shape[0] != weight.shape[1] * node.groups:
            fail(name, node, "weight", f"of shape {weight.shape} does not take input {shape}")
        if isinstance(node.padding, str):
            fail(name, node, "padding", f"'{node.padding}'; give numbers")
        pair = {k: [int(v) for v in np.broadcast_to(np.asarray(getattr(node, k)), (2,))]
                for k in ("stride", "padding", "dilation")}
        return {"kind": "conv", "in_channels": shape[0], "out_channels": weight.shape[0],
                "kernel_size": list(weight.shape[2:]), **pair,
                "groups": int(node.groups)}, weight
    if len(shape) != 1 or weight.ndim != 2 or weight.shape[1] != shape[0]:
        fail(name, node, "weight", f"of shape {weight.shape} does not take input {shape}"
              f"{' (flatten first)' if len(shape) == 3 else ''}")
    return {"kind": "dense", "in_features": shape[0], "out_features": weight.shape[0]}, weight


def pool_size(name: str, node, shape: tuple[int, ...]) -> tuple[int, int]:
    """``(kH, kW)`` of a ``SumPool2d`` node on input ``shape``; UserError unless its
    stride equals its kernel, it has no padding and the input is ``(C, H, W)``."""
    kernel = tuple(int(k) for k in np.broadcast_to(np.asarray(node.kernel_size), (2,)))
    stride = tuple(int(k) for k in np.broadcast_to(np.asarray(node.stride), (2,)))
    padding = np.asarray(node.padding)
    if len(shape) != 3 or kernel != stride or np.any(padding != 0) or min(kernel) < 1 \
            or any(s < k for s, k in zip(shape[1:], kernel)):
        fail(name, node, "kernel_size", f"{kernel} with stride {stride}, padding "
             f"{padding.tolist()} on input {shape}: a sum pool with stride = kernel, no "
             f"padding, on a (C, H, W) input at least the kernel's size is imported")
    return kernel[0], kernel[1]


def unpool_conv(name: str, node, spec: dict, weight: np.ndarray, kernel: tuple[int, int],
                shape: tuple[int, ...]) -> tuple[dict, np.ndarray]:
    """A conv (``spec``, ``weight`` ``(C_out, C_in/g, kH, kW)``) after a sum pool of
    ``kernel`` on input ``shape`` as one conv on that input: each weight repeated over
    its pool window, kernel, stride and padding times the pool size."""
    if any(d != 1 for d in spec["dilation"]) or \
            (any(p for p in spec["padding"]) and any(s % k for s, k in zip(shape[1:], kernel))):
        fail(name, node, "padding", f"a dilated conv, or a padded conv after a pool that "
             f"does not divide its input {shape}, cannot take the pool in")
    w = np.repeat(np.repeat(weight, kernel[0], axis=2), kernel[1], axis=3)
    scale = list(kernel)
    out = {**spec, "in_channels": shape[0], "kernel_size": list(w.shape[2:]),
           "stride": [s * k for s, k in zip(spec["stride"], scale)],
           "padding": [p * k for p, k in zip(spec["padding"], scale)]}
    return out, w


def unpool_dense(weight: np.ndarray, kernel: tuple[int, int], shape: tuple[int, ...]
                 ) -> np.ndarray:
    """A dense weight ``(C_out, C*Hp*Wp)`` reading a flattened sum pool of ``kernel`` on
    ``shape = (C, H, W)`` as a weight ``(C_out, C*H*W)`` on the unpooled input (rows and
    columns the pool drops get 0)."""
    c, h, w = shape
    hp, wp = h // kernel[0], w // kernel[1]
    full = np.zeros((len(weight), c, h, w), weight.dtype)
    grid = np.repeat(np.repeat(weight.reshape(len(weight), c, hp, wp), kernel[0], axis=2),
                     kernel[1], axis=3)
    full[:, :, :hp * kernel[0], :wp * kernel[1]] = grid
    return full.reshape(len(weight), -1)


def flatten_dims(key: str, node, shape: tuple[int, ...]) -> None:
    """UserError unless the Flatten node flattens all of ``shape`` (its dims counted
    with a leading batch dimension when its ``input_type`` has one more, as torch's
    ``nn.Flatten`` and Sinabs' exporter write it)."""
    declared = np.asarray((getattr(node, "input_type", None) or {}).get("input", [])).reshape(-1)
    offset = 1 if len(declared) == len(shape) + 1 else 0
    full = len(shape) + offset
    dims = {node.start_dim % full - offset, node.end_dim % full - offset}
    if len(shape) > 1 and dims != {0, len(shape) - 1}:
        fail(key, node, "start_dim", f"{node.start_dim}..{node.end_dim} of {shape}; only a "
              f"full flatten is imported")


def read_nir(path: str) -> nir.NIRGraph:
    """The NIR graph at ``path``, read without nir's type check; UserError (one line)
    when it is missing, unreadable or a single node."""
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such file")
    try:
        graph = nir.read(path, type_check=False)  # our chain checks shapes (see nir_export)
    except Exception as err:  # h5py and nir raise many types on foreign bytes
        first = (str(err).strip().splitlines() or [type(err).__name__])[0]
        raise UserError(f"{path}: not a readable NIR file ({first[:120]})") from None
    if not isinstance(graph, nir.NIRGraph):
        raise UserError(f"{path}: holds a single {type(graph).__name__} node, not a graph")
    return graph

"""Issue 23: a NIR graph is checked value by value before it is imported: NaN,
infinite or absurd weights, negative time constants and gains, a threshold of 1e30, a
dt of the wrong type or range, a non-numeric conv field and an Output whose shape is
not the last layer's end in one line naming the file, the node and the field, and no
model file is written."""

from __future__ import annotations

import hashlib

import nir
import numpy as np
import pytest

from rouser_lava.cli import import_main
from rouser_lava.interop.nir_export import nir_graph

from .conftest import error_line


def _set(node_name: str, field: str, value):
    def edit(graph: nir.NIRGraph) -> None:
        setattr(graph.nodes[node_name], field, value)
    return edit


def _meta(key: str, value):
    def edit(graph: nir.NIRGraph) -> None:
        graph.metadata[key] = value
    return edit


def _output(shape):
    def edit(graph: nir.NIRGraph) -> None:
        graph.nodes["output"].output_type = {"output": np.array(shape)}
    return edit


def _scaled(node_name: str, field: str, factor: float):
    def edit(graph: nir.NIRGraph) -> None:
        node = graph.nodes[node_name]
        setattr(node, field, np.asarray(getattr(node, field)) * factor)
    return edit


def _weight_entry(node_name: str, value: float):
    def edit(graph: nir.NIRGraph) -> None:
        graph.nodes[node_name].weight[0, 0] = value
    return edit


DENSE_CASES = [
    ("NaN weight", _weight_entry("synapse0", np.nan),
     "node 'synapse0' (Affine): weight: must be finite"),
    ("inf weight", _weight_entry("synapse1", -np.inf), "node 'synapse1' (Affine): weight: "
                                                       "must be finite"),
    ("1e30 weight", _scaled("synapse0", "weight", 1e30),
     "weight: -8.75e+29: expected a value in [-1048576, 1048576]"),
    ("negative tau_mem", _scaled("neuron0", "tau_mem", -1), "expected a value in (0, inf]"),
    ("negative tau_syn", _scaled("neuron1", "tau_syn", -1), "tau_syn: -"),
    ("negative r", _scaled("neuron0", "r", -1), "r: -"),
    ("1e30 threshold", _scaled("neuron1", "v_threshold", 1e30), "v_threshold: "),
    ("negative dt", _meta("dt", -1e-4), "metadata: dt -0.0001: expected one number"),
    ("huge dt", _meta("dt", 1e6), "metadata: dt 1000000.0"),
    ("dt string", _meta("dt", "1e-4"), "metadata: dt '1e-4'"),
    ("dt array", _meta("dt", np.array([1e-4, 1e-3])), "metadata: dt array"),
    ("convention number", _meta("convention", 3), "metadata: convention 3"),
    ("output shape", _output([7]), "node 'output' (Output): output_type['output']: [7]: "
                                   "the last layer gives (6,)"),
]
CONV_CASES = [
    ("conv groups text", _set("synapse0", "groups", "one"), "groups: expected numbers"),
    ("conv stride text", _set("synapse0", "stride", "two"), "not a readable NIR file"),
    ("conv groups 0", _set("synapse1", "groups", 0),
     "groups: [0.0]: expected one or two integers in 1..1024"),
    ("conv padding 1.5", _set("synapse0", "padding", np.array([1.5, 0])),
     "padding: [1.5, 0.0]"),
]


def _write(net, tmp_path, edit):
    graph = nir_graph(net)
    edit(graph)
    path = tmp_path / "g.nir"
    nir.write(path, graph)
    return path


@pytest.mark.parametrize("fixture, edit, expected",
                         [("dense_net", e, x) for _, e, x in DENSE_CASES]
                         + [("conv_net", e, x) for _, e, x in CONV_CASES],
                         ids=[c[0] for c in DENSE_CASES + CONV_CASES])
def test_bad_graphs_end_in_one_line(request, tmp_path, capsys, fixture, edit, expected):
    path = _write(request.getfixturevalue(fixture), tmp_path, edit)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    assert import_main([str(path), str(tmp_path / "m.pt")]) == 1
    line = error_line(capsys)
    assert line.startswith(f"rouser-import: error: {path}: ") and expected in line, line
    assert not (tmp_path / "m.pt").exists()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before


def test_infinite_time_constants_are_valid(dense_net, tmp_path, capsys):
    """A decay of 0 exports as tau = inf with r = w_in = tau / dt = inf: no leak."""
    def no_leak(graph: nir.NIRGraph) -> None:
        for key in ("neuron0", "neuron1"):
            node = graph.nodes[key]
            node.tau_mem = np.full_like(node.tau_mem, np.inf)
            node.r = np.full_like(node.r, np.inf)
    path = _write(dense_net, tmp_path, no_leak)
    assert import_main([str(path), str(tmp_path / "m.pt"), "--quiet"]) == 0
    assert (tmp_path / "m.pt").is_file()

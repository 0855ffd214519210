"""What a file holds, for ``rouser-info``: a model or checkpoint (``.pt``), a netx
network (``.net``) or a NIR graph (``.nir``), each read by its own checked reader.

:func:`describe_file` returns a :class:`FileInfo`: plain data (``fields``, what
``--json`` writes) and the readable text. Every section a file may lack (provenance,
training settings, rouser-export's metadata) is reported as absent, not an error: files
from earlier versions and from other tools are described as they are. A file no reader
accepts is one UserError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..deploy.design_rules import DesignRuleError, check_design_rules
from ..deploy.hw_config import load_hw_config
from ..deploy.resource_map import map_resources
from ..errors import UserError
from ..fileio import check_suffix
from ..model.blocks import bias_neurons, layer_shapes, neurons_text
from ..model.modelfile import load_model, load_record
from ..netx.file import read_netx
from ..provenance import describe, read_provenance
from ..training.runfiles import CHECKPOINT
from .nir_graph import read_nir

NEURON_KEYS = ("neuron", "readout", "threshold", "learn_threshold", "current_decay",
               "voltage_decay", "fold_exact")


@dataclass(frozen=True)
class FileInfo:
    """A file described: ``kind`` (``model``, ``checkpoint``, ``netx`` or ``nir``),
    ``fields`` (JSON-able: the ``--json`` document) and ``text`` (what is printed)."""

    path: str
    kind: str
    fields: dict
    text: str

    def to_json(self) -> dict:
        """The document ``rouser-info --json`` writes."""
        return {"path": self.path, "kind": self.kind, **self.fields}


def _plain(value):
    """``value`` with NumPy arrays, scalars and bytes made JSON-able."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, float) and not np.isfinite(value):
        return str(value)
    return value


def _stats(values) -> dict:
    """Count, min, mean, max and standard deviation of a float tensor or array."""
    a = np.asarray(values, dtype=np.float64).reshape(-1)
    return {"count": int(a.size), "min": float(a.min()), "mean": float(a.mean()),
            "max": float(a.max()), "std": float(a.std())}


def _provenance_lines(record: dict | None) -> list[str]:
    """The provenance line, and for an exported file the model's it came from."""
    lines = [f"provenance: {describe(record)}"]
    if record and record.get("model"):
        lines.append(f"provenance of the model exported: {describe(record['model'])}")
    return lines


def _model(path: str) -> FileInfo:
    net, record = load_model(path)
    shapes = layer_shapes(tuple(net.input_shape), net.arch)
    blocks = iter(zip(net.layer_names(), net.spiking_blocks()))
    layers: list[dict[str, Any]] = []
    for spec, shape in zip(net.arch, shapes):
        row: dict[str, Any] = {"kind": spec["kind"], "shape": list(shape)}
        if spec["kind"] != "flatten":
            name, block = next(blocks)
            row["name"] = name
            row["thresholds"] = _stats(block.neuron.threshold.detach().cpu().numpy())
            row["bias_neurons"] = bias_neurons(spec)
        layers.append(row)
    history = record.get("history", [])
    dataset = record["dataset"]
    fields: dict[str, Any] = {
        "input_shape": list(net.input_shape), "layers": layers,
        "neuron": record["neuron"], "dataset": {k: v for k, v in dataset.items()
                                                if k != "train"},
        "train": record.get("train"), "epochs": len(history),
        "last_epoch": history[-1] if history else None,
        "provenance": read_provenance(record.get("provenance")),
    }
    lines = [f"{path}: rouser-lava model, input {tuple(net.input_shape)}",
             f"{'layer':<8}{'kind':<10}{'shape':<16}{'thresholds: n':>14}{'min':>10}"
             f"{'mean':>10}{'max':>10}{'std':>10}"]
    for row in layers:
        th = row.get("thresholds")
        stats = "" if th is None else (f"{th['count']:>14,}{th['min']:>10.4g}"
                                       f"{th['mean']:>10.4g}{th['max']:>10.4g}"
                                       f"{th['std']:>10.4g}")
        lines.append(f"{row.get('name', '-'):<8}{row['kind']:<10}"
                     f"{str(tuple(row['shape'])):<16}{stats}")
        if row.get("bias_neurons"):
            lines.append(f"{'':<8}{neurons_text(row, row['shape'][0])}")
    neuron = record["neuron"]
    lines.append("neurons: " + ", ".join(f"{k} {neuron[k]}" for k in NEURON_KEYS
                                         if k in neuron))
    validation = dataset.get("validation")
    lines.append(f"dataset: {dataset.get('name') or 'none (imported)'}; encoding "
                 f"{json.dumps(dataset.get('encoding', {}))}; validation "
                 f"{json.dumps(validation) if validation else 'not recorded'}")
    train = record.get("train")
    lines.append("training: " + (", ".join(f"{k} {v}" for k, v in train.items()
                                           if v is not None)
                                 if isinstance(train, dict) and train else "not recorded"))
    if history:
        last = history[-1]
        shown = ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                          for k, v in last.items() if isinstance(v, (int, float, str)))
        lines.append(f"history: {len(history)} epoch(s); last: {shown}")
    lines += _provenance_lines(fields["provenance"])
    return FileInfo(path, "model", _plain(fields), "\n".join(lines))


def _checkpoint(path: str) -> FileInfo:
    record = load_record(path, CHECKPOINT)
    settings = record.get("settings") if isinstance(record.get("settings"), dict) else None
    history: Any = record.get("history")
    epoch = record.get("epoch")
    fields: dict[str, Any] = {
        "epoch": epoch if isinstance(epoch, int) else None, "settings": settings,
        "epochs": len(history) if isinstance(history, list) else 0,
        "provenance": read_provenance(record.get("provenance"))}
    lines = [f"{path}: rouser-train checkpoint after epoch {fields['epoch']}",
             "settings: " + (", ".join(f"{k} {v}" for k, v in settings.items())
                             if settings else "not recorded"),
             *_provenance_lines(fields["provenance"])]
    return FileInfo(path, "checkpoint", _plain(fields), "\n".join(lines))


def _pt(path: str) -> FileInfo:
    """A model file, or a checkpoint (told apart by its ``format``)."""
    try:
        return _model(path)
    except UserError as err:
        try:
            return _checkpoint(path)
        except UserError:
            raise err from None


def _graph_order(graph) -> list[str]:
    """The node names in the order of the edges from ``input`` (nir.read sorts them by
    name), then any others."""
    order, frontier = [], [n for n in graph.nodes if n == "input"]
    while frontier:
        name = frontier.pop(0)
        if name in order:
            continue
        order.append(name)
        frontier += [dst for src, dst in graph.edges if src == name and dst not in order]
    return order + [n for n in graph.nodes if n not in order]


def _nir(path: str) -> FileInfo:
    graph = read_nir(path)
    nodes = []
    for name in _graph_order(graph):
        node = graph.nodes[name]
        row: dict = {"name": name, "type": type(node).__name__}
        for attr in ("weight", "v_threshold", "kernel_size"):
            value = getattr(node, attr, None)
            if value is not None:
                row["shape" if attr != "kernel_size" else "kernel_size"] = \
                    list(np.shape(value)) if attr != "kernel_size" else _plain(value)
                break
        for attr, port in (("input_type", "input"), ("output_type", "output")):
            ports = getattr(node, attr, None)
            if type(node).__name__ in ("Input", "Output") and isinstance(ports, dict) \
                    and port in ports:
                row["shape"] = [int(s) for s in np.asarray(ports[port]).reshape(-1)]
        nodes.append(row)
    metadata = dict(graph.metadata or {}) if isinstance(graph.metadata, dict) else {}
    text = metadata.pop("provenance", None)
    try:
        prov = read_provenance(json.loads(text)) if isinstance(text, (str, bytes)) else None
    except ValueError:
        prov = None
    fields: dict[str, Any] = {"nodes": nodes, "edges": [list(e) for e in graph.edges],
              "metadata": _plain(metadata), "provenance": prov}
    lines = [f"{path}: NIR graph, {len(nodes)} nodes, {len(graph.edges)} edges",
             f"{'node':<14}{'type':<12}shape"]
    lines += [f"{n['name']:<14}{n['type']:<12}"
              f"{tuple(n['shape']) if 'shape' in n else n.get('kernel_size', '-')}"
              for n in nodes]
    lines.append("metadata: " + (", ".join(f"{k} {v}" for k, v in fields["metadata"].items())
                                 or "none"))
    lines += _provenance_lines(prov)
    return FileInfo(path, "nir", _plain(fields), "\n".join(lines))


def _netx(path: str, hw_config: str) -> FileInfo:
    """A netx file: the checker's layers, rouser-export's metadata, and rouser-map's
    verdict and core count on ``hw_config``."""
    hw = load_hw_config(hw_config)
    netx = read_netx(path)
    summary, meta = netx.summary, netx.metadata
    layers: list[dict[str, Any]] = [
        {"name": summary.layer_name(la.index), "kind": la.kind, "shape": list(la.shape),
         "neurons": la.neurons, "synapses": la.synapses,
         "neuron_type": la.neuron_type or None, "ref_delay": la.ref_delay,
         "membrane_readout": la.membrane, "bias_neurons": la.bias_neurons}
        for la in summary.layers]
    rmap = map_resources(summary, hw)
    try:
        warnings, failures = check_design_rules(path, hw), []
    except DesignRuleError as err:
        warnings, failures = [], err.violations
    fits = rmap.fits and not failures
    verdict = "fits" if fits else "does not fit" if not rmap.fits else "violates rules"
    fields: dict[str, Any] = {
        "layers": layers, "input_shapes": [list(s) for s in netx.input_shapes],
        "time_steps": meta.time_steps, "threshold_form": meta.threshold_form,
        "dataset": meta.dataset, "provenance": meta.provenance,
        "map": {"hw_config": hw.name, "verdict": verdict, "fits": fits,
                "cores": rmap.cores, "chips": rmap.chips,
                "failures": [str(f) for f in failures],
                "warnings": [str(w) for w in warnings]},
    }
    lines = [f"{path}: netx network, {meta.time_steps or 'no'} steps per sample, input "
             f"{' or '.join(str(s) for s in netx.input_shapes)}",
             f"{'layer':<10}{'kind':<11}{'shape':<16}{'neurons':>9}{'synapses':>11}  neuron"]
    for la in layers:
        neuron = (la["neuron_type"] or "-") + (f", refDelay {la['ref_delay']}"
                                               if la["ref_delay"] > 1 else "") + \
            (", membrane readout" if la["membrane_readout"] else "")
        lines.append(f"{la['name']:<10}{la['kind']:<11}{str(tuple(la['shape'])):<16}"
                     f"{la['neurons']:>9,}{la['synapses']:>11,}  {neuron}")
        if la["bias_neurons"]:
            lines.append(f"{'':<10}{neurons_text(la, la['neurons'])}")
    data = meta.dataset
    lines.append(f"export: threshold form {meta.threshold_form or 'not recorded'}; dataset "
                 + (f"{data.get('name') or 'none (imported)'}, encoding "
                    f"{json.dumps(data.get('encoding', {}))}" if data else "not recorded"))
    lines.append(f"map on {hw.name}: {verdict}: {rmap.summary()}; {len(failures)} "
                 f"design-rule failure(s), {len(warnings)} warning(s)")
    lines += _provenance_lines(meta.provenance)
    return FileInfo(path, "netx", _plain(fields), "\n".join(lines))


def describe_file(path: str, hw_config: str = "loihi2-oheogulch") -> FileInfo:
    """What the file at ``path`` holds (its suffix says which reader: ``.pt``, ``.net``
    or ``.h5``, ``.nir``); for a netx file also the resource map and design-rule
    verdict on ``hw_config`` (a name in ``hw_configs/`` or a JSON file). UserError (one
    line) for a missing, unreadable or foreign file."""
    fmt = check_suffix("the file", path, "model", "netx", "nir")
    if not Path(path).is_file():
        raise UserError(f"{path}: no such file")
    if fmt == "model":
        return _pt(path)
    if fmt == "nir":
        return _nir(path)
    return _netx(path, hw_config)

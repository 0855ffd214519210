"""``QuantizedNetwork`` -> netx HDF5 (``.net``) that unmodified ``lava.lib.dl.netx`` loads.

File tree (the keys ``netx.hdf5.Network`` reads)::

    /layer/0            type='input', shape=(C,) or (C, H, W)
    /layer/i            type='dense': shape=(C_out,), inFeatures, outFeatures,
                                      weight int (C_out, C_in)
                        type='conv':  shape=(C, H, W), inChannels, outChannels,
                                      kernelSize, stride, padding, dilation, groups,
                                      weight int (C_out, C_in/groups, kH, kW)
                        type='flatten': shape=(C*H*W,)
    /layer/i/neuron     type='CUBA', iDecay, vDecay, vThMant (scalar or (C,)),
                        refDelay, gradedSpike=False
    /simulation         Ts=1, tSample=T

``refDelay`` is 1 (what slayer writes: Lava's plain ``LIF``) except for single-spike
layers, where it is ``T``, the sample length: our runners build such a layer as
``LIFRefractory`` (:mod:`rouser_lava.deploy.netx_check`), which after a spike at step
``t >= 1`` holds ``v`` through step ``t + T > T``, so each neuron fires at most once in
a sample of ``T`` steps, as in training; the runners clear the refractory state
between samples. ``T`` is the shortest period that does this (any longer one runs the
same), and keeps the number small for hardware with a narrow refractory field. A
membrane readout is written as it is quantized (``vDecay`` 0, ``vThMant`` ``2**17 -
1``), which the runners recognise (``NetxSummary.membrane_readout``).

netx reads no ``bias`` here (our blocks have none). Root attributes
``rouser_threshold_form`` and ``rouser_dataset`` (JSON) describe how the file was
made; netx ignores them. The file is built in memory and checked against the
target's design rules (:mod:`.design_rules`) before it is written; writing is atomic:
a failed export leaves no file.
"""

from __future__ import annotations

import io
import json
import logging
import os
from pathlib import Path

import h5py
import numpy as np

from ..data.registry import dataset_for
from ..errors import UserError
from ..fileio import check_output_file, write_bytes
from ..model.modelfile import load_model
from .design_rules import check_design_rules
from .hw_config import load_hw_config
from .quantize import QuantizedNetwork, quantize_network

log = logging.getLogger(__name__)


def _put_type(group: h5py.Group, name: str) -> None:
    group.create_dataset("type", (1,), "S10", [name.encode("ascii")])


def _write_layer(group: h5py.Group, layer, time_steps: int) -> None:
    _put_type(group, layer.kind)
    group.create_dataset("shape", data=np.array(layer.shape, dtype=np.int64))
    if layer.kind == "flatten":
        return
    spec = layer.spec
    if layer.kind == "dense":
        group.create_dataset("inFeatures", data=spec["in_features"])
        group.create_dataset("outFeatures", data=spec["out_features"])
    else:
        group.create_dataset("inChannels", data=spec["in_channels"])
        group.create_dataset("outChannels", data=spec["out_channels"])
        for key, name in (("kernel_size", "kernelSize"), ("stride", "stride"),
                          ("padding", "padding"), ("dilation", "dilation")):
            group.create_dataset(name, data=np.array(spec[key], dtype=np.int64))
        group.create_dataset("groups", data=spec["groups"])
    group.create_dataset("weight", data=layer.weight)
    neuron = group.create_group("neuron")
    _put_type(neuron, "CUBA")
    neuron.create_dataset("iDecay", data=layer.i_decay)
    neuron.create_dataset("vDecay", data=layer.v_decay)
    neuron.create_dataset("vThMant", data=layer.v_th_mant)
    neuron.create_dataset("refDelay", data=int(time_steps) if layer.single_spike else 1)
    neuron.create_dataset("gradedSpike", data=False)


def netx_bytes(qnet: QuantizedNetwork, time_steps: int, dataset: dict | None = None) -> bytes:
    """``qnet`` as the bytes of a netx HDF5 file (built in memory: HDF5 crashes on a
    full disk, Python raises).

    Parameters
    ----------
    qnet : QuantizedNetwork
        Network in Loihi fixed point.
    time_steps : int
        Steps per sample, stored as ``/simulation/tSample``.
    dataset : dict, optional
        Dataset name and encoding, stored as a root attribute.
    """
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as f:
        f.attrs["rouser_threshold_form"] = qnet.threshold_form
        f.attrs["rouser_dataset"] = json.dumps(dataset or {})
        sim = f.create_group("simulation")
        sim.create_dataset("Ts", data=1)
        sim.create_dataset("tSample", data=int(time_steps))
        layers = f.create_group("layer")
        inp = layers.create_group("0")
        _put_type(inp, "input")
        inp.create_dataset("shape", data=np.array(qnet.input_shape, dtype=np.int64))
        for i, layer in enumerate(qnet.layers, start=1):
            _write_layer(layers.create_group(str(i)), layer, time_steps)
    return buffer.getvalue()


def write_netx(qnet: QuantizedNetwork, path: str | os.PathLike, time_steps: int,
               dataset: dict | None = None) -> None:
    """Write ``qnet`` as netx HDF5 at ``path`` (atomically; its folder must exist);
    arguments as :func:`netx_bytes`."""
    write_bytes(path, netx_bytes(qnet, time_steps, dataset))


def read_metadata(path: str | os.PathLike) -> dict:
    """Dataset description and threshold form stored by ``write_netx`` ({} if absent)."""
    try:
        with h5py.File(path, "r") as f:
            if "layer" not in f:
                raise UserError(f"{path}: not a netx network (no /layer group)")
            meta = {"dataset": json.loads(f.attrs.get("rouser_dataset", "{}")),
                    "threshold_form": f.attrs.get("rouser_threshold_form", None)}
            if "simulation/tSample" in f:
                meta["time_steps"] = int(f["simulation/tSample"][()])
            return meta
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: not a readable netx HDF5 file ({err})") from None


def format_export_report(qnet: QuantizedNetwork) -> str:
    """Per-layer table of what quantization did."""
    rows = [f"threshold form: {qnet.threshold_form}",
            f"{'layer':<8}{'w_exp':>6}{'w_bits':>7}{'clipped':>8}  {'threshold range':<17}"
            f"{'shared Th':>10}{'max rel w err':>14}"]
    for r in qnet.reports:
        shared = "-" if r.th_ref is None else f"{r.th_ref:.4f}"
        rows.append(f"{r.name:<8}{r.weight_exp:>6}{r.weight_bits:>7}{r.clipped:>8}  "
                    f"{r.th_min:>7.4f}..{r.th_max:<7.4f} {shared:>10}"
                    f"{100 * r.max_rel_error:>13.2f}%")
    return "\n".join(rows)


def default_threshold_form(neuron: str) -> str:
    """The threshold form a model of ``neuron`` exports in unless told: ``fold`` (runs
    on Loihi 2), ``vector`` for single-spike models (the only exact form for them)."""
    return "vector" if neuron == "single-spike" else "fold"


def export_model(model_path: str, net_path: str, threshold_form: str | None = None,
                 quiet: bool = False, hw_config: str = "loihi2-oheogulch") -> QuantizedNetwork:
    """``rouser-export``: quantize ``model_path`` (``threshold_form`` None: the model's
    :func:`default_threshold_form`), check the design rules of ``hw_config`` (a name in
    ``hw_configs/`` or a path) and write ``net_path``.

    Value-range failures are errors; rules of the chip only (per-neuron thresholds,
    axons, chips) are warnings, since the file still runs on Lava's CPU simulator.
    """
    check_output_file(net_path)
    if Path(net_path).resolve() == Path(model_path).resolve():
        raise UserError(f"{net_path}: output would overwrite the model file")
    hw = load_hw_config(hw_config)
    net, record = load_model(model_path)
    threshold_form = threshold_form or default_threshold_form(net.neuron_config.neuron)
    try:
        qnet = quantize_network(net, threshold_form)
    except UserError as err:
        raise UserError(f"{model_path}: {err}") from None
    if net.neuron_config.fold_exact and threshold_form != "fold":
        log.warning("warning: %s was trained fold-exact: only --threshold-form fold "
                    "reproduces its training forward spike for spike", model_path)
    dataset = record["dataset"]
    encoding = dataset.get("encoding", {})
    if not encoding.get("time_steps") and not dataset.get("name"):
        raise UserError(f"{model_path}: records neither a dataset nor a sample length "
                        f"(an imported NIR graph); re-import it with --dataset or "
                        f"--time-steps")
    steps = encoding.get("time_steps") or dataset_for(dataset["name"], encoding).time_steps
    data = netx_bytes(qnet, steps, dataset)
    warnings = check_design_rules(io.BytesIO(data), hw, chip_rules_warn=True,
                                  name=f"{net_path} (not written)")
    write_bytes(net_path, data)
    if not quiet:
        print(format_export_report(qnet))
    single = net.neuron_config.neuron == "single-spike"
    per_neuron = [w.where for w in warnings if w.rule == "threshold"]
    if per_neuron:
        log.warning("warning: per-neuron vThMant (%s) runs on Lava's CPU simulator only; "
                    "Lava's LIF holds one vth per population (lava#819) and Loihi 2 has "
                    "no per-neuron threshold: %s", ", ".join(per_neuron),
                    "single-spike models have no fold form yet" if single else
                    "use --threshold-form fold for the chip")
    if single:
        log.warning("warning: single-spike layers are CUBA with refDelay %d: rouser-run "
                    "(emulator, lava) runs them exactly; a plain lava.lib.dl.netx load "
                    "ignores refDelay: the same first spikes, but later spikes then reach "
                    "the next layer", steps)
    for w in warnings:
        if w.rule != "threshold":
            log.warning("warning: %s (%s)", w, hw.name)
    log.info("wrote %s", net_path)
    return qnet

"""``rouser-export``'s step: a trained ``model.pt`` -> Loihi fixed point
(:mod:`.quantize`) -> a netx file (:mod:`rouser_lava.netx.write`, which describes the
file tree).

The file is built in memory and checked against the target's design rules
(:mod:`.design_rules`) before it is written; writing is atomic: a failed export leaves
no file. Value-range failures are errors; rules of the chip only (per-neuron
thresholds, axons, chips) are warnings, since the file still runs on Lava's CPU
simulator.
"""

from __future__ import annotations

import io
import logging

from ..data.registry import dataset_for
from ..errors import UserError, param
from ..fileio import check_output_file, refuse_overwrites, write_bytes
from ..model.modelfile import load_model
from ..netx.network import QuantizedNetwork
from ..netx.write import netx_bytes
from ..provenance import export_provenance
from .design_rules import check_design_rules
from .hw_config import load_hw_config, resolve_config_path
from .quantize import quantize_network

log = logging.getLogger(__name__)


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
    refuse_overwrites([("the netx file", net_path)],
                      [("the model", model_path),
                       (param("hw_config"), resolve_config_path(hw_config))])
    hw = load_hw_config(hw_config)
    net, record = load_model(model_path)
    threshold_form = threshold_form or default_threshold_form(net.neuron_config.neuron)
    try:
        qnet = quantize_network(net, threshold_form)
    except UserError as err:
        raise UserError(f"{model_path}: {err}") from None
    if net.neuron_config.fold_exact and threshold_form != "fold":
        log.warning("%s was trained fold-exact: only %s fold reproduces its training "
                    "forward spike for spike", model_path, param("threshold_form"))
    dataset = record["dataset"]
    encoding = dataset.get("encoding", {})
    if not encoding.get("time_steps") and not dataset.get("name"):
        raise UserError(f"{model_path}: records neither a dataset nor a sample length "
                        f"(an imported NIR graph); re-import it with {param('dataset')} or "
                        f"{param('time_steps')}")
    steps = encoding.get("time_steps") or dataset_for(dataset["name"], encoding).time_steps
    data = netx_bytes(qnet, steps, dataset, export_provenance(record))
    warnings = check_design_rules(io.BytesIO(data), hw, chip_rules_warn=True,
                                  name=f"{net_path} (not written)")
    write_bytes(net_path, data)
    if not quiet:
        print(format_export_report(qnet))
    single = net.neuron_config.neuron == "single-spike"
    per_neuron = [w.where for w in warnings if w.rule == "threshold"]
    if per_neuron and not quiet:  # quiet: an experiment that chose the form itself
        log.warning("per-neuron vThMant (%s) runs on Lava's CPU simulator only; "
                    "Lava's LIF holds one vth per population (lava#819) and Loihi 2 has "
                    "no per-neuron threshold: %s", ", ".join(per_neuron),
                    "single-spike models have no fold form yet" if single else
                    f"use {param('threshold_form')} fold for the chip")
    if single and not quiet:
        log.warning("single-spike layers are CUBA with refDelay %d: rouser-run "
                    "(emulator, lava) runs them exactly; a plain lava.lib.dl.netx load "
                    "ignores refDelay: the same first spikes, but later spikes then reach "
                    "the next layer", steps)
    for w in warnings:
        if w.rule != "threshold":
            log.warning("%s (%s)", w, hw.name)
    log.info("wrote %s", net_path)
    return qnet

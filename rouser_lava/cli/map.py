"""``rouser-map``: how many Loihi 2 cores and chips a netx file needs, and whether it
passes the target's design rules."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..data.registry import DATASETS
from ..fileio import atomic_write, check_output, refuse_overwrites, wrote
from .common import entry, positive_int, reset_interval_value

EXIT_FAILS = 3  # does not fit, or breaks a design rule

EPILOG = """exit status: 0 the network fits and passes every design rule; 3 it does not fit
the board or breaks a rule (each failure printed on one line); 1 bad input (one line).

cost model (rouser_lava/deploy/resource_map.py; constants in the hw config, each with
its source): a dense core with n neurons holds ceil(n / 4) SynMem units per input axon
plus 48 per neuron, the layer split as the compiler's partitioner does; conv layers
tiled in whole (x, y, c) blocks of at most 3584 neurons, (c / 16 + 0.75) units per
input channel and kernel position; an input layer with neurons takes cores (an SDNN
input layer, the host's delta encoder, none); chips = ceil(cores / cores_per_chip).
Fitted to the compiler tables of lava-dl's netx notebooks: cores exact on every layer
of Oxford (5), MNIST (5), PilotNet SNN (74) and SDNN (61), YOLO-KP (574)."""


def _activity_rows(rmap, activity) -> list[str]:
    rows = [f"activity over {activity.samples} sample(s) of {activity.steps} steps "
            f"(emulator), per sample:",
            f"{'layer':<20}{'spikes':>12}{'sparsity':>10}{'synops':>14}"]
    for la, act in zip(rmap.layers, activity.layers):
        rows.append(f"{la.name:<20}{act.spikes_per_sample:>12,.1f}{act.sparsity:>10.4f}"
                    f"{act.synops_per_sample:>14,.0f}")
    rows.append(f"{'total':<20}{sum(a.spikes_per_sample for a in activity.layers):>12,.1f}"
                f"{'':>10}{activity.synops_per_sample:>14,.0f}")
    return rows


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-map`` (:func:`map_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-map", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Estimate the Loihi 2 neurocores and chips a netx network needs (per "
                    "layer: neurons, synapses, synaptic memory, input axons, the binding "
                    "resource) and check the target's design rules. Maps any neuron type "
                    "(SDNN too, which the runners refuse). With --dataset or --input, "
                    "also measures spikes, sparsity and synaptic operations per sample on "
                    "the emulator.")
    p.add_argument("net", help="netx HDF5 file (.net)")
    p.add_argument("--hw-config", default="loihi2-oheogulch", metavar="CONFIG",
                   help="target: a JSON file or a name in hw_configs/ (default "
                        "loihi2-oheogulch; also loihi2-kapohopoint, lava-cpu-sim)")
    p.add_argument("--json", dest="json_out", default=None, help="write the map as JSON")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--dataset", default=None, choices=DATASETS,
                   help="measure activity on this dataset's test split")
    g.add_argument("--input", dest="input_npy", default=None,
                   help="measure activity on spikes from a .npy array (N, C, T) of 0/1")
    p.add_argument("--data-root", default=None, help="folder of an event dataset")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="measure activity on the first N samples only (alone: of the "
                        "dataset recorded in the file)")
    p.add_argument("--reset-interval", type=reset_interval_value, default=None, metavar="R",
                   help="netx reset_interval the network will run with (checked: a power "
                        "of 2 on Loihi 2)")
    return p


@entry("rouser-map")
def map_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..deploy.design_rules import DesignRuleError, check_design_rules
    from ..deploy.hw_config import load_hw_config, resolve_config_path

    refuse_overwrites([("--json", args.json_out)], [
        ("the network mapped", args.net), ("--input", args.input_npy),
        ("--hw-config", resolve_config_path(args.hw_config))])
    if args.json_out is not None:
        check_output("--json", args.json_out, "json")
    from ..deploy.resource_map import map_resources
    from ..netx.check import check_netx

    hw = load_hw_config(args.hw_config)
    rmap = map_resources(check_netx(args.net, values=False), hw)
    try:
        warnings, failures = check_design_rules(args.net, hw, args.reset_interval), []
    except DesignRuleError as err:
        warnings, failures = [], err.violations
    activity = None
    if args.dataset is not None or args.input_npy is not None or args.limit is not None:
        from ..backends.activity import measure_activity

        activity = measure_activity(args.net, args.dataset, args.input_npy, args.limit,
                                    args.data_root)
    print(f"{args.net} on {hw.name} ({hw.target})")
    print(rmap.table())
    if activity is not None:
        print("\n".join(_activity_rows(rmap, activity)))
    for w in warnings:
        print(f"warning: {w}")
    for f in failures:
        print(f"fails: {f}")
    fits = rmap.fits and not failures
    verdict = "fits" if fits else "does not fit" if not rmap.fits else "violates rules"
    print(f"verdict: {verdict}: {rmap.summary()}; {len(failures)} design-rule "
          f"failure(s), {len(warnings)} warning(s)")
    if args.json_out:
        out = rmap.to_json()
        out.update(verdict=verdict, fits=fits, hw_config_path=hw.path,
                   failures=[str(f) for f in failures], warnings=[str(w) for w in warnings])
        if activity is not None:
            for layer, act in zip(out["layers"], activity.layers):
                layer.update(spikes_per_sample=act.spikes_per_sample,
                             synops_per_sample=act.synops_per_sample, sparsity=act.sparsity)
            out["activity"] = {"samples": activity.samples, "steps": activity.steps,
                               "synops_per_sample": activity.synops_per_sample}
        text = json.dumps(out, indent=1)
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(text))
        wrote(args.json_out, "the map, JSON")
    return 0 if fits else EXIT_FAILS

"""``rouser-export``: model.pt -> Loihi fixed-point netx HDF5 (``.net``) or a NIR graph
(``.nir``)."""

from __future__ import annotations

import argparse

from .common import entry


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-export`` (:func:`export_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-export",
        description="Quantize a trained model to Loihi fixed point and write netx HDF5 "
                    "that lava.lib.dl.netx.hdf5.Network loads, or (FILE.nir) write it as a "
                    "NIR graph in the Lava convention (dt 1e-4, per-neuron v_threshold). "
                    "model.pt is not changed.")
    p.add_argument("model", help="model.pt written by rouser-train")
    p.add_argument("net", help="file to write: netx (e.g. net.net) or NIR (net.nir)")
    p.add_argument("--threshold-form", choices=("fold", "vector"), default=None,
                   help="fold (default): fold each neuron's threshold into its input "
                        "weights so a layer shares one vThMant (runs on Loihi 2); "
                        "vector (default for single-spike models, their only form): "
                        "per-neuron vThMant, bit-exact with training but only for Lava's "
                        "CPU simulator")
    p.add_argument("--hw-config", default="loihi2-oheogulch", metavar="CONFIG",
                   help="target whose design rules the network is checked against before "
                        "writing: a JSON file or a name in hw_configs/ (default "
                        "loihi2-oheogulch; lava-cpu-sim, loihi2-kapohopoint). Value "
                        "ranges are errors; chip-only rules (per-neuron thresholds, fan-in "
                        "per core, chips) are warnings")
    return p


@entry("rouser-export")
def export_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..fileio import check_output_file, check_suffix, refuse_overwrites

    refuse_overwrites([("the output", args.net)], [("the model", args.model)])
    check_output_file(args.net)
    fmt = check_suffix("the output", args.net, "netx", "nir")
    if fmt == "nir":
        from ..interop.nir_export import export_nir_model

        export_nir_model(args.model, args.net)
        return 0
    from ..deploy.export import export_model

    export_model(args.model, args.net, args.threshold_form, hw_config=args.hw_config)
    return 0

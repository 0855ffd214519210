"""``rouser-export``: model.pt -> Loihi fixed-point netx HDF5."""

from __future__ import annotations

import argparse

from .common import entry


@entry("rouser-export")
def export_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-export",
        description="Quantize a trained model to Loihi fixed point and write netx HDF5 "
                    "that lava.lib.dl.netx.hdf5.Network loads. model.pt is not changed.")
    p.add_argument("model", help="model.pt written by rouser-train")
    p.add_argument("net", help="netx file to write (e.g. net.net)")
    p.add_argument("--threshold-form", choices=("fold", "vector"), default="fold",
                   help="fold (default): fold each neuron's threshold into its input "
                        "weights so a layer shares one vThMant (runs on Loihi 2); "
                        "vector: per-neuron vThMant, bit-exact with training but only "
                        "for Lava's CPU simulator")
    args = p.parse_args(argv)

    from ..deploy.export import export_model

    export_model(args.model, args.net, args.threshold_form)
    return 0

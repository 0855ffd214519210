"""``rouser-info``: what a model (``.pt``), netx (``.net``) or NIR (``.nir``) file holds,
and where it came from."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..fileio import atomic_write, check_output, refuse_overwrites, wrote
from .common import entry


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-info`` (:func:`info_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-info",
        description="Describe a file: a model.pt (architecture with shapes, threshold "
                    "statistics per layer, neuron settings, dataset and validation split, "
                    "training settings) or a checkpoint; a netx file (layers, shapes and "
                    "neuron types, export form and metadata, the rouser-map verdict and "
                    "cores on --hw-config); a NIR graph (nodes, shapes, metadata). Each "
                    "with its provenance: tool version, commit, versions, command line, "
                    "seed, device and world size, where the file records them.")
    p.add_argument("file", help="a .pt, .net (or .h5) or .nir file")
    p.add_argument("--json", dest="json_out", default=None,
                   help="also write the description as JSON")
    p.add_argument("--hw-config", default="loihi2-oheogulch", metavar="CONFIG",
                   help="for a netx file: the target it is mapped on, a JSON file or a name "
                        "in hw_configs/ (default loihi2-oheogulch; also "
                        "loihi2-kapohopoint, lava-cpu-sim)")
    return p


@entry("rouser-info")
def info_main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)

    from ..deploy.hw_config import resolve_config_path
    from ..interop.file_info import describe_file

    refuse_overwrites([("--json", args.json_out)],
                      [("the file described", args.file),
                       ("--hw-config", resolve_config_path(args.hw_config))])
    if args.json_out is not None:
        check_output("--json", args.json_out, "json")
    info = describe_file(args.file, args.hw_config)
    print(info.text)
    if args.json_out is not None:
        text = json.dumps(info.to_json(), indent=1)
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(text))
        wrote(args.json_out, "the description, JSON")
    return 0

"""``rouser-import``: a lava-dl netx file (``.net``) or a NIR graph (``.nir``) -> model.pt."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import UserError
from .common import entry, input_shape_value, positive_float, positive_int

CONVENTIONS = ("lava", "snntorch", "norse", "sinabs", "rockpool")


def _dataset_record(name: str | None, time_steps: int | None) -> dict:
    """What model.pt records about the data: the dataset named with ``--dataset`` (or
    None: ``rouser-train --init`` then needs ``--dataset``) and the sample length."""
    encoding = {} if time_steps is None else {"time_steps": time_steps}
    return {"name": name, "encoding": encoding}


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-import`` (:func:`import_main` parses it)."""
    from ..data.registry import LOADERS

    p = argparse.ArgumentParser(
        prog="rouser-import",
        description="Turn a lava-dl netx network (.net) or a NIR graph (.nir) into a "
                    "Rouser model.pt with one learnable threshold per neuron: fine-tune it "
                    "with rouser-train --init, deploy it with rouser-export. Prints what "
                    "had to be approximated, layer by layer.")
    p.add_argument("source", help="network to import: FILE.net (netx HDF5) or FILE.nir")
    p.add_argument("model", help="model file to write (e.g. model.pt)")
    p.add_argument("--dataset", choices=tuple(LOADERS), default=None,
                   help="dataset the network is for, recorded for rouser-train --init and "
                        "rouser-run (else give --dataset to those)")
    p.add_argument("--time-steps", type=positive_int, default=None,
                   help="steps per sample to record (default: the netx file's tSample; "
                        "the dataset's default for NIR graphs)")
    p.add_argument("--input-shape", type=input_shape_value, default=None, metavar="C,H,W",
                   help=".net files without an input layer (lava-dl's exporter writes "
                        "conv-first networks so) whose first conv layer fits several "
                        "input shapes: one sample's shape, torch order")
    g = p.add_argument_group("NIR graphs (what the graph does not say)")
    g.add_argument("--convention", choices=CONVENTIONS, default=None,
                   help="framework that wrote the graph, which fixes how its continuous "
                        "parameters become per-step decays and gains (default: the "
                        "graph's metadata, as rouser-export writes it)")
    g.add_argument("--dt", type=positive_float, default=None,
                   help="time step in seconds (default: the graph's metadata, else the "
                        "convention's: lava and snntorch 1e-4, norse 1e-3, sinabs 1)")
    g.add_argument("--reset", choices=("zero", "subtract"), default=None,
                   help="the source's reset after a spike (default: the convention's: "
                        "zero for lava and norse, subtract for snntorch, sinabs, rockpool). "
                        "Loihi resets to zero; subtract is approximated, and refused with "
                        "--strict")
    g.add_argument("--strict", action="store_true",
                   help="refuse every approximation of the dynamics (subtractive reset, "
                        "v_leak, per-neuron time constants) instead of reporting it")
    p.add_argument("--quiet", action="store_true", help="no report")
    return p


@entry("rouser-import")
def import_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..fileio import check_output, check_suffix, refuse_overwrites

    source, out = Path(args.source), Path(args.model)
    fmt = check_suffix("the source", source, "netx", "nir")
    if not source.is_file():
        raise UserError(f"{source}: no such file")
    refuse_overwrites([("the model file", out)], [("the source", source)])
    check_output("the model file", out, "model")
    if fmt == "netx":
        from ..interop.netx_import import import_netx

        result = import_netx(source, args.input_shape)
    else:
        from ..interop.nir_import import import_nir

        result = import_nir(source, dt=args.dt, convention=args.convention,
                            reset=args.reset, strict=args.strict)
    from ..fileio import wrote
    from ..interop.imported import format_notes
    from ..model.modelfile import save_model

    steps = args.time_steps or result.time_steps
    save_model(out, result.net, _dataset_record(args.dataset, steps))
    if not args.quiet:
        print(format_notes(result))
    wrote(out, "model")
    return 0

"""``rouser-run``: run model.pt (torch) or a .net file (emulator, Lava)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..fileio import atomic_write, check_output_file
from .common import entry, positive_float, positive_int


@entry("rouser-run")
def run_main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="rouser-run",
        description="Run a trained model (model.pt) or an exported network (.net) over "
                    "a dataset's test split, or over raw spikes, and report accuracy and "
                    "spike counts per layer.")
    p.add_argument("path", help="model.pt (torch backend) or a netx .net file")
    p.add_argument("--backend", choices=("torch", "emulator", "lava"), default=None,
                   help="torch for model.pt; for .net files: emulator (default, the "
                        "bit-exact batched emulator, fast) or lava (Lava's CPU simulator, "
                        "Loihi2SimCfg fixed_pt)")
    p.add_argument("--dataset", default=None,
                   help="dataset whose test split to run (default: the one recorded in "
                        "the file)")
    p.add_argument("--input", dest="input_npy", default=None,
                   help="raw input spikes instead of a dataset: .npy array (N, C, T) of "
                        "0/1, C = the network's input size, flattened in C order of the "
                        "input shape (C, H, W) stored in the file")
    p.add_argument("--data-root", default=None,
                   help="folder of an event dataset, instead of the one recorded")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="run only the first N samples")
    p.add_argument("--json", dest="json_out", default=None, help="write results as JSON")
    p.add_argument("--timeout", type=positive_float, default=None, metavar="SECONDS",
                   help="lava: stop the run and fail if it has not ended after this "
                        "many seconds (default: 60 + samples x steps x 0.02 x (layers "
                        "+ (neurons + synapses) / 500000), about ten times the expected "
                        "time; "
                        "with the default it also fails when no sample finishes for 60 "
                        "s plus ten samples' share). A Lava worker process that dies "
                        "fails the run at once; Ctrl-C stops it (exit status 130)")
    p.add_argument("--workers", type=positive_int, default=1, metavar="K",
                   help="lava: split the samples into K contiguous chunks, each run by a "
                        "worker process with its own Lava network (the same spikes as "
                        "one process; each worker holds a full network, so about K "
                        "times the memory; default 1)")
    p.add_argument("--dump-spikes", default=None,
                   help="write every layer's output spikes to an .npz: keys layer0, "
                        "layer1, ... and output (last layer), each uint8 (N, C, T)")
    args = p.parse_args(argv)
    for out in (args.json_out, args.dump_spikes):
        if out is not None:  # before the run, not after it
            check_output_file(out)

    from ..backends.runfile import run_path

    result = run_path(args.path, args.dataset, args.backend, args.limit, args.input_npy,
                      keep_spikes=args.dump_spikes is not None, data_root=args.data_root,
                      timeout=args.timeout, workers=args.workers)
    print(result.summary())
    if args.json_out:
        text = json.dumps(result.to_json(), indent=1)
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(text))
    if args.dump_spikes:
        arrays = {name: s.reshape(len(s), -1, s.shape[-1])
                  for name, s in zip(result.layer_names, result.spikes)}
        arrays["output"] = arrays[result.layer_names[-1]]

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:
                np.savez_compressed(f, **arrays)

        atomic_write(args.dump_spikes, write)
    return 0

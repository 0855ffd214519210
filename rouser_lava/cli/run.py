"""``rouser-run``: run model.pt (torch) or a .net file (emulator, Lava)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ..data.registry import DATASETS
from ..errors import OptionError
from ..fileio import atomic_write, check_output, refuse_overwrites, wrote
from .common import (
    entry,
    flag,
    input_shape_value,
    int_list,
    positive_int,
    reset_interval_value,
    reset_offset_value,
    timeout_value,
    workers_value,
)


def _steps(text: str) -> tuple[int, ...]:
    """Comma-separated time steps >= 0."""
    return int_list(text, lambda v: min(v) >= 0, "steps such as 0,5,9")


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-run`` (:func:`run_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-run",
        description="Run a trained model (model.pt) or an exported network (.net) over "
                    "a dataset's test split, or over raw spikes, and report accuracy and "
                    "spike counts per layer.")
    p.add_argument("path", help="model.pt (torch backend) or a netx .net file")
    p.add_argument("--backend", choices=("torch", "emulator", "lava", "loihi2"),
                   default=None,
                   help="torch for model.pt; for .net files: emulator (default, the "
                        "bit-exact batched emulator, fast), lava (Lava's CPU simulator, "
                        "Loihi2SimCfg fixed_pt) or loihi2 (a Loihi 2 board through "
                        "lava-loihi, INRC members only; UNVERIFIED: see docs/guides/board.md). "
                        "loihi2 checks the design rules and the resource map first, runs "
                        "the samples in the stream layout (--stream reset-interval), "
                        "streamed in chunks, and returns the output layer's spikes (and a "
                        "membrane readout's v, read once per sample window)")
    p.add_argument("--hw-config", default=None, metavar="CONFIG",
                   help="loihi2: the board, a file in hw_configs/ by name "
                        "(loihi2-oheogulch, default; loihi2-kapohopoint) or a path to "
                        "your own")
    p.add_argument("--dry-run", action="store_true",
                   help="loihi2: print the resource map and the exact run configuration "
                        "that would be submitted, and exit (works without lava-loihi)")
    p.add_argument("--rehearse", action="store_true",
                   help="loihi2: run the board's process graph (network, reset interval "
                        "and offset, source, sink, chunks, read-out) on Lava's CPU "
                        "simulator, with CPU stand-ins where lava-loihi's adapters go; "
                        "the same outputs as a board run (works without lava-loihi)")
    p.add_argument("--chunk-samples", type=positive_int, default=None, metavar="K",
                   help="loihi2: samples per run call (default 64); the host holds one "
                        "chunk's outputs at a time. Bias images run one per call")
    p.add_argument("--dataset", default=None, choices=DATASETS,
                   help="dataset whose test split to run (default: the one recorded in "
                        "the file)")
    p.add_argument("--input", dest="input_npy", default=None,
                   help="raw input spikes instead of a dataset: .npy array (N, C, T) of "
                        "0/1, C = the network's input size, flattened in C order (row "
                        "major) of the input shape (C, H, W) in torch order: the file's "
                        "input layer 'shape', else --input-shape, else the first conv "
                        "layer's geometry. An input layer with a neuron group takes them "
                        "on its neurons' a_in in the same step")
    p.add_argument("--input-bias", default=None, metavar="X.npy",
                   help=".net files whose input layer has a neuron group: drive it with "
                        "one bias image per sample instead of spikes (lava-dl's "
                        "net.in_layer.neuron.bias_mant = image, integers in int16): "
                        "(N, x, y, c) in Lava's order, the reverse of the file's shape, "
                        "or one image without the N axis; needs --steps")
    p.add_argument("--steps", type=positive_int, default=None, metavar="T",
                   help="--input-bias: time steps each sample runs")
    p.add_argument("--input-shape", type=input_shape_value, default=None, metavar="C,H,W",
                   help=".net files without an input layer: the shape of one sample in "
                        "torch order (netx's input_shape, reversed). Without it a conv-first "
                        "network's shape comes from the conv geometry when only one size "
                        "fits it (stride 1) or fits the samples (--input size, dataset)")
    p.add_argument("--data-root", default=None,
                   help="folder of an event dataset, instead of the one recorded")
    p.add_argument("--limit", type=positive_int, default=None,
                   help="run only the first N samples")
    p.add_argument("--json", dest="json_out", default=None, help="write results as JSON")
    p.add_argument("--timeout", type=timeout_value, default=None, metavar="SECONDS",
                   help="lava and loihi2: stop the run and fail if it has not ended "
                        "after this many seconds, 1 .. 604800 (loihi2 on a board "
                        "default: the config's "
                        "timeout_s; lava and --rehearse default: 60 + samples x steps x "
                        "0.02 x (layers "
                        "+ (neurons + synapses) / 500000), about ten times the expected "
                        "time; "
                        "with the default it also fails when no sample finishes for 60 "
                        "s plus ten samples' share). A Lava worker process that dies "
                        "fails the run at once; Ctrl-C stops it (exit status 130)")
    p.add_argument("--stream", choices=("per-sample", "reset-interval"), default=None,
                   help="how samples follow each other (.net files): per-sample (default) "
                        "resets every state from the host between samples; "
                        "reset-interval runs them back to back in one continuous run, as "
                        "a Loihi 2 board does: netx's reset_interval makes each layer "
                        "reset itself (LIFReset), one step after the layer before it, "
                        "samples padded to the interval. Equal to per-sample spike for "
                        "spike for networks without bias and recurrence")
    p.add_argument("--reset-interval", type=reset_interval_value, default=None, metavar="R",
                   help="--stream reset-interval: steps per sample window, at least "
                        "steps + 1 (default: the smallest power of 2 >= steps + layers, "
                        "as Loihi 2 needs a power of 2)")
    p.add_argument("--reset-offset", type=reset_offset_value, default=0, metavar="O",
                   help="--stream reset-interval: netx's reset_offset, the phase of the "
                        "resets and of the samples (default 0)")
    p.add_argument("--workers", type=workers_value, default=1, metavar="K",
                   help="lava (K up to the CPU cores): split the samples into K "
                        "contiguous chunks, each run by a "
                        "worker process with its own Lava network (the same spikes as "
                        "one process; each worker holds a full network, so about K "
                        "times the memory; default 1)")
    p.add_argument("--dump-spikes", default=None,
                   help="write every layer's output spikes to an .npz: keys layer0, "
                        "layer1, ... and output (last layer), each uint8 (N, C, T) "
                        "(an input layer with neurons is layer0)")
    p.add_argument("--dump-state", default=None, metavar="FILE.npz",
                   help=".net files: write u and v of every spiking layer to an .npz: "
                        "keys u_layer0, v_layer0, ..., each int64 (N, C, S) (C flattened "
                        "in torch order (C, H, W); v after the spike reset, as Lava holds "
                        "it), and steps (S,): the time steps kept (column t = Lava step "
                        "t + 1). lava records them one step per call: slow")
    p.add_argument("--state-steps", type=_steps, default=None, metavar="0,5,9",
                   help="--dump-state: keep only these time steps (default: every step)")
    return p


@entry("rouser-run")
def run_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    board = args.backend == "loihi2"
    if board and args.stream == "per-sample":
        p.error("--backend loihi2 runs in the stream layout (--stream reset-interval)")
    stream_on = board or args.stream == "reset-interval"
    if not stream_on and (args.reset_interval or args.reset_offset):
        p.error("--reset-interval and --reset-offset need --stream reset-interval")

    from ..backends.options import RunOptions
    from ..backends.stream import StreamSpec
    from ..deploy.hw_config import resolve_config_path

    try:
        options = RunOptions(
            backend=args.backend, dataset=args.dataset, data_root=args.data_root,
            input_npy=args.input_npy, input_bias=args.input_bias, steps=args.steps,
            input_shape=args.input_shape, limit=args.limit, timeout=args.timeout,
            stream=StreamSpec(args.reset_interval, args.reset_offset) if stream_on else None,
            workers=args.workers, keep_spikes=args.dump_spikes is not None,
            record_state=args.dump_state is not None, state_steps=args.state_steps,
            hw_config=args.hw_config, dry_run=args.dry_run, rehearse=args.rehearse,
            chunk_samples=args.chunk_samples)
    except OptionError as err:
        p.error(str(err))
    outputs = [(flag(k), getattr(args, k)) for k in ("json_out", "dump_spikes", "dump_state")]
    refuse_overwrites(outputs, [
        ("the network run", args.path), (flag("input_npy"), args.input_npy),
        (flag("input_bias"), args.input_bias),
        (flag("hw_config"), args.hw_config and resolve_config_path(args.hw_config))])
    for (label, out), fmt in zip(outputs, ("json", "npz", "npz")):
        if out is not None:  # before the run, not after it
            check_output(label, out, fmt)

    from ..backends.runfile import board_run, run_path

    if board:
        plan, result = board_run(args.path, options)
        if result is None:
            print(plan.describe())
            return 0
    else:
        result = run_path(args.path, options)
    print(result.summary())
    if args.json_out:
        text = json.dumps(result.to_json(), indent=1)
        atomic_write(args.json_out, lambda tmp: Path(tmp).write_text(text))
        wrote(args.json_out, "results, JSON")
    if args.dump_spikes:
        assert result.spikes is not None  # kept: keep_spikes
        arrays = {name: s.reshape(len(s), -1, s.shape[-1])
                  for name, s in zip(result.layer_names, result.spikes)}
        arrays["output"] = arrays[result.layer_names[-1]]
        _write_npz(args.dump_spikes, arrays)
        wrote(args.dump_spikes, "spikes per layer")
    if args.dump_state:
        assert result.u is not None and result.v is not None  # recorded: record_state
        arrays = {f"{kind}_{name}": s.reshape(len(s), -1, s.shape[-1])
                  for kind, states in (("u", result.u), ("v", result.v))
                  for name, s in zip(result.state_layer_names, states)}
        arrays["steps"] = np.asarray(result.state_steps, np.int64)
        _write_npz(args.dump_state, arrays)
        wrote(args.dump_state, "u and v per layer")
    return 0


def _write_npz(path: str, arrays: dict) -> None:
    """Compressed ``.npz`` of ``arrays``, written atomically."""
    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)

    atomic_write(path, write)

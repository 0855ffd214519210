"""``rouser-train``: train a Rouser network and write model.pt."""

from __future__ import annotations

import argparse
import sys

from ..errors import OptionError
from .common import add_train_options, decay_fraction, entry, train_settings, workers_value

# what each rank --processes starts runs (the console script's code)
RANK_CODE = ("import sys; sys.argv[0] = 'rouser-train'; from rouser_lava.cli import train_main; "
             "sys.exit(train_main())")


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-train`` (:func:`train_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-train",
        description="Train a spiking network whose CUBA LIF (or single-spike) neurons "
                    "learn one threshold each (Rouser), with lava-dl SLAYER. Writes "
                    "model.pt (loadable with torch.load(weights_only=True)) for "
                    "rouser-export and rouser-run. Under torchrun (torchrun "
                    "--nproc_per_node K rouser-train ...) it trains data-parallel: "
                    "--batch-size is the global batch, rank 0 writes the files.",
        epilog="Presets set dataset, architecture and hyperparameters of the papers' "
               "setups; any option given here overrides them. See rouser_lava/training/presets.py.")
    add_train_options(p)
    p.add_argument("--out", default="export/model.pt",
                   help="model file to write (also NAME.best.pt, NAME.metrics.jsonl, "
                        "NAME.ckpt.pt beside it)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the files of another run at --out (refused without it; "
                        "a run with the same settings is always replaced)")
    p.add_argument("--thresholds", choices=("learned", "fixed"), default=None,
                   help="learned per-neuron thresholds (Rouser, default) or stock "
                        "fixed thresholds (baseline)")
    p.add_argument("--deploy", choices=("vector", "fold-exact"), default=None,
                   help="vector (default): the forward pass is bit-exact with "
                        "rouser-export --threshold-form vector (per-neuron vThMant, CPU "
                        "simulator only); fold-exact: the forward pass is exactly the fold "
                        "export Loihi 2 holds (shared vThMant, thresholds folded into "
                        "rounded weights), so the deployed network is the trained one, "
                        "spike for spike")
    p.add_argument("--neuron", choices=("cuba", "single-spike"), default=None,
                   help="cuba (default): CUBA LIF, reset to zero after each spike; "
                        "single-spike: each neuron fires at most once per sample (no reset "
                        "before its first spike, silent after it), trained parallel in time")
    p.add_argument("--readout", choices=("membrane", "spikes"), default=None,
                   help="last layer: membrane (default with single-spike): a CUBA layer "
                        "that never spikes (vDecay 0), its v at the last step are the "
                        "logits, cross-entropy loss; spikes (default with cuba): spike "
                        "counts, spike-rate loss")
    p.add_argument("--current-decay", type=decay_fraction, default=None,
                   help="fraction of the current u lost per step, 0..1 (default 0.25; 1: "
                        "instantaneous current, iDecay 4096)")
    p.add_argument("--voltage-decay", type=decay_fraction, default=None,
                   help="fraction of the voltage v lost per step, 0..1 (default 0.03)")
    p.add_argument("--init", default=None, metavar="MODEL",
                   help="start from a trained model.pt (fine-tuning): its architecture, "
                        "neuron settings, weights, thresholds and data encoding (a model "
                        "from rouser-import without a dataset takes --dataset); e.g. "
                        "--init model.pt --deploy fold-exact --epochs 5")
    p.add_argument("--resume", action="store_true",
                   help="continue the run whose checkpoint is next to --out (NAME.ckpt.pt) "
                        "with its settings; --epochs may extend it and --tensorboard log "
                        "it, other options are ignored")
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu",
                   help="cpu (default) or cuda (under torchrun: each process uses the GPU "
                        "of its LOCAL_RANK)")
    p.add_argument("--processes", type=workers_value, default=1, metavar="K",
                   help="train data-parallel in K processes on this machine (up to the CPU "
                        "cores; with --device cuda one GPU each), as torchrun "
                        "--standalone --nproc_per_node K does, but a failed rank or Ctrl-C "
                        "ends with each rank's one line and no launcher traceback")
    p.add_argument("--tensorboard", default=None, metavar="DIR",
                   help="also write every epoch's metrics (accuracy, loss, learning rates, "
                        "per layer dead neurons, spike rate, thresholds) and per-layer "
                        "threshold histograms as TensorBoard events to folder DIR (made if "
                        "missing; rank 0 alone under torchrun); view with tensorboard "
                        "--logdir DIR")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


@entry("rouser-train")
def train_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..training.distributed import launch, launched, run_on_ranks

    if args.processes > 1:
        if launched():
            raise OptionError("--processes starts its own processes; under torchrun leave "
                              "it out")
        words = list(sys.argv[1:] if argv is None else argv)
        return launch(args.processes, RANK_CODE, [*words, "--processes", "1"])
    from ..training.trainrun import resume_run, train_run

    progress = not args.quiet
    if args.resume:  # every setting from the checkpoint, --epochs only if given
        run_on_ranks(args.device, lambda ranks: resume_run(args.out, args.epochs, progress,
                                                           ranks, args.tensorboard))
    else:
        settings = train_settings(args)
        if settings.init:
            from ..training.initcheck import DATA_FIXED, NETWORK_OPTIONS, check_init_options
            from ..training.presets import PRESETS

            names = NETWORK_OPTIONS + DATA_FIXED
            given = {k: getattr(args, k) for k in names if getattr(args, k) is not None}
            preset = {k: v for k, v in PRESETS.get(args.preset or "", {}).items()
                      if k in names}
            check_init_options(settings.init, given, preset, args.preset)
        run_on_ranks(args.device, lambda ranks: train_run(settings, args.out, progress,
                                                          ranks, args.overwrite,
                                                          args.tensorboard))
    return 0

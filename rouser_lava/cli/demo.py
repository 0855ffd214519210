"""``make demo``: train on built-in digits, export to netx, run torch and Lava, compare.

Trains as ``rouser-train --dataset digits --epochs 20 --lr 2e-3 --lr-threshold 2e-3
--deploy fold-exact`` (twice the built-in Adam learning rates; the forward pass is the
Loihi 2 fold export, so the deployed network is the trained one), which writes ``<out>/model.pt``,
``model.best.pt``, ``model.metrics.jsonl`` and ``model.ckpt.pt``; then exports
``<out>/net.net`` (fold thresholds), runs both, writes ``<out>/summary.json`` and
prints one table: accuracy per backend and per-layer spike counts side by side.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from ..backends.run import RunResult, netx_backend, run_backend, torch_backend
from ..data.dataset import load_digits
from ..deploy.export import export_model
from ..fileio import atomic_write
from ..model.modelfile import load_model
from ..netx.file import LAVA, read_netx
from .common import entry, lava_samples_value, positive_int
from .train import train_main

log = logging.getLogger(__name__)


def comparison_table(trained: RunResult, deployed: RunResult, trained_all: RunResult) -> str:
    """Accuracy per backend and per-layer spikes of two runs over the same samples."""
    assert trained.accuracy is not None and deployed.accuracy is not None and \
        trained_all.accuracy is not None  # the demo runs with labels
    lines = [
        f"{'':<26}{'torch (trained)':>17}{'lava (deployed)':>17}{'difference':>13}",
        f"{'samples':<26}{trained.samples:>17}{deployed.samples:>17}{'':>13}",
        f"{'accuracy':<26}{100 * trained.accuracy:>16.2f}%{100 * deployed.accuracy:>16.2f}%"
        f"{100 * (deployed.accuracy - trained.accuracy):>+11.2f}pp",
    ]
    for name, neurons, a, b in zip(trained.layer_names, trained.layer_neurons,
                                   trained.layer_spikes, deployed.layer_spikes):
        rel = (b - a) / a if a else 0.0
        lines.append(f"{f'{name} spikes ({neurons} n)':<26}{a:>17}{b:>17}"
                     f"{b - a:>+7} {100 * rel:>+4.1f}%")
    agree = float((trained.predictions == deployed.predictions).mean())
    lines.append(f"{'prediction agreement':<26}{100 * agree:>33.2f}%")
    if deployed.samples < trained_all.samples:
        lines.append(f"Lava ran the first {deployed.samples} of {trained_all.samples} test "
                     f"samples; torch on all: {100 * trained_all.accuracy:.2f}%")
    return "\n".join(lines)


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-demo`` (:func:`main` parses it)."""
    p = argparse.ArgumentParser(prog="rouser-demo", description=__doc__)
    p.add_argument("--out", default="export/demo", help="output folder")
    p.add_argument("--epochs", type=positive_int, default=20)
    p.add_argument("--lava-samples", type=lava_samples_value, default=None, metavar="N",
                   help="run Lava on the first N test samples only (default, or 'all': "
                        "all of them)")
    return p


@entry("rouser-demo")
def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    model, net_file = out / "model.pt", out / "net.net"

    log.info("== 1/3 train (Rouser thresholds, fold-exact, scikit-learn digits)")
    train_main(["--dataset", "digits", "--epochs", str(args.epochs), "--lr", "2e-3",
                "--lr-threshold", "2e-3", "--deploy", "fold-exact", "--out", str(model),
                "--overwrite"])
    log.info("== 2/3 export (fold thresholds into weights)")
    export_model(str(model), str(net_file), "fold")
    log.info("== 3/3 run trained model (torch) and deployed network (Lava fixed_pt)")
    net, record = load_model(model)
    data = load_digits(**record["dataset"]["encoding"])
    trained_all = run_backend("torch", torch_backend(net), data.x_test, data.y_test, 128)
    n = len(data.x_test) if args.lava_samples is None else args.lava_samples
    lava, batch = netx_backend("lava", read_netx(str(net_file), reader=LAVA))
    deployed = run_backend("lava", lava, data.x_test[:n], data.y_test[:n], batch)
    trained = trained_all if n >= len(data.x_test) else run_backend(
        "torch", torch_backend(net), data.x_test[:n], data.y_test[:n], 128)
    table = comparison_table(trained, deployed, trained_all)
    print("\n" + table)
    summary = {"torch": trained_all.to_json(), "torch_same_samples": trained.to_json(),
               "lava": deployed.to_json()}
    atomic_write(out / "summary.json",
                 lambda tmp: Path(tmp).write_text(json.dumps(summary, indent=1)))
    log.info("wrote %s", out / "summary.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

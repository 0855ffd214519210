"""``rouser-data``: inspect datasets and their folders."""

from __future__ import annotations

import argparse
import logging

import numpy as np

from ..errors import UserError
from .common import add_data_options, data_options, entry, positive_int

log = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    """The command line of ``rouser-data`` (:func:`data_main` parses it)."""
    p = argparse.ArgumentParser(
        prog="rouser-data",
        description="Inspect datasets. 'info' checks an event dataset folder against the "
                    "authors' release layout (naming exactly what is missing) and prints "
                    "samples per split and class, event statistics and the binned shape.")
    sub = p.add_subparsers(dest="command", required=True)
    info = sub.add_parser("info", help="describe a dataset folder")
    add_data_options(info)
    info.add_argument("--limit", type=positive_int, default=None,
                      help="read only the first N files of each split")
    return p


@entry("rouser-data")
def data_main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)

    from ..data.event_data import describe, make_spec
    from ..data.registry import ON_DISK, load_dataset

    name = args.dataset or "digits"
    if name not in ON_DISK:
        data = load_dataset(name, **data_options(args))
        every = [("train", data.y_train), ("validation", data.y_val), ("test", data.y_test)]
        splits = [(split, y) for split, y in every if y is not None]
        print(f"{name}: built in; " + " / ".join(f"{len(y)} {split}" for split, y in splits)
              + f" samples, {data.num_classes} classes, sample shape "
              f"{(*data.input_shape, data.time_steps)}")
        v = data.validation
        print("validation: " + (f"{v['size']} samples carved from the training data "
                                f"({100 * v['fraction']:g} % of each class, seed {v['seed']}"
                                f"); best models are picked on it, never on test"
                                if v.get("source") == "carved" else "the dataset's own split"))
        for split, y in splits:
            counts = np.bincount(y, minlength=data.num_classes)
            print(f"{split} per class: " + " ".join(f"{c}:{n}" for c, n in enumerate(counts)))
        return 0
    spec = make_spec(name, args.time_steps, args.bin_ms, args.polarity, args.downsample)
    if args.data_root is None:
        raise UserError(f"dataset '{name}' is read from disk: give --data-root DIR")
    text, bad = describe(name, args.data_root, spec, args.limit)
    print(text)
    if bad and args.skip_bad:  # as training would: reported and left out
        log.warning("%d unreadable file(s) left out (--skip-bad), as training leaves them "
                    "out; first: %s", len(bad), bad[0])
    elif bad:
        raise UserError(f"{args.data_root}: {len(bad)} unreadable file(s); first: {bad[0]} "
                        f"(--skip-bad leaves such files out)")
    return 0

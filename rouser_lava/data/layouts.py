"""Where each event dataset keeps its files, checked before anything is read.

``find_items(name, root)`` checks a folder against the authors' release layout and
lists, per split, the *items* to read (a file, or a recording with its labels); a
wrong folder raises :class:`UserError` naming exactly what is missing.
``read_item`` turns one item into samples: events with times relative to the
sample's start, checked against the sensor.

- ``nmnist``: ``Train/<digit>/*.bin`` and ``Test/<digit>/*.bin``, digits 0-9.
- ``shd``: ``shd_train.h5`` and ``shd_test.h5``.
- ``dvs128``: the original ``DvsGesture`` release (``trials_to_train.txt``,
  ``trials_to_test.txt`` naming ``userNN_<lighting>.aedat`` recordings, each with
  ``userNN_<lighting>_labels.csv``), at the root or in ``DvsGesture/``; or tonic's
  converted ``ibmGestureTrain/userNN_<lighting>/<label>.npy`` and ``ibmGestureTest/``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError, param
from .events import (
    check_sensor,
    read_aedat31,
    read_gesture_labels,
    read_nmnist_bin,
    read_shd,
    read_tonic_npy,
)


@dataclass(frozen=True)
class Sensor:
    """Input geometry: ``height == 0`` means audio channels (``width`` of them)."""

    width: int
    height: int
    polarities: int
    classes: int


SENSORS = {"nmnist": Sensor(34, 34, 2, 10), "dvs128": Sensor(128, 128, 2, 11),
           "shd": Sensor(700, 0, 1, 20)}
SPLITS = ("train", "test")


@dataclass(frozen=True)
class Item:
    """One unit of reading: ``path`` (and for DVS recordings ``labels``), ``label``
    when the layout gives it (-1 when the file holds its own labels)."""

    path: Path
    label: int = -1
    labels: Path | None = None


def _missing(root: Path, missing: list[str], what: str) -> None:
    if missing:
        shown = ", ".join(missing[:6]) + (f" and {len(missing) - 6} more"
                                          if len(missing) > 6 else "")
        raise UserError(f"{root}: not the {what} layout; missing {shown}")


def _nmnist(root: Path) -> tuple[str, dict[str, list[Item]]]:
    items: dict[str, list[Item]] = {}
    missing: list[str] = []
    for split, folder in zip(SPLITS, ("Train", "Test")):
        if not (root / folder).is_dir():
            missing.append(f"{folder}/")
            continue
        items[split] = []
        for digit in range(10):
            files = sorted((root / folder / str(digit)).glob("*.bin"))
            if not files:
                missing.append(f"{folder}/{digit}/*.bin")
            items[split] += [Item(f, digit) for f in files]
    _missing(root, missing, "N-MNIST (Train/<digit>/*.bin, Test/<digit>/*.bin)")
    return "N-MNIST release", items


def _shd(root: Path) -> tuple[str, dict[str, list[Item]]]:
    missing = []
    for split in SPLITS:
        name = f"shd_{split}.h5"
        if not (root / name).is_file():
            gz = " (found .gz: decompress it with gunzip)" if (root / f"{name}.gz").is_file() \
                else ""
            missing.append(name + gz)
    _missing(root, missing, "SHD (shd_train.h5, shd_test.h5)")
    return "SHD release", {split: [Item(root / f"shd_{split}.h5")] for split in SPLITS}


def _dvs128(root: Path) -> tuple[str, dict[str, list[Item]]]:
    base = root / "DvsGesture" if (root / "DvsGesture").is_dir() else root
    if (base / "trials_to_train.txt").exists() or (base / "trials_to_test.txt").exists():
        items: dict[str, list[Item]] = {}
        missing: list[str] = []
        for split in SPLITS:
            listing = base / f"trials_to_{split}.txt"
            if not listing.is_file():
                missing.append(listing.name)
                continue
            items[split] = []
            for name in listing.read_text().split():
                aedat = base / name
                labels = base / (aedat.stem + "_labels.csv")
                missing += [p.name for p in (aedat, labels) if not p.is_file()]
                items[split].append(Item(aedat, labels=labels))
        _missing(root, missing, "DVS128 Gesture (original release)")
        return "DVS128 Gesture original release (AEDAT 3.1)", items
    if (root / "ibmGestureTrain").is_dir() or (root / "ibmGestureTest").is_dir():
        items, missing = {}, []
        for split, folder in zip(SPLITS, ("ibmGestureTrain", "ibmGestureTest")):
            files = sorted((root / folder).glob("user*/*.npy"))
            if not files:
                missing.append(f"{folder}/userNN_<lighting>/<label>.npy")
            try:
                items[split] = [Item(f, int(f.stem)) for f in files]
            except ValueError:
                raise UserError(f"{root / folder}: .npy names must be class numbers "
                                f"(tonic's layout)") from None
        _missing(root, missing, "DVS128 Gesture (tonic)")
        return "DVS128 Gesture, tonic's converted layout (.npy)", items
    raise UserError(f"{root}: not a DVS128 Gesture folder; expected trials_to_train.txt, "
                    f"trials_to_test.txt and userNN_<lighting>.aedat with _labels.csv "
                    f"(original release, also under DvsGesture/), or ibmGestureTrain/ and "
                    f"ibmGestureTest/ (tonic)")


FINDERS = {"nmnist": _nmnist, "shd": _shd, "dvs128": _dvs128}


def find_items(name: str, root: str | Path | None) -> tuple[str, dict[str, list[Item]]]:
    """Check ``root`` and list its items per split; returns (layout description, items)."""
    if root is None:
        raise UserError(f"dataset '{name}' is read from disk: give {param('data_root')} DIR")
    root = Path(root)
    if not root.is_dir():
        raise UserError(f"{root}: {param('data_root')} folder does not exist")
    layout, items = FINDERS[name](root)
    for split in items.values():
        for path in (p for item in split for p in (item.path, item.labels) if p is not None):
            if path.is_dir():
                raise UserError(f"{path}: is a folder where {layout} has a file")
            if not path.is_file():
                raise UserError(f"{path}: " + (f"a symbolic link to '{os.readlink(path)}', "
                                               f"which does not exist" if path.is_symlink()
                                               else "no such file"))
    return layout, items


def read_item(name: str, item: Item) -> list[tuple[np.ndarray, int, str]]:
    """Samples of one item: ``(events, label, where)``, times relative to the start."""
    sensor = SENSORS[name]
    out = []
    if name == "shd":
        samples, labels = read_shd(item.path)
        for i, (events, label) in enumerate(zip(samples, labels)):
            out.append((events, int(label), f"{item.path} sample {i}"))
    elif item.labels is not None:  # DVS recording with its gestures
        events = read_aedat31(item.path)
        if not len(events):
            raise UserError(f"{item.path}: a recording with no polarity events")
        for label, start, stop in read_gesture_labels(item.labels, events):
            part = events[(events["t"] >= start) & (events["t"] < stop)]
            part["t"] -= start
            out.append((part, label, f"{item.path} gesture {label + 1} at {start} us"))
    else:
        events = read_nmnist_bin(item.path) if name == "nmnist" else read_tonic_npy(item.path)
        if name == "dvs128" and len(events):
            events["t"] -= events["t"].min()
        if name == "dvs128" and not len(events):  # an N-MNIST file may be empty: no spikes
            raise UserError(f"{item.path}: a recording with no events")
        out.append((events, item.label, str(item.path)))
    for events, label, where in out:
        check_sensor(events, sensor.width, max(sensor.height, 1), where)
        if not 0 <= label < sensor.classes:
            raise UserError(f"{where}: label {label} outside 0..{sensor.classes - 1}")
    return out

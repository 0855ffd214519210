"""Writers of small files in the exact formats the dataset authors released
(DATA-FORMATS.md), independent of the readers under test."""

from __future__ import annotations

import struct
from pathlib import Path

import h5py
import numpy as np


def random_events(rng, n: int, width: int, height: int, duration_us: int) -> dict:
    """Columns x, y, p, t (t sorted, int64 us)."""
    return {"x": rng.integers(0, width, n), "y": rng.integers(0, height, n),
            "p": rng.integers(0, 2, n), "t": np.sort(rng.integers(0, duration_us, n))}


def nmnist_bytes(ev: dict) -> bytes:
    out = bytearray()
    for x, y, p, t in zip(ev["x"], ev["y"], ev["p"], ev["t"]):
        out += bytes([int(x), int(y), (int(p) << 7) | (int(t) >> 16) & 0x7F,
                      (int(t) >> 8) & 0xFF, int(t) & 0xFF])
    return bytes(out)


def write_nmnist_folder(root: Path, per_class: int, seed: int = 0,
                        events: int = 300) -> dict:
    """``Train/<d>/*.bin`` and ``Test/<d>/*.bin``; each digit lights its own rows, so
    the classes are learnable. Returns {relative path: events}."""
    rng = np.random.default_rng(seed)
    written = {}
    for folder in ("Train", "Test"):
        for digit in range(10):
            (root / folder / str(digit)).mkdir(parents=True)
            for i in range(per_class):
                ev = random_events(rng, events, 34, 3, 300_000)
                ev["y"] = ev["y"] + 3 * digit  # rows 3d .. 3d+2
                rel = f"{folder}/{digit}/{i:05d}.bin"
                (root / rel).write_bytes(nmnist_bytes(ev))
                written[rel] = ev
    return written


def aedat_bytes(ev: dict, packets: int = 2, overflow: int = 0) -> bytes:
    """AEDAT 3.1: header lines, then polarity packets (28-byte header + 8-byte events)."""
    out = bytearray(b"#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n")
    n = len(ev["t"])
    for part in np.array_split(np.arange(n), packets):
        out += struct.pack("<hhiiiiii", 1, 1, 8, 4, overflow, len(part), len(part), len(part))
        for i in part:
            data = (int(ev["x"][i]) << 17) | (int(ev["y"][i]) << 2) | (int(ev["p"][i]) << 1) | 1
            out += struct.pack("<II", data, int(ev["t"][i]) & 0xFFFFFFFF)
    return bytes(out)


def write_dvs_original(root: Path, users: dict[str, str], seed: int = 0) -> dict:
    """``userNN_<lighting>.aedat`` + ``_labels.csv`` with 3 gestures each, and the trial
    lists; ``users`` maps recording stem to split. Returns {stem: (events, rows)}."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written, lists = {}, {"train": [], "test": []}
    for stem, split in users.items():
        ev = random_events(rng, 3000, 128, 128, 3_000_000)
        ev["t"] = ev["t"] + 1_000_000
        rows = [(1 + (k * 4 + len(written)) % 11, 1_100_000 + k * 900_000,
                 1_900_000 + k * 900_000) for k in range(3)]
        (root / f"{stem}.aedat").write_bytes(aedat_bytes(ev))
        (root / f"{stem}_labels.csv").write_text(
            "class,startTime_usec,endTime_usec\n" + "".join(f"{c},{a},{b}\n" for c, a, b in rows))
        lists[split].append(f"{stem}.aedat")
        written[stem] = (ev, rows)
    for split, names in lists.items():
        (root / f"trials_to_{split}.txt").write_text("\n".join(names) + "\n")
    return written


def write_dvs_tonic(root: Path, seed: int = 0) -> dict:
    """``ibmGesture{Train,Test}/userNN_<lighting>/<label>.npy``, [x, y, p, t ms]."""
    rng = np.random.default_rng(seed)
    written = {}
    for folder, user in (("ibmGestureTrain", "user01_led"), ("ibmGestureTest", "user24_led")):
        (root / folder / user).mkdir(parents=True)
        for label in (0, 5, 10):
            ev = random_events(rng, 500, 128, 128, 1_500_000)
            t_ms = ev["t"] // 1000
            arr = np.stack([ev["x"], ev["y"], ev["p"], t_ms], axis=1).astype(np.int64)
            np.save(root / folder / user / f"{label}.npy", arr)
            written[f"{folder}/{user}/{label}.npy"] = arr
    return written


def write_shd(path: Path, samples: list[tuple[np.ndarray, np.ndarray]],
              labels: list[int]) -> None:
    """SHD HDF5: ragged /spikes/times (float s) and /spikes/units, /labels, /extra."""
    with h5py.File(path, "w") as f:
        times = f.create_dataset("spikes/times", (len(samples),),
                                 dtype=h5py.vlen_dtype(np.float32))
        units = f.create_dataset("spikes/units", (len(samples),),
                                 dtype=h5py.vlen_dtype(np.uint16))
        for i, (t, u) in enumerate(samples):
            times[i], units[i] = t.astype(np.float32), u.astype(np.uint16)
        f.create_dataset("labels", data=np.asarray(labels, np.uint16))
        f.create_dataset("extra/speaker", data=np.zeros(len(samples), np.uint16))
        f.create_dataset("extra/keys", data=np.array([b"zero", b"one"]))


def write_shd_folder(root: Path, per_split: int = 6, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    written = {}
    for split in ("train", "test"):
        samples = []
        for _ in range(per_split):
            n = int(rng.integers(50, 200))
            samples.append((np.sort(rng.random(n) * 0.9), rng.integers(0, 700, n)))
        labels = [int(v) for v in rng.integers(0, 20, per_split)]
        write_shd(root / f"shd_{split}.h5", samples, labels)
        written[split] = (samples, labels)
    return written

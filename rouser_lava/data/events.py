"""Readers for event files as their authors released them (see DATA-FORMATS.md).

Every reader returns events as a structured array of ``EVENT_DTYPE`` (``x``, ``y``,
polarity ``p``, time ``t`` in microseconds), in file order. Audio spikes (SHD) use
``x`` for the channel and ``y = p = 0``. A malformed file raises :class:`UserError`
naming the file and the problem; nothing is silently dropped.

Own NumPy readers rather than tonic's: tonic's dataset classes insist on an
md5-checked full download, and its N-MNIST reader accepts a truncated file.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from ..errors import UserError
from ..resources import require_npy_fits

EVENT_DTYPE = np.dtype([("x", np.int32), ("y", np.int32), ("p", np.int8), ("t", np.int64)])
NMNIST_OVERFLOW_Y = 240  # N-MNIST timestamp-overflow marker (adds 2**13 us), as tonic
AEDAT_MAGIC, AEDAT_END = b"#!AER-DAT3.1", b"#!END-HEADER\r\n"
AEDAT_PACKET = struct.Struct("<hhiiiiii")  # type, source, size, offset, overflow, cap, n, valid
AEDAT_POLARITY = 1  # packet type of polarity events


def make_events(x, y, p, t) -> np.ndarray:
    """Structured ``EVENT_DTYPE`` array ``(E,)`` from four equal-length columns."""
    events = np.empty(len(t), dtype=EVENT_DTYPE)
    events["x"], events["y"], events["p"], events["t"] = x, y, p, t
    return events


def read_nmnist_bin(path: str | Path) -> np.ndarray:
    """N-MNIST ``.bin``: 5-byte events ``x, y, p<<7 | t[22:16], t[15:8], t[7:0]``."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise UserError(f"{path}: truncated N-MNIST file ({raw.size} bytes is not a "
                        f"whole number of 5-byte events)")
    ev = raw.reshape(-1, 5).astype(np.int64)
    t = ((ev[:, 2] & 0x7F) << 16) | (ev[:, 3] << 8) | ev[:, 4]
    overflow = ev[:, 1] == NMNIST_OVERFLOW_Y
    t += np.cumsum(overflow) << 13
    keep = ~overflow
    return make_events(ev[keep, 0], ev[keep, 1], ev[keep, 2] >> 7, t[keep])


def read_aedat31(path: str | Path) -> np.ndarray:
    """AEDAT 3.1 recording (DVS128 Gesture): polarity events of every packet."""
    data = Path(path).read_bytes()
    if not data.startswith(AEDAT_MAGIC):
        raise UserError(f"{path}: bad AEDAT header (expected the file to start with "
                        f"{AEDAT_MAGIC.decode()})")
    end = data.find(AEDAT_END)
    if end < 0:
        raise UserError(f"{path}: bad AEDAT header (no #!END-HEADER line)")
    pos, parts = end + len(AEDAT_END), []
    while pos < len(data):
        if pos + AEDAT_PACKET.size > len(data):
            raise UserError(f"{path}: truncated AEDAT packet header at byte {pos}")
        kind, _, size, _, overflow, _, number, _ = AEDAT_PACKET.unpack_from(data, pos)
        pos += AEDAT_PACKET.size
        if size <= 0 or number < 0 or pos + size * number > len(data):
            raise UserError(f"{path}: truncated or corrupt AEDAT packet at byte "
                            f"{pos - AEDAT_PACKET.size} ({number} events of {size} bytes)")
        if kind == AEDAT_POLARITY:
            if size != 8:
                raise UserError(f"{path}: polarity events of {size} bytes (expected 8)")
            words = np.frombuffer(data, "<u4", count=2 * number, offset=pos).reshape(-1, 2)
            d, ts = words[:, 0].astype(np.int64), words[:, 1].astype(np.int64)
            parts.append(make_events((d >> 17) & 0x7FFF, (d >> 2) & 0x7FFF, (d >> 1) & 1,
                                     ts | (int(overflow) << 31)))
        pos += size * number
    return np.concatenate(parts) if parts else np.empty(0, EVENT_DTYPE)


def read_gesture_labels(path: str | Path, events: np.ndarray) -> list[tuple[int, int, int]]:
    """``userNN_<lighting>_labels.csv``: ``(class 0..10, start_us, end_us)`` per gesture.

    Each interval must lie within the recording's events (1 s of slack each side).
    """
    try:
        lines = Path(path).read_text().split()
        rows = [tuple(int(float(v)) for v in line.split(",")) for line in lines[1:]]
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable labels CSV ({err})") from None
    first, last = (int(events["t"].min()), int(events["t"].max())) if len(events) else (0, 0)
    out = []
    for i, row in enumerate(rows, start=2):
        if len(row) != 3 or not 1 <= row[0] <= 11:
            raise UserError(f"{path}: line {i} is not 'class,startTime_usec,endTime_usec' "
                            f"with class 1..11")
        label, start, stop = row
        if not (first - 1_000_000 <= start < stop <= last + 1_000_000):
            raise UserError(f"{path}: line {i}: gesture {start}..{stop} us does not fit the "
                            f"recording ({first}..{last} us)")
        out.append((label - 1, start, stop))
    return out


def read_tonic_npy(path: str | Path) -> np.ndarray:
    """tonic's converted DVS128 Gesture sample: ``(E, 4)`` ``[x, y, p, t]``, ``t`` in ms
    (tonic multiplies it by 1000 on reading)."""
    require_npy_fits(path, "the DVS128 sample")
    try:
        arr = np.load(path)
    except (OSError, ValueError) as err:
        raise UserError(f"{path}: unreadable .npy ({err})") from None
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise UserError(f"{path}: expected an (N, 4) [x, y, p, t] array, got {arr.shape}")
    return make_events(arr[:, 0], arr[:, 1], arr[:, 2], np.rint(arr[:, 3] * 1000))


def read_shd(path: str | Path) -> tuple[list[np.ndarray], np.ndarray]:
    """SHD ``shd_{train,test}.h5``: events per sample (channel in ``x``) and int64 labels.

    The file must hold, per sample, one variable-length array of spike times in seconds
    (``/spikes/times``) and one of integer channels (``/spikes/units``), and one integer
    label (``/labels``); every other type or shape is refused before use.
    """
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise UserError(f"{path}: not a readable HDF5 file ({err})") from None
    with f:
        for key in ("spikes", "spikes/times", "spikes/units", "labels"):
            if key not in f or key != "spikes" and not isinstance(f[key], h5py.Dataset):
                raise UserError(f"{path}: no /{key} in the HDF5 file (not an SHD file)")
        for key in ("spikes/times", "spikes/units"):
            item = f[key]
            if item.ndim != 1 or h5py.check_vlen_dtype(item.dtype) is None:
                raise UserError(f"{path}: /{key} of shape {item.shape} and type {item.dtype}: "
                                f"expected one variable-length array per sample (SHD's "
                                f"layout)")
        labels = f["labels"]
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise UserError(f"{path}: /labels of shape {labels.shape} and type "
                            f"{labels.dtype}: expected one integer label per sample")
        times, units = f["spikes/times"][()], f["spikes/units"][()]
        labels = np.asarray(labels[()], dtype=np.int64)
    if not len(times) == len(units) == len(labels):
        raise UserError(f"{path}: {len(times)} spike-time arrays, {len(units)} unit arrays "
                        f"and {len(labels)} labels (must be equal)")
    samples = []
    for i, (t, u) in enumerate(zip(times, units)):
        if len(t) != len(u):
            raise UserError(f"{path}: sample {i} has {len(t)} times but {len(u)} units")
        if t.dtype.kind not in "iuf" or u.dtype.kind not in "iu" or \
                not np.all(np.isfinite(t)):
            raise UserError(f"{path}: sample {i}: times of type {t.dtype} and units of type "
                            f"{u.dtype}: expected finite seconds and integer channels")
        samples.append(make_events(u, 0, 0, np.rint(np.asarray(t, np.float64) * 1e6)))
    return samples, labels


def check_sensor(events: np.ndarray, width: int, height: int, where: str) -> None:
    """Raise if any event lies outside a ``width x height`` sensor (or before t = 0)."""
    if not len(events):
        return
    bad = ((events["x"] < 0) | (events["x"] >= width) | (events["y"] < 0)
           | (events["y"] >= height))
    if bad.any():
        e = events[np.argmax(bad)]
        raise UserError(f"{where}: event at x={e['x']}, y={e['y']} outside the "
                        f"{width}x{height} sensor ({int(bad.sum())} such events)")
    if events["t"].min() < 0:
        raise UserError(f"{where}: negative event time {events['t'].min()} us")

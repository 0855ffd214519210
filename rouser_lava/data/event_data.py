"""Event datasets (N-MNIST, SHD, DVS128 Gesture) read from disk, binned and cached.

Default binning (``DEFAULT_BINNING``): N-MNIST 300 bins of 1 ms (the Rouser setup,
the whole ~300 ms sample); DVS128 Gesture 300 bins of 5 ms (the first 1.5 s of each
gesture), full 128 x 128 resolution (``downsample=4`` gives 32 x 32 for small
machines); SHD 100 bins of 10 ms (the first second). Polarities are kept as two
channels unless ``polarity="merge"``.

Binned samples are cached in ``cache_dir`` (default ``$XDG_CACHE_HOME/rouser-lava``,
else ``~/.cache/rouser-lava``) under a key made of the dataset, the binning settings,
``skip_bad`` and every source file's path, size and modification time; change any
of them and the cache is rebuilt (with a progress bar). A sample that cannot be read
stops the build with an error naming it, unless ``skip_bad`` is set: then it is
reported and left out.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import UserError, param
from ..fileio import atomic_write, check_output_dir
from .binning import BinSpec, SparseSpikes, bin_indices
from .dataset import VALIDATION_FRACTION, VALIDATION_SEED, SpikeDataset, validation_indices
from .layouts import SENSORS, SPLITS, find_items, read_item

log = logging.getLogger(__name__)
CACHE_VERSION = 1
MIN_PIXELS = 4  # a downsampled sensor keeps at least this many pixels a side
DEFAULT_BINNING = {"nmnist": BinSpec(1000, 300), "dvs128": BinSpec(5000, 300),
                   "shd": BinSpec(10000, 100)}


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "rouser-lava"


def _cache_key(name: str, spec: BinSpec, items: dict, skip_bad: bool) -> str:
    files = sorted({str(p) for split in items.values() for it in split
                    for p in (it.path, it.labels) if p is not None})
    stats = [(f, st.st_size, st.st_mtime_ns) for f, st in ((f, os.stat(f)) for f in files)]
    blob = json.dumps([CACHE_VERSION, name, spec.as_dict(), skip_bad, stats])
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _bin_split(name: str, spec: BinSpec, items: list, skip_bad: bool, desc: str):
    sensor = SENSORS[name]
    indptr, chunks, labels, bad = [0], [], [], []
    for item in tqdm(items, desc=desc, unit="file", disable=None, leave=False):
        try:
            samples = read_item(name, item)
        except UserError as err:
            if not skip_bad:
                raise UserError(f"{err} (use {param('skip_bad')} to leave such samples out)") \
                    from None
            log.warning("skipped: %s", err)
            bad.append(str(err))
            continue
        for events, label, _ in samples:
            idx = bin_indices(events, spec, sensor.width, sensor.height)
            chunks.append(idx)
            indptr.append(indptr[-1] + len(idx))
            labels.append(label)
    indices = np.concatenate(chunks) if chunks else np.zeros(0, np.int32)
    return np.asarray(indptr, np.int64), indices, np.asarray(labels, np.int64), bad


def make_spec(name: str, time_steps: int | None = None, bin_ms: float | None = None,
              polarity: str | None = None, downsample: int | None = None) -> BinSpec:
    """Binning settings, ``None`` meaning the dataset's default; checked."""
    default = DEFAULT_BINNING[name]
    polarity, downsample = polarity or "split", downsample or 1
    if polarity not in ("split", "merge"):
        raise UserError(f"unknown polarity handling '{polarity}' (split or merge)")
    sensor = SENSORS[name]
    most = max(1, min(sensor.width, sensor.height) // MIN_PIXELS)
    if not 1 <= downsample <= most:
        raise UserError(f"{param('downsample')} {downsample}: expected 1..{most} for {name} "
                        + (f"(a {sensor.width}x{sensor.height} sensor; at least "
                           f"{MIN_PIXELS}x{MIN_PIXELS} pixels must remain)" if most > 1
                           else "(audio channels are not downsampled)"))
    spec = BinSpec(int(round(bin_ms * 1000)) if bin_ms else default.bin_us,
                   time_steps or default.bins, polarity, downsample)
    if spec.bin_us <= 0 or spec.bins <= 0:
        raise UserError(f"bins must be at least 1 us wide and 1 or more, got {bin_ms} ms "
                        f"x {time_steps}")
    return spec


def _read_cache(path: Path) -> dict | None:
    """The cached arrays, or None when there is no cache file or it cannot be read (it
    is then rebuilt; writes are atomic, so only an outside change breaks one)."""
    if not path.is_file():
        return None
    try:
        with np.load(path) as z:
            arrays = {k: z[k] for k in z.files}
        json.loads(str(arrays["bad"]))
        return arrays
    except Exception as err:  # np.load raises many types on damaged archives
        log.warning("%s: unreadable cache file (%s); rebuilding it", path,
                    str(err).splitlines()[0][:80] if str(err) else type(err).__name__)
        return None


def load_event_dataset(name: str, data_root: str | None = None, time_steps: int | None = None,
                       bin_ms: float | None = None, polarity: str | None = None,
                       downsample: int | None = None, cache_dir: str | None = None,
                       skip_bad: bool = False) -> SpikeDataset:
    """Binned spikes of an event dataset on disk, from the cache when it is current.

    ``time_steps`` and ``bin_ms`` default to ``DEFAULT_BINNING``; the returned
    dataset's ``x_train``/``x_test`` are :class:`SparseSpikes` ``(N, *shape, T)``.
    """
    spec = make_spec(name, time_steps, bin_ms, polarity, downsample)
    layout, items = find_items(name, data_root)
    assert data_root is not None  # find_items refuses None
    cache = check_output_dir(cache_dir if cache_dir else default_cache_dir())
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{name}-{_cache_key(name, spec, items, skip_bad)}.npz"
    arrays = _read_cache(path)
    if arrays is None:
        arrays, bad = {}, []
        for split in SPLITS:
            indptr, indices, labels, split_bad = _bin_split(
                name, spec, items[split], skip_bad, f"binning {name} {split}")
            if not len(labels):
                raise UserError(f"{data_root}: no readable {split} samples")
            arrays.update({f"{split}_indptr": indptr, f"{split}_indices": indices,
                           f"{split}_labels": labels})
            bad += split_bad
        arrays["bad"] = np.array(json.dumps(bad))

        def write(tmp: str) -> None:
            with open(tmp, "wb") as f:  # a file object: np.savez adds no suffix
                np.savez(f, **arrays)

        atomic_write(path, write)
        log.info("cached binned %s in %s", name, path)
    skipped = json.loads(str(arrays["bad"]))
    if skipped:
        log.warning("%d %s file(s) skipped as unreadable (%s)", len(skipped), name,
                    param("skip_bad"))
    sensor = SENSORS[name]
    shape = spec.shape(sensor.width, sensor.height, sensor.polarities)

    def spikes(s: str) -> SparseSpikes:
        return SparseSpikes(arrays[f"{s}_indptr"], arrays[f"{s}_indices"], shape, spec.bins)

    log.info("%s: %s in %s, %d train / %d test samples, binned %s", name, layout, data_root,
             len(arrays["train_labels"]), len(arrays["test_labels"]), (*shape, spec.bins))
    # SparseSpikes stands in for the dense arrays SpikeDataset is annotated with (len,
    # shape, indexing, np.asarray); the run_backend and training signatures say ndarray too.
    return SpikeDataset(
        name=name, x_train=spikes("train"),  # type: ignore[arg-type]
        y_train=arrays["train_labels"], x_test=spikes("test"),  # type: ignore[arg-type]
        y_test=arrays["test_labels"], num_classes=sensor.classes,
        encoding={"data_root": str(Path(data_root).resolve()), "time_steps": spec.bins,
                  "bin_ms": spec.bin_us / 1000, "polarity": spec.polarity,
                  "downsample": spec.downsample, "skip_bad": skip_bad})


def describe(name: str, data_root: str, spec: BinSpec | None = None,
             limit: int | None = None) -> tuple[str, list[str]]:
    """Check an event dataset folder and summarise it: per split, samples per class,
    events per sample, duration, polarity balance, and the binned shape.

    Returns the text and the list of unreadable items (each an error message).
    """
    sensor = SENSORS[name]
    spec = spec or DEFAULT_BINNING[name]
    layout, items = find_items(name, data_root)
    shape = (*spec.shape(sensor.width, sensor.height, sensor.polarities), spec.bins)
    lines = [f"{name}: {layout} in {data_root}",
             f"sensor {sensor.width}x{sensor.height}" if sensor.height else
             f"{sensor.width} channels", f"binned sample shape {shape} "
             f"({spec.bins} bins of {spec.bin_us / 1000:g} ms, polarity {spec.polarity}, "
             f"downsample {spec.downsample})"]
    bad = []
    for split in SPLITS:
        chosen = items[split][:limit]
        labels, counts, durations, on, kept = [], [], [], [], []
        for item in tqdm(chosen, desc=f"reading {split}", unit="file", disable=None,
                         leave=False):
            try:
                samples = read_item(name, item)
            except UserError as err:
                bad.append(str(err))
                continue
            for events, label, _ in samples:
                labels.append(label)
                counts.append(len(events))
                durations.append(events["t"].max() / 1000 if len(events) else 0.0)
                on.append(events["p"].mean() if len(events) else 0.0)
                kept.append(len(bin_indices(events, spec, sensor.width, sensor.height)))
        shown = f" (first {len(chosen)} of {len(items[split])} files)" \
            if len(chosen) < len(items[split]) else ""
        per_class = np.bincount(np.asarray(labels, np.int64), minlength=sensor.classes)
        lines.append(f"{split}: {len(labels)} samples from {len(chosen)} files{shown}")
        lines.append("  per class: " + " ".join(f"{c}:{n}" for c, n in enumerate(per_class)))
        if split == "train" and labels:
            held = len(validation_indices(np.asarray(labels, np.int64)))
            lines.append(f"  validation: {held} of these held out for picking the best "
                         f"epoch ({100 * VALIDATION_FRACTION:g} % of each class, seed "
                         f"{VALIDATION_SEED}; the test split is never used to choose)")
        if labels:
            c, d = np.asarray(counts), np.asarray(durations)
            lines.append(f"  events/sample: mean {c.mean():.0f}, min {c.min()}, max {c.max()}"
                         f"; duration ms: mean {d.mean():.1f}, max {d.max():.1f}")
            lines.append(f"  ON-polarity fraction {np.mean(on):.3f}; spikes/sample after "
                         f"binning: mean {np.mean(kept):.0f} "
                         f"({100 * np.mean(kept) / np.prod(shape):.2f} % of slots)")
    if bad:
        lines.append(f"unreadable: {len(bad)} file(s), first: {bad[0]}")
    return "\n".join(lines), bad

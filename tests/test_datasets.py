"""Readers recover what fixtures wrote in each original format; binning, the cache,
Yin-Yang, and ``rouser-data info`` on each layout."""

import numpy as np
import pytest

from rouser_lava.cli import data_main
from rouser_lava.data.binning import BinSpec, SparseSpikes, bin_indices, to_dense
from rouser_lava.data.dataset import load_digits, validation_indices
from rouser_lava.data.event_data import load_event_dataset
from rouser_lava.data.events import (
    make_events,
    read_aedat31,
    read_gesture_labels,
    read_nmnist_bin,
    read_shd,
    read_tonic_npy,
)
from rouser_lava.data.registry import load_dataset
from rouser_lava.data.yinyang import load_yinyang, yinyang_points

from .event_files import (
    aedat_bytes,
    nmnist_bytes,
    write_dvs_original,
    write_dvs_tonic,
    write_nmnist_folder,
    write_shd_folder,
)


def same(events, ev: dict) -> bool:
    return all(np.array_equal(events[k], np.asarray(ev[k])) for k in "xypt")


def test_nmnist_reader_recovers_events(tmp_path):
    written = write_nmnist_folder(tmp_path, per_class=1)
    for rel, ev in written.items():
        assert same(read_nmnist_bin(tmp_path / rel), ev)
    # an overflow marker (y = 240) adds 2**13 us to every later event and is dropped
    ev = {"x": [1, 0, 2], "y": [2, 240, 3], "p": [1, 0, 0], "t": [10, 0, 20]}
    path = tmp_path / "ovf.bin"
    path.write_bytes(nmnist_bytes(ev))
    got = read_nmnist_bin(path)
    assert got["x"].tolist() == [1, 2] and got["t"].tolist() == [10, 20 + 2 ** 13]


def test_aedat_reader_and_gesture_labels(tmp_path):
    written = write_dvs_original(tmp_path, {"user01_led": "train"})
    ev, rows = written["user01_led"]
    events = read_aedat31(tmp_path / "user01_led.aedat")
    assert same(events, ev)
    labels = read_gesture_labels(tmp_path / "user01_led_labels.csv", events)
    assert labels == [(c - 1, a, b) for c, a, b in rows]
    (tmp_path / "ovf.aedat").write_bytes(aedat_bytes(ev, packets=1, overflow=1))
    assert np.array_equal(read_aedat31(tmp_path / "ovf.aedat")["t"], ev["t"] + 2 ** 31)


def test_tonic_and_shd_readers(tmp_path):
    written = write_dvs_tonic(tmp_path)
    for rel, arr in written.items():
        got = read_tonic_npy(tmp_path / rel)
        assert np.array_equal(got["x"], arr[:, 0]) and np.array_equal(got["t"], arr[:, 3] * 1000)
    shd = write_shd_folder(tmp_path / "shd")
    samples, labels = read_shd(tmp_path / "shd" / "shd_train.h5")
    (times, units), label = shd["train"][0][2], shd["train"][1]
    assert labels.tolist() == label
    assert np.array_equal(samples[2]["x"], units)
    assert np.array_equal(samples[2]["t"], np.rint(times.astype(np.float32).astype(float) * 1e6))


def test_binning_by_hand():
    # 4x3 sensor (W=4, H=3), 2 polarities, 3 bins of 10 us
    events = make_events(x=[0, 0, 3, 2, 1], y=[0, 0, 2, 1, 1], p=[1, 1, 0, 1, 0],
                         t=[1, 9, 15, 29, 30])
    spec = BinSpec(bin_us=10, bins=3)
    dense = to_dense(bin_indices(events, spec, 4, 3), spec.shape(4, 3, 2), 3)
    expected = np.zeros((2, 3, 4, 3), np.uint8)
    expected[1, 0, 0, 0] = 1  # two events in one bin clamp to one spike
    expected[0, 2, 3, 1] = 1
    expected[1, 1, 2, 2] = 1  # t = 30 is past the 3 x 10 us window: dropped
    assert np.array_equal(dense, expected)
    merged = BinSpec(bin_us=10, bins=3, polarity="merge", downsample=2)
    dense = to_dense(bin_indices(events, merged, 4, 3), merged.shape(4, 3, 2), 3)
    assert dense.shape == (1, 2, 2, 3)
    assert dense.sum() == 3 and dense[0, 0, 0, 0] == 1 and dense[0, 1, 1, 1] == 1
    audio = make_events(x=[699, 5], y=0, p=0, t=[0, 25])
    dense = to_dense(bin_indices(audio, spec, 700, 0), spec.shape(700, 0, 1), 3)
    assert dense.shape == (700, 3) and dense[699, 0] == 1 and dense[5, 2] == 1


def test_sparse_spikes_index_like_dense():
    rng = np.random.default_rng(0)
    dense = (rng.random((7, 2, 3, 5)) < 0.3).astype(np.uint8)
    flat = dense.reshape(7, -1)
    indptr = np.concatenate([[0], np.cumsum(flat.sum(1))])
    store = SparseSpikes(indptr, np.flatnonzero(flat) % flat.shape[1], (2, 3), 5)
    assert store.shape == dense.shape and np.array_equal(np.asarray(store), dense)
    for key in (slice(2, 5), np.array([6, 0, 3]), slice(None, None, 2)):
        assert np.array_equal(np.asarray(store[key]), dense[key])


def test_nmnist_dataset_bins_and_cache(tmp_path):
    """The loader alone (load_dataset then carves the validation split)."""
    root, cache = tmp_path / "nmnist", tmp_path / "cache"
    written = write_nmnist_folder(root, per_class=2)
    data = load_event_dataset("nmnist", data_root=str(root), cache_dir=str(cache))
    assert data.x_train.shape == (20, 2, 34, 34, 300) and data.num_classes == 10
    assert data.y_train.tolist() == [d for d in range(10) for _ in range(2)]
    ev = written["Train/3/00001.bin"]
    expected = np.zeros((2, 34, 34, 300), np.uint8)
    expected[ev["p"], ev["y"], ev["x"], ev["t"] // 1000] = 1
    assert np.array_equal(np.asarray(data.x_train[7:8])[0], expected)
    assert len(list(cache.iterdir())) == 1
    load_event_dataset("nmnist", data_root=str(root), cache_dir=str(cache))  # reused
    assert len(list(cache.iterdir())) == 1
    other = load_event_dataset("nmnist", data_root=str(root), cache_dir=str(cache), bin_ms=2.0,
                         time_steps=150)  # new settings: new entry
    assert len(list(cache.iterdir())) == 2 and other.x_train.shape[-1] == 150
    (root / "Train/3/00001.bin").write_bytes(b"")  # a changed file invalidates too
    again = load_event_dataset("nmnist", data_root=str(root), cache_dir=str(cache))
    assert len(list(cache.iterdir())) == 3 and np.asarray(again.x_train[7:8]).sum() == 0


def test_dvs_and_shd_datasets(tmp_path):
    cache = str(tmp_path / "cache")
    write_dvs_original(tmp_path / "dvs", {"user01_led": "train", "user02_led": "train",
                                          "user24_led": "test"})
    data = load_event_dataset("dvs128", data_root=str(tmp_path / "dvs"), downsample=4,
                        time_steps=40, bin_ms=20.0, cache_dir=cache)
    assert data.x_train.shape == (6, 2, 32, 32, 40) and len(data.x_test) == 3
    assert np.asarray(data.x_train).sum() > 0
    write_dvs_tonic(tmp_path / "tonic")
    data = load_event_dataset("dvs128", data_root=str(tmp_path / "tonic"), cache_dir=cache)
    assert data.x_train.shape == (3, 2, 128, 128, 300) and data.y_test.tolist() == [0, 10, 5]
    write_shd_folder(tmp_path / "shd")
    data = load_event_dataset("shd", data_root=str(tmp_path / "shd"), cache_dir=cache)
    assert data.x_train.shape == (6, 700, 100) and data.num_classes == 20


@pytest.mark.parametrize("layout", ["nmnist", "dvs128", "dvs128-tonic", "shd"])
def test_data_info_describes_each_layout(tmp_path, capsys, layout):
    root = tmp_path / layout
    if layout == "nmnist":
        write_nmnist_folder(root, per_class=1)
    elif layout == "dvs128":
        write_dvs_original(root / "DvsGesture", {"user01_led": "train", "user24_led": "test"})
    elif layout == "dvs128-tonic":
        write_dvs_tonic(root)
    else:
        write_shd_folder(root)
    name = layout.split("-")[0]
    assert data_main(["info", "--dataset", name, "--data-root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train:" in out and "test:" in out and "per class:" in out
    assert "held out for picking the best epoch" in out
    assert "events/sample: mean" in out and "binned sample shape" in out


def test_yinyang_definition_and_encodings():
    values, labels = yinyang_points(1000, 40)
    assert values.shape == (1000, 4) and np.allclose(values[:, 2], 1 - values[:, 0])
    assert np.all(np.hypot(values[:, 0] - 0.5, values[:, 1] - 0.5) <= 0.5)
    assert 250 < np.bincount(labels).min()  # classes balanced in expectation
    dots = values[labels == 2]
    d = np.minimum(np.hypot(dots[:, 0] - 0.25, dots[:, 1] - 0.5),
                   np.hypot(dots[:, 0] - 0.75, dots[:, 1] - 0.5))
    assert np.all(d < 0.1)
    data = load_yinyang(time_steps=20)
    assert data.x_train.shape == (5000, 5, 20) and data.x_test.shape == (1000, 5, 20)
    assert np.all(data.x_train.sum(-1) == 1)  # latency: one spike per channel
    rate = load_yinyang(time_steps=20, encoding="rate", max_rate=0.5)
    assert np.all(rate.x_train[:, 4].sum(-1) == 10)  # bias channel at max_rate



def test_data_info_shows_the_validation_split(capsys):
    assert data_main(["info", "--dataset", "yinyang", "--time-steps", "10"]) == 0
    out = capsys.readouterr().out
    assert "5000 train / 1000 validation / 1000 test samples" in out
    assert "validation per class:" in out
    assert data_main(["info", "--dataset", "digits"]) == 0
    out = capsys.readouterr().out
    assert "1295 train / 142 validation / 360 test samples" in out
    assert "142 samples carved from the training data" in out


def test_every_dataset_gets_a_stratified_seeded_validation_split():
    data = load_dataset("digits", time_steps=4)
    again = load_dataset("digits", time_steps=4)
    assert np.array_equal(data.y_val, again.y_val) and np.array_equal(data.x_val, again.x_val)
    assert len(data.y_train) + len(data.y_val) == 1437 and len(data.y_test) == 360
    per_class = np.bincount(data.y_val, minlength=10)
    full = np.bincount(np.concatenate([data.y_train, data.y_val]), minlength=10)
    assert np.all(np.abs(per_class - 0.1 * full) <= 0.5)  # stratified
    assert data.validation == {"source": "carved", "fraction": 0.1, "seed": 0, "size": 142}
    raw = load_digits(time_steps=4)  # the loader alone: validation carved from train only
    assert np.array_equal(raw.x_test, data.x_test)
    rows = {r.tobytes() for r in raw.x_train.reshape(len(raw.x_train), -1)}
    assert all(r.tobytes() in rows for r in data.x_val.reshape(len(data.x_val), -1))
    assert load_dataset("yinyang", time_steps=8).validation == {"source": "dataset",
                                                                 "size": 1000}
    lone = validation_indices(np.array([0, 1, 1]))  # a lone sample stays in train
    assert len(lone) == 1 and lone[0] in (1, 2)

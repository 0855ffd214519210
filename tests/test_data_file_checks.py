"""Issue 23: dataset files and ``.npy`` inputs are checked before use: a sample file
that is a folder or a dangling symlink, SHD labels or times of the wrong type or shape,
a DVS128 recording with no events and a downsample that leaves no image end in one
line naming the file or the option; an ``.npy`` header that claims more than memory
holds is refused before a byte of the array is read."""

from __future__ import annotations

import time

import h5py
import numpy as np
import pytest

from rouser_lava.cli import data_main, export_main, run_main, train_main

from .conftest import error_line
from .event_files import aedat_bytes, write_dvs_original, write_nmnist_folder, write_shd_folder


def _train(root, dataset, capsys, *extra) -> str:
    code = train_main(["--dataset", dataset, "--data-root", str(root), "--epochs", "1",
                       "--out", str(root.parent / "m.pt"), "--cache-dir",
                       str(root.parent / "cache"), "--quiet", *extra])
    assert code == 1
    assert not (root.parent / "m.pt").exists()
    return error_line(capsys)


def test_nmnist_sample_folder_and_dangling_link(tmp_path, capsys):
    root = tmp_path / "nmnist"
    write_nmnist_folder(root, per_class=1)
    (root / "Train" / "3" / "x.bin").mkdir()
    assert "Train/3/x.bin: is a folder where N-MNIST release has a file" in \
        _train(root, "nmnist", capsys)
    (root / "Train" / "3" / "x.bin").rmdir()
    (root / "Test" / "4" / "y.bin").symlink_to(tmp_path / "gone.bin")
    line = _train(root, "nmnist", capsys)
    assert "Test/4/y.bin: a symbolic link to" in line and "which does not exist" in line
    assert data_main(["info", "--dataset", "nmnist", "--data-root", str(root)]) == 1
    assert "which does not exist" in error_line(capsys)


def _rewrite(path, key: str, **dataset) -> None:
    with h5py.File(path, "a") as f:
        del f[key]
        f.create_dataset(key, **dataset)


@pytest.mark.parametrize("key, dataset, expected", [
    ("labels", {"data": np.array([b"a", b"b", b"c", b"d", b"e", b"f"])},
     "/labels of shape (6,) and type |S1: expected one integer label per sample"),
    ("labels", {"data": np.zeros((6, 2), np.uint16)}, "/labels of shape (6, 2)"),
    ("spikes/times", {"data": 0.5}, "/spikes/times of shape ()"),
    ("spikes/times", {"data": np.zeros((6, 3), np.float32)},
     "/spikes/times of shape (6, 3) and type float32: expected one variable-length array"),
    ("spikes/units", {"data": np.zeros(6, np.uint16)}, "/spikes/units of shape (6,)"),
])
def test_shd_types_and_shapes(tmp_path, capsys, key, dataset, expected):
    root = tmp_path / "shd"
    write_shd_folder(root)
    _rewrite(root / "shd_train.h5", key, **dataset)
    line = _train(root, "shd", capsys)
    assert "shd_train.h5: " + expected in line, line


def test_dvs_recording_without_events_and_a_downsample_that_empties(tmp_path, capsys):
    root = tmp_path / "dvs"
    write_dvs_original(root, {"user01_led": "train", "user02_led": "test"})
    line = _train(root, "dvs128", capsys, "--downsample", "1000")
    assert "--downsample 1000: expected 1..32 for dvs128 (a 128x128 sensor" in line
    empty = {k: np.zeros(0, np.int64) for k in "xypt"}
    (root / "user02_led.aedat").write_bytes(aedat_bytes(empty, packets=1))
    assert "user02_led.aedat: a recording with no polarity events" in \
        _train(root, "dvs128", capsys)


def test_npy_header_claiming_more_than_memory(model_file, tmp_path, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 64, 8), np.uint8))
    data = x.read_bytes()
    header_end = data.index(b"\n") + 1
    header = data[:header_end].replace(b"(2, 64, 8)", b"(10000000000, 64, 8)")
    huge = tmp_path / "huge.npy"
    huge.write_bytes(header[:header_end - 1].ljust(header_end - 1) + b"\n"
                     + data[header_end:])
    start = time.monotonic()
    assert run_main([str(net), "--input", str(huge)]) == 1  # memory-mapped: no memory
    assert "huge.npy: truncated .npy file: its header declares shape (10000000000, 64, 8)" \
        in error_line(capsys)  # check, the header's claim is checked against the file
    assert time.monotonic() - start < 10
    short = tmp_path / "short.npy"
    short.write_bytes(data[:header_end + 100])
    assert run_main([str(net), "--input", str(short)]) == 1
    assert "short.npy: truncated .npy file: its header declares shape (2, 64, 8) " \
           "(1,024 bytes), the file holds 100" in error_line(capsys)

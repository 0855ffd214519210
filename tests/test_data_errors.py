"""Bad dataset folders and files give one clear error line naming the file; a
corrupt sample is skipped only with --skip-bad; and an N-MNIST-format folder trains
with the preset, exports and runs on Lava spike for spike with the emulator."""

import json

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.cli import compare_main, data_main, export_main, train_main

from .conftest import error_line
from .event_files import nmnist_bytes, write_dvs_original, write_nmnist_folder, write_shd_folder


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "rouser-lava"


def info(capsys, dataset: str, root) -> str:
    assert data_main(["info", "--dataset", dataset, "--data-root", str(root)]) == 1
    return error_line(capsys)


def test_missing_root_and_wrong_layout(tmp_path, capsys, cache):
    assert train_main(["--preset", "nmnist", "--quiet"]) == 1
    assert "give --data-root" in error_line(capsys)
    assert "does not exist" in info(capsys, "nmnist", tmp_path / "nowhere")
    (tmp_path / "half" / "Train" / "3").mkdir(parents=True)
    line = info(capsys, "nmnist", tmp_path / "half")
    assert "not the N-MNIST" in line and "Test/" in line and "Train/0/*.bin" in line
    (tmp_path / "shd").mkdir()
    (tmp_path / "shd" / "shd_train.h5.gz").write_bytes(b"")
    line = info(capsys, "shd", tmp_path / "shd")
    assert "shd_test.h5" in line and "gunzip" in line
    line = info(capsys, "dvs128", tmp_path / "shd")
    assert "not a DVS128 Gesture folder" in line and "ibmGestureTrain" in line


def test_truncated_bin_and_skip_bad(tmp_path, capsys, caplog, cache):
    root = tmp_path / "nmnist"
    write_nmnist_folder(root, per_class=1)
    bad = root / "Train" / "4" / "00000.bin"
    bad.write_bytes(bad.read_bytes()[:-2])
    line = info(capsys, "nmnist", root)
    assert str(bad) in line and "truncated" in line and "--skip-bad" in line
    assert data_main(["info", "--dataset", "nmnist", "--data-root", str(root),
                      "--skip-bad"]) == 0  # reported, left out, as training does
    assert "1 unreadable file(s) left out" in caplog.text
    out = tmp_path / "m.pt"
    args = ["--preset", "nmnist", "--data-root", str(root), "--hidden", "8", "--epochs", "1",
            "--time-steps", "20", "--out", str(out), "--quiet"]
    assert train_main(args) == 1
    line = error_line(capsys)
    assert str(bad) in line and "--skip-bad" in line and not out.exists()
    assert train_main([*args, "--skip-bad"]) == 0
    assert f"skipped: {bad}: truncated" in caplog.text
    assert len(torch.load(out, weights_only=True)["history"]) == 1


def test_events_outside_the_sensor(tmp_path, capsys, cache):
    root = tmp_path / "nmnist"
    write_nmnist_folder(root, per_class=1)
    bad = root / "Test" / "7" / "00000.bin"
    bad.write_bytes(nmnist_bytes({"x": [3, 40], "y": [1, 2], "p": [0, 1], "t": [5, 9]}))
    line = info(capsys, "nmnist", root)
    assert str(bad) in line and "x=40" in line and "outside the 34x34 sensor" in line


def test_shd_without_spikes(tmp_path, capsys, cache):
    root = tmp_path / "shd"
    write_shd_folder(root)
    with h5py.File(root / "shd_test.h5", "w") as f:
        f.create_dataset("labels", data=np.zeros(3))
    line = info(capsys, "shd", root)
    assert "shd_test.h5" in line and "no /spikes" in line


def test_bad_aedat_header_and_labels(tmp_path, capsys, cache):
    root = tmp_path / "dvs"
    write_dvs_original(root, {"user01_led": "train", "user24_led": "test"})
    aedat = root / "user01_led.aedat"
    good = aedat.read_bytes()
    aedat.write_bytes(b"#!AER-DAT2.0\r\n" + good[14:])
    line = info(capsys, "dvs128", root)
    assert str(aedat) in line and "bad AEDAT header" in line
    aedat.write_bytes(good)
    labels = root / "user24_led_labels.csv"
    labels.write_text("class,startTime_usec,endTime_usec\n3,9000000,9500000\n")
    line = info(capsys, "dvs128", root)
    assert str(labels) in line and "does not fit the recording" in line


@pytest.mark.lava
def test_nmnist_preset_trains_exports_and_runs_on_lava(tmp_path, capsys, cache):
    root = tmp_path / "nmnist"
    write_nmnist_folder(root, per_class=2, events=3000)
    model, net = tmp_path / "model.pt", tmp_path / "net.net"
    assert train_main(["--preset", "nmnist", "--data-root", str(root), "--epochs", "2",
                       "--out", str(model), "--quiet"]) == 0
    record = torch.load(model, weights_only=True)
    assert record["input_shape"] == [2, 34, 34]
    assert [a.get("out_features") for a in record["arch"]] == [None, 500, 500, 10]
    assert record["dataset"]["encoding"]["time_steps"] == 300 and len(record["history"]) == 2
    assert export_main([str(model), str(net)]) == 0
    report = tmp_path / "report"
    # torch and emulator on all 20 test samples, Lava on 2: exit 0 = identical spikes
    assert compare_main([str(model), str(net), "--lava-samples", "2",
                         "--report", str(report)]) == 0
    result = json.loads((report / "report.json").read_text())
    assert result["lava_mismatches"] == 0 and result["samples"]["lava"] == 2

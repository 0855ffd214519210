"""Command-line tools end to end on a few digits samples, and their handling of bad input."""

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from rouser_lava.cli import export_main, run_main, train_main

from .conftest import error_line


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_file_loads_with_weights_only(model_file):
    record = torch.load(model_file, weights_only=True)
    assert record["format"] == "rouser-lava/model"
    assert record["arch"][0] == {"kind": "dense", "in_features": 64, "out_features": 32}
    assert record["state_dict"]["blocks.0.neuron.threshold"].shape == (32,)
    assert len(record["history"]) == 1


def test_training_is_reproducible(model_file, tmp_path):
    again = tmp_path / "again.pt"
    assert train_main(["--epochs", "1", "--hidden", "32", "--out", str(again), "--quiet"]) == 0
    a = torch.load(model_file, weights_only=True)["state_dict"]
    b = torch.load(again, weights_only=True)["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.lava
def test_export_and_run_end_to_end(model_file, tmp_path):
    before = digest(model_file)
    results = {}
    for form in ("vector", "fold"):
        net = tmp_path / f"{form}.net"
        assert export_main([str(model_file), str(net), "--threshold-form", form]) == 0
        out = tmp_path / f"{form}.json"
        assert run_main([str(net), "--backend", "lava", "--limit", "6", "--json", str(out)]) == 0
        results[form] = json.loads(out.read_text())
    assert digest(model_file) == before  # export never changes its input
    out = tmp_path / "torch.json"
    assert run_main([str(model_file), "--limit", "6", "--json", str(out)]) == 0
    trained = json.loads(out.read_text())
    for doc in (trained, *results.values()):
        assert set(doc) == {"backend", "samples", "accuracy", "predictions", "layers", "wall_s",
                            "readout"}
        assert doc["samples"] == 6 and len(doc["predictions"]) == 6
        assert 0.0 <= doc["accuracy"] <= 1.0
        assert [la["name"] for la in doc["layers"]] == ["layer0", "layer1"]
    assert results["vector"]["backend"] == "lava" and trained["backend"] == "torch"
    assert results["vector"]["layers"] == trained["layers"]  # identical spike counts
    assert results["vector"]["predictions"] == trained["predictions"]


def test_missing_model(tmp_path, capsys):
    assert export_main([str(tmp_path / "nope.pt"), str(tmp_path / "n.net")]) == 1
    assert "nope.pt: no such model file" in error_line(capsys)


def test_corrupt_model(tmp_path, capsys):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"\x80\x02this is not a torch file")
    assert export_main([str(bad), str(tmp_path / "n.net")]) == 1
    assert "bad.pt: not a readable model file" in error_line(capsys)
    assert not (tmp_path / "n.net").exists()


def test_foreign_pt(tmp_path, capsys):
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    assert export_main([str(other), str(tmp_path / "n.net")]) == 1
    assert "other.pt: not a rouser-lava model" in error_line(capsys)


def test_net_in_missing_directory(model_file, tmp_path, capsys):
    target = tmp_path / "no" / "such" / "dir" / "n.net"
    assert export_main([str(model_file), str(target)]) == 1
    assert "does not exist" in error_line(capsys)
    assert not target.parent.exists()


def test_non_positive_thresholds(model_file, tmp_path, capsys):
    record = torch.load(model_file, weights_only=True)
    record["state_dict"]["blocks.1.neuron.threshold"][3] = -0.5
    bad = tmp_path / "neg.pt"
    torch.save(record, bad)
    assert export_main([str(bad), str(tmp_path / "n.net")]) == 1
    line = error_line(capsys)
    assert "neg.pt" in line and "layer1" in line and "non-positive" in line
    assert not (tmp_path / "n.net").exists()


def test_non_positive_threshold_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--threshold-init", "0", "--out", "x.pt"])
    assert exit_info.value.code != 0
    assert "expected a threshold in [0.015625, 2047.98]" in capsys.readouterr().err


@pytest.mark.slow
def test_console_scripts_installed():
    bindir = Path(sys.executable).parent
    for name in ("rouser-train", "rouser-export", "rouser-run"):
        done = subprocess.run([str(bindir / name), "--help"], capture_output=True, text=True)
        assert done.returncode == 0 and "usage:" in done.stdout


@pytest.mark.lava
def test_emulator_default_raw_input_and_spike_dump(model_file, tmp_path, capsys):
    net = tmp_path / "f.net"
    assert export_main([str(model_file), str(net)]) == 0
    x = (np.random.default_rng(0).random((4, 64, 32)) < 0.2).astype(np.uint8)
    np.save(tmp_path / "x.npy", x)
    dumps = {}
    for backend in ("emulator", "lava"):
        args = [str(net), "--input", str(tmp_path / "x.npy"), "--json",
                str(tmp_path / f"{backend}.json"), "--dump-spikes",
                str(tmp_path / f"{backend}.npz")]
        assert run_main(args + (["--backend", "lava"] if backend == "lava" else [])) == 0
        doc = json.loads((tmp_path / f"{backend}.json").read_text())
        assert doc["backend"] == backend and doc["accuracy"] is None
        with np.load(tmp_path / f"{backend}.npz") as npz:
            dumps[backend] = {k: npz[k] for k in npz.files}
    assert set(dumps["emulator"]) == {"layer0", "layer1", "output"}
    assert dumps["emulator"]["layer0"].shape == (4, 32, 32)
    assert dumps["emulator"]["output"].dtype == np.uint8
    for key in dumps["emulator"]:
        assert np.array_equal(dumps["emulator"][key], dumps["lava"][key])
    np.save(tmp_path / "bad.npy", x[:, :10])
    capsys.readouterr()
    assert run_main([str(net), "--input", str(tmp_path / "bad.npy")]) == 1
    assert "bad.npy: expected spikes of shape (N, 64, T)" in error_line(capsys)

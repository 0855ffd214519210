"""Issue 11's bad inputs: each ends in one line and a non-zero exit before any work, or
is refused with the figures that make it wrong; writes are atomic and durable."""

from __future__ import annotations

import errno
import json
import math
import os

import h5py
import numpy as np
import pytest
import torch

from rouser_lava import fileio
from rouser_lava.cli import (
    compare_main,
    experiment_main,
    export_main,
    map_main,
    run_main,
    train_main,
)
from rouser_lava.data.dataset import load_digits
from rouser_lava.data.registry import load_dataset
from rouser_lava.errors import UserError
from rouser_lava.model.blocks import RouserNet, dense_spec
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.training import trainrun
from rouser_lava.training.loop import TrainConfig, train

from .conftest import error_line
from .event_files import write_nmnist_folder


def _argparse_error(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return error_line(capsys)


@pytest.mark.parametrize("argv,expected", [
    (["--lr", "inf"], "expected a learning rate, got 'inf'"),
    (["--lr", "1e30"], "expected a learning rate in (0, 1], got 1e30"),
    (["--lr-threshold", "nan"], "expected a learning rate, got 'nan'"),
    (["--lr-threshold", "-1"], "expected a learning rate in (0, 1], got -1"),
    (["--threshold-init", "inf"], "expected a threshold, got 'inf'"),
    (["--seed", "99999999999999999999999"], "expected a seed in 0..4294967295"),
    (["--epochs", "two"], "argument --epochs: expected a positive integer, got 'two'"),
])
def test_training_numbers_out_of_range(argv, expected, capsys):
    assert expected in _argparse_error(train_main, [*argv, "--out", "x.pt"], capsys)


def test_target_fraction_and_short_yinyang(tmp_path, capsys):
    line = _argparse_error(experiment_main, ["compare", "--target-frac", "5"], capsys)
    assert "expected a fraction in (0, 1], got 5" in line
    assert train_main(["--dataset", "yinyang", "--time-steps", "1", "--out",
                       str(tmp_path / "y.pt")]) == 1
    assert "Yin-Yang needs --time-steps >= 4" in error_line(capsys)


def test_memory_guards_refuse_before_allocating(tmp_path, capsys):
    assert train_main(["--hidden", "100000,100000", "--out", str(tmp_path / "m.pt")]) == 1
    line = error_line(capsys)
    assert "GiB of memory" in line and "--hidden" in line
    assert train_main(["--time-steps", "100000000", "--out", str(tmp_path / "m.pt")]) == 1
    assert "GiB of memory" in error_line(capsys)
    huge = tmp_path / "huge.net"  # 64-100000-100000-10 declared in a file of a few KB
    with h5py.File(huge, "w") as f:
        f.create_dataset("layer/0/type", data=[b"input"])
        f.create_dataset("layer/0/shape", data=[64])
        for i, (a, b) in enumerate([(64, 10 ** 5), (10 ** 5, 10 ** 5), (10 ** 5, 10)], start=1):
            f.create_dataset(f"layer/{i}/type", data=[b"dense"])
            f.create_dataset(f"layer/{i}/shape", data=[b])
            f.create_dataset(f"layer/{i}/weight", shape=(b, a), dtype="i1")  # not stored
            for key, value in (("type", [b"CUBA"]), ("iDecay", 0), ("vDecay", 0),
                               ("vThMant", 10)):
                f.create_dataset(f"layer/{i}/neuron/{key}", data=value)
    assert os.path.getsize(huge) < 100_000
    np.save(tmp_path / "x.npy", np.zeros((1, 64, 4), np.uint8))
    for backend in ("emulator", "lava"):
        assert run_main([str(huge), "--backend", backend, "--input",
                         str(tmp_path / "x.npy")]) == 1
        assert "GiB of memory" in error_line(capsys)
    assert map_main([str(huge)]) == 1  # the design rules read the weights
    assert "GiB of memory" in error_line(capsys)


def test_divergence_stops_training_naming_the_epoch(tmp_path):
    data = load_digits(time_steps=8)
    net = RouserNet(data.input_shape, [dense_spec(64, 8), dense_spec(8, 10)], NeuronConfig())
    with torch.no_grad():
        net.blocks[0].synapse.weight[0, 0] = math.nan
    with pytest.raises(UserError, match="training diverged in epoch 1") as err:
        train(net, data, TrainConfig(epochs=2, batch_size=16), progress=False)
    assert "lower `lr` or `lr_threshold`" in str(err.value)  # the CLI: --lr, --lr-threshold


def test_metrics_rows_stay_json():
    row = {"a": math.nan, "b": [1.0, math.inf], "c": {"d": -math.inf, "e": 2}}
    assert json.loads(json.dumps(trainrun._finite(row), allow_nan=False)) == \
        {"a": None, "b": [1.0, None], "c": {"d": None, "e": 2}}


def test_export_refuses_clamped_and_non_finite_thresholds(model_file, tmp_path, capsys):
    record = torch.load(model_file, weights_only=True)
    for value, expected in ((1e6, "thresholds are outside Loihi's range"),
                            (math.inf, "NaN or infinite")):
        record["state_dict"]["blocks.0.neuron.threshold"][:3] = value
        bad = tmp_path / "bad.pt"
        torch.save(record, bad)
        assert export_main([str(bad), str(tmp_path / "n.net")]) == 1
        assert expected in error_line(capsys)
        assert not (tmp_path / "n.net").exists()


def test_paths_are_checked_before_any_work(model_file, tmp_path, capsys):
    folder = tmp_path / "a_folder"
    folder.mkdir()
    assert export_main([str(model_file), str(folder)]) == 1
    assert "is a folder; give a file name" in error_line(capsys)
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    for flag in ("--json", "--dump-spikes"):
        assert run_main([str(net), flag, str(tmp_path / "missing" / "out")]) == 1
        captured = capsys.readouterr()
        assert "backend emulator" not in captured.out  # failed before the run, not after
        assert "folder" in captured.err and "does not exist" in captured.err
    assert train_main(["--out", str(folder), "--epochs", "1"]) == 1
    assert "is a folder" in error_line(capsys)
    report = tmp_path / "report.txt"
    report.write_text("not a folder")
    assert compare_main([str(model_file), str(net), "--report", str(report)]) == 1
    assert "is a file; give a folder" in error_line(capsys)
    write_nmnist_folder(tmp_path / "nmnist", per_class=1)
    assert train_main(["--dataset", "nmnist", "--data-root", str(tmp_path / "nmnist"),
                       "--cache-dir", str(report), "--out", str(tmp_path / "m.pt")]) == 1
    assert "report.txt: is a file; give a folder" in error_line(capsys)


def test_degenerate_input_arrays(model_file, tmp_path, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    cases = {"empty.npy": np.zeros((0, 64, 32), np.uint8),
             "nosteps.npy": np.zeros((2, 64, 0), np.uint8)}
    for name, array in cases.items():
        np.save(tmp_path / name, array)
    np.savez(tmp_path / "arch.npz", x=np.zeros((2, 64, 32), np.uint8))
    os.replace(tmp_path / "arch.npz", tmp_path / "arch.npy")
    for name, expected in (("empty.npy", "holds 0 samples"), ("nosteps.npy", "of 0 steps"),
                           ("arch.npy", "is an .npz archive")):
        for backend in ("emulator", "lava"):
            assert run_main([str(net), "--backend", backend, "--input",
                             str(tmp_path / name)]) == 1
            assert expected in error_line(capsys)


@pytest.mark.lava
def test_compare_refuses_another_models_netx_and_fails_on_gates(model_file, tmp_path,
                                                                capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    other = tmp_path / "other.pt"
    assert train_main(["--epochs", "1", "--hidden", "12", "--out", str(other), "--quiet"]) == 0
    capsys.readouterr()
    report = str(tmp_path / "r")
    assert compare_main([str(other), str(net), "--report", report]) == 1
    assert "are not the model's" in error_line(capsys)
    code = compare_main([str(model_file), str(net), "--lava-samples", "2", "--report", report,
                         "--fail-on", "spike-change=0", "--fail-on", "agreement=100"])
    assert code == 4  # the fold re-rounds the weights: some layer's spike count changes
    line = error_line(capsys)
    assert "deployment broke --fail-on" in line and "limit 0 %" in line
    with pytest.raises(SystemExit) as done:  # a share above 100 % is refused at once
        compare_main([str(model_file), str(net), "--fail-on", "agreement=100.5"])
    assert done.value.code == 2 and "0 .. 100" in capsys.readouterr().err
    assert compare_main([str(model_file), str(net), "--lava-samples", "2", "--report",
                         report, "--fail-on", "accuracy-drop=100"]) == 0
    assert "expected NAME=LIMIT" in _argparse_error(
        compare_main, [str(model_file), str(net), "--fail-on", "speed=1"], capsys)


def test_atomic_write_on_a_full_disk_keeps_the_previous_file(model_file, tmp_path, capsys,
                                                             monkeypatch):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    before = net.read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(fileio, "_fsync", disk_full)  # the data did not reach the disk
    capsys.readouterr()
    assert export_main([str(model_file), str(net), "--threshold-form", "vector"]) == 1
    line = error_line(capsys)
    assert "No space left on device" in line and "unchanged" in line
    assert net.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["n.net"]  # no temporary left


def test_written_files_respect_the_umask(model_file, tmp_path):
    old = os.umask(0o022)
    try:
        assert export_main([str(model_file), str(tmp_path / "n.net")]) == 0
    finally:
        os.umask(old)
    assert (tmp_path / "n.net").stat().st_mode & 0o777 == 0o644


def test_a_corrupt_cache_file_is_rebuilt(tmp_path, caplog):
    write_nmnist_folder(tmp_path / "nmnist", per_class=1)
    options = {"data_root": str(tmp_path / "nmnist"), "cache_dir": str(tmp_path / "cache")}
    first = load_dataset("nmnist", **options)
    (cached,) = (tmp_path / "cache").iterdir()
    cached.write_bytes(b"not an npz archive")
    again = load_dataset("nmnist", **options)
    assert "unreadable cache file" in caplog.text
    assert np.array_equal(first.y_test, again.y_test)
    assert np.array_equal(first.x_test[:], again.x_test[:])

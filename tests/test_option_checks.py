"""Issue 23: options that contradict the model they fine-tune, malformed lists and
numbers outside their stated ranges are refused in one line naming the option (and the
model); an ``--epochs`` below what a checkpoint holds says so."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from rouser_lava.cli import compare_main, experiment_main, export_main, run_main, train_main
from rouser_lava.cli.common import cores

from .conftest import error_line


def _usage_error(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        main([str(a) for a in argv])
    assert info.value.code == 2
    return error_line(capsys)


@pytest.mark.parametrize("argv, expected", [
    (["--hidden", "64"], "--hidden 64 contradicts --init {m}: the model is 64-32-10 on "
                         "digits with --hidden 32; leave --hidden out"),
    (["--dataset", "yinyang"], "--dataset yinyang contradicts --init {m}: the model is "
                               "64-32-10 on digits with --dataset digits"),
    (["--preset", "yinyang"], "--preset yinyang (its --dataset yinyang) contradicts --init "
                              "{m}"),
    (["--time-steps", "9"], "--time-steps 9 contradicts --init {m}: the model is 64-32-10 "
                            "on digits with --time-steps 32"),
    (["--neuron", "single-spike"], "--neuron single-spike contradicts --init {m}"),
    (["--voltage-decay", "0.5"], "--voltage-decay 0.5 contradicts --init {m}"),
    (["--arch", "d16-d10"], "--arch d16-d10 contradicts --init {m}: the model is 64-32-10 "
                            "on digits with --arch d32-d10"),
])
def test_init_refuses_options_that_contradict_the_model(model_file, tmp_path, capsys, argv,
                                                        expected):
    out = tmp_path / "t.pt"
    assert train_main(["--init", str(model_file), *argv, "--out", str(out), "--quiet"]) == 1
    assert expected.format(m=model_file) in error_line(capsys)
    assert not out.exists()


def test_init_takes_options_that_agree_with_the_model(model_file, tmp_path):
    out = tmp_path / "t.pt"
    assert train_main(["--init", str(model_file), "--hidden", "32", "--arch", "d32-d10",
                       "--neuron", "cuba",
                       "--preset", "digits", "--voltage-decay", "0.03", "--epochs", "1",
                       "--batch-size", "64", "--out", str(out), "--quiet"]) == 0
    assert out.is_file()


@pytest.mark.parametrize("text", ["128,,64", "128,", ",64", ""])
def test_malformed_lists(text, capsys):
    assert "--hidden: expected values like 128 or 256,128" in _usage_error(
        train_main, ["--hidden", text, "--out", "x.pt"], capsys)


def test_numeric_ranges_of_run_compare_map_and_experiment(model_file, tmp_path, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    many = str(cores() + 1)
    for argv, expected in (
            ([net, "--backend", "lava", "--workers", many],
             f"--workers: expected a number of worker processes (up to the cores) in "
             f"1..{cores()}, got {many}"),
            ([net, "--backend", "lava", "--timeout", "1e-9"],
             "--timeout: expected a timeout in seconds in [1, 604800], got 1e-9"),
            ([net, "--stream", "reset-interval", "--reset-interval", str(2 ** 40)],
             "--reset-interval: expected a reset interval (steps) in 2..16777216")):
        assert expected in _usage_error(run_main, argv, capsys)
    assert "--workers: expected a number" in _usage_error(
        compare_main, [model_file, net, "--workers", many], capsys)
    assert "--timeout: expected a timeout" in _usage_error(
        compare_main, [model_file, net, "--timeout", "0"], capsys)
    assert "--jobs: expected a number" in _usage_error(
        experiment_main, ["compare", "--jobs", many], capsys)


def test_reset_interval_within_range_is_bounded_by_the_sample(model_file, tmp_path, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    np.save(tmp_path / "x.npy", np.zeros((2, 64, 8), np.uint8))
    capsys.readouterr()
    assert run_main([str(net), "--input", str(tmp_path / "x.npy"), "--stream",
                     "reset-interval", "--reset-interval", str(2 ** 24)]) == 1
    assert "--reset-interval 16777216 is more than 16 times the 8 + 1 steps a sample " \
           "needs in the stream layout" in error_line(capsys)
    assert run_main([str(net), "--input", str(tmp_path / "x.npy"), "--stream",
                     "reset-interval", "--reset-interval", "144"]) == 0


def test_compare_report_folder_and_dataset_of_another_input(model_file, tmp_path, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    assert compare_main([str(model_file), str(net), "--report", "/proc/rouser-x"]) == 1
    assert "/proc/rouser-x: cannot create a folder in '/proc'" in error_line(capsys)
    assert compare_main([str(model_file), str(net), "--dataset", "yinyang", "--report",
                         str(tmp_path / "r")]) == 1
    assert f"--dataset yinyang gives input (5,), the model {model_file} takes (64,)" in \
        error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_resume_with_fewer_epochs_than_trained(tmp_path, capsys, caplog):
    out = tmp_path / "m.pt"
    base = ["--hidden", "8", "--time-steps", "8", "--out", str(out), "--quiet"]
    assert train_main([*base, "--epochs", "2"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    assert train_main(["--resume", "--epochs", "1", "--out", str(out), "--quiet"]) == 1
    assert "--epochs 1 is fewer than the 2 epochs" in error_line(capsys)
    with caplog.at_level(logging.INFO):
        assert train_main(["--resume", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    assert "nothing to do" in caplog.text
    assert out.read_bytes() == before

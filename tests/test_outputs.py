"""Outputs that speak: a "wrote" line for every output file of every verb, suffixes
checked against the format written (in any case), one path for two outputs refused,
output folders probed at the start, and a run's files kept from another run."""

import logging
import os
import socket
import subprocess

import pytest

from rouser_lava.cli import (
    compare_main,
    export_main,
    import_main,
    map_main,
    run_main,
    train_main,
)
from rouser_lava.comparison.report import REPORT_FILES

from .conftest import error_line

TINY = ["--dataset", "digits", "--hidden", "8", "--time-steps", "4", "--batch-size", "128",
        "--epochs", "1", "--quiet"]


@pytest.fixture
def net_file(model_file, tmp_path_factory):
    net = tmp_path_factory.mktemp("outputs") / "net.net"
    assert export_main([str(model_file), str(net)]) == 0
    return net


def _said(capsys, caplog) -> str:
    return capsys.readouterr().out + caplog.text


def test_every_output_flag_says_where_it_went(model_file, net_file, tmp_path, capsys,
                                             caplog):
    caplog.set_level(logging.INFO)
    nir = tmp_path / "graph.NIR"  # the suffix in any case
    assert export_main([str(model_file), str(nir)]) == 0
    assert f"wrote {nir}" in _said(capsys, caplog)
    h5 = tmp_path / "net.H5"
    assert export_main([str(model_file), str(h5)]) == 0
    assert f"wrote {h5}" in _said(capsys, caplog)
    imported = tmp_path / "imported.PT"
    assert import_main([str(nir), str(imported), "--dataset", "digits", "--quiet"]) == 0
    assert f"wrote {imported}" in _said(capsys, caplog)
    outs = {"--json": tmp_path / "run.json", "--dump-spikes": tmp_path / "spikes.npz",
            "--dump-state": tmp_path / "state.npz"}
    assert run_main([str(net_file), "--limit", "3",
                     *(w for k, v in outs.items() for w in (k, str(v)))]) == 0
    said = _said(capsys, caplog)
    for flag, path in outs.items():
        assert f"wrote {path}" in said and path.stat().st_size > 0, flag
    mapped = tmp_path / "map.json"
    assert map_main([str(net_file), "--json", str(mapped)]) in (0, 3)
    assert f"wrote {mapped}" in _said(capsys, caplog)
    report = tmp_path / "cmp"
    assert compare_main([str(model_file), str(net_file), "--lava-samples", "2",
                         "--report", str(report)]) == 0
    said = _said(capsys, caplog)
    for name in REPORT_FILES:
        assert f"wrote {report / name}" in said, name
    run = tmp_path / "m.pt"
    assert train_main([*TINY, "--out", str(run)]) == 0
    said = _said(capsys, caplog)
    for name in ("m.pt", "m.best.pt", "m.metrics.jsonl", "m.ckpt.pt"):
        assert f"wrote {tmp_path / name}" in said, name
    assert "best epoch 1 of 1 (picked on validation)" in said


@pytest.mark.parametrize("argv, words", [
    (["export", "{model}", "{tmp}/net.pt"], "unknown suffix '.pt' for the output; give .net/.h5"),
    (["export", "{model}", "{tmp}/net"], "no suffix"),
    (["import", "{net}", "{tmp}/m.net"], "for the model file; give .pt"),
    (["import", "{tmp}/x.onnx", "{tmp}/m.pt"], "for the source; give .net/.h5"),
    (["run", "{net}", "--json", "{tmp}/r.txt"], "for --json; give .json"),
    (["run", "{net}", "--dump-spikes", "{tmp}/s.npy"], "for --dump-spikes; give .npz"),
    (["run", "{net}", "--dump-spikes", "{tmp}/s.npz", "--dump-state", "{tmp}/s.npz"],
     "name the same file"),
    (["map", "{net}", "--json", "/proc/map.json"], "cannot create a file"),
    (["train", "--out", "{tmp}/m.net"], "for --out; give .pt"),
])
def test_outputs_are_checked_at_the_start(model_file, net_file, tmp_path, capsys, argv,
                                          words):
    mains = {"export": export_main, "import": import_main, "run": run_main,
             "map": map_main, "train": train_main}
    args = [a.format(model=model_file, net=net_file, tmp=tmp_path) for a in argv[1:]]
    extra = TINY if argv[0] == "train" else []
    assert mains[argv[0]]([*args, *extra]) == 1
    assert words in error_line(capsys)
    assert not any(p.suffix != ".net" for p in tmp_path.iterdir())  # nothing written


def test_train_keeps_another_runs_files(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert train_main([*TINY, "--out", str(out)]) == 0
    assert train_main([*TINY, "--out", str(out)]) == 0  # the same run: reproduced
    capsys.readouterr()
    assert train_main([*TINY, "--hidden", "6", "--out", str(out)]) == 1
    line = error_line(capsys)
    assert "holds another training run (1 epochs)" in line and "--overwrite" in line
    assert train_main([*TINY, "--hidden", "6", "--out", str(out), "--overwrite"]) == 0
    stray = tmp_path / "theirs.pt"
    stray.write_bytes(b"not ours")
    assert train_main([*TINY, "--out", str(stray)]) == 1
    assert "already exists" in error_line(capsys) and stray.read_bytes() == b"not ours"


def test_compare_refuses_bad_gates_and_baselines_before_running(model_file, net_file,
                                                                 tmp_path, capsys):
    with pytest.raises(SystemExit) as done:
        compare_main([str(model_file), str(net_file), "--fail-on", "agreement=150"])
    assert done.value.code == 2 and "0 .. 100" in capsys.readouterr().err
    baseline = tmp_path / "old.json"
    baseline.write_text('{"dataset": "digits"}')
    report = tmp_path / "report"
    assert compare_main([str(model_file), str(net_file), "--baseline", str(baseline),
                         "--report", str(report)]) == 1
    assert "not a rouser-compare report.json" in error_line(capsys)
    assert not report.exists() or not list(report.iterdir())  # refused before the run


def test_a_run_holds_its_output_while_it_writes(tmp_path, capsys):
    """Two trainings on one ``--out``: while one holds ``<out>.lock`` (a live process,
    here this one) the other is refused with one line; a lock left by a process that
    has ended is replaced, and the run removes its own lock when it ends."""
    out = tmp_path / "m.pt"
    lock = tmp_path / "m.pt.lock"
    argv = ["--epochs", "1", "--hidden", "8", "--time-steps", "4", "--out", str(out),
            "--quiet"]
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert train_main(argv) == 1
    line = error_line(capsys)
    assert f"another rouser-train (pid {os.getpid()}) is writing these files now" in line
    assert not out.exists()
    dead = subprocess.Popen(["true"])  # a pid whose process has ended
    dead.wait()
    lock.write_text(f"{socket.gethostname()} {dead.pid}\n")
    assert train_main(argv) == 0
    assert out.is_file() and not lock.exists()

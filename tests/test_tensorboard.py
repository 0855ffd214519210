"""``rouser-train --tensorboard DIR``: every epoch's values of ``NAME.metrics.jsonl`` as
TensorBoard scalars, a threshold histogram per layer and the run's provenance, read
back with TensorBoard's own reader; a run stopped by Ctrl-C keeps its epochs and,
resumed, continues the same curves; a new
run in the folder hides the old one; rank 1 of a data-parallel run writes nothing; a
file in the folder's place is refused in one line; ``rouser-experiment`` gives each
run its folder; tensorboard is imported only when the option is given."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from rouser_lava.cli import experiment_main, train_main
from rouser_lava.training import trainrun
from rouser_lava.training.tboard import LAYER_KEYS, RUN_TAGS

from .conftest import error_line
from .test_ddp import messages, rank_log, torchrun

pytestmark = pytest.mark.slow  # trains through the CLI

TINY = ["--preset", "digits", "--hidden", "12", "--time-steps", "8", "--quiet"]


def events(folder: Path) -> EventAccumulator:
    """Everything TensorBoard shows of ``folder`` (no sampling: every step kept)."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "histograms": 0,
                                                       "tensors": 0})
    acc.Reload()
    return acc


def metrics(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def scalars(acc: EventAccumulator, tag: str) -> dict[int, float]:
    """``tag``'s value at each step; fails if a step appears twice."""
    found = acc.Scalars(tag)
    steps = [e.step for e in found]
    assert len(set(steps)) == len(steps), (tag, steps)
    return {e.step: e.value for e in found}


def assert_same_as_metrics(acc: EventAccumulator, rows: list[dict]) -> None:
    """Every row's values are the scalars at its epoch (float32 as TensorBoard holds
    them), and every spiking layer has its threshold histogram there."""
    tags = acc.Tags()
    epochs = [row["epoch"] for row in rows]
    for key, tag in RUN_TAGS.items():
        assert scalars(acc, tag) == {r["epoch"]: pytest.approx(r[key], rel=1e-6, abs=1e-9)
                                     for r in rows}, tag
    assert sorted(scalars(acc, "lr/thresholds")) == epochs  # learned thresholds
    layers = [la["name"] for la in rows[0]["layers"]]
    assert layers == ["layer0", "layer1"]
    for name in layers:
        for key in LAYER_KEYS:
            assert scalars(acc, f"{key}/{name}") == {
                r["epoch"]: pytest.approx(next(la[key] for la in r["layers"]
                                               if la["name"] == name), rel=1e-6, abs=1e-9)
                for r in rows}, (key, name)
        assert f"thresholds/{name}" in tags["histograms"]
        hists = {h.step: h.histogram_value for h in acc.Histograms(f"thresholds/{name}")}
        assert sorted(hists) == epochs
        for r in rows:
            la = next(la for la in r["layers"] if la["name"] == name)
            h = hists[r["epoch"]]
            assert h.num == (12 if name == "layer0" else 10)  # one threshold per neuron
            assert (h.min, h.max) == (pytest.approx(la["th_min"]), pytest.approx(la["th_max"]))
            assert h.sum / h.num == pytest.approx(la["th_mean"], rel=1e-6)
            # one bin per 1/64 grid step (TensorBoard keeps right edges only)
            assert sum(h.bucket) == h.num
            assert np.diff(h.bucket_limit) == pytest.approx(1 / 64)


def test_events_hold_the_metrics_and_histograms_of_every_epoch(tmp_path, capsys, caplog):
    board = tmp_path / "tb" / "run1"  # parents made as needed
    caplog.set_level("INFO")
    assert train_main([*TINY, "--epochs", "2", "--out", str(tmp_path / "m.pt"),
                       "--tensorboard", str(board)]) == 0
    assert f"wrote {board} (TensorBoard events, epochs 1..2)" in caplog.text
    assert len(list(board.glob("events.out.tfevents.*"))) == 1
    acc = events(board)
    rows = metrics(tmp_path / "m.metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1, 2]
    assert_same_as_metrics(acc, rows)
    text = acc.Tensors("provenance/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| tool | rouser-lava |" in text and "| world_size | 1 |" in text
    assert f"--tensorboard {board}" in text  # the command line
    settings = acc.Tensors("settings/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"epochs": 2' in settings


def test_resume_continues_the_curves_and_a_new_run_hides_the_old(tmp_path, monkeypatch,
                                                                capsys):
    board, out = tmp_path / "tb", str(tmp_path / "m.pt")
    save = trainrun.save_record

    def save_then_interrupt(path, record):  # Ctrl-C right after epoch 1's checkpoint
        save(path, record)
        raise KeyboardInterrupt

    monkeypatch.setattr(trainrun, "save_record", save_then_interrupt)
    assert train_main([*TINY, "--epochs", "2", "--out", out, "--tensorboard",
                       str(board)]) == 130
    assert sorted(scalars(events(board), "accuracy/test")) == [1]  # epoch 1 kept
    monkeypatch.setattr(trainrun, "save_record", save)
    assert train_main(["--resume", "--out", out, "--tensorboard", str(board)]) == 0
    assert len(list(board.glob("events.out.tfevents.*"))) == 2  # one per process
    assert_same_as_metrics(events(board), metrics(tmp_path / "m.metrics.jsonl"))
    # another run (other seed) in the same folder: its one epoch only, epoch 2 hidden
    assert train_main([*TINY, "--epochs", "1", "--seed", "5", "--out", out, "--overwrite",
                       "--tensorboard", str(board)]) == 0
    rows = metrics(tmp_path / "m.metrics.jsonl")
    assert [r["epoch"] for r in rows] == [1]
    assert_same_as_metrics(events(board), rows)


def test_a_file_in_place_of_the_folder_is_refused_before_training(tmp_path, capsys):
    taken = tmp_path / "taken"
    taken.write_text("x")
    assert train_main([*TINY, "--out", str(tmp_path / "m.pt"), "--tensorboard",
                       str(taken)]) == 1
    assert error_line(capsys).endswith(f"{taken}: is a file; give a folder")
    assert train_main([*TINY, "--out", str(tmp_path / "m.pt"), "--tensorboard",
                       str(tmp_path / "m.metrics.jsonl")]) == 1
    assert "--out would overwrite --tensorboard" in error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]  # nothing written


def test_only_rank_0_writes_events(tmp_path):
    board = tmp_path / "tb"
    (tmp_path / "two").mkdir()
    done, logs = torchrun(tmp_path, [*TINY, "--batch-size", "64", "--epochs", "1", "--out",
                                     str(tmp_path / "two" / "m.pt"), "--tensorboard",
                                     str(board)])
    assert done.returncode == 0, done.stderr[-2000:]
    files = list(board.iterdir())
    assert len(files) == 1 and files[0].name.startswith("events.out.tfevents."), files
    acc = events(board)
    assert_same_as_metrics(acc, metrics(tmp_path / "two" / "m.metrics.jsonl"))
    text = acc.Tensors("provenance/text_summary")[0].tensor_proto.string_val[0].decode()
    assert "| world_size | 2 |" in text
    assert f"wrote {board}" in rank_log(logs, 0)
    assert messages(rank_log(logs, 1)) == []


def test_experiment_runs_each_get_a_folder(tmp_path, capsys):
    board, report = tmp_path / "tb", tmp_path / "report"
    assert experiment_main(["compare", *TINY[:-1], "--epochs", "1", "--seeds", "1",
                            "--report", str(report), "--tensorboard", str(board)]) == 0
    runs = sorted(p.name for p in board.iterdir())
    assert runs == ["fixed-th1.25-seed0", "learned-th1.25-seed0"]
    for name in runs:
        acc = events(board / name)
        rows = metrics(report / "runs" / name / "model.metrics.jsonl")
        for key, tag in RUN_TAGS.items():
            assert scalars(acc, tag) == {1: pytest.approx(rows[0][key], rel=1e-6)}, tag
        assert ("lr/thresholds" in acc.Tags()["scalars"]) == name.startswith("learned")
        assert {"thresholds/layer0", "thresholds/layer1"} <= set(acc.Tags()["histograms"])


def test_tensorboard_is_imported_only_for_the_option():
    code = ("import sys; import rouser_lava.cli.train, rouser_lava.training.trainrun; "
            "print([m for m in sys.modules if m.startswith(('tensorboard', "
            "'torch.utils.tensorboard'))])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1]).stdout.strip()
    assert out == "[]"

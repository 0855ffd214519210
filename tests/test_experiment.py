"""Training metrics against hand-computed values, resume == uninterrupted, and the
experiment commands end to end on a tiny digits setup."""

import json
import logging

import numpy as np
import pytest
import torch

from rouser_lava.cli import experiment_main, train_main
from rouser_lava.experiments.report import active_layers, epochs_to_target_text
from rouser_lava.experiments.runs import epochs_to, selection
from rouser_lava.model.blocks import RouserNet, dense_spec
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.training import trainrun
from rouser_lava.training.loop import lr_factor
from rouser_lava.training.metrics import batch_counts, layer_metrics, weights

TINY = ["--preset", "digits", "--hidden", "12", "--time-steps", "8", "--batch-size", "64"]


def test_dead_neurons_and_rates_by_hand():
    net = RouserNet((4,), [dense_spec(4, 8)], NeuronConfig())
    with torch.no_grad():
        w = net.spiking_blocks()[0].synapse.weight
        w.zero_()
        w[3:] = 2.0  # neurons 3..7 driven hard; 0..2 get nothing: silent
    w0 = weights(net)
    x = torch.ones(5, 4, 10)
    out = net(x)
    counts = batch_counts(out)
    row = layer_metrics(net, counts, samples=5, steps=10, w0=w0)[0]
    assert row["dead_pct"] == 37.5  # 3 of 8
    spikes = out[0].sum().item()
    assert spikes > 0 and row["spike_rate"] == pytest.approx(spikes / (8 * 5 * 10))
    assert row["th_mean"] == 1.25 and row["th_std"] == 0.0 and row["weight_change"] == 0.0
    with torch.no_grad():
        net.spiking_blocks()[0].synapse.weight.mul_(3.0)
    assert layer_metrics(net, counts, 5, 10, w0)[0]["weight_change"] == pytest.approx(2.0)


def _strip(history):
    return [{k: v for k, v in row.items() if k not in ("wall_s", "metrics_s")}
            for row in history]


def test_metrics_file_best_model_and_resume(tmp_path, monkeypatch, caplog):
    full, part = tmp_path / "full.pt", tmp_path / "part.pt"
    run = [*TINY, "--epochs", "3", "--lr-schedule", "cosine", "--quiet"]
    assert train_main([*run, "--out", str(full)]) == 0
    checkpoints = []

    def killed_after_epoch_2(path, record):  # the run dies right after epoch 2's files
        real_save_record(path, record)
        if str(path).endswith(".ckpt.pt"):
            checkpoints.append(path)
            if len(checkpoints) == 2:
                raise KeyboardInterrupt

    real_save_record = trainrun.save_record
    monkeypatch.setattr(trainrun, "save_record", killed_after_epoch_2)
    assert train_main([*run, "--out", str(part)]) == 130  # as after Ctrl-C
    monkeypatch.undo()
    assert len(torch.load(part, weights_only=True)["history"]) == 2
    assert train_main(["--resume", "--out", str(part), "--quiet"]) == 0  # to the planned 3
    stamps = {f: f.stat().st_mtime_ns for f in tmp_path.glob("part*")}
    caplog.set_level(logging.INFO)
    assert train_main(["--resume", "--out", str(part), "--quiet"]) == 0  # finished: no-op
    assert {f: f.stat().st_mtime_ns for f in tmp_path.glob("part*")} == stamps
    assert "no file written" in caplog.text
    a = torch.load(full, weights_only=True)
    b = torch.load(part, weights_only=True)
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert _strip(a["history"]) == _strip(b["history"])
    lines = (tmp_path / "full.metrics.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert [r["lr"] for r in rows] == pytest.approx([1e-3, 0.505e-3, 0.01e-3])  # cosine
    layer = rows[-1]["layers"][0]
    assert set(layer) == {"name", "dead_pct", "spike_rate", "spikes_per_sample", "th_mean",
                          "th_std", "th_min", "th_max", "th_moved_pct", "weight_change",
                          "readout", "bias_neurons"}
    assert layer["bias_neurons"] == 0
    best = torch.load(tmp_path / "full.best.pt", weights_only=True)
    accs = [r["val_acc"] for r in rows]
    assert best["history"][-1]["epoch"] == int(np.argmax(accs)) + 1


def test_lr_schedules():
    assert [lr_factor("constant", e, 5) for e in (1, 3, 5)] == [1.0, 1.0, 1.0]
    assert lr_factor("cosine", 1, 5) == 1.0 and lr_factor("cosine", 5, 5) == 0.01
    assert lr_factor("cosine", 3, 5) == pytest.approx(0.505)
    assert lr_factor("cosine", 1, 1) == 1.0


def test_best_model_picked_on_validation_split(tmp_path):
    out = tmp_path / "yy.pt"
    assert train_main(["--dataset", "yinyang", "--time-steps", "8", "--hidden", "8",
                       "--batch-size", "500", "--epochs", "3", "--out", str(out),
                       "--quiet"]) == 0
    rows = [json.loads(line) for line in
            (tmp_path / "yy.metrics.jsonl").read_text().splitlines()]
    assert all({"val_acc", "val_loss", "test_acc"} <= set(r) for r in rows)
    best = torch.load(tmp_path / "yy.best.pt", weights_only=True)
    assert best["history"][-1]["epoch"] == int(np.argmax([r["val_acc"] for r in rows])) + 1
    assert best["dataset"]["validation"] == {"source": "dataset", "size": 1000}


def test_selection_and_target_never_read_the_test_split():
    history = [{"epoch": 1, "val_acc": 0.5, "test_acc": 0.9},
               {"epoch": 2, "val_acc": 0.8, "test_acc": 0.6},
               {"epoch": 3, "val_acc": 0.7, "test_acc": 0.95}]
    assert selection(history) == {"final_acc": 0.95, "final_val_acc": 0.7, "best_epoch": 2,
                                  "best_acc": 0.6}
    assert epochs_to(history, 0.75) == 2 and epochs_to(history, 0.85) is None


@pytest.mark.slow
def test_compare_and_grid_reports(tmp_path, capsys):
    report = tmp_path / "compare"
    assert experiment_main(["compare", *TINY, "--epochs", "2", "--seeds", "2",
                            "--measure-deployed", "--report", str(report)]) == 0
    for name in ("report.json", "report.md", "accuracy.png", "dead_neurons.png",
                 "spike_rate.png", "weight_change.png", "thresholds.png"):
        assert (report / name).stat().st_size > 0, name
    result = json.loads((report / "report.json").read_text())
    assert set(result["modes"]) == {"learned", "fixed"} and len(result["runs"]) == 4
    assert result["provenance"]["argv"][:2] == ["rouser-experiment", "compare"]
    learned = result["modes"]["learned"]
    for key in ("final_acc_mean", "final_acc_std", "epochs_to_target", "curves",
                "emulator_acc_mean", "emulator_layer_spikes_mean"):
        assert key in learned, key
    assert len(learned["curves"]["layers"][0]["dead_pct"]) == 2
    assert 0 < result["target_acc"] <= 1 and "epochs to target" in capsys.readouterr().out
    md = (report / "report.md").read_text()
    assert "of 2 seeds reached it)" in md and "None" not in md
    grid = tmp_path / "grid"
    assert experiment_main(["grid", *TINY, "--epochs", "2", "--threshold-inits", "0.5,1.25",
                            "--jobs", "2", "--report", str(grid)]) == 0
    table = json.loads((grid / "report.json").read_text())["table"]
    assert [row["threshold"] for row in table] == [0.5, 1.25]
    assert all(0 <= row["fixed_acc"] <= 1 and 0 <= row["learned_acc"] <= 1 for row in table)
    assert (grid / "grid.png").stat().st_size > 0 and (grid / "report.md").is_file()


def test_experiment_help_is_whole(capsys):
    for argv in (["--help"], ["grid", "--help"]):
        with pytest.raises(SystemExit) as done:
            experiment_main(argv)
        assert done.value.code == 0
        assert "(the paper's Fig. 2)" in " ".join(capsys.readouterr().out.split())


def test_mean_epochs_to_target_says_how_many_seeds_reached_it():
    three = {"epochs_to_target": [7, None, 8], "epochs_to_target_mean": 7.5, "reached": 2}
    assert epochs_to_target_text(three) == ("7, never, 8", "7.5 (2 of 3 seeds reached it)")
    none = {"epochs_to_target": [None, None], "epochs_to_target_mean": None, "reached": 0}
    assert epochs_to_target_text(none) == ("never, never", "n/a (none of 2 seeds reached it)")


def test_neurons_experiment_reports_the_savings(tmp_path, capsys):
    report = tmp_path / "neurons"
    assert experiment_main(["neurons", *TINY, "--epochs", "1", "--threshold-init", "0.5",
                            "--jobs", "2", "--report", str(report)]) == 0
    result = json.loads((report / "report.json").read_text())
    assert result["kind"] == "neurons" and set(result["neurons"]) == {"cuba", "single-spike"}
    assert [r["neuron"] for r in result["runs"]] == ["cuba", "single-spike"]
    assert [r["seed"] for r in result["runs"]] == [0, 0]
    assert result["settings"]["single-spike"]["readout"] == "membrane"
    cuba, single = result["neurons"]["cuba"], result["neurons"]["single-spike"]
    assert single["spikes_per_sample"][-1] == 0  # the membrane readout never spikes
    assert single["hidden_spikes_per_sample"] <= 12  # 12 hidden neurons, one spike each
    for m in (cuba, single):
        assert 0 <= m["deployed_acc_mean"] <= 1 and len(m["synops_per_sample"]) == 2
        assert m["synops_per_sample"][1] == pytest.approx(m["spikes_per_sample"][0] * 10)
    red = result["reduction_pct"]
    assert red["hidden_spikes"] == pytest.approx(
        100 * (1 - single["hidden_spikes_per_sample"] / cuba["hidden_spikes_per_sample"]))
    assert "fewer hidden spikes per sample" in capsys.readouterr().out
    assert (report / "activity.png").stat().st_size > 0


def test_activity_plot_leaves_out_a_readout_that_never_spikes():
    neurons = {"cuba": {"spikes_per_sample": [12.0, 0.0]},
               "single-spike": {"spikes_per_sample": [3.0, 0.0]}}
    assert active_layers(neurons, "spikes_per_sample") == [0]
    neurons["cuba"]["spikes_per_sample"][1] = 0.5
    assert active_layers(neurons, "spikes_per_sample") == [0, 1]

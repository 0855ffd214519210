"""``rouser-experiment ablation``: the paper's Fig. 6 protocol run end to end on a tiny
digits net, the validation split it chooses epochs on, and the verdict rule."""

import json

import numpy as np
import pytest

from rouser_lava.cli.experiment import experiment_main
from rouser_lava.data.registry import load_dataset
from rouser_lava.experiments.ablation import LR_THRESHOLDS, SETTINGS, validation_source, verdict

TINY = ["--preset", "digits", "--hidden", "8", "--time-steps", "8", "--batch-size", "128",
        "--epochs", "2", "--seeds", "2"]


def test_epochs_are_chosen_on_the_datasets_validation_split():
    data = load_dataset("digits", time_steps=4)
    assert data.validation["source"] == "carved" and len(data.y_val) > 0
    assert validation_source(data).startswith(f"{len(data.y_val)} samples (10% of each "
                                              f"class) split off the training set")
    yinyang = load_dataset("yinyang")
    assert validation_source(yinyang) == "the dataset's own validation split (1000 samples)"


def test_verdict_rule():
    assert verdict([0.0] * 5) == ("no difference", 1.0)
    better, p = verdict([0.05, 0.06, 0.04, 0.05, 0.07])
    assert better == "learned better" and p < 0.05
    assert verdict([-0.05, -0.06, -0.04, -0.05, -0.07])[0] == "worse"
    assert verdict([0.05, -0.06, 0.04, -0.05, 0.01])[0] == "no difference"


def test_ablation_runs_the_protocol(tmp_path, capsys):
    report = tmp_path / "abl"
    assert experiment_main(["ablation", *TINY, "--report", str(report)]) == 0
    result = json.loads((report / "report.json").read_text())
    assert result["same_initial_weights"] is True
    runs = result["runs"]
    assert len(runs) == 2 * len(SETTINGS) * len(LR_THRESHOLDS)
    for r in runs:
        val = [row["val_acc"] for row in r["history"]]
        assert r["chosen_epoch"] == int(np.argmax(val)) + 1
        assert r["test_acc"] == r["history"][r["chosen_epoch"] - 1]["test_acc"]
        layers = r["history"][-1]["layers"]
        if r["lr_th"] == 0:  # fixed thresholds never move
            assert all(la["th_moved_pct"] == 0 and la["th_std"] == 0 for la in layers)
    fig6 = [r for r in runs if r["setting"] == "fig6" and r["seed"] == 0]
    assert len({r["weight_checksum"] for r in fig6}) == 1
    for rows in result["summary"].values():
        assert set(rows) == {"0", "0.001", "0.01"}
        assert rows["0.01"]["verdict"] in ("learned better", "no difference", "worse")
    text = (report / "report.md").read_text()
    assert "| fig6 (0.25, 3, 3) | 0.01 |" in text and "paired t-test" in text
    assert {p.name for p in report.glob("*.png")} == {
        "ablation_accuracy.png", "ablation_dead.png", "ablation_rate.png",
        "ablation_thresholds.png"}
    assert capsys.readouterr().out.startswith("# Ablation")  # report.md, printed


@pytest.mark.parametrize("flag", ["--threshold-init", "--lr-threshold", "--surrogate-tau"])
def test_ablation_refuses_what_its_protocol_fixes(tmp_path, capsys, flag):
    assert experiment_main(["ablation", *TINY, flag, "0.5", "--report",
                            str(tmp_path / "x")]) == 1
    assert "protocol fixes" in capsys.readouterr().err

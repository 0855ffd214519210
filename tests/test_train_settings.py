"""TrainSettings: the one validated record of a run's settings. Resolution from presets
and the command line, errors naming parameters (and the CLI naming flags), checkpoints
and model files of earlier versions, and the run's settings in model.pt."""

import argparse
import pickle
from dataclasses import fields

import pytest
import torch

from rouser_lava.cli import train_main
from rouser_lava.cli.common import flag, train_settings
from rouser_lava.data.registry import DATA_OPTIONS
from rouser_lava.errors import UserError, name_parameters_as
from rouser_lava.model.modelfile import load_model
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.training import runfiles
from rouser_lava.training.distributed import Ranks, agree
from rouser_lava.training.loop import TrainConfig, config_dict
from rouser_lava.training.presets import PRESETS, resolve
from rouser_lava.training.settings import TrainSettings

TINY = ["--preset", "digits", "--hidden", "12", "--time-steps", "8", "--batch-size", "64",
        "--quiet"]


def test_defaults_are_the_loop_and_neuron_defaults():
    s = TrainSettings()
    loop, neuron = TrainConfig(), NeuronConfig()
    assert s.train_config() == loop
    assert s.neuron_config() == neuron
    assert s.to_dict()["hidden"] == [128] and s.readout == "spikes"
    assert TrainSettings(neuron="single-spike").readout == "membrane"  # the paper's
    assert TrainSettings(neuron="single-spike", readout="spikes").readout == "spikes"
    assert set(DATA_OPTIONS) <= {f.name for f in fields(TrainSettings)}
    assert TrainSettings(time_steps=8, encoding=None).data_options == {"time_steps": 8}


@pytest.mark.parametrize("param, value", [
    ("epochs", 0), ("epochs", 1.5), ("batch_size", 0), ("lr", 0.0), ("lr", 2.0),
    ("lr_threshold", float("nan")), ("lr_schedule", "step"), ("seed", -1),
    ("seed", 1 << 32), ("hidden", ()), ("hidden", (0,)), ("threshold_init", 0.0),
    ("thresholds", "both"), ("deploy", "fold"), ("neuron", "lif"), ("readout", "v"),
    ("current_decay", 1.5), ("time_steps", 0), ("bin_ms", 0.0), ("dataset", "mnist"),
])
def test_a_bad_value_is_a_user_error_naming_the_parameter(param, value):
    with pytest.raises(UserError) as err:
        TrainSettings(**{param: value})
    assert f"`{param}`" in str(err.value) and "--" not in str(err.value)
    with name_parameters_as(flag), pytest.raises(UserError) as err:
        TrainSettings(**{param: value})
    assert flag(param) in str(err.value)


def test_fold_exact_rule_names_parameters_and_the_cli_names_flags():
    with pytest.raises(UserError) as err:
        TrainSettings(deploy="fold-exact", neuron="single-spike")
    assert str(err.value) == ("`deploy` fold-exact needs `neuron` cuba and `readout` spikes "
                              "(got single-spike, membrane): the fold assumes reset to zero")
    with name_parameters_as(flag), pytest.raises(UserError) as err:
        TrainSettings(deploy="fold-exact", neuron="single-spike")
    assert str(err.value) == ("--deploy fold-exact needs --neuron cuba and --readout spikes "
                              "(got single-spike, membrane): the fold assumes reset to zero")
    # fine-tuning takes the model file's neuron: checked when that is read
    assert TrainSettings(deploy="fold-exact", readout="membrane", init="m.pt").fold_exact


def test_errors_survive_pickling_and_agree():
    err = pickle.loads(pickle.dumps(UserError("lower `lr`")))
    assert str(err) == "lower `lr`"

    def fail():
        raise UserError("batch_size 3 is odd")
    with pytest.raises(UserError, match="batch_size 3 is odd"):
        agree(Ranks(), fail)


def test_launch_errors_name_parameters():
    with name_parameters_as(flag), pytest.raises(UserError) as err:
        runfiles.check_launch(TrainSettings(batch_size=33), Ranks(0, 2))
    assert str(err.value).startswith("--batch-size 33 is the global batch, split "
                                     "equally over the 2 processes")
    with name_parameters_as(flag), pytest.raises(UserError) as err:
        runfiles.check_launch(TrainSettings(deploy="fold-exact"),
                               Ranks(device=torch.device("cuda")))
    assert str(err.value).endswith("use --device cpu")
    assert flag("init_dataset") == "--dataset"


def test_resolve_command_line_over_preset_over_defaults():
    s = resolve("yinyang-ss", {"epochs": 3, "lr": None, "hidden": (7,)})
    assert (s.epochs, s.hidden, s.lr, s.neuron, s.readout) == \
        (3, (7,), PRESETS["yinyang-ss"]["lr"], "single-spike", "membrane")
    assert s.batch_size == 32 and s.init_dataset is None
    assert resolve(None, {"init": "m.pt"}).init_dataset is None  # not the default digits
    assert resolve("shd", {"init": "m.pt"}).init_dataset == "shd"
    assert resolve("shd", {"init": "m.pt", "dataset": "digits"}).init_dataset == "digits"
    with pytest.raises(UserError, match="unknown preset 'x'"):
        resolve("x", {})


def test_experiment_options_that_are_not_run_settings_are_left_out():
    args = argparse.Namespace(preset=None, deploy=False, thresholds=[0.5, 1.0], epochs=2)
    s = train_settings(args, thresholds=None, deploy=None)
    assert (s.deploy, s.thresholds, s.epochs) == ("vector", "learned", 2)


# settings as checkpoints of earlier versions hold them: no lr_schedule, neuron,
# readout or decays; rouser-experiment's --deploy flag; unset data options absent
OLD = {"epochs": 2, "batch_size": 64, "lr": 1e-3, "lr_threshold": 1e-3, "true_rate": 0.2,
       "false_rate": 0.03, "seed": 0, "hidden": [12], "dataset": "digits",
       "threshold_init": 1.25, "thresholds": "learned", "deploy": False, "init": None,
       "time_steps": 8}


def test_settings_of_earlier_checkpoints_take_the_defaults():
    s = TrainSettings.from_dict(OLD)
    assert (s.lr_schedule, s.neuron, s.readout, s.deploy, s.hidden) == \
        ("constant", "cuba", "spikes", "vector", (12,))
    assert TrainSettings.from_dict(s.to_dict()) == s
    with pytest.raises(UserError, match="unknown training setting.*: preset"):
        TrainSettings.from_dict({**OLD, "preset": "digits"})


def test_resume_from_a_checkpoint_of_an_earlier_version(tmp_path):
    new, old = tmp_path / "new.pt", tmp_path / "old.pt"
    run = [*TINY, "--epochs", "1", "--seed", "0"]
    assert train_main([*run, "--out", str(new)]) == 0
    assert train_main([*run, "--out", str(old)]) == 0
    ckpt_path = tmp_path / "old.ckpt.pt"
    ckpt = torch.load(ckpt_path, weights_only=True)
    ckpt["settings"] = {**OLD, "epochs": 1}
    torch.save(ckpt, ckpt_path)
    for out in (new, old):
        assert train_main(["--resume", "--epochs", "2", "--out", str(out), "--quiet"]) == 0
    a, b = (torch.load(p, weights_only=True) for p in (new, old))
    assert all(torch.equal(a["state_dict"][k], b["state_dict"][k]) for k in a["state_dict"])
    assert b["train"] == {**TrainSettings.from_dict(OLD).to_dict(), "epochs": 2}


def test_model_file_records_the_settings_and_old_files_still_serve_init(tmp_path):
    out = tmp_path / "m.pt"
    assert train_main([*TINY, "--epochs", "1", "--lr", "0.002", "--out", str(out)]) == 0
    _, record = load_model(out)
    settings = TrainSettings.from_dict(record["train"])
    assert settings == resolve("digits", {"hidden": (12,), "time_steps": 8,
                                          "batch_size": 64, "epochs": 1, "lr": 0.002})
    assert record["dataset"]["train"] == config_dict(settings.train_config())
    del record["train"]  # a model file of an earlier version
    torch.save(record, tmp_path / "old.pt")
    assert train_main(["--init", str(tmp_path / "old.pt"), "--epochs", "1", "--quiet",
                       "--out", str(tmp_path / "tuned.pt")]) == 0
    tuned = torch.load(tmp_path / "tuned.pt", weights_only=True)
    assert tuned["train"]["init"] == str(tmp_path / "old.pt")

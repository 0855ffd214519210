"""Issue 23: what rouser-export writes beside a netx network (dataset record, threshold
form, tSample) and every field of a model file are checked at the boundary, before any
run or build: one line naming the file and the field, exit 1, the file unchanged. Stored
dataset shapes are checked before a byte is read."""

from __future__ import annotations

import copy
import json
import math
import time

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.cli import compare_main, export_main, run_main, train_main

from .conftest import error_line


@pytest.fixture
def net(exported_net):
    return exported_net


def _edit(path, edit) -> None:
    with h5py.File(path, "a") as f:
        edit(f)


def _replace(f, name: str, **dataset) -> None:
    del f[name]
    f.create_dataset(name, **dataset)


def _fractional(f) -> None:
    w = f["layer/1/weight"][()].astype(np.float64)
    w[0, 0] += 0.5
    _replace(f, "layer/1/weight", data=w)


NETX_CASES = [
    ("dataset int", lambda f: f.attrs.__setitem__("rouser_dataset", 5),
     "attribute rouser_dataset is not JSON"),
    ("dataset list", lambda f: f.attrs.__setitem__("rouser_dataset", "[1, 2]"),
     "attribute rouser_dataset: expected a dataset record"),
    ("dataset steps", lambda f: f.attrs.__setitem__(
        "rouser_dataset", json.dumps({"name": "digits", "encoding": {"time_steps": "8"}})),
     "encoding.time_steps '8': expected an integer in 1..16777216"),
    ("form int", lambda f: f.attrs.__setitem__("rouser_threshold_form", 3),
     "attribute rouser_threshold_form 'int64': expected fold or vector"),
    ("form unknown", lambda f: f.attrs.__setitem__("rouser_threshold_form", "magic"),
     "attribute rouser_threshold_form 'magic'"),
    ("fractional weight", _fractional, "layer/1 (dense): weight [0.5]: must be integers"),
    ("tSample 1e9", lambda f: _replace(f, "simulation/tSample", data=10 ** 9),
     "/simulation/tSample [1000000000]: expected one integer in 1..16777216"),
    ("huge vThMant", lambda f: _replace(f, "layer/1/neuron/vThMant", shape=(10 ** 11,),
                                        dtype="i8", chunks=(1 << 20,), compression="gzip"),
     "vThMant of size 100000000000: expected size 1 or 32"),
    ("huge weight", lambda f: _replace(f, "layer/2/weight", shape=(10, 10 ** 10), dtype="f8",
                                       chunks=(1, 1 << 20), compression="gzip"),
     "weight of shape (10, 10000000000): expected (10, 32)"),
    ("huge type", lambda f: _replace(f, "layer/1/type", shape=(10 ** 9,), dtype="S5",
                                     chunks=(1 << 20,), compression="gzip"),
     "type of size 1000000000: expected one ASCII string"),
]


@pytest.mark.parametrize("name, edit, expected", NETX_CASES, ids=[c[0] for c in NETX_CASES])
def test_netx_metadata_and_stored_shapes(net, capsys, name, edit, expected):
    _edit(net, edit)
    before = net.read_bytes()
    start = time.monotonic()
    assert run_main([str(net), "--limit", "2"]) == 1
    assert time.monotonic() - start < 10  # the stored shape refuses it unread
    assert expected in error_line(capsys)
    assert net.read_bytes() == before


def _model(model_file, tmp_path, edit):
    record = torch.load(model_file, weights_only=True)
    record = copy.deepcopy(record)
    edit(record)
    path = tmp_path / "bad.pt"
    torch.save(record, path)
    return path


MODEL_CASES = [
    ("dataset string", lambda r: r.__setitem__("dataset", "digits"),
     "field 'dataset': expected a dataset record"),
    ("time_steps 0", lambda r: r["dataset"]["encoding"].__setitem__("time_steps", 0),
     "encoding.time_steps 0: expected an integer in 1..16777216"),
    ("time_steps -3", lambda r: r["dataset"]["encoding"].__setitem__("time_steps", -3),
     "encoding.time_steps -3"),
    ("decay 7", lambda r: r["neuron"].__setitem__("current_decay", 7),
     "field 'neuron.current_decay' 7: expected a fraction in [0, 1]"),
    ("decay NaN", lambda r: r["neuron"].__setitem__("voltage_decay", math.nan),
     "field 'neuron.voltage_decay' nan"),
    ("threshold 1e30", lambda r: r["state_dict"]["blocks.0.neuron.threshold"].fill_(1e30),
     "layer0 has thresholds up to 1e+30; expected at most 1048576"),
    ("threshold negative", lambda r: r["state_dict"]["blocks.1.neuron.threshold"].fill_(-1),
     "layer1 has non-positive thresholds"),
    ("weight 1e30", lambda r: r["state_dict"]["blocks.0.synapse.weight"].fill_(1e30),
     "layer0 has weights up to 1e+30"),
    ("history string", lambda r: r.__setitem__("history", "abc"),
     "field 'history' 'abc': expected a list of per-epoch dicts"),
    ("input_shape", lambda r: r.__setitem__("input_shape", [64, 0]),
     "field 'input_shape' [64, 0]: expected 1 or 3 integers"),
    ("arch kind", lambda r: r["arch"][0].__setitem__("kind", "lstm"),
     "field 'arch[0]'"),
    ("neuron name", lambda r: r["neuron"].__setitem__("neuron", 3),
     "field 'neuron.neuron' 3: expected cuba or single-spike"),
]


@pytest.mark.parametrize("name, edit, expected", MODEL_CASES, ids=[c[0] for c in MODEL_CASES])
def test_model_fields_in_every_command(model_file, net, tmp_path, capsys, name, edit,
                                       expected):
    bad = _model(model_file, tmp_path, edit)
    before = bad.read_bytes()
    for main, argv in ((export_main, [bad, tmp_path / "o.net"]),
                       (run_main, [bad, "--limit", "2"]),
                       (train_main, ["--init", bad, "--epochs", "1", "--out",
                                     tmp_path / "t.pt", "--quiet"]),
                       (compare_main, [bad, net, "--report", tmp_path / "r"])):
        assert main([str(a) for a in argv]) == 1
        assert expected in error_line(capsys)
    assert bad.read_bytes() == before
    assert not any((tmp_path / name).exists() for name in ("o.net", "t.pt", "r"))

"""``--arch``: the grammar round trip, one-line errors naming layer and shapes, and the
conv and recurrent presets training one epoch on the format fixtures, exported and
mapped on Loihi 2 (rouser-map verdict "fits")."""

from __future__ import annotations

import json

import pytest
import torch

from rouser_lava.cli import export_main, map_main, train_main
from rouser_lava.errors import UserError
from rouser_lava.model.archspec import format_arch, parse_arch
from rouser_lava.model.blocks import conv_spec, dense_spec, pool_spec, recurrent_spec
from rouser_lava.training.presets import CORES, PRESETS, resolve
from rouser_lava.training.settings import TrainSettings

from .conftest import error_line
from .event_files import write_dvs_tonic, write_nmnist_folder, write_shd_folder


@pytest.mark.parametrize("text, shape, classes", [
    ("c16k5s2p2-p2-c32k3p1g2-p2-f-d128-d11", (2, 128, 128), 11),
    ("p4-c16k5s2p2-p2-c32k3p1-p2-f-d128-d11", (2, 128, 128), 11),
    ("r256b-r64-d20", (700,), 20),
    ("c4k3b-p2-f-d8b-d3", (2, 8, 8), 3),
    ("d5", (4,), 5),
])
def test_round_trip(text, shape, classes):
    arch = parse_arch(text, shape, classes)
    assert format_arch(arch) == text
    assert parse_arch(format_arch(arch), shape, classes) == arch


def test_parse_gives_the_layer_dicts():
    arch = parse_arch("c8k3s2p1g2-p2-f-r10b-d3", (2, 9, 9), 3)
    assert arch == [conv_spec(2, 8, 3, stride=2, padding=1, groups=2), pool_spec(8, 2),
                    {"kind": "flatten"}, recurrent_spec(8 * 2 * 2, 10, bias=True),
                    dense_spec(10, 3)]
    assert parse_arch("c4-f-d1", (1, 5, 5), 1)[0] == conv_spec(1, 4, 3)  # k3 s1 p0 g1


@pytest.mark.parametrize("text, shape, message", [
    ("c16-d10", (2, 8, 8), r"layer 1 'd10': takes \(N,\) input, gets \(16, 6, 6\); put 'f'"),
    ("c16k5-f-d10", (700,), r"layer 0 'c16k5': conv takes \(C, H, W\) input, gets \(700,\)"),
    ("p4-p4-f-d10", (2, 8, 8), r"layer 1 'p4': pool 4x4 is larger than the input "
                               r"\(2, 2, 2\)"),
    ("c8k9-f-d10", (2, 8, 8), r"layer 0 'c8k9': kernel 9 is larger than the padded input "
                              r"8x8"),
    ("c9g2-f-d10", (2, 8, 8), r"layer 0 'c9g2': channels 2 -> 9.*groups must divide"),
    ("r64-d7", (700,), r"must end with d20 or r20 .* ends with 'd7' giving \(7,\)"),
    ("r64-x3", (700,), r"layer 1 'x3' is not a layer"),
    ("p2b-d20", (700,), r"layer 0 'p2b' is not a layer"),
    ("r64-f-d20", (700,), r"layer 1 'f': flatten takes \(C, H, W\) input, gets \(64,\)"),
])
def test_errors_name_layer_and_shapes(text, shape, message):
    with pytest.raises(UserError, match=message):
        parse_arch(text, shape, 20 if shape == (700,) else 10)


def test_settings_refuse_recurrent_single_spike_and_bad_syntax():
    with pytest.raises(UserError, match="layer 0 'r64': recurrent and biased layers hold"):
        TrainSettings(arch="r64-d10", neuron="single-spike")
    with pytest.raises(UserError, match=r"layer 1 'd10b': .*readout\W* membrane"):
        TrainSettings(arch="d64-d10b", readout="membrane")
    with pytest.raises(UserError, match="layer 1 'q' is not a layer"):
        TrainSettings(arch="d64-q-d10")
    assert resolve("shd-rec", {}).arch == "r128-d20"
    assert resolve("shd-rec", {"hidden": (32,)}).arch is None  # --hidden replaces it


def test_cli_error_is_one_line(capsys):
    assert train_main(["--arch", "c16-d10", "--epochs", "1", "--quiet"]) == 1
    line = error_line(capsys)
    assert "--arch layer 0 'c16': conv takes (C, H, W) input, gets (64,)" in line


FIXTURES = {"dvs128-conv": lambda root: write_dvs_tonic(root),
            "shd-rec": lambda root: write_shd_folder(root),
            "nmnist-conv": lambda root: write_nmnist_folder(root, per_class=1)}


@pytest.mark.slow
@pytest.mark.parametrize("preset", sorted(FIXTURES))
def test_presets_train_export_and_fit_loihi2(preset, tmp_path, capsys):
    root = tmp_path / "data"
    FIXTURES[preset](root)
    model, net = tmp_path / "model.pt", tmp_path / "model.net"
    assert train_main(["--preset", preset, "--data-root", str(root), "--cache-dir",
                       str(tmp_path / "cache"), "--epochs", "1", "--out", str(model),
                       "--quiet"]) == 0
    record = torch.load(model, weights_only=True)
    assert format_arch(record["arch"]) == PRESETS[preset]["arch"]  # stored as plain arch
    assert export_main([str(model), str(net)]) == 0
    assert map_main([str(net), "--hw-config", "loihi2-oheogulch", "--json",
                     str(tmp_path / "m.json")]) == 0
    out = capsys.readouterr().out
    assert "verdict: fits: loihi2-oheogulch" in out
    doc = json.loads((tmp_path / "m.json").read_text())
    assert doc["fits"] and doc["chips"] == 1 and doc["cores"] == CORES[preset]  # as --help says
    kinds = {"dvs128-conv": "conv", "nmnist-conv": "conv", "shd-rec": "dense_rec"}[preset]
    assert f"({kinds})" in out

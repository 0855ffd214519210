"""Provenance in the files the CLI writes, and ``rouser-info`` on each kind of file."""

from __future__ import annotations

import importlib.util
import json
import logging
import platform
from importlib import metadata
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch

from rouser_lava.cli import export_main, info_main, map_main
from rouser_lava.interop.nir_export import nir_graph
from rouser_lava.model.modelfile import load_model
from rouser_lava.netx.file import read_netx
from rouser_lava.provenance import read_provenance

from .conftest import error_line


def _common(prov: dict) -> None:
    """The fields every provenance record written here has, with this process's values."""
    assert prov["tool"] == "rouser-lava"
    assert prov["version"] == metadata.version("rouser-lava")
    assert prov["python"] == platform.python_version()
    assert prov["torch"] == metadata.version("torch")
    assert prov["world_size"] == 1


def test_model_and_checkpoint_record_the_training_run(model_file):
    for path in (model_file, model_file.with_name("model.ckpt.pt")):
        prov = torch.load(path, weights_only=True)["provenance"]
        _common(prov)
        assert prov["argv"] == ["rouser-train", "--epochs", "1", "--hidden", "32", "--out",
                                str(model_file), "--quiet"]
        assert prov["seed"] == 0 and prov["device"] == "cpu"


def test_netx_and_nir_exports_record_the_export(model_file, tmp_path, capsys):
    net, graph = tmp_path / "n.net", tmp_path / "g.nir"
    assert export_main([str(model_file), str(net)]) == 0
    assert export_main([str(model_file), str(graph)]) == 0
    with h5py.File(net, "r") as f:
        raw = json.loads(f.attrs["rouser_provenance"])
    assert read_netx(str(net)).metadata.provenance == raw
    from_nir = json.loads(nir.read(graph, type_check=False).metadata["provenance"])
    trained = torch.load(model_file, weights_only=True)["provenance"]
    for prov, out in ((raw, net), (from_nir, graph)):
        _common(prov)
        assert prov["argv"] == ["rouser-export", str(model_file), str(out)]
        assert prov["seed"] == 0  # the model's training seed
        assert prov["model"] == trained  # and the training run's own record


def test_info_on_a_model_text_and_json(model_file, tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    out = tmp_path / "info.json"
    assert info_main([str(model_file), "--json", str(out)]) == 0
    assert f"wrote {out} (the description, JSON)" in caplog.text
    text = capsys.readouterr().out
    assert "layer0  dense     (32,)" in text and "layer1  dense     (10,)" in text
    assert "validation {\"source\": \"carved\"" in text
    assert "world size 1" in text and "command: rouser-train --epochs 1" in text
    doc = json.loads(out.read_text())
    assert doc["kind"] == "model" and doc["input_shape"] == [64]
    net, _ = load_model(model_file)
    for row, block in zip(doc["layers"], net.spiking_blocks()):
        th = block.neuron.threshold.detach().double().numpy()
        assert row["thresholds"]["count"] == th.size
        assert row["thresholds"]["min"] == pytest.approx(th.min())
        assert row["thresholds"]["mean"] == pytest.approx(th.mean())
        assert row["thresholds"]["max"] == pytest.approx(th.max())
        assert row["thresholds"]["min"] < row["thresholds"]["max"]  # trained: they differ
    assert [row["shape"] for row in doc["layers"]] == [[32], [10]]
    assert doc["dataset"]["name"] == "digits"
    assert doc["dataset"]["validation"]["source"] == "carved"
    assert doc["train"]["hidden"] == [32] and doc["epochs"] == 1
    assert doc["provenance"]["world_size"] == 1
    assert doc["provenance"]["argv"][0] == "rouser-train"


def test_info_on_a_checkpoint(model_file, capsys):
    assert info_main([str(model_file.with_name("model.ckpt.pt"))]) == 0
    text = capsys.readouterr().out
    assert "rouser-train checkpoint after epoch 1" in text and "world size 1" in text


def test_info_on_a_netx_file_maps_it_as_rouser_map_does(exported_net, tmp_path, capsys):
    info, mapped = tmp_path / "info.json", tmp_path / "map.json"
    assert info_main([str(exported_net), "--json", str(info)]) == 0
    text = capsys.readouterr().out
    assert map_main([str(exported_net), "--json", str(mapped), "--hw-config",
                     "loihi2-oheogulch"]) == 0
    doc, reference = json.loads(info.read_text()), json.loads(mapped.read_text())
    assert doc["map"]["cores"] == reference["cores"] > 0
    assert doc["map"]["verdict"] == reference["verdict"] == "fits"
    assert doc["map"]["hw_config"] == "loihi2-oheogulch"
    assert [(la["name"], la["shape"], la["neuron_type"]) for la in doc["layers"]] == [
        ("input", [64], None), ("layer0", [32], "CUBA"), ("layer1", [10], "CUBA")]
    assert doc["threshold_form"] == "fold" and doc["time_steps"] == 32
    assert doc["dataset"]["name"] == "digits"
    assert doc["provenance"]["argv"][0] == "rouser-export"
    assert f"map on loihi2-oheogulch: fits: loihi2-oheogulch: {reference['cores']} cores" \
        in text
    assert "export: threshold form fold; dataset digits" in text
    assert "provenance of the model exported: rouser-lava" in text
    assert doc["provenance"]["model"]["argv"][0] == "rouser-train"


def test_info_on_a_netx_file_another_hw_config(exported_net, capsys):
    assert info_main([str(exported_net), "--hw-config", "lava-cpu-sim"]) == 0
    assert "map on lava-cpu-sim: fits" in capsys.readouterr().out


def test_info_on_a_nir_graph_text_and_json(model_file, tmp_path, capsys):
    graph, out = tmp_path / "g.nir", tmp_path / "g.json"
    assert export_main([str(model_file), str(graph)]) == 0
    assert info_main([str(graph), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert [(n["name"], n["type"], n["shape"]) for n in doc["nodes"]] == [
        ("input", "Input", [64]), ("synapse0", "Affine", [32, 64]),
        ("neuron0", "CubaLIF", [32]), ("synapse1", "Affine", [10, 32]),
        ("neuron1", "CubaLIF", [10]), ("output", "Output", [10])]
    assert doc["metadata"] == {"convention": "lava", "dt": 1e-4, "source": "rouser-lava"}
    assert doc["provenance"]["argv"] == ["rouser-export", str(model_file), str(graph)]
    assert "NIR graph, 6 nodes, 5 edges" in text and "command: rouser-export" in text


def test_files_without_or_with_damaged_provenance_still_read(model_file, exported_net,
                                                             dense_net, tmp_path, capsys):
    record = torch.load(model_file, weights_only=True)
    graph = nir_graph(dense_net)
    for n, damaged in enumerate((None, 5, "{not json", {"argv": 3, "world_size": "2",
                                                        "seed": True, "version": "0.1"})):
        old_pt, old_net, old_nir = (tmp_path / f"old{n}{s}" for s in (".pt", ".net", ".nir"))
        pt_record = {k: v for k, v in record.items() if k != "provenance"}
        old_net.write_bytes(exported_net.read_bytes())
        graph.metadata.pop("provenance", None)
        with h5py.File(old_net, "a") as f:
            del f.attrs["rouser_provenance"]
            if damaged is not None:
                pt_record["provenance"] = damaged
                f.attrs["rouser_provenance"] = json.dumps(damaged)
                graph.metadata["provenance"] = damaged if isinstance(damaged, str) else \
                    json.dumps(damaged)
        torch.save(pt_record, old_pt)
        nir.write(old_nir, graph)
        load_model(old_pt)  # the readers of earlier versions' files: unchanged
        expected = {"version": "0.1"} if isinstance(damaged, dict) else None
        assert read_netx(str(old_net)).metadata.provenance == expected
        for path in (old_pt, old_net, old_nir):
            out = tmp_path / f"{path.name}.json"
            assert info_main([str(path), "--json", str(out)]) == 0, capsys.readouterr().err
            assert json.loads(out.read_text())["provenance"] == expected
            text = capsys.readouterr().out
            assert ("provenance: none recorded" in text) == (expected is None)
            assert "provenance: rouser-lava 0.1" in text or expected is None


@pytest.mark.parametrize("name, content, problem", [
    ("bad.pt", b"not a torch file", "not a readable model file"),
    ("bad.net", b"not hdf5", "bad.net"),
    ("bad.nir", b"not hdf5", "not a readable NIR file"),
    ("absent.net", None, "no such file"),
    ("notes.txt", b"text", "unknown suffix '.txt'"),
])
def test_info_errors_are_one_line(tmp_path, capsys, name, content, problem):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    assert info_main([str(path)]) == 1
    assert problem in error_line(capsys)


def test_info_refuses_to_write_json_over_the_file(exported_net, tmp_path, capsys):
    assert info_main([str(exported_net), "--json", str(exported_net)]) == 1
    assert "would overwrite" in error_line(capsys)
    assert info_main([str(exported_net), "--json", str(tmp_path / "x.txt")]) == 1
    assert "--json" in error_line(capsys)


def test_read_provenance_keeps_only_well_typed_fields():
    assert read_provenance(None) is None and read_provenance([1]) is None
    assert read_provenance({"argv": ["a", 1], "world_size": 2, "device": "cpu",
                            "extra": "x"}) == {"world_size": 2, "device": "cpu"}
    assert read_provenance({"argv": ["rouser-train"], "seed": np.int64(3).item()}) == \
        {"argv": ["rouser-train"], "seed": 3}
    nested = {"world_size": 1, "model": {"world_size": 2, "model": {"world_size": 3}}}
    assert read_provenance(nested) == {"world_size": 1, "model": {"world_size": 2}}
    assert read_provenance({"model": "x"}) == {}


def test_benchmark_results_carry_a_provenance_line(tmp_path):
    root = Path(__file__).resolve().parents[1]
    spec = importlib.util.spec_from_file_location("run_all", root / "benchmarks" /
                                                  "run_all.py")
    assert spec is not None and spec.loader is not None
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    out = tmp_path / "RESULTS.md"
    run_all.write(out, run_all._machine(), [], ("0.1", "0.2"))
    line = [row for row in out.read_text().splitlines() if row.startswith("- provenance: ")]
    assert len(line) == 1 and line[0].startswith("- provenance: rouser-lava ")
    assert f"torch {metadata.version('torch')}" in line[0] and "world size 1" in line[0]


def test_info_on_a_lavadl_netx_file_from_elsewhere(tmp_path, capsys):
    """lava-dl's PilotNet (LIF): no rouser-export metadata, no provenance; its map is
    the compiler's 74 cores (tests/test_map.py)."""
    path = Path(__file__).parent / "data" / "lavadl_pilotnet_lif" / "network.net"
    out = tmp_path / "p.json"
    assert info_main([str(path), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    doc = json.loads(out.read_text())
    assert doc["provenance"] is None and doc["threshold_form"] is None
    assert doc["dataset"] == {} and doc["map"]["cores"] == 74
    assert doc["layers"][-1]["membrane_readout"] is True
    assert "export: threshold form not recorded; dataset not recorded" in text
    assert "provenance: none recorded" in text

"""rouser-compare end to end on digits, and how it reports an emulator/Lava divergence."""

import json

import numpy as np
import pytest

from rouser_lava.backends import run
from rouser_lava.cli import compare_main, export_main
from rouser_lava.comparison.compare import first_divergence


@pytest.mark.lava
def test_compare_end_to_end(model_file, tmp_path, capsys):
    net = tmp_path / "net.net"
    assert export_main([str(model_file), str(net)]) == 0
    report = tmp_path / "report"
    assert compare_main([str(model_file), str(net), "--lava-samples", "5",
                         "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "emulator == Lava: 0 mismatched spikes on 5 samples" in out
    for name in ("report.json", "report.md", "accuracy.png", "layer_spikes.png",
                 "neuron_scatter.png", "raster.png"):
        assert (report / name).stat().st_size > 0, name
    doc = json.loads((report / "report.json").read_text())
    assert set(doc) >= {"dataset", "accuracy", "samples", "prediction_agreement",
                        "layers", "lava_mismatches", "first_divergence"}
    assert set(doc["accuracy"]) == {"torch", "emulator", "lava"}
    assert doc["samples"] == {"torch": 360, "emulator": 360, "lava": 5}
    assert doc["lava_mismatches"] == 0 and doc["first_divergence"] is None
    assert doc["provenance"]["argv"][0] == "rouser-compare"
    assert doc["provenance"]["world_size"] == 1 and doc["provenance"]["tool"] == "rouser-lava"
    layer = doc["layers"][0]
    assert set(layer) == {"name", "neurons", "trained_spikes", "deployed_spikes", "delta",
                          "relative_delta", "correlation", "silent_deployed_active_trained",
                          "silent_trained_active_deployed", "mismatched_spikes",
                          "bit_exact_with_training", "trained_synops_per_sample",
                          "deployed_synops_per_sample"}
    assert layer["deployed_spikes"] - layer["trained_spikes"] == layer["delta"]
    assert 0.5 < layer["correlation"] <= 1.0
    assert doc["mismatched_spikes_samples"] == 360  # fold re-rounds: not bit-exact
    assert doc["mismatched_spikes"] == sum(la["mismatched_spikes"] for la in doc["layers"]) > 0
    assert "bit-exact with training (torch vs emulator, 360 samples): layer0 no" in out
    assert doc["readout"] == "spikes" and doc["readout_mismatches"] is None
    act = doc["per_sample"]["emulator"]
    assert act["synops"][0] == pytest.approx(layer["deployed_synops_per_sample"])
    assert act["synops"][1] == pytest.approx(act["spikes"][0] * 10)  # 10 outputs
    assert act["hidden_spikes"] == pytest.approx(layer["deployed_spikes"] / 360)


@pytest.mark.lava
def test_divergence_is_located_and_fails_the_command(model_file, tmp_path, capsys,
                                                     monkeypatch):
    """Fault injection: flip one emulator spike; compare must name it and exit 3."""
    net = tmp_path / "net.net"
    assert export_main([str(model_file), str(net)]) == 0
    real = run.emulator_backend

    def faulty(path, *args):
        backend = real(path, *args)

        def flipped(x, bias):
            out = backend(x, bias)
            out.spikes[1][1, 4, 20] ^= 1  # batch sample 1, layer1, neuron 4, step 20
            return out
        return flipped

    monkeypatch.setattr(run, "emulator_backend", faulty)
    code = compare_main([str(model_file), str(net), "--lava-samples", "3",
                         "--report", str(tmp_path / "r")])
    assert code == 3
    out = capsys.readouterr()
    assert "first at sample 1, layer1, neuron 4, step 20" in out.out
    assert "emulator and Lava disagree" in out.err


def test_first_divergence_orders_by_sample_then_time():
    a = [np.zeros((3, 4, 10), np.uint8), np.zeros((3, 2, 10), np.uint8)]
    b = [x.copy() for x in a]
    b[0][2, 1, 1] = 1
    b[1][1, 0, 7] = 1
    b[0][1, 3, 8] = 1
    count, d = first_divergence(a, b, ["layer0", "layer1"], ("emulator", "lava"))
    assert count == 3
    assert (d.sample, d.layer, d.neuron, d.step, d.first, d.second) == (1, "layer1", 0, 7,
                                                                        0, 1)
    assert d.to_json() == {"sample": 1, "layer": "layer1", "neuron": 0, "step": 7,
                           "emulator": 0, "lava": 1}

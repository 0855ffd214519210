"""Single-spike networks deployed end to end: the training forward equals the exported
netx file on the emulator and on Lava spike for spike at every layer, one spike per
neuron at most, and a membrane readout's logits equal ``v`` after the last step
exactly; the export's fields, the refused fold, the design rules and rouser-compare."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.backends.activity import layer_synops
from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.backends.lava_sim import simulate
from rouser_lava.cli import compare_main, export_main, train_main
from rouser_lava.deploy.design_rules import check_design_rules
from rouser_lava.deploy.hw_config import load_hw_config
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.loihi import TH_MANT_MAX
from rouser_lava.model.blocks import RouserNet, conv_spec, dense_spec
from rouser_lava.model.modelfile import save_model
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.netx.check import check_netx
from rouser_lava.netx.write import netx_bytes
from tests.conftest import error_line, random_spikes, random_thresholds

T = 30
CFG = NeuronConfig(neuron="single-spike", readout="membrane", current_decay=1.0,
                   voltage_decay=0.1, readout_decay=0.05)


def _net(kind: str, readout: str) -> RouserNet:
    """A random single-spike network whose hidden layers all spike on the test input."""
    torch.manual_seed(0)
    cfg = NeuronConfig(**{**CFG.to_dict(), "readout": readout})
    if kind == "dense":
        shape, arch = (10,), [dense_spec(10, 16), dense_spec(16, 12), dense_spec(12, 4)]
    else:
        shape = (2, 6, 7)
        arch = [conv_spec(2, 4, 3, padding=1), conv_spec(4, 4, 3, stride=2, padding=1),
                {"kind": "flatten"}, dense_spec(48, 5)]
    net = RouserNet(shape, arch, cfg)
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(4.0)
        readout_th = net.spiking_blocks()[-1].neuron.threshold.clone()
        random_thresholds(net, 0.3, 1.2, seed=1)
        if readout == "membrane":  # a buffer, fixed at 2**17 - 1
            net.spiking_blocks()[-1].neuron.threshold.copy_(readout_th)
    return net


@pytest.mark.parametrize("kind, readout", [("dense", "membrane"), ("conv", "membrane"),
                                           ("dense", "spikes")])
@pytest.mark.lava
def test_training_forward_equals_emulator_and_lava(kind, readout, tmp_path):
    net = _net(kind, readout)
    path = tmp_path / "ss.net"
    path.write_bytes(netx_bytes(quantize_network(net, "vector"), T))
    x = random_spikes((4, *net.input_shape, T), 0.2, seed=2)
    with torch.no_grad():
        outputs = net(torch.from_numpy(x).float())
    trained = [o.numpy().astype(np.uint8) for o in net.spike_outputs(outputs)]
    membrane = readout == "membrane"
    emu = emulate(load_netx(str(path)), x)
    lava = simulate(str(path), x, progress=False, read_v_last=membrane)
    hidden = trained[:-1] if membrane else trained
    for k, s in enumerate(hidden):
        assert s.sum() > 0, f"layer {k} silent: the test would prove nothing"
    for k, s in enumerate(trained):
        np.testing.assert_array_equal(emu.spikes[k], s, err_msg=f"emulator layer {k}")
        np.testing.assert_array_equal(lava.spikes[k], s, err_msg=f"Lava layer {k}")
        per_neuron = lava.spikes[k].reshape(len(x), -1, T).sum(-1)
        assert per_neuron.max() <= 1, f"layer {k}: a neuron fired twice on Lava"
    if membrane:
        assert trained[-1].sum() == 0 and check_netx(str(path)).membrane_readout
        logits = (net.logits(outputs[-1]).double() * 4096).to(torch.int64).numpy()
        assert np.abs(logits).max() > 0
        np.testing.assert_array_equal(emu.v_last.reshape(len(x), -1), logits)
        np.testing.assert_array_equal(lava.v_last.reshape(len(x), -1), logits)


def test_export_fields_design_rules_and_refused_fold(tmp_path, capsys, caplog):
    net = _net("dense", "membrane")
    model = tmp_path / "m.pt"
    save_model(model, net, {"name": "yinyang", "encoding": {"time_steps": T}})
    path = tmp_path / "ss.net"
    assert export_main([str(model), str(path)]) == 0  # vector: the default here
    assert "a plain lava.lib.dl.netx load ignores refDelay" in caplog.text
    with h5py.File(path, "r") as f:
        assert f.attrs["rouser_threshold_form"] == "vector"
        neurons = [f[f"layer/{i}/neuron"] for i in (1, 2, 3)]
        assert [int(n["refDelay"][()]) for n in neurons] == [T, T, 1]
        assert [int(n["iDecay"][()]) for n in neurons] == [CFG.i_decay] * 2 + \
            [CFG.readout_i_decay]
        assert int(neurons[2]["vDecay"][()]) == 0
        assert neurons[2]["vThMant"][()] == TH_MANT_MAX  # one per layer
    assert [la.ref_delay for la in check_netx(str(path)).spiking] == [T, T, 1]
    for hw in ("lava-cpu-sim", "loihi2-oheogulch"):
        warnings = check_design_rules(str(path), load_hw_config(hw), chip_rules_warn=True)
        assert {w.rule for w in warnings} <= {"threshold", "state"}
    capsys.readouterr()
    assert export_main([str(model), str(tmp_path / "f.net"), "--threshold-form",
                        "fold"]) == 1
    assert "exports only with --threshold-form vector" in error_line(capsys)
    assert not (tmp_path / "f.net").exists()
    with pytest.raises(UserError, match="single-spike"):
        quantize_network(net, "fold")


def test_cuba_membrane_readout_keeps_its_weights_in_fold_form():
    """The fold of a cuba model leaves its membrane readout (equal thresholds) as it is."""
    cfg = NeuronConfig(readout="membrane", readout_decay=0.1)
    net = RouserNet((10,), [dense_spec(10, 8), dense_spec(8, 3)], cfg)
    readout = quantize_network(net, "fold").layers[-1]
    vector = quantize_network(net, "vector").layers[-1]
    np.testing.assert_array_equal(readout.weight, vector.weight)
    assert (int(readout.v_th_mant), readout.i_decay, readout.v_decay) == \
        (TH_MANT_MAX, cfg.readout_i_decay, 0)


@pytest.mark.lava
def test_compare_single_spike_model(tmp_path, capsys):
    model, net = tmp_path / "ss.pt", tmp_path / "ss.net"
    assert train_main(["--epochs", "1", "--hidden", "24", "--neuron", "single-spike",
                       "--threshold-init", "0.5", "--out", str(model), "--quiet"]) == 0
    assert export_main([str(model), str(net)]) == 0
    report = tmp_path / "report"
    assert compare_main([str(model), str(net), "--lava-samples", "3",
                         "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert "logits differ on 0 of 360 samples torch vs emulator, 0 of 3 torch vs Lava" in out
    doc = json.loads((report / "report.json").read_text())
    assert doc["readout"] == "membrane" and doc["mismatched_spikes"] == 0
    assert doc["readout_mismatches"] == 0 and doc["lava_readout_mismatches"] == 0
    assert doc["prediction_agreement"] == 1.0
    assert doc["accuracy"]["torch"] == doc["accuracy"]["emulator"]
    act = doc["per_sample"]["emulator"]
    assert act == doc["per_sample"]["torch"]
    assert act["hidden_spikes"] == act["spikes"][0] > 0 and act["spikes"][1] == 0
    assert act["synops"][1] == pytest.approx(act["spikes"][0] * 10)  # fan-out 10
    assert act["synops_total"] == pytest.approx(sum(act["synops"]))
    assert "per sample (deployed)" in (report / "report.md").read_text()
    base = tmp_path / "base.json"  # a network with twice the activity
    base.write_text(json.dumps({"dataset": "digits", "per_sample": {"emulator": {
        "hidden_spikes": 2 * act["hidden_spikes"], "synops_total": 4 * act["synops_total"]}}}))
    assert compare_main([str(model), str(net), "--lava-samples", "1", "--baseline",
                         str(base), "--report", str(tmp_path / "r2")]) == 0
    assert "50.0 % fewer hidden spikes, 75.0 % fewer synops per sample" in \
        capsys.readouterr().out
    got = json.loads((tmp_path / "r2" / "report.json").read_text())["baseline"]
    assert got["reduction_pct"] == {"hidden_spikes": 50.0, "synops": 75.0}
    base.write_text("{}")
    assert compare_main([str(model), str(net), "--lava-samples", "1", "--baseline",
                         str(base), "--report", str(tmp_path / "r3")]) == 1
    assert "not a rouser-compare report.json" in error_line(capsys)


def test_conv_synops_count_receptive_fields(tmp_path):
    """A conv's synaptic operations: each input spike once per output neuron whose
    receptive field (stride, padding) holds it: 3x3 kernel, padding 1, 4 channels."""
    path = tmp_path / "ss.net"
    path.write_bytes(netx_bytes(quantize_network(_net("conv", "membrane"), "vector"), T))
    conv = load_netx(str(path))[0]
    counts = np.zeros((2, 6, 7), np.int64)
    counts[0, 0, 0], counts[1, 3, 3] = 1, 2  # a corner: 2x2 positions; inside: 3x3
    assert layer_synops(conv, counts, (2, 6, 7), np.zeros(0)) == 4 * (4 + 2 * 9)

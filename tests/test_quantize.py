"""Quantization and export: folding is exact without rounding, errors are bounded and
reported, and nothing mutates the trained model."""

import copy
import dataclasses
import io

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.deploy.design_rules import DesignRuleError, check_design_rules
from rouser_lava.deploy.hw_config import load_hw_config
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.model.fold import W_MAX, W_MIN, choose_shared_threshold, fold_weights
from rouser_lava.netx.write import netx_bytes, write_netx


def cuba_float(x, w, th, i_keep, v_keep):
    """Real-valued CUBA reference: x (T, C_in) spikes, w (C_out, C_in), th (C_out,)."""
    u = np.zeros(len(w))
    v = np.zeros(len(w))
    out = []
    for x_t in x:
        u = i_keep * u + w @ x_t
        v = v_keep * v + u
        s = v > th
        v[s] = 0.0
        out.append(s.copy())
    return np.array(out)


def test_fold_is_exact_without_quantization():
    rng = np.random.default_rng(0)
    x = (rng.random((200, 30)) < 0.3).astype(float)
    w = rng.normal(0, 0.5, (12, 30))
    th = rng.uniform(0.3, 3.0, 12)
    th_ref = 1.7
    original = cuba_float(x, w, th, 0.75, 0.97)
    folded = cuba_float(x, fold_weights(w, th, th_ref), np.full(12, th_ref), 0.75, 0.97)
    assert original.sum() > 50
    assert np.array_equal(original, folded)


def test_shared_threshold_uses_the_weight_range():
    rng = np.random.default_rng(1)
    w = rng.integers(-40, 41, (8, 10)) * 2
    th = rng.integers(40, 160, 8)
    m = choose_shared_threshold(w, th, max_gain=1e9)
    scaled = np.rint(fold_weights(w.astype(float), th, m))
    assert scaled.max() <= W_MAX and scaled.min() >= W_MIN
    bigger = np.rint(fold_weights(w.astype(float), th, m + 1))
    assert bigger.max() > W_MAX or bigger.min() < W_MIN  # m is the largest that fits


def test_shared_threshold_respects_state_gain():
    w = np.array([[2, -2], [4, 0]])
    th = np.array([64, 128])
    assert choose_shared_threshold(w, th, max_gain=2.0) == 128  # 2 * min threshold


def test_shared_threshold_folds_equal_thresholds_exactly():
    w = np.array([[8, -16, 120], [24, 0, -40]])
    th = np.array([256, 256])
    m = choose_shared_threshold(w, th)  # the range allows 542; 512 rounds nothing
    assert m == 512
    assert np.array_equal(fold_weights(w.astype(float), th, m), 2 * w)


def test_fold_error_is_reported_and_bounded(dense_net):
    qnet = quantize_network(dense_net, "fold")
    for layer, report in zip([la for la in qnet.layers if la.kind != "flatten"], qnet.reports):
        assert layer.v_th_mant.shape == ()
        assert 0 < report.max_rel_error < 0.02
        assert report.clipped == 0
        assert W_MIN <= layer.weight.min() and layer.weight.max() <= W_MAX


def test_vector_form_keeps_training_weights(dense_net):
    qnet = quantize_network(dense_net, "vector")
    for block, layer in zip(dense_net.spiking_blocks(), qnet.layers):
        assert np.array_equal(layer.weight, (block.weight().numpy() * 64).round())
        assert np.array_equal(layer.v_th_mant, block.neuron.threshold_mant().numpy())


def test_quantize_and_export_do_not_mutate_the_model(conv_net, tmp_path):
    before = copy.deepcopy(conv_net.state_dict())
    for form in ("fold", "vector"):
        write_netx(quantize_network(conv_net, form), tmp_path / f"{form}.net", 8)
    after = conv_net.state_dict()
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_netx_file_layout(conv_net, tmp_path):
    write_netx(quantize_network(conv_net, "vector"), tmp_path / "c.net", 12,
               {"name": "x", "encoding": {}})
    with h5py.File(tmp_path / "c.net") as f:
        assert f["layer/0/type"][0] == b"input"
        assert list(f["layer/0/shape"][()]) == [2, 6, 7]
        assert f["layer/1/type"][0] == b"conv"
        assert f["layer/1/weight"].shape == (4, 2, 3, 2)
        assert f["layer/3/type"][0] == b"flatten"
        assert f["layer/4/neuron/vThMant"].shape == (5,)
        assert int(f["simulation/tSample"][()]) == 12


def test_design_rules_name_layer_and_rule(dense_net):
    hw = load_hw_config("loihi2-oheogulch")
    qnet = quantize_network(dense_net, "fold")
    assert check_design_rules(io.BytesIO(netx_bytes(qnet, 8)), hw) == []
    vector = io.BytesIO(netx_bytes(quantize_network(dense_net, "vector"), 8))
    assert [str(w) for w in check_design_rules(vector, hw, chip_rules_warn=True)] == [
        f"layer{i} (dense): threshold: per-neuron vThMant ({n} values), limit one per "
        f"population on loihi2-oheogulch" for i, n in ((0, 16), (1, 6))]
    assert check_design_rules(vector, load_hw_config("lava-cpu-sim")) == []
    big = dataclasses.replace(qnet.layers[1], v_th_mant=np.array(140000))
    data = netx_bytes(dataclasses.replace(qnet, layers=[qnet.layers[0], big]), 8)
    with pytest.raises(DesignRuleError, match=r"layer1 \(dense\): threshold: vThMant 140000 "
                                              r"needs 18 bits, limit 17-bit \(0..131071\)"):
        check_design_rules(io.BytesIO(data), hw)


def test_weights_that_all_round_to_zero_are_refused(dense_net):
    with torch.no_grad():
        dense_net.spiking_blocks()[0].synapse.weight.mul_(1e-6)
    with pytest.raises(UserError, match="layer0: every weight rounds to 0"):
        quantize_network(dense_net, "vector")

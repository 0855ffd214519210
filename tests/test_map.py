"""Hardware configs, the resource estimator, the design rules and ``rouser-map``: numbers
checked by hand, the compiler calibration figures, one network per broken rule."""

import io
import json

import h5py
import numpy as np
import pytest

from rouser_lava.backends.lava_sim import SELECT_TAG
from rouser_lava.cli import map_main
from rouser_lava.deploy.design_rules import DesignRuleError, check_design_rules
from rouser_lava.deploy.hw_config import CONFIG_DIR, load_hw_config
from rouser_lava.deploy.resource_map import map_resources
from rouser_lava.errors import UserError
from rouser_lava.netx.check import check_netx

from .conftest import error_line, random_spikes

OHEO = load_hw_config("loihi2-oheogulch")
SIM = load_hw_config("lava-cpu-sim")


def _put(group: h5py.Group, **fields) -> None:
    for key, value in fields.items():
        if key == "type":
            group.create_dataset("type", (1,), "S10", [value.encode("ascii")])
        else:
            group.create_dataset(key, data=value)


def _neuron(group: h5py.Group, vth=100) -> None:
    _put(group.create_group("neuron"), type="CUBA", iDecay=1024, vDecay=128, vThMant=vth,
         refDelay=1, gradedSpike=False)


def write_dense(path, sizes, seed=0, weight_max=16, vth=100):
    """A dense netx file ``sizes[0] -> ... -> sizes[-1]`` with random even weights."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        _put(layers.create_group("0"), type="input", shape=np.array([sizes[0]]))
        for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:]), start=1):
            g = layers.create_group(str(i))
            w = rng.integers(-weight_max // 2, weight_max // 2 + 1, (n_out, n_in)) * 2
            w[:, 0] = weight_max  # mixed signs, never all zero
            _put(g, type="dense", shape=np.array([n_out]), weight=w)
            _neuron(g, vth)
        _put(f.create_group("simulation"), Ts=1, tSample=8)
    return path


def write_conv(path):
    """(2, 6, 6) -> conv 4x3x3 pad 1 -> (4, 6, 6) -> flatten -> dense 5."""
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        layers = f.create_group("layer")
        _put(layers.create_group("0"), type="input", shape=np.array([2, 6, 6]))
        g = layers.create_group("1")
        _put(g, type="conv", shape=np.array([4, 6, 6]), weight=rng.integers(-20, 21, (4, 2, 3, 3)),
             stride=np.array([1, 1]), padding=np.array([1, 1]), dilation=np.array([1, 1]),
             groups=1)
        _neuron(g, 40)
        _put(layers.create_group("2"), type="flatten", shape=np.array([144]))
        g = layers.create_group("3")
        _put(g, type="dense", shape=np.array([5]), weight=rng.integers(-20, 21, (5, 144)))
        _neuron(g, 40)
    return path


def write_config(path, base="loihi2-oheogulch", **limits):
    """A copy of a bundled config with some limits (or ``chips``) changed."""
    data = json.loads((CONFIG_DIR / f"{base}.json").read_text())
    for key, value in limits.items():
        (data if key == "chips" else data["limits"])[key]["value"] = value
    path.write_text(json.dumps(data))
    return str(path)


def test_bundled_configs():
    kp = load_hw_config("loihi2-kapohopoint")
    assert (kp.target, kp.partition, kp.board, kp.loihi_gen, kp.chips) == \
        ("loihi2", "kp", None, "N3B3", 8)
    assert "resources.py says 4" in kp.source("chips")
    assert OHEO.chips == 1 and OHEO.limits.cores_per_chip == 120
    assert OHEO.limits.weight_range == (-256, 254) and OHEO.limits.threshold_max == 131071
    assert OHEO.run["output_latency_steps"] == 0 and OHEO.source("limits.neurons_per_core")
    assert "test_hdf5_nx.py" in OHEO.source("run.output_latency_steps")
    assert SIM.run["select_tag"] == SELECT_TAG == "fixed_pt" and SIM.limits.per_neuron_threshold
    assert SIM.limits.cores_per_chip is None and SIM.chips is None
    assert load_hw_config(str(CONFIG_DIR / "lava-cpu-sim.json")) == SIM


@pytest.mark.parametrize("text, field", [
    ("{", "not a readable JSON"),
    ('{"target": "loihi3"}', "field 'target'"),
    (json.dumps({**json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text()),
                 "chips": 8}), "field 'chips': expected {\"value\""),
    ("WEIGHT", "field 'limits.weight_bits': value -1"),
    ("MISSING", "field 'limits.synmem_per_core': missing"),
])
def test_bad_config_names_file_and_field(tmp_path, text, field):
    data = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())
    if text == "WEIGHT":
        data["limits"]["weight_bits"]["value"] = -1
    elif text == "MISSING":
        del data["limits"]["synmem_per_core"]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data) if text in ("WEIGHT", "MISSING") else text)
    with pytest.raises(UserError, match=f"^{path}: .*{field}".replace("{", r"\{")):
        load_hw_config(str(path))
    with pytest.raises(UserError, match="no such hardware config .*loihi2-oheogulch"):
        load_hw_config("loihi9")


def test_estimator_by_hand(tmp_path):
    hw = load_hw_config(write_config(tmp_path / "tiny.json", neurons_per_core=100,
                                     synmem_per_core=100, synapses_per_unit=2,
                                     axons_per_core=200, cores_per_chip=4))
    rmap = map_resources(check_netx(write_conv(tmp_path / "c.net")), hw)
    conv, dense = rmap.layers
    # conv: 144 neurons / 100 -> 2; kernel 72 / 2 = 36 units -> 1; 72 input axons -> 1
    assert (conv.neurons, conv.synapses, conv.fan_in, conv.axons, conv.syn_units,
            conv.cores, conv.binding) == (144, 72, 18, 72, 36, 2, "neurons")
    # dense 144 -> 5: 720 synapses / 2 = 360 units / 100 -> 4 cores
    assert (dense.synapses, dense.fan_in, dense.syn_units, dense.cores, dense.binding) == \
        (720, 144, 360, 4, "synmem")
    assert (rmap.cores, rmap.chips, rmap.fits) == (6, 2, False)
    with pytest.raises(DesignRuleError, match=r"network: chips: 6 cores need 2 chips at 4 "
                                              r"per chip, limit 1 on tiny"):
        check_design_rules(tmp_path / "c.net", hw)
    assert map_resources(check_netx(tmp_path / "c.net"), SIM).cores is None


@pytest.mark.parametrize("sizes, cores", [
    ((200, 256, 200), [2, 2]),  # compiler: 3 + 2 (both layers hold 51,200 synapses)
    ((784, 128, 64, 10), [3, 1, 1]),  # compiler: 1 + 1 + 3 as listed, 5 in all
])
def test_calibration_networks(tmp_path, sizes, cores):
    rmap = map_resources(check_netx(write_dense(tmp_path / "n.net", sizes)), OHEO)
    assert [la.cores for la in rmap.layers] == cores
    assert all(la.binding == "synmem" for la in rmap.layers)
    assert (rmap.chips, rmap.fits) == (1, True)
    # per-core SynMem of the compiler's split: 100 x 256 -> 8064 units (ours 7642)
    assert round(100 * 256 / OHEO.limits.synapses_per_unit) == 7642


def _edit(path, key, value):
    with h5py.File(path, "r+") as f:
        if key in f:
            del f[key]
        f[key] = value


@pytest.mark.parametrize("key, value, message", [
    ("layer/1/weight", "W300", r"layer 1 \(dense\): weights: range -\d+..300 needs 9 bits, "
                               r"limit 8-bit mantissa \(-256..254, mixed signs\)"),
    ("layer/2/weight", "W1.5", r"layer 2 \(dense\): weights: non-integer values"),
    ("layer/2/neuron/vThMant", 140000, r"layer 2 \(dense\): threshold: vThMant 140000 needs "
                                       r"18 bits, limit 17-bit \(0..131071\)"),
    ("layer/1/neuron/iDecay", 5000, r"layer 1 \(dense\): decay: iDecay 5000, limit 12-bit "
                                    r"\(0..4096\)"),
    ("layer/1/bias", 5000, r"layer 1 \(dense\): bias: bias 5000, limit 13-bit signed "
                           r"mantissa \(-4096..4095\)"),
    ("layer/2/delay", 70, r"layer 2 \(dense\): delay: delay 70, limit 0..62 steps"),
    ("layer/2/neuron/vThMant", np.arange(1, 4), r"layer 2 \(dense\): threshold: per-neuron "
                                                r"vThMant \(3 values\), limit one per "
                                                r"population on loihi2-oheogulch"),
])
def test_each_value_rule(tmp_path, key, value, message):
    path = write_dense(tmp_path / "n.net", (6, 5, 3))
    if isinstance(value, str):
        with h5py.File(path, "r") as f:
            w = f[key][()].astype(float)
        w[0, 1] = float(value[1:])
        value = w
    _edit(path, key, value)
    with pytest.raises(DesignRuleError, match=message) as err:
        check_design_rules(path, OHEO)
    assert len(err.value.violations) == 1
    if "per-neuron" in message:  # a chip rule: fine on the simulator, a warning in export
        assert check_design_rules(path, SIM) == []
        assert [w.rule for w in check_design_rules(path, OHEO, chip_rules_warn=True)] == \
            ["threshold"]


def test_all_failures_reported_together_and_chip_rules(tmp_path):
    path = write_dense(tmp_path / "n.net", (6, 5, 3))
    _edit(path, "layer/2/neuron/vThMant", 140000)
    _edit(path, "layer/1/neuron/vDecay", 4097)
    hw = load_hw_config(write_config(tmp_path / "axons.json", axons_per_core=5))
    with pytest.raises(DesignRuleError) as err:
        check_design_rules(path, hw, reset_interval=24)
    assert [(v.where, v.rule) for v in err.value.violations] == [
        ("layer 1 (dense)", "decay"), ("layer 2 (dense)", "threshold"),
        ("layer 1 (dense)", "axons"), ("network", "reset_interval")]
    assert "fan-in of 6 input axons, limit 5 per core" in str(err.value)
    assert "24, limit a power of 2" in str(err.value)
    assert check_design_rules(write_dense(tmp_path / "ok.net", (6, 5, 3)), OHEO, 16) == []
    assert check_design_rules(tmp_path / "ok.net", SIM, reset_interval=24) == []


def test_state_headroom_is_a_warning(tmp_path):
    path = write_dense(tmp_path / "n.net", (600, 4))
    _edit(path, "layer/1/weight", np.full((4, 600), 254))  # 600 * 254 << 6 > 2**23
    warnings = check_design_rules(path, OHEO)
    assert [str(w) for w in warnings] == [
        "layer 1 (dense): state: one step's synaptic input can reach 9,753,600 (needs 25 "
        "bits), limit 24-bit u (+-8,388,607): u wraps"]


def test_rules_on_an_in_memory_file(tmp_path):
    data = write_dense(tmp_path / "n.net", (6, 5, 3)).read_bytes()
    assert check_design_rules(io.BytesIO(data), OHEO, name="x.net") == []


def _map(capsys, *argv):
    code = map_main([str(a) for a in argv])
    return code, capsys.readouterr().out


def test_map_cli_table_json_and_exit_codes(tmp_path, capsys):
    net = write_dense(tmp_path / "n.net", (784, 128, 64, 10))
    code, out = _map(capsys, net, "--json", tmp_path / "m.json")
    assert code == 0
    assert "layer 1 (dense)" in out and "verdict: fits: loihi2-oheogulch: 5 cores" in out
    data = json.loads((tmp_path / "m.json").read_text())
    assert {"layers", "cores", "chips", "fits", "hw_config"} <= set(data)
    assert {"name", "neurons", "synapses", "cores", "syn_units", "fan_in", "binding"} <= \
        set(data["layers"][0])
    assert (data["cores"], data["chips"], data["fits"]) == (5, 1, True)
    tiny = write_config(tmp_path / "tiny.json", cores_per_chip=2)
    code, out = _map(capsys, net, "--hw-config", tiny)
    assert code == 3 and "verdict: does not fit" in out and "fails: network: chips" in out
    _edit(net, "layer/3/neuron/vThMant", np.arange(10) + 1)
    code, out = _map(capsys, net, "--hw-config", "loihi2-kapohopoint")
    assert code == 3 and "verdict: violates rules" in out
    assert _map(capsys, net, "--hw-config", "lava-cpu-sim")[0] == 0


def test_map_cli_bad_input_is_one_line(tmp_path, capsys):
    net = write_dense(tmp_path / "n.net", (6, 5, 3))
    (tmp_path / "bad.json").write_text("[1, 2]")
    assert map_main([str(net), "--hw-config", str(tmp_path / "bad.json")]) == 1
    assert "bad.json" in error_line(capsys)
    assert map_main([str(tmp_path / "none.net")]) == 1
    assert "none.net: no such file" in error_line(capsys)


def test_map_reads_lava_dl_export_and_measures_activity(tmp_path, capsys):
    import torch
    from lava.lib.dl import slayer

    params = {"threshold": 0.5, "current_decay": 0.25, "voltage_decay": 0.03,
              "requires_grad": False}
    torch.manual_seed(0)
    blocks = [slayer.block.cuba.Dense(params, 20, 12, weight_scale=4),
              slayer.block.cuba.Dense(params, 12, 4, weight_scale=4)]
    x = torch.from_numpy(random_spikes((1, 20, 8), 0.5, 0)).float()
    for block in blocks:  # lava-dl sets its neuron shapes on the first call
        x = block(x)
    net = tmp_path / "lavadl.net"
    with h5py.File(net, "w") as f:
        for i, block in enumerate(blocks):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    spikes = tmp_path / "x.npy"
    np.save(spikes, random_spikes((3, 20, 16), 0.4, 1))
    code, out = _map(capsys, net, "--input", spikes, "--json", tmp_path / "m.json")
    assert code == 0 and "layer 0 (dense)" in out and "activity over 3 sample(s)" in out
    layers = json.loads((tmp_path / "m.json").read_text())["layers"]
    # dense synops: each input spike drives every neuron of the layer
    assert layers[0]["synops_per_sample"] == pytest.approx(
        random_spikes((3, 20, 16), 0.4, 1).sum() / 3 * 12)
    assert layers[1]["synops_per_sample"] == pytest.approx(layers[0]["spikes_per_sample"] * 4)
    assert 0 <= layers[1]["sparsity"] <= 1 and layers[0]["spikes_per_sample"] > 0

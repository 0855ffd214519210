"""``rouser-import`` of lava-dl netx files: random lava-dl-style networks (written with
h5py, not by our exporter) import into Rouser models whose vector-form export runs
spike for spike as the original, on the emulator and on Lava; what cannot be trained
is refused in one line naming the layer and the field; the CLI leaves no half-written
file and the model fine-tunes with ``rouser-train --init``."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.cli import export_main, import_main, train_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.interop.netx_import import import_netx
from rouser_lava.model.modelfile import load_model
from rouser_lava.netx.write import write_netx

from .conftest import error_line, random_spikes


def _put(group, key, value):
    if key == "type":
        group.create_dataset("type", (1,), "S10", [value.encode("ascii")])
    else:
        group.create_dataset(key, data=value)


def _neuron(group, rng, channels, extra=None):
    """A CUBA neuron group with random decays and vThMant (one or per channel);
    ``extra`` replaces or adds fields (``bias`` and ``delay`` go to the layer)."""
    fields = {"type": "CUBA", "iDecay": int(rng.integers(0, 4097)),
              "vDecay": int(rng.integers(0, 2000)), "refDelay": 1, "gradedSpike": False,
              "vThMant": int(rng.integers(20, 200)) if rng.random() < 0.5
              else rng.integers(20, 200, channels)}
    fields.update(extra or {})
    n = group.create_group("neuron")
    for key, value in fields.items():
        _put(group if key in ("bias", "delay") else n, key, value)


def write_lavadl_netx(path, seed: int, conv: bool, extra: dict | None = None,
                      sizes: tuple[int, int, int] | None = None):
    """A random lava-dl-style network: slayer's even weights in [-256, 254], CUBA, no
    bias, decays differing per layer; ``extra`` adds fields to the first layer;
    ``sizes`` fixes a dense network's input, hidden and output sizes."""
    rng = np.random.default_rng(seed)
    sizes = sizes or (int(rng.integers(8, 20)), int(rng.integers(6, 14)),
                      int(rng.integers(3, 6)))
    with h5py.File(path, "w") as f:
        layers, index = f.create_group("layer"), 0

        def new(kind):
            nonlocal index
            g = layers.create_group(str(index))
            _put(g, "type", kind)
            index += 1
            return g

        shape = (2, 6, 5) if conv else sizes[:1]
        _put(new("input"), "shape", np.array(shape))
        if conv:
            out = (4, 6, 6)
            g = new("conv")
            for key, value in (("shape", np.array(out)), ("inChannels", 2),
                               ("outChannels", 4), ("kernelSize", np.array([3, 2])),
                               ("stride", np.array([1, 1])), ("padding", np.array([1, 1])),
                               ("dilation", np.array([1, 1])), ("groups", 1)):
                _put(g, key, value)
            w = rng.integers(-90, 128, (4, 2, 3, 2)) * 2
            _put(g, "weight", w)
            _neuron(g, rng, 4, extra)
            extra = None
            _put(new("flatten"), "shape", np.array([int(np.prod(out))]))
            shape = (int(np.prod(out)),)
        for out in sizes[1:]:
            g = new("dense")
            _put(g, "shape", np.array([out]))
            _put(g, "inFeatures", shape[0])
            _put(g, "outFeatures", out)
            _put(g, "weight", rng.integers(-90, 128, (out, shape[0])) * 2)
            _neuron(g, rng, out, extra)
            extra, shape = None, (out,)
        sim = f.create_group("simulation")
        _put(sim, "Ts", 1)
        _put(sim, "tSample", 20)


def assert_same_spikes(a_path, b_path, x):
    a = emulate(load_netx(str(a_path)), x).spikes
    b = emulate(load_netx(str(b_path)), x).spikes
    assert len(a) == len(b)
    for layer, (sa, sb) in enumerate(zip(a, b)):
        assert sa.sum() > 0, f"layer {layer} silent: the test would prove nothing"
        assert np.array_equal(sa, sb), f"layer {layer}: first mismatch at " \
                                       f"{np.argwhere(sa != sb)[0]}"


@pytest.mark.parametrize("seed", range(8))
def test_import_then_vector_export_is_spike_exact_on_the_emulator(seed, tmp_path):
    conv = seed % 2 == 1
    write_lavadl_netx(tmp_path / "orig.net", seed, conv)
    result = import_netx(tmp_path / "orig.net")
    assert result.notes == [] and result.time_steps == 20
    write_netx(quantize_network(result.net, "vector"), tmp_path / "back.net", 20)
    x = random_spikes((6, *result.net.input_shape, 20), 0.4, seed)
    assert_same_spikes(tmp_path / "orig.net", tmp_path / "back.net", x)


@pytest.mark.lava
def test_import_then_vector_export_is_spike_exact_on_lava(tmp_path):
    from rouser_lava.backends.lava_sim import simulate

    for seed, conv in ((11, False), (12, True)):
        orig, back = tmp_path / f"orig{seed}.net", tmp_path / f"back{seed}.net"
        write_lavadl_netx(orig, seed, conv)
        result = import_netx(orig)
        write_netx(quantize_network(result.net, "vector"), back, 16)
        x = random_spikes((2, *result.net.input_shape, 16), 0.4, seed)
        a = simulate(str(orig), x, progress=False).spikes
        b = simulate(str(back), x, progress=False).spikes
        for sa, sb in zip(a, b):
            assert sa.sum() > 0 and np.array_equal(sa, sb)


def test_imported_thresholds_are_learnable_per_neuron(tmp_path):
    write_lavadl_netx(tmp_path / "orig.net", 3, conv=True)
    net = import_netx(tmp_path / "orig.net").net
    with h5py.File(tmp_path / "orig.net") as f:
        vth = np.asarray(f["layer/1/neuron/vThMant"][()])
        decays = [int(f[f"layer/{i}/neuron/iDecay"][()]) for i in (1, 3, 4)]
    block = net.spiking_blocks()[0]
    assert block.neuron.threshold.requires_grad
    np.testing.assert_array_equal(block.neuron.threshold_mant().numpy(),
                                  np.broadcast_to(vth, (4,)))
    assert [b.neuron.config.i_decay for b in net.spiking_blocks()] == decays


@pytest.mark.parametrize("extra, field", [
    ({"delay": np.ones(4)}, "delay"),
    ({"refDelay": 5}, "neuron/refDelay"), ({"gradedSpike": True}, "neuron/gradedSpike"),
])
def test_refusals_name_layer_and_field(extra, field, tmp_path):
    write_lavadl_netx(tmp_path / "bad.net", 0, conv=True, extra=dict(extra))
    with h5py.File(tmp_path / "bad.net", "a") as f:  # the conv layer's delay is per neuron
        if "delay" in f["layer/1"]:
            del f["layer/1/delay"]
            f["layer/1"].create_dataset("delay", data=np.ones(1))
    with pytest.raises(UserError, match=f"layer0 \\(conv\\): {field}:") as err:
        import_netx(tmp_path / "bad.net")
    assert "\n" not in str(err.value)


def test_input_neurons_are_refused(tmp_path):
    write_lavadl_netx(tmp_path / "in.net", 0, conv=False)
    with h5py.File(tmp_path / "in.net", "a") as f:
        _neuron(f["layer/0"], np.random.default_rng(0), 1)
    with pytest.raises(UserError, match="layer0 \\(input\\): neuron:"):
        import_netx(tmp_path / "in.net")


@pytest.mark.parametrize("seed", range(4))
def test_bias_and_dense_rec_import_spike_exact(seed, tmp_path):
    """lava-dl-style files given biases (conv: per channel, or per neuron in Lava's (W,
    H, C) order; dense: per neuron) and a dense_rec layer import exactly and export
    back to the same emulator spikes."""
    conv = seed % 2 == 1
    path = tmp_path / "orig.net"
    write_lavadl_netx(path, seed, conv)
    rng = np.random.default_rng(seed)
    with h5py.File(path, "a") as f:
        last = str(len(f["layer"]) - 1)
        for i in f["layer"]:
            g = f["layer"][i]
            kind = g["type"][0].decode()
            shape = tuple(int(v) for v in g["shape"][()])
            if kind == "conv":
                per_channel = rng.integers(-40, 40, shape[0])
                g.create_dataset("bias", data=per_channel if seed % 4 == 1 else
                                 np.broadcast_to(per_channel, shape[::-1]).copy())
            elif kind == "dense":
                g.create_dataset("bias", data=rng.integers(-40, 40, shape[0]))
                if i == last:  # the output layer becomes recurrent
                    del g["type"]
                    g.create_dataset("type", (1,), "S10", [b"dense_rec"])
                    g.create_dataset("weight_rec",
                                     data=rng.integers(-60, 60, (shape[0], shape[0])) * 2)
    result = import_netx(path)
    assert result.notes == []
    blocks = result.net.spiking_blocks()
    assert blocks[-1].spec["kind"] == "recurrent"
    assert all(b.bias is not None for b in blocks)
    write_netx(quantize_network(result.net, "vector"), tmp_path / "back.net", 20)
    x = random_spikes((6, *result.net.input_shape, 20), 0.4, seed)
    assert_same_spikes(path, tmp_path / "back.net", x)


def test_cli_import_train_export(tmp_path, capsys):
    write_lavadl_netx(tmp_path / "orig.net", 5, conv=False, sizes=(64, 12, 10))  # digits
    model = tmp_path / "m.pt"
    assert import_main([str(tmp_path / "orig.net"), str(model), "--dataset", "digits"]) == 0
    assert "exact" in capsys.readouterr().out
    _, record = load_model(model)
    assert record["dataset"]["name"] == "digits"
    assert train_main(["--init", str(model), "--epochs", "1", "--out",
                       str(tmp_path / "tuned.pt"), "--quiet"]) == 0
    assert export_main([str(tmp_path / "tuned.pt"), str(tmp_path / "tuned.net"),
                        "--threshold-form", "vector", "--hw-config", "lava-cpu-sim"]) == 0
    assert (tmp_path / "tuned.net").is_file()
    # without a dataset: fine-tuning needs --dataset
    assert import_main([str(tmp_path / "orig.net"), str(tmp_path / "n.pt")]) == 0
    assert train_main(["--init", str(tmp_path / "n.pt"), "--epochs", "1", "--out",
                       str(tmp_path / "t2.pt"), "--quiet"]) == 1
    assert "--dataset" in error_line(capsys)


@pytest.mark.parametrize("name, content, expect", [
    ("in.txt", b"x", "unknown suffix"), ("in.net", None, "no such file"),
    ("in.net", b"not hdf5", "not a readable"), ("in.nir", b"not hdf5", "not a readable"),
])
def test_cli_errors_are_one_line_and_write_nothing(name, content, expect, tmp_path, capsys):
    src, out = tmp_path / name, tmp_path / "m.pt"
    if content is not None:
        src.write_bytes(content)
    assert import_main([str(src), str(out)]) == 1
    assert expect in error_line(capsys)
    assert not out.exists() and not list(tmp_path.glob(".m.pt*"))


def test_lavadl_exported_conv_first_network(tmp_path, capsys):
    """lava-dl's own exporter: conv-first (no input layer), neuron types stored as
    scalar bytes. The first conv fits several input shapes (stride 2): --input-shape
    picks one; the vector export then gives the original's spikes."""
    import torch

    from rouser_lava._slayer import slayer

    torch.manual_seed(0)
    p = {"threshold": 1.0, "current_decay": 0.25, "voltage_decay": 0.03,
         "tau_grad": 0.03, "scale_grad": 3, "requires_grad": False}
    blocks = [slayer.block.cuba.Conv(p, 2, 4, 3, padding=1, stride=2, weight_scale=3),
              slayer.block.cuba.Flatten(), slayer.block.cuba.Dense(p, 4 * 4 * 4, 5,
                                                                   weight_scale=3)]
    x = torch.rand(1, 2, 8, 8, 4)
    for block in blocks:
        x = block(x)
    orig = tmp_path / "lavadl.net"
    with h5py.File(orig, "w") as f:
        for i, block in enumerate(blocks):
            block.export_hdf5(f.create_group(f"layer/{i}"))
    model = tmp_path / "m.pt"
    assert import_main([str(orig), str(model), "--time-steps", "12"]) == 1
    assert "pass --input-shape C,H,W" in error_line(capsys)
    assert import_main([str(orig), str(model), "--time-steps", "12", "--input-shape",
                        "2,8,8", "--quiet"]) == 0
    assert export_main([str(model), str(tmp_path / "v.net"), "--threshold-form", "vector",
                        "--hw-config", "lava-cpu-sim"]) == 0
    spikes = random_spikes((3, 2, 8, 8, 12), 0.3, seed=4)
    want = emulate(load_netx(str(orig), input_shape=(2, 8, 8)), spikes).spikes
    got = emulate(load_netx(str(tmp_path / "v.net")), spikes).spikes
    assert want[0].sum() > 0 and all(np.array_equal(a, b) for a, b in zip(want, got))

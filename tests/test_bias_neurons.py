"""Bias neurons (``rouser_lava/interop/bias_neurons.py``) do exactly what they claim:
the Braille network with bias imports with two of them; training forward == emulator
== Lava spike for spike (both forms); they fire every step from Lava's step 0 and 1;
and the real neurons' spikes equal an integer CUBA reference without them that adds
each synapse's bias to the current directly, from the layer's first input on."""

from __future__ import annotations

from dataclasses import replace

import nir
import numpy as np
import pytest
import torch

from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import run_path
from rouser_lava.deploy.hw_config import load_hw_config
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.deploy.resource_map import map_resources
from rouser_lava.interop.file_info import describe_file
from rouser_lava.interop.imported import format_notes
from rouser_lava.interop.netx_import import import_netx
from rouser_lava.interop.nir_import import import_nir
from rouser_lava.model.blocks import RouserNet
from rouser_lava.model.fold import lava_dense_rec_synapse, lava_dense_synapse
from rouser_lava.model.modelfile import save_model
from rouser_lava.netx.file import read_netx
from rouser_lava.netx.write import write_netx

from .conftest import random_spikes
from .test_arch_exact import check_exact
from .test_nir_arch import agreement, braille, emulated, snntorch_forward


def imported_braille(tmp_path):
    from snntorch.export_nir import export_to_nir

    nir.write(tmp_path / "b.nir", export_to_nir(braille(True), torch.zeros(12)))
    return import_nir(tmp_path / "b.nir", convention="snntorch", reset="zero")


def decay(x: np.ndarray, d: int) -> np.ndarray:
    """Loihi's 12-bit decay, rounding toward zero."""
    return np.sign(x) * ((np.abs(x) * (4096 - d)) >> 12)


def cuba(a: np.ndarray, layer, real: int) -> np.ndarray:
    """Spikes ``(N, C, T)`` of CUBA neurons ``:real`` of a quantized ``layer`` on the
    integer synaptic sums ``a`` ``(N, C, T)`` (Lava's fixed_pt LIF)."""
    vth = np.broadcast_to(layer.v_th_mant, (len(layer.weight),))[:real, None] << 6
    bias = (np.zeros(real, np.int64) if layer.bias is None else layer.bias[:real])[:, None]
    u = np.zeros(a.shape[:2], np.int64)
    v = np.zeros_like(u)
    out = np.zeros(a.shape, np.uint8)
    for s in range(a.shape[-1]):
        u = decay(u, layer.i_decay) + (a[..., s] << 6)
        v = decay(v, layer.v_decay) + u + (bias[:, 0] << 6)
        out[..., s] = v > vth[:, 0]
        v[out[..., s] > 0] = 0
    return out


def current_bias_reference(qnet, x: np.ndarray, real: int, helpers: int) -> list[np.ndarray]:
    """The real neurons' spikes of the Braille network without its bias neurons: layer
    0's bias ``b0`` (h0's recurrent column) and layer 1's ``b1`` (h1's column) are added
    to the synaptic sum directly from each layer's first input (Lava steps 1 and 2)."""
    rec, out = qnet.layers
    w, w_rec, exp = lava_dense_rec_synapse(rec.weight, rec.weight_rec)
    b0, steps = w_rec[:real, real], x.shape[-1]
    s0 = np.zeros((len(x), real, steps), np.uint8)
    u = np.zeros((len(x), real), np.int64)
    v = np.zeros_like(u)
    vth = np.broadcast_to(rec.v_th_mant, (real + helpers,))[:real] << 6
    bias = np.zeros(real, np.int64) if rec.bias is None else rec.bias[:real]
    for s in range(1, steps):  # step 0: no input, no bias (the real biases are 0)
        ff = x[..., s - 1] @ w[:real].T.astype(np.int64)  # two synapses, each shifted
        back = s0[..., s - 1] @ w_rec[:real, :real].T.astype(np.int64) + b0
        a = (np.floor(ff * 2.0 ** exp) + np.floor(back * 2.0 ** exp)).astype(np.int64)
        u = decay(u, rec.i_decay) + (a << 6)
        v = decay(v, rec.v_decay) + u + (bias << 6)
        s0[..., s] = v > vth
        v[s0[..., s] > 0] = 0
    w1, exp1 = lava_dense_synapse(out.weight)
    b1 = np.where(np.arange(steps) >= 2, 1, 0)[None, None, :] * w1[:, real + 1, None]
    prev = np.pad(s0, ((0, 0), (0, 0), (1, 0)))[..., :-1]
    a1 = np.floor((np.einsum("kc,ncs->nks", w1[:, :real].astype(np.int64), prev) + b1)
                  * 2.0 ** exp1).astype(np.int64)
    return [s0, cuba(a1, out, len(out.weight))]


def test_braille_with_bias_imports_exactly_with_two_bias_neurons(tmp_path):
    result = imported_braille(tmp_path)
    assert result.notes == []  # nothing approximated: the biases enter the current
    host, nxt = result.net.arch
    assert host["out_features"] == 40 and host["bias_neurons"] == 2
    assert nxt["in_features"] == 40 and "bias" not in nxt
    assert "38 neurons + 2 bias neurons" in format_notes(result)


@pytest.mark.lava
@pytest.mark.parametrize("form", ["fold", "vector"])
def test_bias_neurons_equal_lava_and_a_current_bias(form, tmp_path):
    imported = imported_braille(tmp_path).net
    net = RouserNet(imported.input_shape, imported.arch,
                    replace(imported.neuron_config, fold_exact=form == "fold"))
    net.load_state_dict(imported.state_dict())
    trained = check_exact(net, form, tmp_path, lava=True)  # training == emulator == Lava
    h0, h1 = trained[0][:, 38], trained[0][:, 39]
    assert h0.all() and not h1[:, 0].any() and h1[:, 1:].all()
    x = random_spikes((4, 12, 24), 0.3, seed=11)  # check_exact's input
    want = current_bias_reference(quantize_network(net, form), x, 38, 2)
    for k, (a, b) in enumerate(zip(want, [trained[0][:, :38], trained[1]])):
        assert a.sum() > 0, f"layer {k} silent"
        assert np.array_equal(a, b), (k, np.argwhere(a != b)[:3])


def test_bias_neurons_are_named_in_files_and_netx_loads_them(tmp_path):
    from lava.lib.dl import netx

    net = imported_braille(tmp_path).net
    save_model(tmp_path / "m.pt", net, {"name": None, "encoding": {}})
    path = str(tmp_path / "b.net")
    write_netx(quantize_network(net, "fold"), path, 16)
    assert len(netx.hdf5.Network(net_config=path).layers) == 2  # plain netx loads it
    info = describe_file(path)
    assert [la["bias_neurons"] for la in info.fields["layers"]] == [0, 2, 0]
    for text in (describe_file(str(tmp_path / "m.pt")).text, info.text):
        assert "38 neurons + 2 bias neurons" in text, text
    table = map_resources(read_netx(path).summary, load_hw_config("loihi2-oheogulch")).table()
    assert "layer0: 38 neurons + 2 bias neurons" in table, table
    back = import_netx(path).net  # and a netx file's bias neurons stay marked
    assert back.arch[0]["bias_neurons"] == 2
    np.save(tmp_path / "x.npy", random_spikes((3, 12, 16), 0.3, seed=2))
    for file in (str(tmp_path / "m.pt"), path):  # rouser-run's report names them too
        run = run_path(file, RunOptions(input_npy=str(tmp_path / "x.npy"), progress=False))
        assert run.bias_neurons == [2, 0] and run.to_json()["layers"][0]["bias_neurons"] == 2
        assert "2 of the neurons are bias neurons" in run.summary().splitlines()[1]


def test_training_leaves_bias_neurons_as_imported_and_learns_the_biases(tmp_path):
    from .test_fold_exact import train_steps

    net = imported_braille(tmp_path).net
    host, out = net.spiking_blocks()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train_steps(net, 3, seed=4)
    after = net.state_dict()
    for key in ("blocks.0.synapse.weight", "blocks.0.rec_synapse.weight",
                "blocks.0.neuron.threshold", "blocks.0.bias"):
        assert torch.equal(before[key][38:], after[key][38:]), key  # the bias neurons
        assert not torch.equal(before[key][:38], after[key][:38]), key  # the real ones
    assert not torch.equal(before["blocks.1.synapse.weight"][:, 39],
                           after["blocks.1.synapse.weight"][:, 39])  # b1 learns
    with torch.no_grad():
        spikes = net(torch.zeros((1, 12, 8)))[0][0]
    assert spikes[38].all() and not spikes[39, 0] and spikes[39, 1:].all()


def test_training_metrics_leave_the_bias_neurons_out(tmp_path):
    from rouser_lava.training.metrics import layer_metrics, weights

    net = imported_braille(tmp_path).net
    host = net.spiking_blocks()[0]
    with torch.no_grad():
        counts = [o.reshape(1, -1, 8).sum((0, 2)).to(torch.int64)
                  for o in net(torch.zeros((1, 12, 8)))]  # no input: only h0, h1 spike
    rows = layer_metrics(net, counts, 1, 8, weights(net))
    assert int(counts[0][38:].sum()) == 15 and rows[0]["bias_neurons"] == 2
    assert rows[0]["dead_pct"] == 100.0 and rows[0]["spike_rate"] == 0.0
    th = host.neuron.quantized_threshold().detach().double()[:38]
    assert rows[0]["th_max"] == float(th.max()) and rows[1]["bias_neurons"] == 0


def test_bias_neurons_build_with_fixed_thresholds():
    """A recurrent layer with bias neurons and fixed thresholds (a buffer, no gradient)
    builds, and its bias neurons' rows still get no gradient."""
    from rouser_lava.model.blocks import recurrent_spec
    from rouser_lava.model.neuron import NeuronConfig

    spec = {**recurrent_spec(4, 6, bias=True), "bias_neurons": 2}
    net = RouserNet((4,), [spec, {"kind": "dense", "in_features": 6, "out_features": 3}],
                    NeuronConfig(learn_threshold=False))
    out = net(torch.ones((2, 4, 8)))
    out = out[-1] if isinstance(out, (list, tuple)) else out
    out.sum().backward()
    host = net.spiking_blocks()[0]
    assert not host.neuron.threshold.requires_grad
    assert torch.all(host.synapse.weight.grad[-2:] == 0)


@pytest.mark.parametrize("which, helpers", [("layer0", 1), ("layer1", 2)])
def test_one_layers_bias_takes_the_bias_neurons_it_needs(which, helpers, tmp_path):
    """Only layer 0's bias: h0 alone; only layer 1's: h0 drives h1 (h0's weights 0);
    either way the emulator agrees with snnTorch as with both biases."""
    from snntorch.export_nir import export_to_nir

    model = braille(True)
    with torch.no_grad():
        for lin in ((model[2],) if which == "layer0" else (model[0], model[1].recurrent)):
            lin.bias.zero_()
    nir.write(tmp_path / "b.nir", export_to_nir(model, torch.zeros(12)))
    result = import_nir(tmp_path / "b.nir", convention="snntorch", reset="zero")
    assert result.notes == [] and result.net.arch[0]["bias_neurons"] == helpers
    x = random_spikes((8, 12, 128), 0.15, seed=3)
    ref = snntorch_forward(model, x)
    got = emulated(result.net, tmp_path / "b.net", x, "fold")
    assert got[0][:, 38].all()  # h0
    got[0] = got[0][:, :38]
    assert min(agreement(ref, got)) >= 0.99, agreement(ref, got)

"""NIR: our models export to NIR and import back spike for spike; graphs written in
snnTorch's and Norse's conventions import with the right decays; snnTorch's own
export of a ``Synaptic`` network runs here as snnTorch runs it; every refusal is one
line naming the node and the field."""

from __future__ import annotations

import nir
import numpy as np
import pytest
import torch

from rouser_lava.backends.emulator import emulate, load_netx
from rouser_lava.cli import export_main, import_main
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.errors import UserError
from rouser_lava.interop.nir_export import export_nir, nir_graph
from rouser_lava.interop.nir_import import import_nir
from rouser_lava.model.modelfile import save_model
from rouser_lava.netx.write import write_netx

from .conftest import random_spikes


def emulated(net, path, x):
    write_netx(quantize_network(net, "vector"), path, x.shape[-1])
    return emulate(load_netx(str(path)), x).spikes


@pytest.mark.parametrize("fixture", ["dense_net", "conv_net"])
def test_round_trip_through_nir_is_spike_exact(fixture, request, tmp_path):
    net = request.getfixturevalue(fixture)
    export_nir(net, tmp_path / "n.nir")
    back = import_nir(tmp_path / "n.nir")
    assert back.notes == []
    x = random_spikes((6, *net.input_shape, 24), 0.3, seed=5)
    for layer, (a, b) in enumerate(zip(emulated(net, tmp_path / "a.net", x),
                                       emulated(back.net, tmp_path / "b.net", x))):
        assert a.sum() > 0, f"layer {layer} silent"
        assert np.array_equal(a, b), layer


def test_export_cli_writes_nir_with_per_neuron_thresholds(dense_net, tmp_path, capsys):
    save_model(tmp_path / "m.pt", dense_net, {"name": "digits", "encoding": {}})
    assert export_main([str(tmp_path / "m.pt"), str(tmp_path / "m.nir")]) == 0
    graph = nir.read(tmp_path / "m.nir")
    assert graph.metadata["convention"] == "lava" and graph.metadata["dt"] == 1e-4
    th = graph.nodes["neuron0"].v_threshold
    np.testing.assert_array_equal(th * 64, dense_net.spiking_blocks()[0].neuron
                                  .threshold_mant().numpy())
    assert len(np.unique(th)) > 1
    assert import_main([str(tmp_path / "m.nir"), str(tmp_path / "b.pt")]) == 0
    assert "exact" in capsys.readouterr().out


def _cuba(n, tau_syn, tau_mem, r, w_in, th=1.0, **kw):
    one = np.ones(n)
    return nir.CubaLIF(tau_syn=tau_syn * one, tau_mem=tau_mem * one, r=r * one,
                       v_leak=kw.pop("v_leak", 0.0) * one, v_threshold=th * one,
                       w_in=w_in * one, **kw)


def _graph(neuron, weight=None, extra_nodes=None):
    weight = np.full((3, 4), 0.5) if weight is None else weight
    nodes = {"input": nir.Input(input_type={"input": np.array([4])}),
             "fc": nir.Linear(weight=weight), "lif": neuron,
             "output": nir.Output(output_type={"output": np.array([3])}), **(extra_nodes or {})}
    return nir.NIRGraph(nodes=nodes, edges=[("input", "fc"), ("fc", "lif"), ("lif", "output")],
                        type_check=False)


def test_snntorch_convention_decays():
    dt, alpha, beta = 1e-4, 0.75, 0.9375  # snnTorch: tau = dt / (1 - alpha), r = tau/dt
    tau_syn, tau_mem = dt / (1 - alpha), dt / (1 - beta)
    graph = _graph(_cuba(3, tau_syn, tau_mem, tau_mem / dt, tau_syn / dt, th=0.75))
    result = import_nir(graph, convention="snntorch", reset="zero")
    cfg = result.net.neuron_config
    assert (cfg.i_decay, cfg.v_decay) == (1024, 256) and result.notes == []
    block = result.net.spiking_blocks()[0]
    assert torch.all(block.weight() == 0.5) and torch.all(block.neuron.threshold == 0.75)
    with pytest.raises(UserError, match="reset"):  # snnTorch's default reset is subtract
        import_nir(graph, convention="snntorch", strict=True)


def test_norse_convention_decays_and_gain():
    # Norse: tau in seconds at dt 1e-3, r = 1, w_in = 1; its input jumps the current
    graph = _graph(_cuba(3, 4e-3, 8e-3, 1.0, 1.0, th=0.25))
    result = import_nir(graph, convention="norse")
    cfg = result.net.neuron_config
    assert (cfg.i_decay, cfg.v_decay) == (1024, 512)
    block = result.net.spiking_blocks()[0]  # voltage gain dt / tau_mem = 1/8
    assert torch.all(block.weight() == 0.5 / 8) and torch.all(block.neuron.threshold == 0.25)
    assert any("previous step" in note for note in result.notes)


def test_approximations_are_reported_and_strict_refuses():
    tau_mem = np.array([1e-3, 1e-3, 2e-3])
    neuron = nir.CubaLIF(tau_syn=np.full(3, 4e-3), tau_mem=tau_mem, r=tau_mem / 1e-4,
                         v_leak=np.full(3, 0.1), v_threshold=np.ones(3), w_in=np.full(3, 40.0))
    result = import_nir(_graph(neuron, weight=np.full((3, 4), 0.3)), convention="lava")
    text = "\n".join(result.notes)
    for what in ("per-neuron tau_mem", "rounded", "quantized"):
        assert what in text, what
    assert "v_leak" not in text  # v_leak is Loihi's bias: imported, not dropped
    assert result.net.spiking_blocks()[0].bias is not None
    with pytest.raises(UserError, match="node 'lif' \\(CubaLIF\\): tau_mem:"):
        import_nir(_graph(neuron), convention="lava", strict=True)


@pytest.mark.parametrize("change, match", [
    (lambda g: setattr(g.nodes["lif"], "v_reset", np.ones(3)),
     "node 'lif' \\(CubaLIF\\): v_reset:"),
    (lambda g: setattr(g.nodes["lif"], "v_threshold", np.zeros(3)),
     "node 'lif' \\(CubaLIF\\): v_threshold:"),
    (lambda g: g.nodes.update(lif=nir.SumPool2d(kernel_size=np.array([2, 2]),
                                                stride=np.array([2, 2]),
                                                padding=np.array([0, 0]))),
     "node 'lif' \\(SumPool2d\\): type: follows a synapse"),
    (lambda g: (g.nodes.update(rec=nir.Linear(weight=np.ones((2, 2)))),
                g.edges.extend([("lif", "rec"), ("rec", "lif")])),
     "node 'rec' \\(Linear\\): weight: of shape \\(2, 2\\); the loop needs \\(3, 3\\)"),
    (lambda g: g.nodes.update(lif=_cuba(3, 4e-4, 8e-4, 8.0, 4.0, v_reset=np.ones(3)),
                              fc=nir.Affine(weight=np.ones((3, 4)), bias=np.ones(3))),
     "node 'lif' \\(CubaLIF\\): v_reset:"),
    (lambda g: g.edges.append(("fc", "output")), "node 'fc' \\(Linear\\): edges:"),
])
def test_refusals_name_node_and_field(change, match):
    graph = _graph(_cuba(3, 4e-4, 8e-4, 8.0, 4.0))
    change(graph)
    with pytest.raises(UserError, match=match) as err:
        import_nir(graph, convention="lava")
    assert "\n" not in str(err.value)


def test_convention_must_be_known():
    with pytest.raises(UserError, match="give `convention`"):  # the parameter (API)
        import_nir(_graph(_cuba(3, 4e-4, 8e-4, 8.0, 4.0)))


def test_snntorch_export_runs_here_as_in_snntorch(tmp_path):
    """snnTorch's own NIR export of a Synaptic network (reset to zero, applied at the
    spike: reset_delay=False), weights on 1/32 and decays on 1/4096: the emulator's
    spikes of layer k are snnTorch's, k + 1 steps later (Loihi's synaptic delays), but
    for the rare step where Loihi's truncation toward zero and snnTorch's float32
    rounding fall on opposite sides of a threshold."""
    snn = pytest.importorskip("snntorch")
    from snntorch.export_nir import export_to_nir

    torch.manual_seed(0)
    sizes, steps, n = [20, 32, 10], 60, 40
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        lin = torch.nn.Linear(a, b, bias=False)
        with torch.no_grad():
            lin.weight.copy_(torch.randint(-40, 48, (b, a)) / 32.0)
        layers += [lin, snn.Synaptic(alpha=torch.full((b,), 0.75),
                                     beta=torch.full((b,), 1 - 256 / 4096),
                                     threshold=torch.randint(64, 160, (b,)) / 64.0,
                                     init_hidden=True, reset_mechanism="zero",
                                     reset_delay=False)]
    model = torch.nn.Sequential(*layers)
    nir.write(tmp_path / "s.nir", export_to_nir(model, torch.zeros(sizes[0])))
    result = import_nir(tmp_path / "s.nir", convention="snntorch", reset="zero")
    assert result.notes == []
    x = random_spikes((n, sizes[0], steps), 0.3, seed=1)
    ref = [np.zeros((n, size, steps), np.uint8) for size in sizes[1:]]
    with torch.no_grad():
        for i in range(n):
            for m in model:
                if isinstance(m, snn.Synaptic):
                    m.reset_mem()
            for t in range(steps):
                h, k = torch.from_numpy(x[i, :, t]).float(), 0
                for m in model:
                    h = m(h)
                    if isinstance(m, snn.Synaptic):
                        ref[k][i, :, t], k = h.numpy(), k + 1
    got = emulated(result.net, tmp_path / "s.net", x)
    for k, (a, b) in enumerate(zip(ref, got)):
        assert a.sum() > 0
        agreement = np.mean(a[..., :steps - k - 1] == b[..., k + 1:])
        assert agreement >= 0.999, (k, agreement)  # measured: 0.99988, 0.99987


def test_graph_is_what_the_model_holds(conv_net):
    graph = nir_graph(conv_net)
    kinds = [type(graph.nodes[b]).__name__ for _, b in graph.edges]
    assert kinds == ["Conv2d", "CubaLIF", "Conv2d", "CubaLIF", "Flatten", "Affine", "CubaLIF",
                     "Output"]

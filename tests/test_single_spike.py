"""The single-spike neuron: the parallel forward equals the sequential integer model,
one spike at most, gradients, threshold learning, the membrane readout, the model file."""

import dataclasses

import pytest
import torch

from rouser_lava.loihi import TH_MANT_MAX
from rouser_lava.model.blocks import RouserNet, conv_spec, delay_one_step, dense_spec
from rouser_lava.model.modelfile import load_model, save_model
from rouser_lava.model.neuron import NeuronConfig, cuba_fixed, leaky_adjoint
from rouser_lava.model.single_spike import (
    MembraneReadout,
    RouserSingleSpike,
    _Membrane,
    leaky_adjoint_conv,
    membrane_fixed,
    single_spike_backward_torch,
    single_spike_fixed,
    single_spike_torch,
)
from tests.conftest import random_spikes, random_thresholds

DECAYS = [(1.0, 0.0), (1.0, 0.095), (0.0, 1.0), (0.25, 0.5), (0.0, 0.0), (0.3, 0.03)]


def _current(shape, scale, seed):
    """float32 current on the 8-bit weight grid (multiples of 1/32), mixed sign with a
    positive drift."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-scale // 2, scale + 1, shape, generator=gen).float() / 32


def _th_int(neuron, dims):
    return neuron.threshold_mant().reshape(-1, *[1] * dims) * 64


@pytest.mark.parametrize("decays", DECAYS)
@pytest.mark.parametrize("scale", [20, 40000])  # 40000: v clips at 24 bits
def test_parallel_equals_sequential_in_integers(decays, scale):
    cfg = NeuronConfig(neuron="single-spike", current_decay=decays[0],
                       voltage_decay=decays[1], threshold=1.0)
    neuron = RouserSingleSpike(12, cfg)
    with torch.no_grad():
        neuron.threshold.copy_(torch.linspace(0.2, 30.0, 12))
    x = _current((5, 12, 3, 80), scale, seed=scale)  # conv-shaped (N, C, W, T)
    s = neuron(x)
    ref = single_spike_fixed((x * 4096).to(torch.int64), cfg.i_decay, cfg.v_decay,
                             _th_int(neuron, 1))
    assert torch.equal(s, ref.float())
    assert s.sum(-1).max() == 1
    v = membrane_fixed((x * 4096).to(torch.int64), cfg.i_decay, cfg.v_decay)
    assert ((v > _th_int(neuron, 1).unsqueeze(-1)).sum(-1) > 1).any()  # re-crossings masked
    if scale > 1000 and cfg.v_decay < 4096:
        assert (v.abs() == (1 << 23) - 1).any()  # the clip was reached


@pytest.mark.parametrize("kind", ["dense", "conv"])
def test_network_equals_sequential_layer_by_layer(kind):
    torch.manual_seed(5)
    cfg = NeuronConfig(neuron="single-spike", current_decay=1.0, voltage_decay=0.1)
    if kind == "dense":
        shape, arch = (20,), [dense_spec(20, 16), dense_spec(16, 6)]
    else:
        shape = (2, 6, 7)
        arch = [conv_spec(2, 4, 3, padding=1), conv_spec(4, 4, 3, stride=2, padding=1),
                {"kind": "flatten"}, dense_spec(48, 5)]
    net = RouserNet(shape, arch, cfg)
    with torch.no_grad():
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(6.0)  # saturates the 8-bit range
    random_thresholds(net, 0.3, 1.5, seed=6)
    x = torch.from_numpy(random_spikes((4, *shape, 40), 0.2, seed=7)).float()
    outs = net(x)
    spikes, layer = x, 0
    for block in net.blocks:
        if not hasattr(block, "neuron"):
            spikes = block(spikes)
            continue
        x_int = (block.synapse(spikes) * 4096).to(torch.int64)
        ref = single_spike_fixed(x_int, cfg.i_decay, cfg.v_decay,
                                 _th_int(block.neuron, spikes.dim() - 3))
        spikes = delay_one_step(ref.float())
        assert torch.equal(outs[layer], spikes) and spikes.sum() > 0
        assert spikes.sum(-1).max() <= 1
        layer += 1


def _transposed(shape, scale, seed):
    """A dense layer's current: ``(N, C, T)``, the transposed view of ``(N, T, C)``."""
    n, c, t = shape
    return _current((n, t, c), scale, seed).transpose(1, 2)


def test_compiled_kernels_equal_the_torch_paths():
    """The CPU kernels (forward, backward) against the torch paths other devices run, on
    a contiguous and on a transposed (dense layer) current."""
    cfg = NeuronConfig(current_decay=0.3, voltage_decay=0.07)
    keep_v, keep_u = 1 - cfg.v_decay / 4096, 1 - cfg.i_decay / 4096
    for x in (_current((3, 7, 60), 200, seed=8), _transposed((3, 7, 60), 200, seed=8)):
        x_int = (x * 4096).to(torch.int64)
        v = x.clone().requires_grad_()
        out = _Membrane.apply(v, cfg.i_decay, cfg.v_decay)
        assert torch.equal(out * 4096, membrane_fixed(x_int, cfg.i_decay, cfg.v_decay).float())
        grad = torch.randn(out.shape)
        out.backward(grad)
        loops = leaky_adjoint(leaky_adjoint(grad, cfg.v_decay), cfg.i_decay)
        assert torch.allclose(v.grad, loops, rtol=1e-4, atol=1e-4)
        assert torch.allclose(leaky_adjoint_conv(grad, keep_v, keep_u), loops, rtol=1e-4,
                              atol=1e-4)

    neuron = RouserSingleSpike(7, dataclasses.replace(cfg, neuron="single-spike"))
    with torch.no_grad():
        neuron.threshold.copy_(torch.linspace(0.5, 3.0, 7))
    x = _transposed((3, 7, 60), 200, seed=9).requires_grad_()
    s = neuron(x)
    th = neuron.quantized_threshold().detach()
    s_ref, v_ref = single_spike_torch(x.detach(), th, cfg.i_decay, cfg.v_decay)
    assert torch.equal(s, s_ref) and s.sum() > 0
    grad = torch.randn(s.shape)
    s.backward(grad)
    consts = (neuron.slope, neuron.surrogate_scale, keep_v, keep_u)
    grad_x, grad_v_sum = single_spike_backward_torch(grad, v_ref, th, consts)
    assert x.grad.stride() == x.stride()  # the matrix product's backward needs no copy
    assert torch.allclose(x.grad, grad_x, rtol=1e-4, atol=1e-3)
    assert torch.allclose(neuron.threshold.grad, -grad_v_sum.sum(0), rtol=1e-4, atol=1e-2)


class _LinearFilters(torch.autograd.Function):
    """The leaky filters' adjoint as autograd sees it (test reference): ``v`` (given,
    exact) forward, ``A_u(A_v(grad))`` backward."""

    @staticmethod
    def forward(ctx, x, v, v_decay, i_decay):
        ctx.decays = (v_decay, i_decay)
        return v

    @staticmethod
    def backward(ctx, grad):
        v_decay, i_decay = ctx.decays
        return leaky_adjoint(leaky_adjoint(grad, v_decay), i_decay), None, None, None


def _unfused_single_spike(neuron, x):
    """The unfused form the fused kernels replace, differentiated by autograd: membrane,
    fast-sigmoid step ``scale * d / (slope |d| + 1)`` (derivative ``scale / (slope |d| +
    1)**2``), ``z = cumsum(cumsum(.))`` and ``z == 1`` with the gradient straight
    through ``z``."""
    cfg = neuron.config
    th = neuron.quantized_threshold().reshape(-1, *[1] * (x.dim() - 2))
    v = membrane_fixed((x.detach() * 4096).to(torch.int64), cfg.i_decay, cfg.v_decay) / 4096
    d = _LinearFilters.apply(x, v.float(), cfg.v_decay, cfg.i_decay) - th
    smooth = neuron.surrogate_scale * d / (neuron.slope * d.abs() + 1)
    z = (smooth - smooth.detach() + (d > 0).float()).cumsum(-1).cumsum(-1)
    return z - z.detach() + (z.detach() == 1).float()


@pytest.mark.parametrize("layout", ["dense", "conv"])
def test_gradients_equal_the_unfused_form(layout):
    cfg = NeuronConfig(neuron="single-spike", current_decay=0.5, voltage_decay=0.1,
                       threshold=0.75)
    grads = []
    for run in ("fused", "unfused"):
        neuron = RouserSingleSpike(6, cfg)
        with torch.no_grad():
            neuron.threshold.copy_(torch.linspace(0.3, 2.0, 6))
        if layout == "dense":
            x = _transposed((4, 6, 70), 120, seed=13).requires_grad_()
        else:
            x = _current((4, 6, 3, 2, 70), 120, seed=13).requires_grad_()
        s = neuron(x) if run == "fused" else _unfused_single_spike(neuron, x)
        assert s.sum() > 0
        (s * torch.randn(s.shape, generator=torch.Generator().manual_seed(14))).sum().backward()
        grads.append((s.detach(), x.grad, neuron.threshold.grad))
    (s, gx, gth), (s_ref, gx_ref, gth_ref) = grads
    assert torch.equal(s, s_ref)
    assert torch.allclose(gx, gx_ref, rtol=1e-4, atol=1e-4 * gx_ref.abs().max())
    assert torch.allclose(gth, gth_ref, rtol=1e-4, atol=1e-4 * gth_ref.abs().max())


def test_gradients_reach_weights_and_thresholds():
    torch.manual_seed(9)
    cfg = NeuronConfig(neuron="single-spike", readout="membrane", current_decay=1.0,
                       voltage_decay=0.1, threshold=0.5)
    net = RouserNet((5,), [dense_spec(5, 30), dense_spec(30, 3)], cfg)
    x = torch.from_numpy(random_spikes((8, 5, 50), 0.05, seed=10)).float()
    outs = net(x)
    assert outs[0].sum() > 0
    loss = torch.nn.functional.cross_entropy(net.logits(outs[-1]), torch.arange(8) % 3)
    loss.backward()
    grads = {n: p.grad for n, p in net.named_parameters()}
    assert set(grads) == {"blocks.0.synapse.weight", "blocks.0.neuron.threshold",
                          "blocks.1.synapse.weight"}
    for name, g in grads.items():
        assert torch.isfinite(g).all() and g.abs().sum() > 0, name


def test_silent_neuron_is_roused_by_lowering_its_threshold():
    # constant weak input; the no-reset v levels off near 0.5 / 0.1 * 0.2 = 1.0 < 1.25
    neuron = RouserSingleSpike(1, NeuronConfig(neuron="single-spike", threshold=1.25,
                                               current_decay=1.0, voltage_decay=0.1))
    x = torch.full((1, 1, 60), 0.09375)
    assert neuron(x).sum() == 0
    opt = torch.optim.SGD(neuron.parameters(), lr=0.02)
    history = []
    for _ in range(300):
        count = neuron(x).sum()
        loss = (count - 1.0) ** 2  # the loss asks for the one spike
        opt.zero_grad()
        loss.backward()
        opt.step()
        neuron.clamp_()
        history.append(neuron.threshold.item())
        if count > 0:
            break
    assert count == 1, "threshold never came down far enough to spike"
    assert history[-1] < 1.25 and all(b <= a for a, b in zip(history, history[1:]))


@pytest.mark.parametrize("readout_decay", [0.05, 1.0, 0.0])
def test_membrane_readout_is_a_cuba_layer_that_never_spikes(readout_decay):
    cfg = NeuronConfig(neuron="single-spike", readout="membrane", readout_decay=readout_decay)
    readout = MembraneReadout(4, cfg)
    x = _current((3, 4, 70), 30, seed=11)
    v = readout(x)
    x_int = (x * 4096).to(torch.int64)
    th = readout.threshold_mant() * 64  # (C,), against v_t (N, C)
    assert readout.threshold_mant().tolist() == [TH_MANT_MAX] * 4
    u_ref, v_ref, s_ref = cuba_fixed(x_int, cfg.readout_i_decay, 0, th)  # vDecay = 0
    assert not s_ref.any()
    assert torch.equal(v * 4096, v_ref.float())
    assert torch.equal(v_ref[..., -1], u_ref.sum(-1))  # logits: the summed current


def test_model_file_round_trip_and_old_files(tmp_path):
    cfg = NeuronConfig(neuron="single-spike", readout="membrane", current_decay=1.0,
                       voltage_decay=0.095, readout_decay=0.1)
    net = RouserNet((5,), [dense_spec(5, 8), dense_spec(8, 3)], cfg)
    save_model(tmp_path / "m.pt", net, {"name": "yinyang", "encoding": {}})
    loaded, record = load_model(tmp_path / "m.pt")
    assert loaded.neuron_config == cfg
    x = torch.from_numpy(random_spikes((2, 5, 30), 0.3, seed=12)).float()
    assert all(torch.equal(a, b) for a, b in zip(net(x), loaded(x)))
    old = {k: v for k, v in dataclasses.asdict(NeuronConfig()).items()
           if k not in ("neuron", "readout", "readout_decay")}  # a file from before
    record["neuron"] = old
    record["state_dict"] = RouserNet((5,), record["arch"], NeuronConfig()).state_dict()
    torch.save(record, tmp_path / "old.pt")
    assert load_model(tmp_path / "old.pt")[0].neuron_config == NeuronConfig()


def test_bad_neuron_settings_are_one_line_errors():
    with pytest.raises(ValueError, match="unknown neuron 'lif'"):
        NeuronConfig(neuron="lif")
    with pytest.raises(ValueError, match="fold-exact training needs the cuba neuron"):
        NeuronConfig(neuron="single-spike", fold_exact=True)


def test_fold_exact_single_spike_is_a_one_line_cli_error(tmp_path, capsys):
    from rouser_lava.cli import train_main
    from tests.conftest import error_line

    code = train_main(["--neuron", "single-spike", "--deploy", "fold-exact", "--out",
                       str(tmp_path / "m.pt"), "--quiet"])
    assert code == 1
    assert "--deploy fold-exact needs --neuron cuba" in error_line(capsys)

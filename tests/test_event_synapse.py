"""The event-driven synaptic product gives the dense product's values exactly and its
gradients to float rounding, alone and inside whole networks (cuba, fold-exact with and
without a bias, single-spike, membrane readout), at every input activity; and the
fold-exact block computes its fold once per parameter change."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from rouser_lava.model import event_synapse
from rouser_lava.model.blocks import RouserNet, dense_spec
from rouser_lava.model.event_synapse import spike_linear
from rouser_lava.model.neuron import NeuronConfig

DENSITIES = [0.0, 0.01, 0.1, 0.5, 1.0]
PATHS = {"dense": 0.0, "events": float("inf")}  # EVENT_DENSITY_SCALE forcing each path


def grid_weights(shape: tuple[int, int], seed: int) -> torch.Tensor:
    """Weights on slayer's 1/32 grid in [-4, 3.97], as the blocks use them."""
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(-128, 128, shape, generator=gen).float() / 32


def spikes(shape: tuple[int, ...], density: float, seed: int) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    return (torch.rand(shape, generator=gen) < density).float()


def product_and_grads(x, w, g, run=None):
    x = x.clone().requires_grad_()
    w = w.clone().requires_grad_()
    out = spike_linear(x, w, run)
    (out * g).sum().backward()
    return out.detach(), x.grad, w.grad


@pytest.fixture(params=["serial", "parallel"])
def kernels(request, monkeypatch):
    """The event kernels in one thread, or on all of numba's threads from the smallest
    input on."""
    import numba

    if request.param == "serial":
        monkeypatch.setattr(event_synapse, "PARALLEL_MIN", 1 << 62)
        yield request.param
        return
    monkeypatch.setattr(event_synapse, "PARALLEL_MIN", 0)
    before = numba.get_num_threads()
    numba.set_num_threads(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    yield request.param
    numba.set_num_threads(before)


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("fold", [False, True])
def test_events_equal_dense_product(density, fold, kernels, monkeypatch):
    x = spikes((3, 40, 25), density, seed=1)
    w = grid_weights((40, 40), seed=2)
    g = torch.randn((3, 40, 25), generator=torch.Generator().manual_seed(3))
    run = (torch.randint(-256, 255, (40, 40)).float(), -2) if fold else None
    got = {}
    for path, limit in PATHS.items():
        monkeypatch.setattr(event_synapse, "EVENT_DENSITY_SCALE", limit)
        got[path] = product_and_grads(x, w, g, run)
    w_val = w if run is None else run[0]
    want = torch.nn.functional.linear(x.transpose(1, 2), w_val).transpose(1, 2)
    want = want if run is None else torch.floor(want * 2.0 ** run[1])
    for path in PATHS:
        assert torch.equal(got[path][0], want), path
    for dense, events in zip(got["dense"][1:], got["events"][1:]):
        torch.testing.assert_close(events, dense, rtol=1e-5, atol=1e-5)
    assert got["events"][2].abs().sum() > 0 or density == 0.0  # the test sees gradient
    if density == 0.0:  # no spike: no weight gradient on either path
        assert not got["events"][2].any() and not got["dense"][2].any()


def test_path_chosen_by_activity():
    x = spikes((2, 100, 50), 0.01, seed=4)
    events = event_synapse.events_of(x, 100)
    assert events is not None
    pos, val, starts = events
    assert torch.equal(pos, torch.nonzero(x.reshape(-1)).squeeze(1))
    assert torch.equal(val, torch.ones(len(pos)))
    assert starts.tolist() == [0, int(x[0].sum()), int(x.sum())]
    assert event_synapse.events_of(spikes((2, 100, 50), 0.5, seed=4), 100) is None
    assert event_synapse.events_of(x.double(), 100) is None
    assert 0.04 < event_synapse.event_density_max(10) < event_synapse.event_density_max(500)
    assert event_synapse.event_density_max(3) == 0.0  # too few outputs to gain


CONFIGS = {
    "cuba": (NeuronConfig(), False),
    "fold-exact": (NeuronConfig(fold_exact=True), False),
    "fold-exact, bias": (NeuronConfig(fold_exact=True), True),
    "single-spike": (NeuronConfig(neuron="single-spike"), False),
    "membrane readout": (NeuronConfig(readout="membrane"), False),
}


def net_outputs_and_grads(net: RouserNet, x: torch.Tensor):
    net.zero_grad()
    out = net(x)
    g = torch.Generator().manual_seed(9)
    sum((o * torch.randn(o.shape, generator=g)).sum() for o in out).backward()
    grads = [p.grad.clone() for p in net.parameters() if p.grad is not None]
    return [o.detach() for o in out], grads


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("config", CONFIGS)
def test_network_same_on_both_paths(config, density, monkeypatch):
    cfg, bias = CONFIGS[config]
    torch.manual_seed(0)
    arch = [dense_spec(60, 40), dense_spec(40, 30), dense_spec(30, 5)]
    if bias:
        arch[0] = {**arch[0], "bias": True}
    net = RouserNet((60,), arch, cfg)
    with torch.no_grad():  # weights strong enough that the hidden layers spike
        for block in net.spiking_blocks():
            block.synapse.weight.mul_(4.0)
    x = spikes((4, 60, 30), density, seed=5)
    got = {}
    for path, limit in PATHS.items():
        monkeypatch.setattr(event_synapse, "EVENT_DENSITY_SCALE", limit)
        got[path] = net_outputs_and_grads(net, x)
    (out_d, grad_d), (out_e, grad_e) = got["dense"], got["events"]
    if density >= 0.1:
        assert out_d[0].sum() > 0, "first layer silent: the test would prove little"
    for a, b in zip(out_d, out_e):
        assert torch.equal(a, b)
    assert len(grad_d) == len(grad_e) == len(list(net.parameters()))
    for a, b in zip(grad_d, grad_e):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kind, fold_exact, cache", [("dense", True, "_fold_cache"),
                                                     ("recurrent", True, "_deploy_cache"),
                                                     ("recurrent", False, "_deploy_cache")])
def test_fold_computed_once_per_parameter_change(kind, fold_exact, cache):
    """A dense block's fold, a recurrent block's deployed weights (either form)."""
    from rouser_lava.model.blocks import recurrent_spec

    torch.manual_seed(0)
    first_spec = dense_spec(20, 15) if kind == "dense" else recurrent_spec(20, 15, bias=True)
    net = RouserNet((20,), [first_spec, dense_spec(15, 4)],
                    NeuronConfig(fold_exact=fold_exact))
    x = spikes((3, 20, 20), 0.3, seed=6)
    block = net.spiking_blocks()[0]
    net(x)
    first = getattr(block, cache)
    out = net(x)
    assert getattr(block, cache) is first  # a second pass, no step: the same object
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    sum(o.sum() for o in out).backward()
    opt.step()
    net.clamp_()
    after = net(x)
    assert getattr(block, cache) is not first  # the step changed the parameters
    fresh = RouserNet((20,), net.arch, net.neuron_config)  # no cache: computed afresh
    fresh.load_state_dict(net.state_dict())
    for a, b in zip(after, fresh(x)):
        assert torch.equal(a, b)
    if kind == "dense":
        assert not torch.equal(first[1][0], block._fold_cache[1][0])  # the fold changed


def test_fold_follows_loaded_thresholds():
    torch.manual_seed(1)
    net = RouserNet((20,), [dense_spec(20, 15), dense_spec(15, 4)],
                    NeuronConfig(fold_exact=True))
    x = spikes((3, 20, 20), 0.3, seed=7)
    net(x)
    state = {k: v * 1.5 if k.endswith("threshold") else v
             for k, v in net.state_dict().items()}
    net.load_state_dict(state)
    fresh = RouserNet((20,), net.arch, dataclasses.replace(net.neuron_config))
    fresh.load_state_dict(state)
    for a, b in zip(net(x), fresh(x)):
        assert torch.equal(a, b)


@pytest.mark.parametrize("density", [float("inf"), 0.0])  # the event path, then conv3d
def test_fold_exact_conv_one_sum_same_as_two(conv_net, density, monkeypatch):
    """The conv block's single convolution (the fold's value, the float gradient) gives
    what the two convolutions did: spikes equal, gradients to float rounding."""
    import numpy as np

    from rouser_lava.model import event_conv

    monkeypatch.setattr(event_conv, "CONV_EVENT_DENSITY", density)
    from rouser_lava.loihi import clip_activation
    from rouser_lava.model.synapse import W_SCALE, fold, quantize_weight, run_population

    cfg = dataclasses.replace(conv_net.neuron_config, fold_exact=True)
    net = RouserNet(conv_net.input_shape, conv_net.arch, cfg)
    net.load_state_dict(conv_net.state_dict())
    block = net.spiking_blocks()[0]
    x = spikes((3, *net.input_shape, 12), 0.3, seed=8)

    def two_sums():
        syn = block.synapse
        w_int, m = fold(quantize_weight(syn.weight), block.neuron)
        with torch.no_grad():
            a = clip_activation(torch.nn.functional.conv3d(
                x, torch.from_numpy(w_int.astype(np.float32)), None, syn.stride,
                syn.padding, syn.dilation, syn.groups))
        return run_population(block.neuron, syn(x), block.bias, (a / W_SCALE, m))

    got = {}
    for name, run in (("one", lambda: block(x)), ("two", two_sums)):
        net.zero_grad()
        out = run()
        (out * torch.linspace(-1, 1, out.shape[-1])).sum().backward()
        got[name] = (out.detach(), block.synapse.weight.grad.clone(),
                     block.neuron.threshold.grad.clone())
    assert got["one"][0].sum() > 0, "the block is silent: the test would prove nothing"
    assert torch.equal(got["one"][0], got["two"][0])
    for a, b in zip(got["one"][1:], got["two"][1:]):
        assert b.abs().sum() > 0
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("parts", [1, 3, 7])
def test_weight_gradient_same_in_column_slices(parts):  # one thread per slice
    """The weight-gradient kernel splits the outputs into ``parts`` slices (one per
    thread): every split gives the dense gradient."""
    from rouser_lava.model.event_kernels import event_weight_grad

    x = spikes((3, 50, 20), 0.05, seed=10)
    g = torch.randn((3, 20, 64), generator=torch.Generator().manual_seed(11))  # (N, T, C_out)
    events = event_synapse.events_of(x, 64)
    assert events is not None
    pos, val, _ = events
    dw_t = torch.zeros((50, 64))
    event_weight_grad(pos.numpy(), val.numpy(), 50, 20, g.numpy(), parts, dw_t.numpy())
    want = torch.einsum("nto,nct->co", g, x)
    torch.testing.assert_close(dw_t, want, rtol=1e-5, atol=1e-5)


def test_parallel_sum_same_as_serial():
    from rouser_lava.model.event_kernels import event_sum, event_sum_serial

    x = spikes((4, 30, 20), 0.05, seed=12)
    w_t = grid_weights((30, 50), seed=13)
    events = event_synapse.events_of(x, 50)
    assert events is not None
    outs = []
    for kernel in (event_sum, event_sum_serial):
        out = torch.zeros((4, 20, 50))
        kernel(*(e.numpy() for e in events), 30, 20, w_t.numpy(), out.numpy())
        outs.append(out)
    assert torch.equal(outs[0], outs[1])
    assert torch.equal(outs[0], torch.einsum("nct,co->nto", x, w_t))

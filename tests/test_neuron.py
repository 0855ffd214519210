"""The Rouser neuron: Loihi-exact forward, slayer-equal gradients, threshold learning."""

import math

import pytest
import torch

from rouser_lava._slayer import slayer
from rouser_lava.model.neuron import NeuronConfig, RouserCuba, cuba_fixed, leaky_adjoint


def test_hand_computed_trace():
    # iDecay 1024 (u keeps 3/4), vDecay 2048 (v keeps 1/2), threshold 64 << 6 = 4096
    x = torch.tensor([[[3000, 3000, 0, 0, 5000, -100]]], dtype=torch.int64)
    th = torch.tensor([[4096]])
    u, v, s = cuba_fixed(x, 1024, 2048, th)
    # u: 3000; 2250+3000=5250; 3937 (5250*3072>>12 = 3937.5 -> 3937); 2952; 2214+5000=7214;
    #    5410-100=5310
    assert u[0, 0].tolist() == [3000, 5250, 3937, 2952, 7214, 5310]
    # v: 3000; 1500+5250=6750 > 4096 spike -> 0; 0+3937=3937; 1968+2952=4920 spike -> 0;
    #    7214 spike -> 0; 5310 spike
    assert v[0, 0].tolist() == [3000, 6750, 3937, 4920, 7214, 5310]
    assert s[0, 0].tolist() == [False, True, False, True, True, True]


def test_equal_threshold_is_not_a_spike():
    x = torch.tensor([[[4096, 1]]], dtype=torch.int64)  # u keeps all, v = u
    _, _, s = cuba_fixed(x, 0, 4096, torch.tensor([[4096]]))
    assert s.tolist() == [[[False, True]]]  # Loihi: v > vth << 6, strictly


def test_fixed_threshold_equals_stock_slayer_cuba():
    torch.manual_seed(0)
    x = (torch.randn(3, 7, 60) * 0.6).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    mine = RouserCuba(7, NeuronConfig(learn_threshold=False))
    ref = slayer.neuron.cuba.Neuron(threshold=1.25, current_decay=0.25, voltage_decay=0.03,
                                    tau_grad=0.03, scale_grad=3)
    s, s_ref = mine(x), ref(x_ref)
    assert torch.equal(s, s_ref) and s.sum() > 20
    w = torch.randn_like(s)
    (s * w).sum().backward()
    (s_ref * w).sum().backward()
    assert torch.allclose(x.grad, x_ref.grad, atol=1e-5)


def test_threshold_gradient_matches_surrogate_by_hand():
    cfg = NeuronConfig(threshold=1.0, current_decay=0.5, voltage_decay=0.25)
    neuron = RouserCuba(2, cfg)
    x = torch.tensor([[[0.5, 0.25, 0.0, 0.75], [1.5, 0.0, 0.0, 0.0]]])
    w = torch.tensor([[[1.0, -2.0, 0.5, 3.0], [0.5, 1.0, 1.0, -1.0]]])
    (neuron(x) * w).sum().backward()
    # voltage by hand, integer units (4096 == 1.0), threshold 4096, reset on v > 4096
    x_int = (x * 4096).to(torch.int64)
    _, v, _ = cuba_fixed(x_int, 2048, 1024, torch.tensor([[4096, 4096]]))
    v = v.double() / 4096
    tau = 100 * 0.03 * 1.0
    s_rho = 0.1 * 3.0
    expected = [-sum(w[0, i, t].item() * s_rho / (2 * tau)
                     * math.exp(-abs(v[0, i, t].item() - 1.0) / tau) for t in range(4))
                for i in range(2)]
    assert torch.allclose(neuron.threshold.grad, torch.tensor(expected, dtype=torch.float32),
                          rtol=1e-5)


def test_silent_neuron_is_roused_by_lowering_its_threshold():
    # constant weak input: within 40 steps v rises only to ~1.13 < threshold 1.25
    neuron = RouserCuba(1, NeuronConfig(threshold=1.25))
    x = torch.full((1, 1, 40), 0.012)
    assert neuron(x).sum() == 0
    opt = torch.optim.SGD(neuron.parameters(), lr=0.2)
    history = []
    for _ in range(300):
        rate = neuron(x).mean()
        loss = (rate - 0.2) ** 2  # the loss asks for spikes
        opt.zero_grad()
        loss.backward()
        opt.step()
        neuron.clamp_()
        history.append(neuron.threshold.item())
        if rate > 0:
            break
    assert rate > 0, "threshold never came down far enough to spike"
    assert history[-1] < 1.25 and all(b <= a for a, b in zip(history, history[1:]))


def test_thresholds_stay_positive_and_on_grid():
    neuron = RouserCuba(3, NeuronConfig())
    with torch.no_grad():
        neuron.threshold.copy_(torch.tensor([-0.7, 0.3333, 5.0]))
    neuron.clamp_()
    q = neuron.quantized_threshold()
    assert torch.all(q > 0)
    assert torch.equal(q * 64, torch.round(q * 64))
    assert neuron.threshold_mant().tolist() == [1, 21, 320]


@pytest.mark.parametrize("shape", [(4, 9, 50), (2, 3, 4, 5, 30)])
def test_compiled_cpu_kernels_equal_the_torch_loops(shape):
    """The numba forward and backward (CPU) against cuba_fixed and leaky_adjoint, for a
    dense (N, C, T) and a conv (N, C, H, W, T) population with distinct thresholds."""
    torch.manual_seed(1)
    cfg = NeuronConfig(threshold=0.75)
    neuron = RouserCuba(shape[1], cfg)
    with torch.no_grad():
        neuron.threshold.copy_(torch.arange(1, shape[1] + 1) * 0.25)
    x = (torch.randn(shape) * 0.8).requires_grad_()
    s = neuron(x)
    grad_s = torch.randn(shape)
    s.backward(grad_s)
    th = neuron.quantized_threshold().detach().reshape(-1, *[1] * (len(shape) - 3))
    th_int = (th * 64).round().to(torch.int64) * 64
    _, v_int, s_ref = cuba_fixed((x.detach() * 4096).to(torch.int64), cfg.i_decay,
                                 cfg.v_decay, th_int)
    assert torch.equal(s, s_ref.float()) and 0 < s.sum() < s.numel()
    v = v_int.float() / 4096
    grad_v = (neuron.scale_rho / 2 / neuron.tau_rho
              * torch.exp(-(v - th.unsqueeze(-1)).abs() / neuron.tau_rho) * grad_s)
    grad_x = leaky_adjoint(leaky_adjoint(grad_v, cfg.v_decay), cfg.i_decay)
    assert torch.allclose(x.grad, grad_x, rtol=1e-5, atol=1e-6)
    grad_th = -grad_v.sum(dim=[d for d in range(len(shape)) if d != 1])
    assert torch.allclose(neuron.threshold.grad, grad_th, rtol=1e-5, atol=1e-5)

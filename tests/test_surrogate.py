"""The surrogate gradient's two conventions: the paper's ``(tau, s)`` and lava-dl's
``(tau_grad, scale_grad)``; one per run, the effective values in model.pt, and the
paper's settings giving the gradient of lava-dl's own CUBA neuron with the mapped values."""

import pytest
import torch

from rouser_lava._slayer import slayer
from rouser_lava.cli import train_main
from rouser_lava.errors import UserError
from rouser_lava.model.neuron import NeuronConfig, RouserCuba
from rouser_lava.training.settings import TrainSettings

TINY = ["--preset", "digits", "--hidden", "12", "--time-steps", "8", "--batch-size", "64",
        "--epochs", "1", "--quiet"]


def test_conventions_map_as_documented():
    lava = NeuronConfig()  # lava-dl's NMNIST values: threshold 1.25, tau_grad 0.03, scale 3
    assert lava.tau == pytest.approx(3.75) and lava.s == pytest.approx(0.15)
    table2 = NeuronConfig(surrogate_tau=3.75, surrogate_scale=1.5)
    assert (table2.tau, table2.s) == (3.75, 1.5)
    assert NeuronConfig(scale_grad=30).s == pytest.approx(1.5)  # Table II in lava-dl's terms
    fig6 = NeuronConfig(threshold=0.25, tau_grad=0.12, scale_grad=60)
    assert fig6.tau == pytest.approx(3.0) and fig6.s == pytest.approx(3.0)
    neuron = RouserCuba(3, NeuronConfig(threshold=0.25, surrogate_tau=3, surrogate_scale=3))
    assert neuron.tau_rho == 3.0 and neuron.scale_rho / 2 / neuron.tau_rho == 1.0  # s / tau


@pytest.mark.parametrize("th, tau, s", [(0.25, 3.0, 3.0), (1.25, 3.75, 1.5), (0.5, 0.4, 0.2)])
def test_paper_surrogate_gives_lava_dl_cuba_gradient(th, tau, s):
    """Fixed thresholds: spikes and input gradients equal stock slayer CUBA's with
    ``tau_grad = tau / (100 th)`` and ``scale_grad = 20 s``."""
    torch.manual_seed(1)
    x = (torch.randn(3, 6, 50) * th).requires_grad_()
    x_ref = x.detach().clone().requires_grad_()
    mine = RouserCuba(6, NeuronConfig(threshold=th, learn_threshold=False,
                                      surrogate_tau=tau, surrogate_scale=s))
    ref = slayer.neuron.cuba.Neuron(threshold=th, current_decay=0.25, voltage_decay=0.03,
                                    tau_grad=tau / (100 * th), scale_grad=20 * s)
    spikes, spikes_ref = mine(x), ref(x_ref)
    assert torch.equal(spikes, spikes_ref) and spikes.sum() > 20
    w = torch.randn_like(spikes)
    (spikes * w).sum().backward()
    (spikes_ref * w).sum().backward()
    err = (x.grad - x_ref.grad).abs().max() / x_ref.grad.abs().max()
    assert err < 1e-4, float(err)


def test_one_convention_per_run():
    with pytest.raises(UserError, match="not both"):
        TrainSettings(surrogate_tau=3.0, scale_grad=3.0)
    with pytest.raises(UserError, match="surrogate_scale"):
        TrainSettings(surrogate_scale=0.0)
    with pytest.raises(UserError, match="cuba only"):
        TrainSettings(neuron="single-spike", surrogate_tau=3.0)
    paper = TrainSettings(threshold_init=0.25, surrogate_tau=3.0, surrogate_scale=3.0)
    assert (paper.neuron_config().tau, paper.neuron_config().s) == (3.0, 3.0)
    assert TrainSettings(tau_grad=0.06).neuron_config().tau == pytest.approx(7.5)


def test_cli_records_the_effective_surrogate(tmp_path, capsys):
    out = tmp_path / "m.pt"
    assert train_main([*TINY, "--threshold-init", "0.25", "--surrogate-tau", "3",
                       "--surrogate-scale", "3", "--out", str(out)]) == 0
    record = torch.load(out, weights_only=True)
    assert record["surrogate"] == {"tau": 3.0, "s": 3.0}
    assert record["train"]["surrogate_tau"] == 3.0
    out2 = tmp_path / "l.pt"
    assert train_main([*TINY, "--tau-grad", "0.06", "--out", str(out2)]) == 0
    assert torch.load(out2, weights_only=True)["surrogate"]["tau"] == pytest.approx(7.5)
    assert train_main([*TINY, "--tau-grad", "0.06", "--surrogate-scale", "1",
                       "--out", str(tmp_path / "x.pt")]) == 1
    assert "not both" in capsys.readouterr().err

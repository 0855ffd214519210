"""Per-layer training dynamics: dead neurons, spike rate, thresholds, weight change.

Counts come from the spikes the training forward passes already produce, so the cost
is one reduction per layer per batch plus a few per-epoch statistics.
"""

from __future__ import annotations

import torch

from ..loihi import TH_MANT_MAX, TH_SCALE
from ..model.blocks import RouserNet, bias_neurons
from ..model.single_spike import MembraneReadout

GRID = 1 / TH_SCALE  # the thresholds' step on Loihi


def batch_counts(outputs: list[torch.Tensor]) -> list[torch.Tensor]:
    """Spikes per neuron of one batch: for each layer's output ``(N, *shape, T)``, an
    int64 ``(prod(shape),)``."""
    return [o.detach().reshape(o.shape[0], -1, o.shape[-1]).sum((0, 2)).to(torch.int64)
            for o in outputs]


def weights(net: RouserNet) -> list[torch.Tensor]:
    """Detached copies of each spiking layer's synaptic weight, on the CPU."""
    return [b.synapse.weight.detach().cpu().clone() for b in net.spiking_blocks()]


def layer_metrics(net: RouserNet, counts: list[torch.Tensor], samples: int, steps: int,
                  w0: list[torch.Tensor]) -> list[dict]:
    """One dict per spiking layer, of its data neurons: a layer's bias neurons
    (:mod:`rouser_lava.interop.bias_neurons`, its last ones, firing every step with
    their imported thresholds) are left out of every figure but ``bias_neurons``.

    Parameters
    ----------
    counts : int64 ``(neurons,)`` per layer, spikes summed over the epoch's samples.
    samples, steps : samples seen in the epoch and time steps per sample.
    w0 : initial weights, as :func:`weights` returned them before training.

    Returns
    -------
    ``name``, ``dead_pct`` (% of neurons that never spiked), ``spike_rate`` (spikes per
    neuron per step), ``spikes_per_sample`` (the layer's spikes per sample), ``th_mean``,
    ``th_std``, ``th_min``, ``th_max`` (thresholds as the hardware holds them),
    ``th_moved_pct`` (% of neurons whose threshold is more than one 1/64 grid step from
    the initial one),
    ``weight_change`` (``||W - W0|| / ||W0||``), ``readout`` (True for the membrane
    readout, which never spikes) and ``bias_neurons`` (left out).
    """
    rows = []
    for name, block, c, w_init in zip(net.layer_names(), net.spiking_blocks(), counts, w0):
        h = bias_neurons(block.spec)
        th = block.neuron.quantized_threshold().detach().cpu().double()
        if h:  # the data neurons only (a shared threshold is one value)
            c = c[:-h]
            th = th[:-h] if th.numel() > 1 else th
        readout = isinstance(block.neuron, MembraneReadout)  # its threshold never moves
        th0 = th if readout else initial_threshold(block.neuron.config.threshold)
        w = block.synapse.weight.detach().cpu()
        rows.append({
            "name": name,
            "dead_pct": 100.0 * float((c == 0).double().mean()),
            "spike_rate": float(c.sum()) / max(c.numel() * samples * steps, 1),
            "spikes_per_sample": float(c.sum()) / max(samples, 1),
            "th_mean": float(th.mean()), "th_std": float(th.std(unbiased=False)),
            "th_min": float(th.min()), "th_max": float(th.max()),
            "th_moved_pct": 100.0 * float(((th - th0).abs() > GRID * 1.5).double().mean()),
            "weight_change": float((w - w_init).norm() / w_init.norm().clamp_min(1e-12)),
            "readout": readout, "bias_neurons": h,
        })
    return rows


def initial_threshold(threshold: float) -> float:
    """``threshold`` on the 1/64 grid, within Loihi's range, as a network starts."""
    return min(max(round(threshold * TH_SCALE), 1), TH_MANT_MAX) / TH_SCALE


def format_epoch(row: dict) -> str:
    """One compact terminal line for an epoch's metrics."""
    layers = "  ".join(
        f"{la['name']}: membrane readout dW {la['weight_change']:.2f}" if la.get("readout")
        else f"{la['name']}: dead {la['dead_pct']:.0f}% rate {la['spike_rate']:.3f} "
             f"({la.get('spikes_per_sample', 0):.1f}/sample) th {la['th_mean']:.2f}"
             f"±{la['th_std']:.2f} dW {la['weight_change']:.2f}" for la in row["layers"])
    val = f"val {100 * row['val_acc']:.2f}%  " if "val_acc" in row else ""
    return (f"epoch {row['epoch']}  loss {row['train_loss']:.4f}  train "
            f"{100 * row['train_acc']:.2f}%  {val}test {100 * row['test_acc']:.2f}%  "
            f"({row['wall_s']:.1f}s)  {layers}")

"""Training time per epoch: the parallel single-spike model against the sequential
single-spike loop and against multi-spike CUBA training, in one run.

Three trainings of one architecture (dense, per-neuron learned thresholds, 8-bit
weights, batch ``--batch``, Adam; a step is forward, loss, backward and update):

- ``parallel``: ``RouserNet`` with ``neuron="single-spike"`` and the membrane readout
  (compiled integer membrane, first spike by two cumulative sums), cross-entropy;
- ``sequential``: the single-spike paper's baseline as Block's code runs it (its
  ``MethodStandard``): per layer one matrix product for the current of all steps, then a
  Python loop over time in torch with autograd through it (leaky voltage, fast-sigmoid
  spikes masked after the first; the readout a leaky integrator), cross-entropy on the
  summed readout membrane;
- ``cuba``: ``RouserNet`` with the multi-spike CUBA neuron and spike counts with
  slayer's spike-rate loss (this package's default training).

Workloads: Yin-Yang 5-120-3 at T = 100 on the real training set (latency code; 5,000
samples = 157 batches of 32 per epoch) and 700-300-20 at T = 500 on SHD-shaped random spikes
(5 % density; SHD's 8,156 training samples = 255 batches). An epoch's time is the median
time per batch over ``--batches`` timed batches (after one warm-up batch, which
also compiles the numba kernels) times the batches per epoch. The last line reads
``speedup_vs_sequential=<parallel vs sequential at T = 100>``.

    python benchmarks/single_spike_speed.py [--batches 40] [--shd-batches 2] [--threads 1]
        [--batch 32]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
import torch
from _result import report as report_result
from torch import nn

from rouser_lava._slayer import slayer
from rouser_lava.data.yinyang import load_yinyang
from rouser_lava.model.blocks import RouserNet, dense_spec, quantize_weight
from rouser_lava.model.neuron import NeuronConfig

V_DECAY = 0.095  # 1 - e**(-1/10), the paper's hidden beta
READOUT_DECAY = 0.05  # 1 - e**(-1/20), the paper's readout beta


class FastSigmoid(torch.autograd.Function):
    """``d > 0``, gradient ``grad / (10 |d| + 1)**2`` (the paper's surrogate)."""

    @staticmethod
    def forward(ctx, d):
        ctx.save_for_backward(d)
        return (d > 0).float()

    @staticmethod
    def backward(ctx, grad):
        (d,) = ctx.saved_tensors
        return grad / (10 * d.abs() + 1) ** 2


class SequentialSingleSpike(nn.Module):
    """The paper's sequential single-spike network, as Block's ``MethodStandard`` runs it:
    layer by layer, the synaptic current of all steps in one matrix product, then a
    Python loop over time (leak, fast-sigmoid spike, mask after the first spike) with
    autograd through it; the readout a non-spiking leaky integrator summed over time.
    Block's dead work is left out (the membrane copies and reset of hidden layers, whose
    values are masked anyway, and the readout's spike test), and the steps' currents are
    taken by one ``unbind`` (Block indexes ``current[:, :, t]``, whose backward writes a
    full-size gradient per step, O(T**2)), so the loop is not slower than Block's."""

    def __init__(self, sizes: list[int]):
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=False)
                                     for a, b in zip(sizes[:-1], sizes[1:]))
        self.thresholds = nn.ParameterList(nn.Parameter(torch.ones(b)) for b in sizes[1:-1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(N, K)`` (readout membrane summed over time) for spikes ``(N, C, T)``."""
        s = x
        for i, lin in enumerate(self.linears):
            w = quantize_weight(lin.weight)
            current = nn.functional.linear(s.transpose(1, 2), w).transpose(1, 2)
            readout = i == len(self.linears) - 1
            keep = 1 - (READOUT_DECAY if readout else V_DECAY)
            mem, mask, out = None, None, []
            for current_t in current.unbind(-1):
                mem = current_t if mem is None else keep * mem + current_t
                if readout:
                    out.append(mem)
                    continue
                spikes = FastSigmoid.apply(mem - self.thresholds[i])
                if mask is not None:
                    spikes = spikes * (1 - mask)
                    mem = mem * (1 - mask)
                mask = spikes if mask is None else torch.maximum(mask, spikes)
                out.append(spikes)
            s = torch.stack(out, -1)
        return s.sum(-1)


def seconds_per_batch(net: nn.Module, loss_of, batches: list[tuple], timed: int) -> float:
    """Median wall time of one training step over ``timed`` batches, after one warm-up
    (the median: this shared VM stalls a step now and then, for all models alike)."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    times = []
    for k, (x, y) in enumerate(batches[:timed + 1]):
        start = time.perf_counter()
        loss = loss_of(net, x, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if k >= 1:
            times.append(time.perf_counter() - start)
    return float(np.median(times))


def rouser_net(sizes: list[int], neuron: str) -> RouserNet:
    if neuron == "cuba":
        cfg = NeuronConfig()
    else:
        cfg = NeuronConfig(neuron="single-spike", readout="membrane", threshold=1.0,
                           current_decay=1.0, voltage_decay=V_DECAY,
                           readout_decay=READOUT_DECAY)
    return RouserNet((sizes[0],), [dense_spec(a, b) for a, b in zip(sizes[:-1], sizes[1:])],
                     cfg)


def ce_loss(net, x, y):
    if isinstance(net, RouserNet):
        return nn.functional.cross_entropy(net.logits(net(x)[-1]), y)
    return nn.functional.cross_entropy(net(x), y)


RATE_LOSS = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="sum")


def rate_loss(net, x, y):
    return RATE_LOSS(net(x)[-1], y)


def epoch_seconds(sizes: list[int], batches: list[tuple], timed: int, per_epoch: int
                  ) -> dict[str, float]:
    torch.manual_seed(0)
    runs = {"parallel": (rouser_net(sizes, "single-spike"), ce_loss),
            "sequential": (SequentialSingleSpike(sizes), ce_loss),
            "cuba": (rouser_net(sizes, "cuba"), rate_loss)}
    return {name: seconds_per_batch(net, loss, batches, timed) * per_epoch
            for name, (net, loss) in runs.items()}


def report(title: str, times: dict[str, float]) -> float:
    print(title)
    for name, sec in times.items():
        print(f"  {name:10s} {sec:8.1f} s/epoch")
    speedup = times["sequential"] / times["parallel"]
    print(f"  parallel vs sequential single-spike: {speedup:.2f}x faster; parallel "
          f"single-spike vs multi-spike cuba: {times['cuba'] / times['parallel']:.2f}x")
    return speedup


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", type=int, default=40, help="timed Yin-Yang batches")
    p.add_argument("--shd-batches", type=int, default=2, help="timed SHD-shaped batches")
    p.add_argument("--threads", type=int, default=1, help="torch threads (numba: same)")
    p.add_argument("--batch", type=int, default=32, help="samples per batch (Block: 128)")
    args = p.parse_args()
    import numba

    torch.set_num_threads(args.threads)  # torch is imported before rouser_lava set the pools
    numba.set_num_threads(args.threads)
    batch = args.batch
    data = load_yinyang(100, "latency")
    order = torch.randperm(len(data.x_train), generator=torch.Generator().manual_seed(0))
    yy = [(torch.from_numpy(data.x_train[idx.numpy()]).float(),
           torch.from_numpy(data.y_train[idx.numpy()]))
          for idx in order[:batch * (args.batches + 1)].split(batch)]
    yy_epoch = epoch_seconds([5, 120, 3], yy, args.batches, math.ceil(5000 / batch))
    speedup = report(f"Yin-Yang 5-120-3, T = 100, batch {batch}: {args.batches} timed "
                     f"batches x {math.ceil(5000 / batch)} per epoch", yy_epoch)
    gen = torch.Generator().manual_seed(1)
    shd = [((torch.rand(batch, 700, 500, generator=gen) < 0.05).float(),
            torch.randint(0, 20, (batch,), generator=gen)) for _ in range(args.shd_batches + 1)]
    report(f"SHD-shaped 700-300-20, T = 500, batch {batch}: {args.shd_batches} timed "
           f"batches x {math.ceil(8156 / batch)} per epoch",
           epoch_seconds([700, 300, 20], shd, args.shd_batches, math.ceil(8156 / batch)))
    print(f"speedup_vs_sequential={speedup:.2f}")
    report_result(f"single-spike training, Yin-Yang 5-120-3, T = 100, batch {batch}, "
                  f"{args.threads} thread(s)", ("parallel", yy_epoch["parallel"]),
                  ("sequential (Block's loop)", yy_epoch["sequential"]), "s/epoch")


if __name__ == "__main__":
    main()

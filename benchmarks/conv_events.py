"""A conv synapse in training: the event path (sums and weight gradient over the input
spikes, :mod:`rouser_lava.model.event_conv`) against ``conv3d``, forward and backward.

Shapes: slayer conv synapses of an N-MNIST-sized first layer (2 -> 16, kernel 5, stride
2, 34 x 34 input: no input gradient, as for a network's input) and a hidden layer (16 ->
32, kernel 3, 17 x 17 input, input gradient too), T = 300, batch 16, 1 % and 5 % of the
inputs nonzero (random 0/1); weights on slayer's 1/32 grid. Each side is timed the best
of ``--repeats`` rounds, in turn, after one warm-up (the kernels compile or load then);
values are checked equal.

    python benchmarks/conv_events.py [--repeats 3] [--threads 1] [--batch 16]
"""

from __future__ import annotations

import argparse
import time

import torch
from _result import report

from rouser_lava.model import event_conv
from rouser_lava.model.event_conv import spike_conv

SHAPES = {"first layer 2 -> 16 k5 s2, 34 x 34": (2, 34, 16, 5, 2, 2, False),
          "hidden layer 16 -> 32 k3, 17 x 17": (16, 17, 32, 3, 1, 1, True)}
STEPS = 300


def step(x: torch.Tensor, w: torch.Tensor, conv,
         input_grad: bool) -> tuple[float, torch.Tensor]:
    """Seconds of one forward and backward, and the output."""
    xi, wi = x.clone().requires_grad_(input_grad), w.clone().requires_grad_()
    t0 = time.perf_counter()
    out = spike_conv(xi, wi, conv)
    out.sum().backward()
    return time.perf_counter() - t0, out.detach()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--batch", type=int, default=16)
    args = p.parse_args()
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    gen = torch.Generator().manual_seed(0)
    for name, (c_in, size, c_out, k, stride, pad, input_grad) in SHAPES.items():
        w = torch.randint(-128, 128, (c_out, c_in, k, k, 1), generator=gen).float() / 32
        conv = ((stride, stride, 1), (pad, pad, 0), (1, 1, 1), 1)
        for density in (0.01, 0.05):
            x = (torch.rand((args.batch, c_in, size, size, STEPS), generator=gen)
                 < density).float()
            best, outs = {}, {}
            for r in range(args.repeats + 1):  # round 0 warms up
                for side, limit in (("events", float("inf")), ("conv3d", 0.0)):
                    event_conv.CONV_EVENT_DENSITY = limit
                    seconds, outs[side] = step(x, w, conv, input_grad)
                    if r:
                        best[side] = min(best.get(side, float("inf")), seconds)
            assert torch.equal(outs["events"], outs["conv3d"])
            print(f"{name}, {100 * density:.0f} %: events {1e3 * best['events']:.0f} ms, "
                  f"conv3d {1e3 * best['conv3d']:.0f} ms "
                  f"({best['conv3d'] / best['events']:.2f}x)")
            report(f"conv synapse forward + backward, {name}, T = {STEPS}, batch "
                   f"{args.batch}, {100 * density:.0f} % input, {args.threads} thread(s)",
                   ("event path", 1e3 * best["events"]), ("conv3d", 1e3 * best["conv3d"]),
                   "ms/step")


if __name__ == "__main__":
    main()

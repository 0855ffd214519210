"""Training step time: rouser-lava's CPU training path vs stock lava-dl SLAYER, in one run.

Both networks are dense CUBA SNNs with the same sizes, decays, threshold, surrogate and
batch: ``RouserNet`` (per-neuron learned thresholds, compiled CUBA kernels, one matrix
product per dense synapse) and a stack of ``slayer.block.cuba.Dense`` blocks (scalar
threshold, lava-dl's own dynamics and ``conv3d`` synapses, with the same 8-bit weight
quantization and one-step delay). A step is forward, spike-rate loss, backward and an
Adam update, on random 0/1 input spikes at 5 % density. Prints the best ms per step
of each over ``--repeats`` rounds (one step of each network per round) and their
ratio, and the same for our fold-exact step (``NeuronConfig(fold_exact=True)``: the
forward pass is the Loihi 2 fold) against our normal step; the first steps are warm-up
(numba compiles its kernels on first use and caches them).

    python benchmarks/train_vs_slayer.py [--sizes 5,120,120,3] [--steps 100]
                                         [--batch 32] [--repeats 20] [--threads 1]
                                         [--density 0.05]
"""

from __future__ import annotations

import argparse
import time

import torch
from _result import report

from rouser_lava._slayer import slayer
from rouser_lava.model.blocks import RouserNet, dense_spec, quantize_weight
from rouser_lava.model.neuron import NeuronConfig


def stock_slayer(sizes: list[int], cfg: NeuronConfig) -> torch.nn.Module:
    params = {"threshold": cfg.threshold, "current_decay": cfg.current_decay,
              "voltage_decay": cfg.voltage_decay, "tau_grad": cfg.tau_grad,
              "scale_grad": cfg.scale_grad}
    blocks = [slayer.block.cuba.Dense(params, a, b, weight_scale=1,
                                      pre_hook_fx=quantize_weight, delay_shift=True)
              for a, b in zip(sizes[:-1], sizes[1:])]
    return torch.nn.Sequential(*blocks)


def stepper(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, last: bool):
    """One training step of ``net`` (forward, spike-rate loss, backward, Adam) as a
    function; three steps run here as warm-up."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    loss_fn = slayer.loss.SpikeRate(true_rate=0.2, false_rate=0.03, reduction="sum")

    def step() -> None:
        out = net(x)
        loss = loss_fn(out[-1] if last else out, y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    for _ in range(3):
        step()
    return step


def ms_per_step(steps: dict, repeats: int) -> dict[str, float]:
    """Best ms per step of each of ``steps`` (name -> step function), the steps taken in
    turn (one of each per round), so that a change in the machine's load over the run
    reaches every figure alike; each round starts one step later in the order, so that
    no step always follows the same one (on a loaded machine the step after stock
    SLAYER's long one was measured up to 1.7x slower: the scheduler's due to a process
    that has just run long)."""
    best = {name: float("inf") for name in steps}
    names = list(steps)
    for r in range(repeats):
        for name in names[r % len(names):] + names[:r % len(names)]:
            start = time.perf_counter()
            steps[name]()
            best[name] = min(best[name], (time.perf_counter() - start) * 1e3)
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="5,120,120,3")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--threads", type=int, default=1, help="torch threads (numba: same)")
    p.add_argument("--density", type=float, default=0.05, help="input spike density")
    args = p.parse_args()
    import numba

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    sizes = [int(s) for s in args.sizes.split(",")]
    torch.manual_seed(0)
    x = (torch.rand(args.batch, sizes[0], args.steps) < args.density).float()
    y = torch.randint(0, sizes[-1], (args.batch,))
    cfg = NeuronConfig()
    ours = RouserNet((sizes[0],), [dense_spec(a, b) for a, b in zip(sizes[:-1], sizes[1:])],
                     cfg)
    folded = RouserNet((sizes[0],), [dense_spec(a, b) for a, b in zip(sizes[:-1], sizes[1:])],
                       NeuronConfig(fold_exact=True))
    times = ms_per_step({"ours": stepper(ours, x, y, last=True),
                         "ref": stepper(stock_slayer(sizes, cfg), x, y, last=False),
                         "fold": stepper(folded, x, y, last=True)}, args.repeats)
    t_ours, t_ref, t_fold = times["ours"], times["ref"], times["fold"]
    setting = (f"{args.sizes}, T = {args.steps}, batch {args.batch}, "
               f"{100 * args.density:g} % input, {args.threads} thread(s)")
    print(f"network {setting}")
    print(f"stock lava-dl slayer : {t_ref:8.2f} ms/step")
    print(f"rouser-lava          : {t_ours:8.2f} ms/step   ({t_ref / t_ours:.2f}x faster)")
    print(f"rouser-lava, fold-exact: {t_fold:6.2f} ms/step   ({t_fold / t_ours:.2f}x a normal "
          f"step)")
    report(f"training step, {setting}", ("rouser-lava", t_ours),
           ("stock lava-dl SLAYER", t_ref), "ms/step", ">= 3")
    report(f"fold-exact step vs normal step, {setting}", ("fold-exact", t_fold),
           ("normal", t_ours), "ms/step", ">= 0.77 (fold-exact <= 1.3x a normal step)")


if __name__ == "__main__":
    main()

"""Why the digits net goes silent at the paper's Fig. 6 setting (Th_init 0.25, tau 3, s 3).

Trains the digits preset's 64-128-10 net with fixed thresholds (lr_Th = 0) on the
dataset's training split (its validation split, 10 % of each class carved from the
training data with seed 0, is held out; the test set is not used), and prints, per
optimiser step of the first epoch, the output layer's spikes per sample, the loss and
its gradient at the output weights; then per epoch the validation accuracy, the output
spikes, and a linear probe (logistic regression on the hidden spike counts, fit on the
training part, scored on validation) that says how much class information the hidden
layer carries. ``--reset-adam`` starts Adam afresh after step 20, to see how much of the
stall is Adam's memory of the first steps' gradients.

    python examples/digits_silent_output.py [--threshold 0.25] [--reset-adam]

Takes about a minute on one core (4 minutes on 2 loaded shared cores).
"""

import argparse

import torch
from sklearn.linear_model import LogisticRegression

from rouser_lava.data.registry import load_dataset
from rouser_lava.model.blocks import RouserNet
from rouser_lava.model.neuron import NeuronConfig
from rouser_lava.training.loop import TrainConfig, _loss_fn, dense_arch, make_optimizer

REPORT = "{}: probe {:.1f} %, output spikes/sample {:.1f}, net {:.1f} % (validation)"


def probe(net, data) -> tuple[float, float, float]:
    """Linear-probe validation accuracy on the hidden counts, output spikes per
    validation sample and the net's validation accuracy (all in %, spikes as counts)."""
    with torch.no_grad():
        hidden = [net(torch.from_numpy(x).float())[0].sum(-1).numpy()
                  for x in (data.x_train, data.x_val)]
        out = net(torch.from_numpy(data.x_val).float())[-1].sum(-1).numpy()
    clf = LogisticRegression(max_iter=3000).fit(hidden[0], data.y_train)
    return (100 * clf.score(hidden[1], data.y_val), float(out.sum(1).mean()),
            100 * float((out.argmax(1) == data.y_val).mean()))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threshold", type=float, default=0.25)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--reset-adam", action="store_true")
    args = p.parse_args()
    data = load_dataset("digits")  # with its carved validation split
    print(f"validation: {data.validation}")
    torch.manual_seed(0)
    neuron = NeuronConfig(threshold=args.threshold, surrogate_tau=3.0, surrogate_scale=3.0,
                          learn_threshold=False)
    net = RouserNet(data.input_shape, dense_arch(data, (128,)), neuron)
    cfg = TrainConfig()
    opt, loss_fn = make_optimizer(net, cfg), _loss_fn(net, cfg)
    gen = torch.Generator().manual_seed(0)
    out_w = net.spiking_blocks()[1].synapse.weight
    print(REPORT.format("at init", *probe(net, data)))
    step = 0
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(len(data.x_train), generator=gen).numpy()
        for start in range(0, len(order), cfg.batch_size):
            idx = order[start:start + cfg.batch_size]
            outs = net(torch.from_numpy(data.x_train[idx]).float())
            loss = loss_fn(outs[-1], torch.from_numpy(data.y_train[idx]))
            opt.zero_grad()
            loss.backward()
            g = out_w.grad
            if epoch == 1 and (step < 5 or step % 5 == 0):
                print(f"step {step}: output spikes/sample "
                      f"{float(outs[-1].sum((1, 2)).mean()):.1f}, loss/sample "
                      f"{float(loss) / len(idx):.4f}, output-weight gradient mean "
                      f"{float(g.mean()):+.2e} (mean |g| {float(g.abs().mean()):.2e})")
            opt.step()
            net.clamp_()
            step += 1
            if args.reset_adam and step == 20:
                opt = make_optimizer(net, cfg)
            state = opt.state.get(out_w)
            if step in (19, 100, 450) and state:
                t = float(state["step"])
                m = state["exp_avg"] / (1 - 0.9 ** t)
                v = state["exp_avg_sq"] / (1 - 0.999 ** t)
                size = float((cfg.lr * m.abs() / (v.sqrt() + 1e-8)).mean())
                print(f"step {step}: Adam's mean step on the output weights {size:.1e} "
                      f"(lr {cfg.lr:g}); sqrt(v_hat) {float(v.sqrt().mean()):.1e} against "
                      f"a gradient of {float(g.abs().mean()):.1e}")
        print(REPORT.format(f"after epoch {epoch}", *probe(net, data)))


if __name__ == "__main__":
    main()

"""Training and evaluation of Rouser networks (spatio-temporal backprop, slayer loss)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .._slayer import slayer
from ..data.dataset import SpikeDataset
from ..errors import UserError
from ..model.blocks import RouserNet, dense_spec
from .distributed import Ranks, all_sum, check_same, wrap
from .metrics import batch_counts, format_epoch, layer_metrics, weights

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainConfig:
    """Training run settings."""

    epochs: int = 10  # passes over the training set
    batch_size: int = 32  # samples per optimizer step
    lr: float = 1e-3  # Adam learning rate for weights (Rouser Table II)
    lr_threshold: float = 1e-3  # Adam learning rate for thresholds (Rouser Table II)
    true_rate: float = 0.2  # target spike rate of the labelled output neuron
    false_rate: float = 0.03  # target spike rate of the other output neurons
    seed: int = 0  # seeds initialisation and data order
    lr_schedule: str = "constant"  # "constant" or "cosine" (see lr_factor)
    hidden: tuple[int, ...] = field(default=(128,))  # hidden layer sizes (dense nets)


@dataclass
class EvalResult:
    """Predictions and loss of a network over a set of samples (used while training).

    Attributes
    ----------
    predictions : np.ndarray
        int64 ``(N,)``: argmax of the output scores (spike counts or readout logits).
    accuracy : float
        Fraction of correct predictions in [0, 1].
    loss : float
        Mean loss per sample (spike-rate MSE, or cross-entropy with the membrane readout).
    """

    predictions: np.ndarray
    accuracy: float
    loss: float


def dense_arch(data: SpikeDataset, hidden: tuple[int, ...]) -> list[dict]:
    """A dense ``C_in - hidden... - num_classes`` architecture (an input ``(C, H, W)``
    is flattened first, in netx's C order)."""
    sizes = [int(np.prod(data.input_shape)), *hidden, data.num_classes]
    arch = [dense_spec(a, b) for a, b in zip(sizes[:-1], sizes[1:])]
    return [{"kind": "flatten"}, *arch] if len(data.input_shape) > 1 else arch



def predict(net: RouserNet, output: torch.Tensor) -> torch.Tensor:
    """int64 ``(N,)``: class with the largest score (:meth:`RouserNet.logits`) of the last
    layer's ``output`` ``(N, K, T)``, the first on ties."""
    return net.logits(output).argmax(1)


def _loss_fn(net: RouserNet, cfg: TrainConfig):
    """Summed over samples: slayer's spike-rate MSE on output spikes, or cross-entropy
    on the membrane readout's logits (the single-spike paper's loss)."""
    if net.neuron_config.readout == "membrane":
        return lambda output, labels: nn.functional.cross_entropy(
            net.logits(output), labels, reduction="sum")
    return slayer.loss.SpikeRate(true_rate=cfg.true_rate, false_rate=cfg.false_rate,
                                 reduction="sum")


@torch.no_grad()
def evaluate(net: RouserNet, x: np.ndarray, y: np.ndarray, batch_size: int = 128,
             cfg: TrainConfig | None = None) -> EvalResult:
    """Run ``net`` on spikes ``x`` (uint8 ``(N, ..., T)``) with labels ``y`` (``(N,)``),
    on the device that holds ``net``."""
    net.eval()
    device = _device(net)
    loss_fn = _loss_fn(net, cfg or TrainConfig())
    preds, total_loss = [], 0.0
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.asarray(x[start:start + batch_size])).float().to(device)
        yb = torch.from_numpy(y[start:start + batch_size]).to(device)
        outs = net(xb)
        total_loss += loss_fn(outs[-1], yb).item()
        preds.append(predict(net, outs[-1]).cpu().numpy())
    predictions = np.concatenate(preds).astype(np.int64)
    return EvalResult(predictions, float(np.mean(predictions == y)),
                      total_loss / max(len(x), 1))


def _device(net: nn.Module) -> torch.device:
    return next(net.parameters()).device


def _evaluate_all(net: RouserNet, x: np.ndarray, y: np.ndarray, cfg: TrainConfig,
                  ranks: Ranks) -> tuple[float, float]:
    """Accuracy and mean loss over all of ``x``, each rank evaluating its part."""
    part = ranks.part(len(x))
    n = part.stop - part.start
    mine = evaluate(net, x[part], y[part], cfg=cfg) if n else None
    sums = all_sum(ranks, torch.tensor(
        [float(np.sum(mine.predictions == y[part])), mine.loss * n, n] if n else [0.0] * 3,
        dtype=torch.float64))
    correct, loss, total = sums.tolist()
    return correct / max(total, 1), loss / max(total, 1)


COSINE_FLOOR = 0.01  # the cosine schedule's last epoch runs at this fraction of lr
LR_SCHEDULES = ("constant", "cosine")  # TrainConfig.lr_schedule, see lr_factor


def lr_factor(schedule: str, epoch: int, epochs: int) -> float:
    """Multiplier of both learning rates in ``epoch`` (1-based) of ``epochs``.

    ``constant`` is 1 throughout; ``cosine`` falls from 1 in the first epoch to
    :data:`COSINE_FLOOR` in the last along half a cosine. It depends only on the
    epoch number, so a resumed run follows the same schedule.
    """
    if schedule == "constant" or epochs <= 1:
        return 1.0
    if schedule != "cosine":
        raise ValueError(f"unknown lr schedule '{schedule}'")
    phase = (epoch - 1) / (epochs - 1)
    return COSINE_FLOOR + (1.0 - COSINE_FLOOR) * 0.5 * (1.0 + math.cos(math.pi * phase))


def make_optimizer(net: RouserNet, cfg: TrainConfig) -> torch.optim.Optimizer:
    """Adam with separate learning rates for weights and thresholds."""
    th = [p for n, p in net.named_parameters() if n.endswith("neuron.threshold")]
    other = [p for n, p in net.named_parameters() if not n.endswith("neuron.threshold")]
    groups = [{"params": other, "lr": cfg.lr, "base_lr": cfg.lr}]
    if th:
        groups.append({"params": th, "lr": cfg.lr_threshold, "base_lr": cfg.lr_threshold})
    return torch.optim.Adam(groups)


@dataclass
class TrainState:
    """What continuing a run exactly needs, as of the end of epoch ``epoch``.

    ``optimizer`` is Adam's state dict, ``generator`` the data-order RNG state (uint8
    tensor), ``w0`` the initial weights (for the weight-change metric) and ``history``
    the per-epoch metric rows so far.
    """

    epoch: int
    optimizer: dict
    generator: torch.Tensor
    w0: list[torch.Tensor]
    history: list[dict]


def _diverged(epoch: int, what: str) -> str:
    return (f"training diverged in epoch {epoch}: {what} became NaN or infinite; lower "
            f"--lr or --lr-threshold (the files of the last complete epoch are kept)")


def train(net: RouserNet, data: SpikeDataset, cfg: TrainConfig, progress: bool = True,
          resume: TrainState | None = None,
          on_epoch: Callable[[TrainState], None] | None = None,
          ranks: Ranks | None = None) -> list[dict]:
    """Train ``net`` in place on ``data``; returns per-epoch metrics.

    Each row has ``epoch, train_loss, train_acc, test_loss, test_acc`` (plus
    ``val_loss, val_acc`` when ``data`` has a validation split), ``lr`` (the weights'
    learning rate in that epoch), ``wall_s``, ``metrics_s`` (time spent on the
    metrics) and ``layers`` (see
    :func:`rouser_lava.training.metrics.layer_metrics`). ``resume`` continues from a saved
    state (``net`` must hold that state's weights); ``on_epoch`` is called with the
    state after every epoch (for checkpoints). Raises UserError, naming the epoch, when
    the loss or a parameter becomes NaN or infinite.

    ``ranks`` (from :func:`rouser_lava.training.distributed.start`) makes this one of
    several data-parallel processes: each takes its part of every global batch of
    ``cfg.batch_size`` samples, and the metrics are those of the whole batch and epoch,
    the same on every rank (``on_epoch`` is called on every rank). Alone by default, on
    the device that holds ``net``.
    """
    ranks = ranks or Ranks(device=_device(net))
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = make_optimizer(net, cfg)
    model = wrap(net, ranks)
    w0, history, first = weights(net), [], 1
    if resume is not None:
        opt.load_state_dict(resume.optimizer)
        gen.set_state(resume.generator)
        w0, history, first = resume.w0, list(resume.history), resume.epoch + 1
    loss_fn = _loss_fn(net, cfg)
    for epoch in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        model.train()
        factor = lr_factor(cfg.lr_schedule, epoch, cfg.epochs)
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * factor
        order = torch.randperm(len(data.x_train), generator=gen).numpy()
        total, correct, seen, metrics_s, counts = 0.0, 0, 0, 0.0, None
        bar = tqdm(range(0, len(order), cfg.batch_size), desc=f"epoch {epoch}/{cfg.epochs}",
                   disable=None if progress and ranks.main else True, unit="batch",
                   leave=False)
        for start in bar:
            idx = order[start:start + cfg.batch_size]
            mine = idx[ranks.part(len(idx))]  # this rank's part of the global batch
            keep = int(len(mine) > 0)  # 0: a last batch smaller than the world; this rank
            run = mine if keep else idx[:1]  # runs one sample unweighted, to meet DDP
            xb = torch.from_numpy(np.asarray(data.x_train[run])).float().to(ranks.device)
            yb = torch.from_numpy(data.y_train[run]).to(ranks.device)
            outs = model(xb)
            loss = loss_fn(outs[-1], yb)
            opt.zero_grad()
            (loss * (ranks.grad_scale * keep)).backward()
            opt.step()
            net.clamp_()
            t_m = time.perf_counter()
            batch = [c * keep for c in batch_counts(net.spike_outputs(outs))]
            counts = batch if counts is None else [a + b for a, b in zip(counts, batch)]
            metrics_s += time.perf_counter() - t_m
            sums = all_sum(ranks, torch.tensor(  # loss, correct, samples of the global batch
                [loss.item() * keep, int((predict(net, outs[-1]) == yb).sum()) * keep,
                 len(mine)], dtype=torch.float64)).tolist()
            total, correct, seen = total + sums[0], correct + int(sums[1]), seen + int(sums[2])
            if not math.isfinite(total):
                raise UserError(_diverged(epoch, "the loss"))
            bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.3f}")
        if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            raise UserError(_diverged(epoch, "the weights or thresholds"))
        check_same(ranks, net)
        t_m = time.perf_counter()
        counts = [all_sum(ranks, c).cpu() for c in counts]
        layers = layer_metrics(net, counts, seen, data.time_steps, w0)
        metrics_s += time.perf_counter() - t_m
        test_acc, test_loss = _evaluate_all(net, data.x_test, data.y_test, cfg, ranks)
        row = {"epoch": epoch, "train_loss": total / seen, "train_acc": correct / seen,
               "test_loss": test_loss, "test_acc": test_acc}
        if data.x_val is not None:
            val_acc, val_loss = _evaluate_all(net, data.x_val, data.y_val, cfg, ranks)
            row.update(val_loss=val_loss, val_acc=val_acc)
        row.update({
            "lr": opt.param_groups[0]["lr"], "wall_s": time.perf_counter() - t0,
            "metrics_s": metrics_s, "layers": layers})
        history.append(row)
        log.info("%s", format_epoch(row))
        if on_epoch is not None:
            on_epoch(TrainState(epoch, opt.state_dict(), gen.get_state(), w0, list(history)))
    return history


def config_dict(cfg: TrainConfig) -> dict:
    """TrainConfig as plain data for the model file."""
    d = asdict(cfg)
    d["hidden"] = list(cfg.hidden)
    return d

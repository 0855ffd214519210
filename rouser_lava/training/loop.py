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
    """Run ``net`` on spikes ``x`` (uint8 ``(N, ..., T)``) with labels ``y`` (``(N,)``)."""
    net.eval()
    loss_fn = _loss_fn(net, cfg or TrainConfig())
    preds, total_loss = [], 0.0
    for start in range(0, len(x), batch_size):
        xb = torch.from_numpy(np.asarray(x[start:start + batch_size])).float()
        yb = torch.from_numpy(y[start:start + batch_size])
        outs = net(xb)
        total_loss += loss_fn(outs[-1], yb).item()
        preds.append(predict(net, outs[-1]).numpy())
    predictions = np.concatenate(preds).astype(np.int64)
    return EvalResult(predictions, float(np.mean(predictions == y)),
                      total_loss / max(len(x), 1))


COSINE_FLOOR = 0.01  # the cosine schedule's last epoch runs at this fraction of lr


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
          on_epoch: Callable[[TrainState], None] | None = None) -> list[dict]:
    """Train ``net`` in place on ``data``; returns per-epoch metrics.

    Each row has ``epoch, train_loss, train_acc, test_loss, test_acc`` (plus
    ``val_loss, val_acc`` when ``data`` has a validation split), ``lr`` (the weights'
    learning rate in that epoch), ``wall_s``, ``metrics_s`` (time spent on the
    metrics) and ``layers`` (see
    :func:`rouser_lava.training.metrics.layer_metrics`). ``resume`` continues from a saved
    state (``net`` must hold that state's weights); ``on_epoch`` is called with the
    state after every epoch (for checkpoints). Raises UserError, naming the epoch, when
    the loss or a parameter becomes NaN or infinite.
    """
    gen = torch.Generator().manual_seed(cfg.seed)
    opt = make_optimizer(net, cfg)
    w0, history, first = weights(net), [], 1
    if resume is not None:
        opt.load_state_dict(resume.optimizer)
        gen.set_state(resume.generator)
        w0, history, first = resume.w0, list(resume.history), resume.epoch + 1
    loss_fn = _loss_fn(net, cfg)
    for epoch in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        net.train()
        factor = lr_factor(cfg.lr_schedule, epoch, cfg.epochs)
        for group in opt.param_groups:
            group["lr"] = group["base_lr"] * factor
        order = torch.randperm(len(data.x_train), generator=gen).numpy()
        total, correct, seen, metrics_s, counts = 0.0, 0, 0, 0.0, None
        bar = tqdm(range(0, len(order), cfg.batch_size), disable=None if progress else True,
                   desc=f"epoch {epoch}/{cfg.epochs}", unit="batch", leave=False)
        for start in bar:
            idx = order[start:start + cfg.batch_size]
            xb = torch.from_numpy(np.asarray(data.x_train[idx])).float()
            yb = torch.from_numpy(data.y_train[idx])
            outs = net(xb)
            loss = loss_fn(outs[-1], yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            net.clamp_()
            t_m = time.perf_counter()
            batch = batch_counts(net.spike_outputs(outs))
            counts = batch if counts is None else [a + b for a, b in zip(counts, batch)]
            metrics_s += time.perf_counter() - t_m
            total += loss.item()
            if not math.isfinite(total):
                raise UserError(_diverged(epoch, "the loss"))
            correct += int((predict(net, outs[-1]) == yb).sum())
            seen += len(idx)
            bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.3f}")
        if not all(bool(torch.isfinite(p).all()) for p in net.parameters()):
            raise UserError(_diverged(epoch, "the weights or thresholds"))
        t_m = time.perf_counter()
        layers = layer_metrics(net, counts, seen, data.time_steps, w0)
        metrics_s += time.perf_counter() - t_m
        test = evaluate(net, data.x_test, data.y_test, cfg=cfg)
        row = {"epoch": epoch, "train_loss": total / seen, "train_acc": correct / seen,
               "test_loss": test.loss, "test_acc": test.accuracy}
        if data.x_val is not None:
            val = evaluate(net, data.x_val, data.y_val, cfg=cfg)
            row.update(val_loss=val.loss, val_acc=val.accuracy)
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

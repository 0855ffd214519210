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
from ..errors import UserError, param
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
    local = [0.0] * 3  # correct, summed loss, samples
    if n:
        mine = evaluate(net, x[part], y[part], cfg=cfg)
        local = [float(np.sum(mine.predictions == y[part])), mine.loss * n, n]
    sums = all_sum(ranks, torch.tensor(local, dtype=torch.float64))
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


def _diverged(epoch: int, what: str) -> UserError:
    return UserError(f"training diverged in epoch {epoch}: {what} became NaN or infinite; "
                     f"lower {param('lr')} or {param('lr_threshold')} (the files of the last "
                     f"complete epoch are kept)")


@dataclass
class _Training:
    """What every epoch of one :func:`train` call works with."""

    net: RouserNet
    model: nn.Module  # net, or net wrapped in DDP (see distributed.wrap)
    data: SpikeDataset
    cfg: TrainConfig
    opt: torch.optim.Optimizer
    gen: torch.Generator  # the data order
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # summed over samples
    ranks: Ranks


@dataclass
class _Tally:
    """Sums over an epoch's batches: loss, correct predictions and samples of the whole
    global batches, and this rank's spike counts per layer (see metrics.batch_counts)."""

    loss: float = 0.0
    correct: int = 0
    seen: int = 0
    counts: list[torch.Tensor] | None = None
    metrics_s: float = 0.0  # time spent counting spikes


def _rank_part(idx: np.ndarray, ranks: Ranks) -> tuple[np.ndarray, int]:
    """This rank's samples of the global batch ``idx`` and their weight, 1. A last batch
    smaller than the world leaves some ranks none: such a rank runs the batch's first
    sample with weight 0, since DDP needs every rank in every step."""
    mine = idx[ranks.part(len(idx))]
    return (mine, 1) if len(mine) else (idx[:1], 0)


def _step(t: _Training, run: np.ndarray, keep: int
          ) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """One optimiser step on training samples ``run`` (this rank's part of a global
    batch, its loss weighted by ``keep``); returns every layer's output, the loss and
    the labels."""
    xb = torch.from_numpy(np.asarray(t.data.x_train[run])).float().to(t.ranks.device)
    yb = torch.from_numpy(t.data.y_train[run]).to(t.ranks.device)
    outs = t.model(xb)
    loss = t.loss_fn(outs[-1], yb)
    t.opt.zero_grad()
    (loss * (t.ranks.grad_scale * keep)).backward()
    t.opt.step()
    t.net.clamp_()
    return outs, loss, yb


def _add_batch(t: _Training, tally: _Tally, outs: list[torch.Tensor], loss: torch.Tensor,
               yb: torch.Tensor, keep: int) -> None:
    """Add a step's spike counts (this rank's) and its loss, correct predictions and
    samples (summed over ranks) to ``tally``."""
    t_m = time.perf_counter()
    batch = [c * keep for c in batch_counts(t.net.spike_outputs(outs))]
    tally.counts = batch if tally.counts is None else [a + b for a, b in zip(tally.counts,
                                                                             batch)]
    tally.metrics_s += time.perf_counter() - t_m
    sums = all_sum(t.ranks, torch.tensor(  # loss, correct, samples of the global batch
        [loss.item() * keep, int((predict(t.net, outs[-1]) == yb).sum()) * keep,
         len(yb) * keep], dtype=torch.float64)).tolist()
    tally.loss, tally.correct = tally.loss + sums[0], tally.correct + int(sums[1])
    tally.seen += int(sums[2])


def _train_epoch(t: _Training, epoch: int, progress: bool) -> _Tally:
    """One pass over the training set in the seeded order, at epoch ``epoch``'s learning
    rates; UserError when the loss or a parameter becomes NaN or infinite."""
    t.model.train()
    factor = lr_factor(t.cfg.lr_schedule, epoch, t.cfg.epochs)
    for group in t.opt.param_groups:
        group["lr"] = group["base_lr"] * factor
    order = torch.randperm(len(t.data.x_train), generator=t.gen).numpy()
    tally = _Tally()
    bar = tqdm(range(0, len(order), t.cfg.batch_size), desc=f"epoch {epoch}/{t.cfg.epochs}",
               disable=None if progress and t.ranks.main else True, unit="batch",
               leave=False)
    for start in bar:
        run, keep = _rank_part(order[start:start + t.cfg.batch_size], t.ranks)
        outs, loss, yb = _step(t, run, keep)
        _add_batch(t, tally, outs, loss, yb, keep)
        if not math.isfinite(tally.loss):
            raise _diverged(epoch, "the loss")
        bar.set_postfix(loss=f"{tally.loss / tally.seen:.4f}",
                        acc=f"{tally.correct / tally.seen:.3f}")
    if not all(bool(torch.isfinite(p).all()) for p in t.net.parameters()):
        raise _diverged(epoch, "the weights or thresholds")
    check_same(t.ranks, t.net)
    return tally


def _epoch_row(t: _Training, epoch: int, tally: _Tally, w0: list[torch.Tensor],
               t0: float) -> dict:
    """Epoch ``epoch``'s metrics row (see :func:`train`) from its ``tally``, the layer
    metrics and the evaluation on the test (and validation) split; ``t0`` is when the
    epoch began."""
    t_m = time.perf_counter()
    counts = [all_sum(t.ranks, c).cpu() for c in tally.counts or []]
    layers = layer_metrics(t.net, counts, tally.seen, t.data.time_steps, w0)
    metrics_s = tally.metrics_s + (time.perf_counter() - t_m)
    data = t.data
    test_acc, test_loss = _evaluate_all(t.net, data.x_test, data.y_test, t.cfg, t.ranks)
    row: dict = {"epoch": epoch, "train_loss": tally.loss / tally.seen,
           "train_acc": tally.correct / tally.seen, "test_loss": test_loss,
           "test_acc": test_acc}
    if data.x_val is not None and data.y_val is not None:
        val_acc, val_loss = _evaluate_all(t.net, data.x_val, data.y_val, t.cfg, t.ranks)
        row.update(val_loss=val_loss, val_acc=val_acc)
    row.update({"lr": t.opt.param_groups[0]["lr"], "wall_s": time.perf_counter() - t0,
                "metrics_s": metrics_s, "layers": layers})
    return row


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
    t = _Training(net, wrap(net, ranks), data, cfg, opt, gen, _loss_fn(net, cfg), ranks)
    w0, history, first = weights(net), [], 1
    if resume is not None:
        try:
            opt.load_state_dict(resume.optimizer)
        except (ValueError, KeyError, TypeError, RuntimeError) as err:
            raise UserError(f"the checkpoint's optimizer state does not fit the network "
                            f"({err})") from None
        gen.set_state(resume.generator)
        w0, history, first = resume.w0, list(resume.history), resume.epoch + 1
    for epoch in range(first, cfg.epochs + 1):
        t0 = time.perf_counter()
        tally = _train_epoch(t, epoch, progress)
        history.append(_epoch_row(t, epoch, tally, w0, t0))
        log.info("%s", format_epoch(history[-1]))
        if on_epoch is not None:
            on_epoch(TrainState(epoch, opt.state_dict(), gen.get_state(), w0, list(history)))
    return history


def config_dict(cfg: TrainConfig) -> dict:
    """TrainConfig as plain data for the model file."""
    d = asdict(cfg)
    d["hidden"] = list(cfg.hidden)
    return d

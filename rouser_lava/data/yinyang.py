"""The Yin-Yang dataset (Kriener, Goeltz, Petrovici 2021), generated from its definition,
and its spike encodings.

Points are drawn uniformly in the disc of radius ``R_BIG`` centred at (0.5, 0.5), with
the class drawn first and points rejected until they fall in it (classes are balanced
in expectation), exactly as the reference generator does with
``numpy.random.RandomState(seed)``. Each point becomes the four inputs
``(x, y, 1 - x, 1 - y)``. Conventional splits: 5,000 train (seed 42), 1,000 validation
(seed 41) and 1,000 test (seed 40).

Encodings (``encoding=``):

- ``latency`` (default): each input ``v`` in [0, 1] spikes once, at step
  ``round(v * (window - 1))`` with ``window = time_steps // 2``; a fifth *bias* channel
  spikes at step 0 (as in Goeltz et al.'s setup). Early spike = small value.
- ``rate``: each input spikes regularly (deterministic, no noise) ``v * max_rate``
  times per step on average: at step ``t`` iff ``floor((t+1) v r) > floor(t v r)``;
  plus the bias channel spiking at ``max_rate``.
"""

from __future__ import annotations

import numpy as np

from ..errors import UserError, param
from ..resources import require_memory
from .dataset import SpikeDataset

R_SMALL, R_BIG = 0.1, 0.5
CLASSES = ("yin", "yang", "dot")
SPLITS = {"train": (5000, 42), "validation": (1000, 41), "test": (1000, 40)}
ENCODINGS = ("latency", "rate")


def _which_class(x: float, y: float) -> int:
    d_right = np.hypot(x - 1.5 * R_BIG, y - R_BIG)
    d_left = np.hypot(x - 0.5 * R_BIG, y - R_BIG)
    if d_right < R_SMALL or d_left < R_SMALL:
        return 2  # dot
    is_yin = (d_right <= R_SMALL or R_SMALL < d_left <= 0.5 * R_BIG
              or (y > R_BIG and d_right > 0.5 * R_BIG))
    return int(is_yin)


def yinyang_points(size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``size`` points of the reference generator.

    Returns
    -------
    values : float64 ``(N, 4)``, ``(x, y, 1 - x, 1 - y)`` in [0, 1]
    labels : int64 ``(N,)``, 0 yin, 1 yang, 2 dot
    """
    rng = np.random.RandomState(seed)
    values, labels = np.empty((size, 4)), np.empty(size, dtype=np.int64)
    for i in range(size):
        goal = rng.randint(3)
        while True:
            x, y = rng.rand(2) * 2.0 * R_BIG
            if np.hypot(x - R_BIG, y - R_BIG) > R_BIG:
                continue
            if _which_class(x, y) == goal:
                break
        values[i] = (x, y, 1.0 - x, 1.0 - y)
        labels[i] = goal
    return values, labels


MIN_STEPS = 4  # the latency window (T // 2) must hold at least two spike times


def encode(values: np.ndarray, time_steps: int, encoding: str,
           max_rate: float = 0.5) -> np.ndarray:
    """Spikes uint8 ``(N, 5, T)`` for values float ``(N, 4)``; channel 4 is the bias."""
    n = len(values)
    require_memory(18 * n * 5 * (time_steps + 1), f"encoding {n} Yin-Yang samples to "
                   f"{time_steps} steps", f"use fewer {param('time_steps')}")
    with_bias = np.concatenate([values, np.ones((n, 1))], axis=1)  # (N, 5)
    spikes = np.zeros((n, 5, time_steps), dtype=np.uint8)
    if encoding == "latency":
        window = max(time_steps // 2, 1)
        steps = np.rint(values * (window - 1)).astype(np.int64)  # (N, 4)
        rows, chans = np.indices(steps.shape)
        spikes[rows, chans, steps] = 1
        spikes[:, 4, 0] = 1
    elif encoding == "rate":
        t = np.arange(time_steps + 1)
        counts = np.floor(t * with_bias[..., None] * max_rate)  # (N, 5, T + 1)
        spikes[:] = np.diff(counts, axis=-1) > 0
    else:
        raise ValueError(f"unknown Yin-Yang encoding '{encoding}'")
    return spikes


def load_yinyang(time_steps: int = 100, encoding: str = "latency",
                 max_rate: float = 0.5) -> SpikeDataset:
    """Yin-Yang with its three splits: train 5,000, validation 1,000 (used to pick the
    best epoch), test 1,000."""
    if encoding not in ENCODINGS:
        raise UserError(f"unknown Yin-Yang encoding '{encoding}' (choose from: "
                        f"{', '.join(ENCODINGS)})")
    if time_steps < MIN_STEPS:
        raise UserError(f"Yin-Yang needs {param('time_steps')} >= {MIN_STEPS} (got "
                        f"{time_steps}): "
                        f"shorter latency codes put every value at one time step")
    splits = {}
    for split, (size, seed) in SPLITS.items():
        values, labels = yinyang_points(size, seed)
        splits[split] = (encode(values, time_steps, encoding, max_rate), labels)
    return SpikeDataset(
        name="yinyang", x_train=splits["train"][0], y_train=splits["train"][1],
        x_test=splits["test"][0], y_test=splits["test"][1],
        x_val=splits["validation"][0], y_val=splits["validation"][1], num_classes=3,
        encoding={"time_steps": time_steps, "encoding": encoding, "max_rate": max_rate},
    )

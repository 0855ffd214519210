"""Datasets as binary spike tensors shared by training, export checks and every backend.

Built-in: scikit-learn's 8x8 handwritten digits (1,797 real UCI samples shipped
inside scikit-learn, no download), rate-encoded into Bernoulli spike trains.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import param
from ..resources import require_memory


@dataclass(frozen=True)
class SpikeDataset:
    """Spike tensors of one dataset, split into train and test.

    Attributes
    ----------
    name : str
        Dataset name, as given to ``--dataset``.
    x_train, x_test : np.ndarray
        uint8 ``(N, *input_shape, T)`` in {0, 1}.
    y_train, y_test : np.ndarray
        int64 ``(N,)`` class labels.
    num_classes : int
        Number of classes.
    encoding : dict
        How the spikes were made (stored in model files to reproduce them).
    x_val, y_val : np.ndarray or None
        An optional validation split (same layout as the test split). When present,
        training picks its best model on it instead of on the test split.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    encoding: dict
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:-1])

    @property
    def time_steps(self) -> int:
        return int(self.x_train.shape[-1])


def rate_encode(values: np.ndarray, time_steps: int, max_rate: float, seed: int) -> np.ndarray:
    """Bernoulli rate code.

    Parameters
    ----------
    values : np.ndarray
        float ``(N, C)`` intensities in [0, 1].
    time_steps, max_rate, seed
        Number of steps, spike probability per step at intensity 1, RNG seed.

    Returns
    -------
    np.ndarray
        uint8 ``(N, C, T)`` spikes.
    """
    require_memory(9 * values.size * time_steps, f"rate-coding {len(values)} samples "
                   f"to {time_steps} steps", f"use fewer {param('time_steps')}")
    rng = np.random.default_rng(seed)
    p = np.clip(values, 0.0, 1.0)[..., None] * max_rate
    return (rng.random((*values.shape, time_steps)) < p).astype(np.uint8)


def load_digits(time_steps: int = 32, max_rate: float = 1.0, test_fraction: float = 0.2,
                seed: int = 0) -> SpikeDataset:
    """scikit-learn digits, 64 inputs, 10 classes, stratified fixed split (1437 / 360).

    Train and test spikes use different seeds derived from ``seed``.
    """
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    x, y = sk_digits(return_X_y=True)
    x = x.astype(np.float64) / 16.0
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=test_fraction, stratify=y, random_state=seed)
    return SpikeDataset(
        name="digits",
        x_train=rate_encode(x_tr, time_steps, max_rate, seed),
        y_train=y_tr.astype(np.int64),
        x_test=rate_encode(x_te, time_steps, max_rate, seed + 1),
        y_test=y_te.astype(np.int64),
        num_classes=10,
        encoding={"time_steps": time_steps, "max_rate": max_rate,
                  "test_fraction": test_fraction, "seed": seed},
    )

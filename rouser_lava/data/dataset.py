"""Datasets as binary spike tensors shared by training, export checks and every backend.

Built-in: scikit-learn's 8x8 handwritten digits (1,797 real UCI samples shipped
inside scikit-learn, no download), rate-encoded into Bernoulli spike trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

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
        The validation split (same layout as the test split), on which training picks
        its best model; the test split is only reported. Every loader of
        :func:`rouser_lava.data.registry.load_dataset` provides one: the dataset's own
        (Yin-Yang) or one carved from the training data by :func:`carve_validation`.
    validation : dict
        Where the validation split comes from: ``{"source": "dataset"}`` or
        ``{"source": "carved", "fraction", "seed"}``, plus ``size`` (recorded in model
        files).
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
    validation: dict = field(default_factory=dict)

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


VALIDATION_FRACTION = 0.1  # of each class's training samples, held out for validation
VALIDATION_SEED = 0  # seeds which samples are held out (independent of the training seed)


def validation_indices(labels: np.ndarray, fraction: float = VALIDATION_FRACTION,
                       seed: int = VALIDATION_SEED) -> np.ndarray:
    """Sorted int64 indices of a stratified, seeded validation split of ``labels``:
    ``round(fraction * n)`` of each class's ``n`` samples (at least one of a class with
    two or more, none of a class with one), drawn with ``numpy.random.default_rng(seed)``.
    """
    rng = np.random.default_rng(seed)
    chosen = []
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        take = min(max(int(round(fraction * len(members))), 1), len(members) - 1)
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen)).astype(np.int64) if chosen else \
        np.zeros(0, np.int64)


def carve_validation(data: SpikeDataset, fraction: float = VALIDATION_FRACTION,
                     seed: int = VALIDATION_SEED) -> SpikeDataset:
    """``data`` with a validation split: its own when it has one, else a stratified
    ``fraction`` of its training samples (:func:`validation_indices`), taken out of the
    training split. The test split is never touched."""
    if data.x_val is not None and data.y_val is not None:
        return dataclasses.replace(data, validation={"source": "dataset",
                                                     "size": len(data.y_val)})
    val = validation_indices(data.y_train, fraction, seed)
    keep = np.setdiff1d(np.arange(len(data.y_train)), val)
    return dataclasses.replace(
        data, x_train=data.x_train[keep], y_train=data.y_train[keep],
        x_val=data.x_train[val], y_val=data.y_train[val],
        validation={"source": "carved", "fraction": fraction, "seed": seed,
                    "size": len(val)})

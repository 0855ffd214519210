"""Every dataset by name: built in (``digits``, ``yinyang``) or read from the authors'
files under ``--data-root`` (``nmnist``, ``dvs128``, ``shd``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from functools import partial

from ..errors import UserError
from .dataset import SpikeDataset, carve_validation, load_digits
from .event_data import load_event_dataset
from .yinyang import load_yinyang

ON_DISK = ("nmnist", "dvs128", "shd")
DATA_OPTIONS = ("data_root", "time_steps", "bin_ms", "polarity", "downsample", "encoding",
                "cache_dir", "skip_bad")  # loader options settable on the command line
LOADERS: dict[str, Callable[..., SpikeDataset]] = {
    "digits": load_digits, "yinyang": load_yinyang,
    **{name: partial(load_event_dataset, name) for name in ON_DISK}}
DATASETS = tuple(LOADERS)  # every --dataset's choices


def loader_options(name: str) -> tuple[str, ...]:
    """The keyword arguments dataset ``name``'s loader takes (its encoding options)."""
    return tuple(inspect.signature(LOADERS[name]).parameters)


def load_dataset(name: str, **options) -> SpikeDataset:
    """Load dataset ``name``; ``options`` are its loader's keyword arguments (``None``
    values mean the loader's default). The result always has a validation split: the
    dataset's own, or a stratified one carved from its training data
    (:func:`rouser_lava.data.dataset.carve_validation`)."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset '{name}' (choose from: {', '.join(LOADERS)})")
    loader = LOADERS[name]
    accepted = loader_options(name)
    options = {k: v for k, v in options.items() if v is not None}
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        flags = ", ".join("--" + k.replace("_", "-") for k in unknown)
        raise UserError(f"{flags} does not apply to dataset '{name}'")
    return carve_validation(loader(**options))


def dataset_for(name: str, encoding: dict | None = None,
                data_root: str | None = None) -> SpikeDataset:
    """Load dataset ``name`` with the encoding a model was trained with; ``data_root``
    replaces the recorded folder (a model moved to another machine)."""
    encoding = dict(encoding or {})
    if data_root is not None:
        encoding["data_root"] = data_root
    return load_dataset(name, **encoding)

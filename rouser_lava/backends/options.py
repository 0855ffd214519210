"""``RunOptions``: how ``rouser-run`` (and :func:`rouser_lava.backends.runfile.run_path`)
runs a file, checked in one place for values and combinations that cannot go together.

The command line builds one from its flags; a Python caller passes the same fields.
Errors name the fields (:func:`rouser_lava.errors.param`), which the command line shows
as its flags.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OptionError, UserError, param
from .stream import StreamSpec

BACKENDS = ("torch", "emulator", "lava", "loihi2")
DEFAULT_BOARD = "loihi2-oheogulch"


@dataclass(frozen=True)
class RunOptions:
    """What to run a model or netx file on, over which samples, and what to keep.

    Attributes
    ----------
    backend : str or None
        ``torch`` (model files), ``emulator`` (netx files' default), ``lava`` or
        ``loihi2``; None: by the file's kind.
    dataset, data_root : str or None
        The dataset whose test split runs (default: the one the file records) and the
        folder of an event dataset.
    input_npy : str or None
        Raw input spikes, a ``.npy`` ``(N, C, T)`` of 0/1, instead of a dataset.
    input_bias : str or None
        One bias image per sample (``.npy``) for a netx input layer with neurons; needs
        ``steps``.
    steps : int or None
        Time steps each ``input_bias`` sample runs.
    input_shape : tuple of int or None
        One sample's shape (torch order) for a netx file that does not state it.
    limit : int or None
        Run only the first ``limit`` samples.
    timeout : float or None
        Seconds a Lava or board run may take (None: the backend's default).
    stream : StreamSpec or None
        Run the samples back to back in a board's stream layout (netx files).
    workers : int
        Lava worker processes (lava only).
    keep_spikes : bool
        Keep every layer's spikes for all samples.
    record_state : bool
        Keep ``u`` and ``v`` of every layer (netx files) at ``state_steps`` (None: all).
    hw_config : str or None
        loihi2: the board's config, a name in ``hw_configs/`` or a path.
    dry_run : bool
        loihi2: check and plan the run, do not submit it.
    rehearse : bool
        loihi2: run the board's process graph on Lava's CPU simulator, with CPU
        stand-ins for lava-loihi's adapters.
    chunk_samples : int or None
        loihi2: samples per run call (None: ``loihi2.CHUNK_SAMPLES``); the host holds
        one chunk's outputs at a time.
    progress : bool
        Show progress bars.
    """

    backend: str | None = None
    dataset: str | None = None
    data_root: str | None = None
    input_npy: str | None = None
    input_bias: str | None = None
    steps: int | None = None
    input_shape: tuple[int, ...] | None = None
    limit: int | None = None
    timeout: float | None = None
    stream: StreamSpec | None = None
    workers: int = 1
    keep_spikes: bool = False
    record_state: bool = False
    state_steps: tuple[int, ...] | None = None
    hw_config: str | None = None
    dry_run: bool = False
    rehearse: bool = False
    chunk_samples: int | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.backend is not None and self.backend not in BACKENDS:
            raise UserError(f"unknown backend '{self.backend}' (one of "
                            f"{', '.join(BACKENDS)})")
        for name in ("steps", "limit", "workers", "chunk_samples"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{param(name)} {value}: expected a positive integer")
        if self.timeout is not None and not self.timeout >= 1:
            raise UserError(f"{param('timeout')} {self.timeout}: expected at least 1 "
                            f"second")
        board = self.board
        if not board and (self.dry_run or self.hw_config or self.rehearse or
                          self.chunk_samples):
            raise OptionError(f"{param('dry_run')}, {param('rehearse')}, "
                              f"{param('chunk_samples')} and {param('hw_config')} go with "
                              f"{param('backend')} loihi2")
        if self.dry_run and self.rehearse:
            raise OptionError(f"{param('dry_run')} plans the run, {param('rehearse')} runs "
                              f"it on the simulator: choose one")
        if self.state_steps is not None and not self.record_state:
            raise OptionError(f"{param('state_steps')} goes with {param('record_state')}")
        if board and self.input_shape:
            raise OptionError(f"{param('backend')} loihi2 takes inputs of a file that "
                              f"states its shape")
        if self.workers != 1 and self.backend not in (None, "lava"):
            raise UserError(f"{param('workers')} {self.workers}: only the lava backend runs "
                            f"in worker processes, not {self.backend}")

    @property
    def board(self) -> bool:
        """Whether this runs on a Loihi 2 board."""
        return self.backend == "loihi2"

    def check_file(self, path: str, is_model: bool, backend: str) -> None:
        """UserError unless these options can run ``path`` (a model file when
        ``is_model``) on ``backend``."""
        if is_model and self.stream is not None:
            raise UserError(f"{path}: the stream layout runs netx files; a model file runs "
                            f"on torch, one sample at a time")
        if is_model != (backend == "torch"):
            kind = "a model file (.pt)" if is_model else "a netx file"
            fits = "torch" if is_model else "emulator or lava"
            raise UserError(f"{path}: backend '{backend}' cannot run {kind}; use {fits}")
        if self.workers != 1 and backend != "lava":
            raise UserError(f"{param('workers')} {self.workers}: only the lava backend runs "
                            f"in worker processes, not {backend}")
        if is_model and (self.input_bias or self.input_shape or self.record_state):
            raise UserError(f"{path}: {param('input_bias')}, {param('input_shape')} and "
                            f"{param('record_state')} run netx files; a model file takes "
                            f"spikes on torch")
        if self.input_bias is None and self.steps is not None:
            raise UserError(f"{param('steps')} goes with {param('input_bias')} (spike inputs "
                            f"have their own)")
        if self.input_bias is not None and (self.dataset is not None or
                                            self.input_npy is not None or self.steps is None):
            raise UserError(f"{param('input_bias')} needs {param('steps')} T and replaces "
                            f"{param('dataset')} and {param('input_npy')}")

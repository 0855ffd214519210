"""Quiet, correctly ordered import of lava-dl's slayer.

``import lava.lib.dl.slayer`` prints a warning about the optional Prophesee toolbox
and torch prints "No CUDA runtime is found" on CPU machines; neither concerns users
of this tool, so both are kept off the terminal.

Lava's runtime calls ``multiprocessing.set_start_method('fork')`` when first
imported, which fails once anything else (tqdm's lock, for one) has fixed the
start method. Importing it here, before any progress bar exists, keeps a later
``netx`` import working (+0.2 s).
"""

import contextlib
import io
import warnings

import lava.magma.runtime.message_infrastructure.multiprocessing  # noqa: F401

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    warnings.filterwarnings("ignore", message=".*CUDA.*")
    from lava.lib.dl import slayer  # noqa: F401

__all__ = ["slayer"]

"""Quiet import of lava-dl's slayer.

``import lava.lib.dl.slayer`` prints a warning about the optional Prophesee toolbox
and torch prints "No CUDA runtime is found" on CPU machines; neither concerns users
of this tool, so both are kept off the terminal.
"""

import contextlib
import io
import warnings

with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
    warnings.filterwarnings("ignore", message=".*CUDA.*")
    from lava.lib.dl import slayer  # noqa: F401

__all__ = ["slayer"]

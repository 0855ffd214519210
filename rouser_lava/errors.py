"""The one error type for user mistakes, and how messages name the caller's parameters.

A message names a parameter through :func:`param`: ``f"lower {param('lr')}"`` reads
``lower `lr``` from the Python API and ``lower --lr`` from the command line, whose entry
points run under :func:`name_parameters_as` with their flag spelling. Errors and log
messages alike.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator


def _python(name: str) -> str:
    return f"`{name}`"


_naming: list[Callable[[str], str]] = [_python]


@contextlib.contextmanager
def name_parameters_as(naming: Callable[[str], str]) -> Iterator[None]:
    """Within the block, messages show parameter names as ``naming(name)`` (the command
    line passes its flag spelling: ``batch_size`` -> ``--batch-size``)."""
    before, _naming[0] = _naming[0], naming
    try:
        yield
    finally:
        _naming[0] = before


def current_naming() -> Callable[[str], str]:
    """The naming in force (for a worker process to take over)."""
    return _naming[0]


def param(name: str) -> str:
    """How messages show the parameter ``name`` (Python spelling) now."""
    return _naming[0](name)


class UserError(Exception):
    """Bad input from the user (a file, a flag, a value). The message names the file
    and the problem in one line (parameters through :func:`param`); the CLI shows it
    without a traceback."""


class OptionError(UserError):
    """Options that do not go together (the CLI shows its usage line with it)."""

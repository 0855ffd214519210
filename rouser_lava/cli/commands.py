"""Every command's parser by program name: what the documentation's CLI reference
renders (``docs/hooks.py``) and what its commands are checked against
(``tests/test_docs_commands.py``).

``PROGRAMS`` lists the console scripts of ``[project.scripts]`` in ``pyproject.toml``
(a test keeps the two equal) and ``rouser-demo``, the command ``make demo`` runs as
``python -m rouser_lava.cli.demo``.
"""

from __future__ import annotations

import argparse
import importlib

# program -> module in rouser_lava.cli that defines its parser()
PROGRAMS = {
    "rouser-train": "train", "rouser-export": "export", "rouser-import": "importer",
    "rouser-map": "map", "rouser-info": "info", "rouser-run": "run",
    "rouser-compare": "compare", "rouser-data": "data", "rouser-experiment": "experiment",
    "rouser-demo": "demo",
}


def parser(prog: str) -> argparse.ArgumentParser:
    """A fresh parser of program ``prog`` (a key of ``PROGRAMS``)."""
    return importlib.import_module(f"{__package__}.{PROGRAMS[prog]}").parser()


def subcommands(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The sub-command parsers of ``p`` by name (empty for a command without them)."""
    found: dict[str, argparse.ArgumentParser] = {}
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            found.update(action.choices)
    return found

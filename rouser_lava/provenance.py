"""Provenance: where a file we write came from, as plain data.

Every file rouser-lava writes (``model.pt`` and checkpoints, the ``rouser_provenance``
attribute of a ``.net``, the metadata of a ``.nir``, the ``report.json`` of
``rouser-compare`` and ``rouser-experiment``, ``RESULTS.md``)
records :func:`provenance`: a dict of strings, integers and None only (so it loads
with ``torch.load(weights_only=True)`` and round-trips through JSON)::

    tool        "rouser-lava"
    version     the installed package version ("unknown" when not installed)
    commit      ``git rev-parse HEAD`` of the checkout the package runs from, with
                "+dirty" when it has uncommitted changes (absent outside a checkout),
                read once, when the command starts
    python      e.g. "3.10.14"
    torch, lava, lava_dl
                the installed versions (absent when not installed); read from the
                package metadata, so nothing is imported
    argv        the command line: the command's name and arguments where a command's
                entry function was called (:func:`record_command`), else ``sys.argv``
    seed        the seed of the run, where one was used
    device      e.g. "cpu", "cuda"
    world_size  processes of the run (2 under ``torchrun --nproc_per_node 2``)
    model       (exported files: ``.net``, ``.nir``) the provenance of the model file
                they were exported from, where it records one: its training run's
                command line, seed, device and world size

Readers take it with :func:`read_provenance`, which tolerates files without one and
drops fields of the wrong type instead of failing: provenance describes a file, it is
never needed to use one.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

TOOL = "rouser-lava"
# the installed distributions whose versions are recorded, under these keys
DISTRIBUTIONS = {"torch": "torch", "lava": "lava-nc", "lava_dl": "lava-dl"}
GIT_TIMEOUT_S = 2.0
# the fields a reader keeps, and the types each may have
FIELDS: dict[str, Any] = {
    "tool": (str,), "version": (str,), "commit": (str,), "python": (str,),
    "torch": (str,), "lava": (str,), "lava_dl": (str,), "argv": (list,),
    "seed": (int,), "device": (str,), "world_size": (int,), "model": (dict,),
}


_command: list[str] | None = None  # set by record_command


def record_command(argv: list[str]) -> None:
    """Record ``argv`` as this process's command line (the CLI's entry wrapper calls it
    with the command's name and arguments, so an in-process call records its own)."""
    global _command
    _command = [str(a) for a in argv]
    git_commit()  # read now (then cached): a commit made during a long run is not its code's


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """``git rev-parse HEAD`` of the repository holding this package (with ``+dirty``
    when tracked files changed), or None: no git, not a checkout, or git took longer
    than :data:`GIT_TIMEOUT_S`."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    git = ["git", "-C", str(root)]
    try:
        head = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=GIT_TIMEOUT_S, check=True).stdout.strip()
        dirty = subprocess.run([*git, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=GIT_TIMEOUT_S,
                               check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{head}+dirty" if head and dirty else head or None


def provenance(seed: int | None = None, device: str | None = None,
               world_size: int = 1) -> dict:
    """This process's provenance record (see the module docstring).

    Parameters
    ----------
    seed : int, optional
        The run's seed; left out when None.
    device : str, optional
        The torch device type the run used (``cpu``, ``cuda``); left out when None.
    world_size : int
        Processes in the run (``Ranks.world``), 1 unless launched data-parallel.
    """
    record: dict = {"tool": TOOL, "version": _version(TOOL) or "unknown"}
    commit = git_commit()
    if commit:
        record["commit"] = commit
    record["python"] = platform.python_version()
    for key, dist in DISTRIBUTIONS.items():
        version = _version(dist)
        if version:
            record[key] = version
    record["argv"] = list(_command) if _command is not None else [str(a) for a in sys.argv]
    if seed is not None:
        record["seed"] = int(seed)
    if device is not None:
        record["device"] = str(device)
    record["world_size"] = int(world_size)
    return record


def export_provenance(model_record: dict) -> dict:
    """The provenance of a file exported from a model file: this process's, with the
    seed the model file records (its training run's), where it records one."""
    source = read_provenance(model_record.get("provenance"))
    record = provenance(seed=(source or {}).get("seed"))
    if source:
        record["model"] = source
    return record


def read_provenance(value, nested: bool = True) -> dict | None:
    """The provenance record ``value`` read from a file: None when absent or not a
    mapping; the fields of :data:`FIELDS` whose values have the right type (an
    ``argv`` of strings only, a ``model`` read as a record itself, without a ``model``
    of its own), others dropped. Never raises."""
    if not isinstance(value, dict):
        return None
    kept: dict[str, Any] = {}
    for key, types in FIELDS.items():
        item: Any = value.get(key)
        if key == "model":
            if nested and isinstance(item, dict):
                kept[key] = read_provenance(item, nested=False)
            continue
        if not isinstance(item, types) or isinstance(item, bool):
            continue
        if key == "argv" and not all(isinstance(a, str) for a in item):
            continue
        kept[key] = [*item] if key == "argv" else item
    return kept


def describe(record: dict | None) -> str:
    """``record`` as one line for a report: tool version, commit, versions, world size,
    device, seed and the command line."""
    if not record:
        return "none recorded"
    parts = [f"{record.get('tool', TOOL)} {record.get('version', '?')}"]
    if "commit" in record:
        parts.append(f"commit {record['commit'][:12]}"
                     f"{'+dirty' if record['commit'].endswith('+dirty') else ''}")
    parts += [f"{key.replace('_', '-')} {record[key]}"
              for key in ("python", "torch", "lava", "lava_dl") if key in record]
    for key, label in (("world_size", "world size"), ("device", "device"), ("seed", "seed")):
        if key in record:
            parts.append(f"{label} {record[key]}")
    if "argv" in record:
        parts.append("command: " + " ".join(record["argv"]))
    return "; ".join(parts)


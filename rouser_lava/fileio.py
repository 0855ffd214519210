"""Atomic, durable file writes: an output path holds either its previous content or the
new one, never a part, whatever fails (a full disk, a read-only folder, Ctrl-C).

The new content goes to a temporary file beside the target, is flushed to disk
(``fsync``), given the mode a plain ``open`` would give it under the current umask
(``mkstemp`` alone would leave 0600, unreadable to collaborators), and only then
renamed onto the target; the folder is synced after the rename.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import UserError

log = logging.getLogger(__name__)

# the suffixes each format may be written under (compared case-insensitively)
SUFFIXES = {"netx": (".net", ".h5"), "nir": (".nir",), "model": (".pt",), "npz": (".npz",),
            "json": (".json",)}
FORMAT_NAMES = {"netx": "a netx HDF5 network", "nir": "a NIR graph",
                "model": "a torch model file", "npz": "a NumPy .npz archive",
                "json": "JSON"}


def _file_mode() -> int:
    """``0o666`` less the process umask (what ``open(path, 'w')`` creates)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync(path: str | Path, directory: bool = False) -> None:
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def check_output_file(path: str | os.PathLike) -> Path:
    """Raise UserError unless ``path`` can be written as a file: not a folder, in a
    folder that exists and is writable. Returns ``path`` as a Path."""
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UserError(f"{path}: is a folder; give a file name")
    if not parent.is_dir():
        what = "is a file, not a folder" if parent.exists() else "does not exist"
        raise UserError(f"{path}: folder '{parent}' {what}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder '{parent}' is not writable")
    try:  # os.access says yes to root, and on /proc or /sys: write a file and remove it
        fd, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".probe", dir=parent)
        os.close(fd)
        os.remove(probe)
    except OSError as err:
        raise UserError(f"{path}: cannot create a file in folder '{parent}' "
                        f"({err.strerror or type(err).__name__})") from None
    return path


def suffix_format(path: str | os.PathLike) -> str | None:
    """The format (a key of :data:`SUFFIXES`) ``path``'s suffix names, in any case;
    None for another suffix."""
    suffix = Path(path).suffix.lower()
    return next((fmt for fmt, sufs in SUFFIXES.items() if suffix in sufs), None)


def check_suffix(label: str, path: str | os.PathLike, *formats: str) -> str:
    """The one of ``formats`` that ``path``'s suffix names (case-insensitively), or
    UserError naming ``label`` (the option) and the suffixes it takes."""
    fmt = suffix_format(path)
    if fmt in formats:
        return fmt
    wanted = " or ".join(f"{'/'.join(SUFFIXES[f])} ({FORMAT_NAMES[f]})" for f in formats)
    got = f"unknown suffix '{Path(path).suffix}'" if Path(path).suffix else "no suffix"
    raise UserError(f"{path}: {got} for {label}; give {wanted}")


def check_output(label: str, path: str | os.PathLike, *formats: str) -> Path:
    """:func:`check_suffix` and :func:`check_output_file` at once: what a command does
    with each output file it is given, when it starts."""
    checked = check_output_file(path)
    check_suffix(label, path, *formats)
    return checked


def wrote(path: str | os.PathLike, what: str = "") -> None:
    """Log the one line every written output gets: ``wrote PATH`` (``(what)``)."""
    log.info("wrote %s%s", path, f" ({what})" if what else "")


def check_output_dir(path: str | os.PathLike) -> Path:
    """Raise UserError unless ``path`` is, or can be created as, a writable folder (its
    nearest existing ancestor a writable folder). Returns ``path`` as a Path."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise UserError(f"{path}: is a file; give a folder")
    probe = path
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        raise UserError(f"{path}: '{probe}' is a file, not a folder")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise UserError(f"{path}: folder '{probe}' is not writable")
    if probe != path:  # os.access says yes to root, and on /proc: try to make one
        try:
            os.rmdir(tempfile.mkdtemp(prefix=".probe.", dir=probe))
        except OSError as err:
            raise UserError(f"{path}: cannot create a folder in '{probe}' "
                            f"({err.strerror})") from None
    return path


def atomic_write(path: str | os.PathLike, write: Callable[[str], object]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``path`` only if it succeeds.

    Raises UserError (naming ``path`` and the reason) when the target cannot be
    written: a folder in its place, a missing or read-only folder, a full disk. A
    failed write leaves neither a temporary file nor a changed ``path`` behind.
    """
    path = check_output_file(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp",
                                   dir=path.parent if str(path.parent) else ".")
    except OSError as err:
        raise UserError(f"{path}: cannot create a file there ({err.strerror})") from None
    os.close(fd)
    try:
        write(tmp)
        _fsync(tmp)
        os.chmod(tmp, _file_mode())
        os.replace(tmp, path)
    except OSError as err:
        reason = err.strerror or str(err) or type(err).__name__
        raise UserError(f"{path}: could not be written ({reason}); any previous file "
                        f"there is unchanged") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _fsync(path.parent if str(path.parent) else ".", directory=True)


def write_bytes(path: str | os.PathLike, data: bytes | str) -> None:
    """Atomically write ``data`` (text is UTF-8 encoded) to ``path``.

    Serialising in memory first and writing with Python's own I/O makes every
    failure (``ENOSPC`` above all) an exception; some writers in C (HDF5, torch's
    zip writer) crash or truncate silently on a full disk.
    """
    blob = data.encode("utf-8") if isinstance(data, str) else data
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(blob))


def _same_file(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name one file: one path once symlinks are followed
    (a dangling link counts as its target), or, both existing, one inode (a hard link)."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def refuse_overwrites(outputs: Iterable[tuple[str, str | os.PathLike | None]],
                      inputs: Iterable[tuple[str, str | os.PathLike | None]]) -> None:
    """Raise UserError when an output would replace an input, or two outputs one file.

    ``outputs`` and ``inputs`` are ``(label, path)`` pairs (a path of None is not
    given); the label names the argument in the message (``--json``, ``the network``).
    Call it before any work: symlinks are followed, so an output that points through a
    link at an input is refused too.
    """
    outs = [(label, os.fspath(p)) for label, p in outputs if p is not None]
    ins = [(label, os.fspath(p)) for label, p in inputs if p is not None]
    for i, (label, out) in enumerate(outs):
        for what, src in ins:
            if _same_file(out, src):
                raise UserError(f"{out}: {label} would overwrite {what} '{src}'; give "
                                f"another file name")
        for other, path in outs[:i]:
            if _same_file(out, path):
                raise UserError(f"{out}: {label} and {other} name the same file; give "
                                f"each its own")


def lock_output(path: str | os.PathLike, what: str) -> Path:
    """Claim the outputs at ``path`` for this process: create ``<path>.lock`` (holding
    the host and pid) exclusively, replacing a lock whose process on this host has
    ended; UserError when a live process holds it (two runs writing the same files,
    the last one winning). Returns the lock's path for :func:`unlock_output`."""
    import socket

    lock = Path(f"{path}.lock")
    host = socket.gethostname()
    while True:
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except OSError as err:
            if not isinstance(err, FileExistsError):
                raise UserError(f"{lock}: cannot create the run's lock file "
                                f"({err.strerror})") from None
            try:
                holder_host, pid_text = lock.read_text().split()
                pid = int(pid_text)
            except (OSError, ValueError):
                holder_host, pid = host, -1  # unreadable or half-written: stale
            if holder_host != host or _alive(pid):
                where = "" if holder_host == host else f" on {holder_host}"
                raise UserError(f"{path}: {what} (pid {pid}{where}) is writing these files "
                                f"now ({lock}); wait for it to end or choose another "
                                f"output") from None
            lock.unlink(missing_ok=True)  # its process ended without removing it
            continue
        with os.fdopen(fd, "w") as f:
            f.write(f"{host} {os.getpid()}\n")
        return lock


def unlock_output(lock: Path) -> None:
    """Remove a lock :func:`lock_output` created."""
    lock.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's live process
    return True

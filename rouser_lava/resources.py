"""Memory guards: refuse work that cannot fit before allocating it; large zeroed arrays
on huge pages.

A run, a training or an export that needs more memory than the machine has would
otherwise allocate for tens of seconds and die with a ``MemoryError`` traceback, or
be killed. Each step estimates what it needs from the sizes it is given (the
estimates are upper-bound-ish and stated where they are made) and calls
:func:`require_memory` first.
"""

from __future__ import annotations

import mmap
import os

import numpy as np

from .errors import UserError

GIB = 1 << 30
HUGE_FROM = 4 << 20  # arrays from this size get huge pages (where the kernel offers them)


def available_bytes() -> int:
    """Memory the kernel reports as available (``MemAvailable``), in bytes."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(need: float, what: str, advice: str) -> None:
    """Raise UserError when ``need`` bytes exceed the available memory.

    ``what`` names the work (``"rouser-run: the emulator on 'net.net'"``), ``advice``
    what the user can change (a smaller batch, fewer steps, a smaller network), naming
    parameters through :func:`rouser_lava.errors.param`.
    """
    have = available_bytes()
    if need > have:
        raise UserError(f"{what} needs about {need / GIB:.1f} GiB of memory, "
                        f"{have / GIB:.1f} GiB available; {advice}")


def require_npy_fits(path: str | os.PathLike, what: str, in_memory: bool = True) -> None:
    """Check a ``.npy`` file's header before ``np.load`` reads it: UserError when the
    array its header declares needs more memory than is available (twice its size: the
    array and one converted copy; only when ``in_memory``: a memory-mapped file is read
    a part at a time), when the file is shorter than that array, or when the header
    cannot be parsed. Other files (an ``.npz`` archive, foreign bytes) pass, for
    ``np.load`` to name them.
    ``what`` names the file's role in the message (``"--input"``)."""
    import numpy as np

    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            return
        f.seek(0)
        try:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else \
                np.lib.format.read_array_header_2_0
            shape, _, dtype = read(f)
        except Exception as err:  # numpy parses the header with ast: many error types
            first = (str(err).splitlines() or [type(err).__name__])[0][:80]
            raise UserError(f"{path}: not a readable .npy header ({first})") from None
        start = f.tell()
    size = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if in_memory:
        require_memory(2 * size, f"{what} {path} (an array of shape {shape}, {dtype})",
                       "is this the right file?")
    if os.path.getsize(path) < start + size:
        raise UserError(f"{path}: truncated .npy file: its header declares shape {shape} "
                        f"({size:,} bytes), the file holds {os.path.getsize(path) - start:,}")


def large_zeros(shape: tuple[int, ...], dtype) -> np.ndarray:
    """``np.zeros(shape, dtype)``, on transparent huge pages where Linux offers them.

    Fresh memory is zeroed by the kernel on first touch, one fault per 4 KB page; on
    the 2-vCPU AMD EPYC VM of ``benchmarks/RESULTS.md`` (2026-12-05, 12 tries each) a
    fault cost about 2 us (100 MB: 47-58 ms), with ``MADV_HUGEPAGE`` one per 2 MB page
    (100 MB: 9-10 ms; once, in 15 tries, 223 ms of compaction). Small arrays, and systems
    without ``MADV_HUGEPAGE``, get ``np.zeros``. The array owns its mapping: it is
    unmapped when the array and its views are gone.
    """
    dtype = np.dtype(dtype)
    size = int(np.prod(shape)) * dtype.itemsize
    if size < HUGE_FROM or not hasattr(mmap, "MADV_HUGEPAGE"):
        return np.zeros(shape, dtype)
    region = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    region.madvise(mmap.MADV_HUGEPAGE)
    return np.frombuffer(region, dtype).reshape(shape)

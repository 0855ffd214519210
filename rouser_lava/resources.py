"""Memory guards: refuse work that cannot fit before allocating it.

A run, a training or an export that needs more memory than the machine has would
otherwise allocate for tens of seconds and die with a ``MemoryError`` traceback, or
be killed. Each step estimates what it needs from the sizes it is given (the
estimates are upper-bound-ish and stated where they are made) and calls
:func:`require_memory` first.
"""

from __future__ import annotations

import os

from .errors import UserError

GIB = 1 << 30


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

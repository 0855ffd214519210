"""numba, set up once for every compiled kernel of the package.

Lava and ``rouser-experiment --jobs`` fork processes. GNU OpenMP aborts a forked child
of a process that has used it, and numba's OpenMP layer also resets the OpenMP thread
count that torch uses. ``"forksafe"`` selects numba's own workqueue pool on Linux; it
must be set before the first parallel kernel runs, which importing the kernels from
here guarantees. The pool's size is set in :mod:`rouser_lava._threads`.
"""

from numba import config, njit, prange

config.THREADING_LAYER = "forksafe"  # type: ignore[attr-defined]  # numba.config fills itself at run time

__all__ = ["njit", "prange"]

"""Thread pools of torch (OpenMP, with MKL) and numba, sized once before either loads.

Training alternates torch operations (torch's OpenMP pool) and numba kernels (numba's
workqueue pool, see :mod:`rouser_lava._numba`) many times per batch. GNU OpenMP's idle
threads spin for a while after every parallel region, by default; next to numba's pool,
and on cores that other processes share, the spinning threads take the time the working
threads need. Measured on 2 cores that other jobs kept busy (load 5-8), one Yin-Yang
epoch: 14-30 s, 47-72 s beside a busy-loop process and 103-112 s beside a second
training, with 2-3x the CPU time; with the settings below 7-11 s, 10-17 s and 10-11 s.
So, unless the environment already sets them:

- ``OMP_WAIT_POLICY=PASSIVE``: idle OpenMP threads sleep at once;
- ``OMP_NUM_THREADS`` and ``NUMBA_NUM_THREADS``: one count for both pools, the one of
  the two the user set, else the cores this process may run on (:func:`cores`).

These act only if set before torch and numba first load: ``rouser_lava/__init__``
calls :func:`set_thread_defaults` before anything else, so every command, and
``import rouser_lava`` ahead of ``import torch``, get them. ``torch.set_num_threads`` and
``numba.set_num_threads`` still change the counts later (``rouser-experiment --jobs``
gives each worker ``cores() // jobs``).
"""

from __future__ import annotations

import os


def cores() -> int:
    """Cores this process may run on (its CPU affinity, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # no affinity call outside Linux
        return os.cpu_count() or 1


def _given_threads() -> str | None:
    """The thread count the user set for either pool (a positive integer), if any."""
    for var in ("NUMBA_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(var, "").strip()
        if value.isdigit() and int(value) > 0:
            return value
    return None


def set_thread_defaults() -> None:
    """Set the variables above where the environment leaves them unset."""
    threads = _given_threads() or str(cores())
    for var, value in (("OMP_WAIT_POLICY", "PASSIVE"), ("OMP_NUM_THREADS", threads),
                       ("NUMBA_NUM_THREADS", threads)):
        os.environ.setdefault(var, value)


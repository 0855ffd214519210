"""Make a Lava run end: on Ctrl-C, on a time limit, and when a worker process dies.

Lava 0.10 runs every process of a network as a forked OS process (a *worker*; one more
runs the runtime service) that talks to the parent through shared memory and
semaphores; the parent blocks on semaphores until the workers answer. Without care
(all seen):

- Ctrl-C sends SIGINT to the whole process group. Every worker raises KeyboardInterrupt,
  prints a traceback and dies; the parent's ``net.stop()`` then sends STOP and waits
  forever for an answer, and Python's exit would join the surviving workers. Here the
  workers are forked with SIGINT ignored (an ``os.register_at_fork`` hook, active only
  while Lava builds its runtime), so only the parent sees the interrupt. The same hook
  asks Linux to kill a worker when the parent ends (``PR_SET_PDEATHSIG``), the last
  resort against a worker that nobody knows of.
- A worker that dies or stalls leaves the parent waiting forever (Lava's error path
  joins every worker, also the healthy ones waiting for commands). A watchdog thread
  waits on the workers' process sentinels and on the time limits; when one fails it
  sends SIGUSR1 to the main thread, whose handler raises :class:`_Stalled` there.
- Some places must not be cut short (:func:`_must_finish`): an import (the module stays
  broken) and multiprocessing's start of a process or a manager (the process is left
  untracked). There the SIGINT and SIGUSR1 handlers hold the exception back, and the
  watchdog repeats SIGUSR1 every ``RESEND_S`` until the main thread has left the run;
  that also covers an exception Python drops (raised in a ``__del__``) and Lava's
  ``stop()``, which joins its workers in a ``finally`` that can block again.
- After an interrupt the runtime's message exchange may be cut in the middle, so no STOP
  is sent: the workers are terminated (SIGTERM, SIGKILL after a second) and joined, and
  Lava's shared memory manager is shut down (it unlinks the shared memory).

The watchdog and the held-back Ctrl-C need the main thread (only it runs signal
handlers); elsewhere a run has no time limit. Progress (:class:`Progress`): a tqdm bar on
a terminal; otherwise a log line after the first sample and then every
``PROGRESS_EVERY_S`` seconds. A run also calls :data:`sample_reporter`, when set, after
each sample (a worker of :mod:`.lava_workers` forwards the count to its parent).
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import logging
import multiprocessing
import multiprocessing.managers
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from multiprocessing.connection import wait
from types import FrameType
from typing import Any, Literal

import numpy as np
from tqdm.auto import tqdm

from ..errors import UserError, param

log = logging.getLogger(__name__)

STARTUP_S = 60.0  # compile the network and start its workers
# One time step costs STEP_S per layer and per SIZE_UNIT neurons plus synapses, about
# ten times what was measured on 2 busy cores: 1-2.5 ms per layer (dense or conv), and
# 64-32-10 2 ms, 1000-1000-10 11 ms, 2000-2000-500-10 18 ms. Reading u and v back
# (record_state) costs STEP_S per layer and per READ_UNIT neurons (measured ~1.5 ms per
# Var.get and 27 us per value).
STEP_S = 0.02
SIZE_UNIT = 500_000
READ_UNIT = 40
STALL_SAMPLES = 10  # default limit: no sample may take longer than start-up + 10 samples
PROGRESS_EVERY_S = 5.0
RESEND_S = 0.25

# Called after each finished sample of a run, when set (besides the run's own progress).
sample_reporter: ContextVar[Callable[[], None] | None] = ContextVar("sample_reporter",
                                                                    default=None)
_forking_workers = False  # True while Lava forks its workers (read in the children)
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
# Cut short by an exception, these leave a process that nobody tracks (between the fork
# and multiprocessing's bookkeeping; a manager's server before it is known).
_UNINTERRUPTIBLE = (multiprocessing.process.BaseProcess.start.__code__,
                    multiprocessing.managers.BaseManager.start.__code__)


def _after_fork_in_child() -> None:
    if _forking_workers:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        if sys.platform == "linux":
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


os.register_at_fork(after_in_child=_after_fork_in_child)


class _Stalled(BaseException):
    """Raised in the main thread by the watchdog; a BaseException so that no
    ``except Exception`` inside Lava swallows it."""


def network_size(net) -> tuple[int, int]:
    """Neurons and synapses of a netx network (a conv synapse counts once per output)."""
    neurons = synapses = 0
    for layer in net.layers:
        size = int(np.prod(layer.out.shape))
        neurons += size
        for synapse in (getattr(layer, name, None) for name in ("synapse", "synapse_rec")):
            for name in ("weights", "weight"):  # Dense (C_out, C_in), Conv (C_out, ...)
                if synapse is not None and hasattr(synapse, name):
                    shape = getattr(synapse, name).shape
                    synapses += int(np.prod(shape)) * size // shape[0]
    return neurons, synapses


def limits(net, samples: int, steps: int, timeout: float | None,
           record_state: bool = False) -> tuple[float, float]:
    """Time limits of the whole run and of any one sample, seconds.

    Default: ``STARTUP_S + samples * per_sample`` with ``per_sample = steps * STEP_S *
    (layers + (neurons + synapses) / SIZE_UNIT)``, i.e. 60 s + samples x steps x 0.02 s x
    (layers + (neurons + synapses) / 500000), about ten times the measured speed (with
    ``record_state`` each step adds ``STEP_S * (layers + neurons / READ_UNIT)``); and no
    sample may take longer than ``STARTUP_S + STALL_SAMPLES * per_sample``. A given
    ``timeout`` is the one limit of both.
    """
    if timeout is not None:
        return timeout, timeout
    layers = len(net.layers)
    neurons, synapses = network_size(net)
    per_step = STEP_S * (layers + (neurons + synapses) / SIZE_UNIT)
    if record_state:
        per_step += STEP_S * (layers + neurons / READ_UNIT)
    per_sample = steps * per_step
    return STARTUP_S + samples * per_sample, STARTUP_S + STALL_SAMPLES * per_sample


class Progress:
    """Samples done: a tqdm bar on a terminal, otherwise a log line (``lava: 40/360
    samples, 12 s``) after the first sample and then every ``PROGRESS_EVERY_S`` seconds;
    nothing unless ``enabled``."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total, self.enabled, self.done = total, enabled, 0
        self._t0 = self._logged = time.monotonic()
        self._bar = tqdm(total=total, disable=None if enabled else True, desc="lava",
                         unit="sample")

    def update(self) -> None:
        """Count one finished sample."""
        self.done += 1
        self._bar.update(1)
        now = time.monotonic()
        if self.enabled and self._bar.disable and (
                self.done == 1 or now - self._logged >= PROGRESS_EVERY_S):
            self._logged = now
            log.info("lava: %d/%d samples, %.0f s", self.done, self.total, now - self._t0)

    def close(self) -> None:
        """End the bar (a terminal's line stays)."""
        self._bar.close()


class LavaGuard:
    """Run a netx network's samples on Lava within time limits, with progress.

    A context manager around building, running and stopping ``net``::

        with LavaGuard(net, path, n, timeout, stall, progress) as guard:
            guard.start(run_cfg)         # build the runtime; its workers ignore SIGINT
            for k in range(n):
                ...                      # net.run(...), Var.set(...)
                guard.sample_done()
            guard.stop()                 # net.stop(), still under the time limits

    Leaving the block by an exception terminates the workers; KeyboardInterrupt and
    other errors are re-raised, a watchdog stop becomes a one-line :class:`UserError`.
    """

    def __init__(self, net, net_path: str, samples: int, timeout: float, stall: float,
                 progress: bool = True, advice: str | None = None) -> None:
        self.net, self.net_path, self.samples = net, net_path, samples
        self.advice = advice  # what to check when a limit passes (default: the workers)
        self.timeout, self.stall = timeout, stall
        self.progress = progress
        self.done = 0
        self._pending: type[BaseException] | None = None  # to raise in the main thread
        self._reason: str | None = None  # why the watchdog stops the run
        self._dead: int | None = None  # ... because this worker ended (pid)
        self._armed = False  # the handlers raise only while the run is on
        self._sentinels: dict[int, int] = {}  # duplicated worker sentinel fd -> pid
        self._stopping = False  # the workers end on purpose: stop watching them
        # signal -> handler before the run (what signal.getsignal returns)
        self._handlers: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {}
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LavaGuard:
        self._t0 = self._last = time.monotonic()
        self._children = {p.pid for p in multiprocessing.active_children()}
        self._progress = Progress(self.samples, self.progress)
        self._report = sample_reporter.get()
        if threading.current_thread() is threading.main_thread():
            self._wake_r, self._wake_w = os.pipe()
            self._handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGUSR1)}
            signal.signal(signal.SIGUSR1, self._on_signal)
            if self._handlers[signal.SIGINT] is not signal.default_int_handler:
                del self._handlers[signal.SIGINT]  # ignored, or someone else's: keep it
            else:
                signal.signal(signal.SIGINT, self._on_sigint)
            self._armed = True
            self._thread = threading.Thread(target=self._watch, name="lava-watchdog",
                                            daemon=True)
            self._thread.start()
        return self

    def start(self, run_cfg) -> None:
        """Compile ``net`` and fork its workers (ignoring SIGINT); watch them."""
        global _forking_workers
        _forking_workers = True
        try:
            with contextlib.redirect_stdout(io.StringIO()):  # Lava prints build errors
                self.net.create_runtime(run_cfg=run_cfg)
        except Exception as err:  # raised by a worker building its process model
            raise UserError(f"{self.net_path}: Lava cannot build this network "
                            f"({type(err).__name__}: {err})") from None
        finally:
            _forking_workers = False
        actors = self.net.runtime._messaging_infrastructure.actors
        self._sentinels = {os.dup(a.sentinel): a.pid for a in actors}
        self._wake()

    def sample_done(self) -> None:
        """Count a finished sample: progress, and :data:`sample_reporter` if set."""
        self.done += 1
        self._last = time.monotonic()
        self._progress.update()
        if self._report is not None:
            self._report()

    def stop(self) -> None:
        """Stop the runtime the normal way (the workers exit) within the time limits."""
        self._stopping = True
        self._wake()
        self.net.stop()
        self._armed = False  # from here on the run has ended well

    def __exit__(self, exc_type, exc, tb) -> Literal[False]:
        self._armed = False
        if self._thread is not None:
            if signal.SIGINT in self._handlers:  # from here Ctrl-C is noted, not raised
                signal.signal(signal.SIGINT, self._hold_sigint)
            self._wake()
            self._thread.join()
            for fd in (self._wake_r, self._wake_w, *self._sentinels):
                os.close(fd)
        try:
            reports = {} if exc_type is None else _end_workers(self.net, self._children)
        finally:
            for signum, handler in self._handlers.items():
                signal.signal(signum, handler)
            self._progress.close()
        if exc_type is _Stalled:
            raise UserError(self._message(reports)) from None
        if exc_type is None and self._pending is KeyboardInterrupt:
            raise KeyboardInterrupt  # held back while Lava could not be interrupted
        return False

    def _wake(self) -> None:
        if self._thread is not None:
            os.write(self._wake_w, b"x")

    def _on_signal(self, signum, frame) -> None:
        """SIGUSR1 from the watchdog: raise what is pending, unless that would harm."""
        if self._armed and self._pending is not None and not _must_finish(frame):
            raise self._pending

    def _on_sigint(self, signum, frame) -> None:
        """Ctrl-C: KeyboardInterrupt now, or once the main thread may be interrupted."""
        self._pending = KeyboardInterrupt
        self._on_signal(signum, frame)
        self._wake()  # held back: the watchdog repeats it

    def _hold_sigint(self, signum, frame) -> None:
        self._pending = KeyboardInterrupt

    def _watch(self) -> None:
        """Watchdog thread: wait for a worker to end, a limit to pass, or a wake-up;
        once something is pending, signal the main thread until it has left the run."""
        main = threading.main_thread().ident
        assert main is not None  # the main thread has started
        while self._armed:
            if self._pending is not None:
                signal.pthread_kill(main, signal.SIGUSR1)
                watched, timeout = [], RESEND_S
            else:
                watched = [] if self._stopping else list(self._sentinels)
                due = min(self._t0 + self.timeout, self._last + self.stall)
                timeout = max(due - time.monotonic(), 0.0)
            ready = wait([self._wake_r, *watched], timeout)
            if self._wake_r in ready:
                os.read(self._wake_r, 64)
            elif self._pending is None:
                self._reason = self._failure(ready)
                if self._reason is not None:
                    self._pending = _Stalled

    def _failure(self, ended: list) -> str | None:
        """What went wrong, given the sentinels that became ready (workers that ended)."""
        now = time.monotonic()
        if ended:
            self._dead = self._sentinels[ended[0]]
            return f"Lava worker process {self._dead} ended after {now - self._t0:.1f} s"
        if now >= self._t0 + self.timeout:
            return f"the Lava run passed its timeout of {format_seconds(self.timeout)}"
        if now >= self._last + self.stall:
            return f"no Lava sample finished within {format_seconds(self.stall)}"
        return None

    def _message(self, reports: dict[int, str]) -> str:
        where = f"{self.net_path}: {self._reason}, {self.done}/{self.samples} samples done"
        if self._dead is not None:
            return f"{where} ({reports.get(self._dead, 'no report')}); stopped the others"
        if self.advice is not None:
            return f"{where}; stopped the run; {self.advice}"
        if (self._reason or "").startswith("the Lava run passed its timeout"):
            return (f"{where}; stopped the run (give a larger {param('timeout')}, or leave "
                    f"it out for the estimate from the network's size)")
        return (f"{where}: Lava's worker processes stalled or died; stopped them "
                f"({param('timeout')} sets the limit)")


def format_seconds(value: float) -> str:
    """``0.5 s``, ``72.8 s``, ``522 s``."""
    return f"{value:.3g} s" if value < 1000 else f"{value:.0f} s"


def _must_finish(frame) -> bool:
    """Whether ``frame`` runs inside an import (one cut short stays broken, e.g.
    networkx's lazily loaded modules, which Lava's compiler uses) or inside the start of
    a process or a manager (:data:`_UNINTERRUPTIBLE`; at-fork hooks run there too)."""
    while frame is not None:
        if frame.f_code in _UNINTERRUPTIBLE or \
                frame.f_code.co_filename.startswith("<frozen importlib"):
            return True
        frame = frame.f_back
    return False


def _alive(process: multiprocessing.Process) -> bool:
    try:
        return process.is_alive()
    except ValueError:  # closed: Lava has joined it already
        return False


def _end_workers(net, children: set[int | None]) -> dict[int, str]:
    """Terminate every process Lava started, without talking to it (the exchange may
    have been cut mid-message), and shut its shared memory down.

    Returns, by pid, how each worker ended: the error it reported, else its exit
    status. ``children`` are the pids of processes that ran before; they are left alone.
    """
    runtime = net.runtime
    infra = None if runtime is None else runtime._messaging_infrastructure
    actors = [] if infra is None else list(infra.actors)
    ends = {}
    try:
        live = [a for a in actors if _alive(a)]
        for actor in live:
            actor.terminate()
        deadline = time.monotonic() + 1.0
        for actor in live:
            multiprocessing.Process.join(actor, max(deadline - time.monotonic(), 0.0))
            if _alive(actor):
                actor.kill()
        for actor in actors:
            with contextlib.suppress(ValueError):  # closed: Lava has joined it already
                ends[actor] = actor.pid, actor.exitcode
        if runtime is not None:
            runtime._is_started = runtime._is_running = False  # or Lava's __del__ stops it
        # A manager cut short while starting has no shutdown() yet (nor any worker).
        if infra is not None and hasattr(getattr(infra.smm, "_manager", None), "shutdown"):
            infra.stop()  # joins the workers, reads their errors, unlinks shared memory
    finally:
        for process in multiprocessing.active_children():  # forked, not yet listed
            if process.pid not in children:
                process.kill()
                process.join()
    return {pid: _how_it_ended(actor.exception, code) for actor, (pid, code) in ends.items()}


def _how_it_ended(error: tuple | None, code: int | None) -> str:
    """A worker's ``(exception, traceback)`` if it sent one, else its exit status."""
    if error is not None:
        return f"{type(error[0]).__name__}: {error[0]}"
    if code is not None and code < 0:
        return f"killed by {signal.Signals(-code).name}"
    return f"exit code {code}"

"""Run a netx network's samples on Lava in K worker processes, each with its own runtime.

:func:`simulate_parallel` splits the samples into K contiguous chunks, runs
:func:`.lava_sim.simulate` on each in a process of its own and joins the results in
order. Every sample starts from zero state either way, so the spikes (and ``u``, ``v``)
equal one process's, sample for sample. Keyword arguments pass through to ``simulate``.
Each worker builds the whole network: memory is about K times one run's (checked first).

Processes. Lava forks processes of its own, so ours must be allowed children, which the
daemonic workers of ``multiprocessing.Pool`` are not. Each worker is a fresh interpreter
(``python -c``, via ``subprocess``: no threads, locks or torch state inherited, and,
unlike multiprocessing's ``spawn``, no re-import of the caller's ``__main__`` and no
start method fixed before Lava sets its own) that talks to the parent through a
``multiprocessing`` connection over a socket pair. Samples and results go through
``.npy`` / ``.npz`` files in one temporary folder, which also holds the workers' own
temporary files, so that the parent removes them even after a worker was killed.

Ending, with the guarantees of :mod:`.lava_guard` for the whole run:

- Each worker runs in a session of its own, so Ctrl-C reaches the parent only; it
  starts with SIGINT blocked and unblocks it where it can handle it. On
  KeyboardInterrupt or any failure, the parent sends each worker SIGINT, which its
  ``LavaGuard`` turns into stopping its Lava processes; a worker not gone after
  ``STOP_S`` is killed. A worker whose parent dies gets SIGINT (``PR_SET_PDEATHSIG``).
- A worker that dies (its connection closes without a result) fails the run with a
  UserError naming it and its samples; a UserError raised in a worker comes back as the
  same line.
- ``timeout`` bounds each worker's run and also the whole run, in the parent.
- Progress: each worker reports every finished sample
  (:data:`.lava_guard.sample_reporter`); the parent shows them as one
  :class:`.lava_guard.Progress`.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing.util
import os
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection, Pipe, wait
from pathlib import Path

import numpy as np

from ..errors import UserError, current_naming, name_parameters_as, param
from ..netx.check import require_fits
from ..netx.file import LAVA, NetxFile, as_netx
from .lava_guard import Progress, format_seconds, sample_reporter
from .lava_sim import LavaSpikes, simulate

STOP_S = 10.0  # a worker asked to stop (SIGINT) is killed after this many seconds
_PR_SET_PDEATHSIG = 1  # linux/prctl.h
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])  # holds rouser_lava/


@dataclass
class _Worker:
    """One worker process, its connection and its samples ``first .. last``."""

    process: subprocess.Popen
    conn: Connection
    first: int
    last: int
    done: bool = False  # its result is written
    ended: bool = False  # it sent its last message and ends by itself


def simulate_parallel(netx: NetxFile | str, x: np.ndarray, workers: int,
                      progress: bool = True, timeout: float | None = None,
                      bias: np.ndarray | None = None,
                      **kwargs) -> LavaSpikes:
    """:func:`.lava_sim.simulate` of ``x`` (uint8 ``(N, *input_shape, T)``) and ``bias``
    (``(N, *input_shape)`` or None) in ``workers`` processes, each running a contiguous
    chunk of the samples.

    ``workers`` is clamped to ``N``; with one, this is ``simulate`` in this process.
    ``timeout`` (seconds) bounds each worker's Lava run and the whole run; ``kwargs``
    (e.g. ``record_state``) go to ``simulate``. Returns what ``simulate`` of all of
    ``x`` returns. Raises UserError when a worker fails or dies, or the memory of
    ``workers`` networks is not available; KeyboardInterrupt once all are stopped.
    """
    workers = min(workers, len(x))
    if workers <= 1:
        return simulate(netx, x, progress=progress, timeout=timeout, bias=bias, **kwargs)
    netx = as_netx(netx, LAVA, x.shape[1:-1])
    net_path = netx.path
    require_fits(netx.summary, LAVA.bytes_per_synapse * workers,
                 f"Lava in {workers} worker processes",
                 "use fewer workers (each holds the whole network)")
    n = len(x)
    bounds = [i * n // workers for i in range(workers + 1)]
    with tempfile.TemporaryDirectory(prefix="rouser-lava-workers-") as tmp:
        np.save(Path(tmp) / "x.npy", x)
        if bias is not None:
            np.save(Path(tmp) / "bias.npy", bias)
        outputs = [str(Path(tmp) / f"out{i}.npz") for i in range(workers)]
        started: list[_Worker] = []
        try:
            for out, first, end in zip(outputs, bounds[:-1], bounds[1:]):
                conn = _start(started, first, end - 1)
                conn.send((str(net_path), tmp, first, end, out, progress, current_naming(),
                           dict(kwargs, timeout=timeout)))
            _wait(started, str(net_path), n, timeout, progress)
        finally:
            _stop(started)
        return _join(outputs)


def _start(started: list[_Worker], first: int, last: int) -> Connection:
    """Start a worker in a session of its own with SIGINT blocked (the mask is inherited
    through fork and exec), add it to ``started`` and return its connection; a Ctrl-C
    meanwhile is raised here once it is in ``started``."""
    conn, child = Pipe()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        filter(None, [_PACKAGE_ROOT, os.environ.get("PYTHONPATH")])))
    code = "from rouser_lava.backends.lava_workers import serve; serve()"
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        process = subprocess.Popen(
            [sys.executable, "-c", code, str(os.getpid()), str(child.fileno())],
            stdin=subprocess.DEVNULL, pass_fds=(child.fileno(),), env=env,
            start_new_session=True)
        started.append(_Worker(process, conn, first, last))
    finally:
        child.close()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    return conn


def _wait(workers: list[_Worker], net_path: str, n: int, timeout: float | None,
          progress: bool) -> None:
    """Read the workers' messages until all are done; raise when one fails or dies, or
    the run passes ``timeout``."""
    t0 = time.monotonic()
    bar = Progress(n, progress)
    try:
        while not all(w.done for w in workers):
            left = None if timeout is None else t0 + timeout - time.monotonic()
            if left is not None and left <= 0:
                assert timeout is not None  # left is set only with a timeout
                raise UserError(f"{net_path}: the Lava run passed its timeout of "
                                f"{format_seconds(timeout)}, {bar.done}/{n} samples done in "
                                f"{len(workers)} worker processes; stopped them "
                                f"({param('timeout')} sets the limit)")
            ready = wait([w.conn for w in workers if not w.done], left)
            for w in workers:
                if w.conn in ready and not _read(w, bar):
                    code = w.process.wait()
                    raise UserError(
                        f"{net_path}: Lava worker process {w.process.pid} (samples "
                        f"{w.first}-{w.last}) ended after {time.monotonic() - t0:.1f} s "
                        f"({_how_it_ended(code)}), {bar.done}/{n} samples done; stopped "
                        f"the others")
    finally:
        bar.close()


def _read(w: _Worker, bar: Progress) -> bool:
    """Handle every message waiting from worker ``w``; False if it has gone without a
    result (its connection closed: it and every process it forked have ended)."""
    while not w.done:
        try:
            if not w.conn.poll():
                break
            kind, text = w.conn.recv()
        except (EOFError, ConnectionResetError):  # a killed worker's socket may reset
            return False
        w.ended = kind != "sample"
        if kind == "sample":
            bar.update()
        elif kind == "done":
            w.done = True
        elif kind == "error":
            raise UserError(text)
        else:
            raise RuntimeError(f"Lava worker process {w.process.pid} failed:\n{text}")
    return True


def _how_it_ended(code: int) -> str:
    return f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit code {code}"


def _stop(workers: list[_Worker]) -> None:
    """Ask every worker that is not ending by itself to stop (SIGINT), kill those still
    there after ``STOP_S`` and reap them all."""
    for w in workers:
        if not w.ended:
            with contextlib.suppress(ProcessLookupError):  # already gone
                os.kill(w.process.pid, signal.SIGINT)
    deadline = time.monotonic() + STOP_S
    for w in workers:
        try:
            w.process.wait(max(deadline - time.monotonic(), 0.0))
        except subprocess.TimeoutExpired:
            w.process.kill()
            w.process.wait()
        w.conn.close()


def _join(outputs: list[str]) -> LavaSpikes:
    """The workers' results, concatenated in sample order."""
    files = [np.load(path) for path in outputs]
    try:
        def joined(kind: str) -> list[np.ndarray]:
            layers = sum(key.split("_")[0] == kind for key in files[0].files)
            return [np.concatenate([f[f"{kind}_{i}"] for f in files]) for i in range(layers)]

        v_last = [f["vlast"] for f in files if "vlast" in f.files]
        return LavaSpikes(joined("spikes"), joined("u") or None, joined("v") or None,
                          np.concatenate(v_last) if v_last else None)
    finally:
        for f in files:
            f.close()


def serve() -> None:
    """A worker process (``python -c ... PARENT_PID FD``): take a job from the connection
    on ``FD``, simulate its samples of ``x.npy`` and write the result; tell the parent
    each sample done (if asked) and how it ended. Starts with SIGINT blocked."""
    parent, fd = map(int, sys.argv[1:])
    if sys.platform == "linux":
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    if os.getppid() != parent:  # it ended before the line above
        return
    conn = Connection(fd)
    # SIGINT is the parent's stop request, also where the user's shell made the parent
    # ignore it (``nohup rouser-run ... &``: a background job inherits SIGINT ignored).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # the parent's stop
        net_path, tmp, first, end, out, report, naming, kwargs = conn.recv()
        multiprocessing.util.get_temp_dir()  # Lava's sockets: in a short path, as usual
        tempfile.tempdir = tmp  # other files: the parent removes what a killed worker leaves
        x = np.load(Path(tmp) / "x.npy", mmap_mode="r")[first:end]
        bias = Path(tmp) / "bias.npy"
        kwargs["bias"] = np.load(bias)[first:end] if bias.exists() else None
        if report:
            sample_reporter.set(lambda: conn.send(("sample", "")))
        with name_parameters_as(naming):  # messages name parameters as the parent does
            result = simulate(net_path, x, progress=False, **kwargs)
        arrays = {f"spikes_{i}": s for i, s in enumerate(result.spikes)}
        for kind, values in (("u", result.u), ("v", result.v)):
            arrays.update({f"{kind}_{i}": a for i, a in enumerate(values or [])})
        if result.v_last is not None:
            arrays["vlast"] = result.v_last  # no "_": keys "kind_i" are per layer
        np.savez(out, **arrays)
        conn.send(("done", ""))
    except UserError as err:
        conn.send(("error", str(err)))
    except KeyboardInterrupt:  # the parent stops this run
        pass
    except Exception:  # a bug: its traceback goes to the parent
        conn.send(("crash", traceback.format_exc()))

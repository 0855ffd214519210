"""Data-parallel training over processes (torch DDP), as ``torchrun`` launches them.

``torchrun --nproc_per_node K rouser-train ...`` starts K copies of the command with
``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK`` (and the rendezvous address) in their
environment; :func:`start` reads them and joins the process group: gloo on the CPU,
nccl on CUDA (one GPU per process, ``LOCAL_RANK``'s).

How the K processes split the work so that one epoch on K equals one epoch on one
(up to float summation order):

- every rank draws the single process's seeded data order and cuts each global batch
  of ``B`` samples into K contiguous parts (:meth:`Ranks.part`), ``B / K`` each;
- the loss is summed over samples, and DDP averages the gradients over ranks, so each
  rank scales its loss by K (:attr:`Ranks.grad_scale`): the all-reduced gradient is the
  gradient of the global batch's summed loss;
- weights and thresholds are parameters, equal on every rank at the start (same seed,
  or the same checkpoint) and after every step (the same all-reduced gradient, Adam
  step and clamping); :func:`check_same` asserts it bit for bit after every epoch;
- counts and sums behind the per-epoch metrics are all-reduced (:func:`all_sum`).

A UserError on one rank must not leave the others waiting in a collective:
:func:`agree` runs a step on every rank and raises the first rank's error on all.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TypeVar, cast

import torch
import torch.distributed as dist
from torch import nn

from ..errors import UserError, param

T = TypeVar("T")


@dataclass(frozen=True)
class Ranks:
    """Where this process sits in a data-parallel run (one process: rank 0 of 1)."""

    rank: int = 0  # this process, 0 .. world - 1
    world: int = 1  # processes in the run
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def main(self) -> bool:
        """True on rank 0, the one that writes files and logs."""
        return self.rank == 0

    @property
    def grad_scale(self) -> float:
        """Factor of the summed loss that turns DDP's gradient average into the sum."""
        return float(self.world)

    def part(self, n: int) -> slice:
        """This rank's contiguous share of ``n`` items (sizes differ by at most one)."""
        return slice(self.rank * n // self.world, (self.rank + 1) * n // self.world)


def launched() -> bool:
    """True when torchrun (or another launcher setting its variables) started us."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def device_for(name: str, local_rank: int = 0) -> torch.device:
    """The torch device for ``device=name`` (cpu or cuda); raises UserError when CUDA is
    asked for but absent, or when a node runs more processes than it has GPUs."""
    if name == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise UserError(f"{param('device')} cuda: no CUDA GPU is available to torch on this "
                        f"machine (torch.cuda.is_available() is False); use {param('device')} "
                        f"cpu")
    count = torch.cuda.device_count()
    if local_rank >= count:
        raise UserError(f"{param('device')} cuda: local rank {local_rank} but this node has "
                        f"{count} GPU(s); start at most {count} processes per node")
    torch.cuda.set_device(local_rank)
    return torch.device("cuda", local_rank)


LAUNCH_VARS = ("RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")  # what torchrun sets
RENDEZVOUS_ENV = "ROUSER_RENDEZVOUS_TIMEOUT"  # seconds the processes wait for each other
RENDEZVOUS_S = 300.0  # its default


def launch_environment() -> tuple[int, int] | None:
    """``(rank, world)`` from torchrun's variables, or None to run alone (neither
    ``RANK`` nor ``WORLD_SIZE`` set, or a world of 1). UserError naming what is
    missing or malformed when only part of the environment is there (a SLURM job's
    ``RANK``, say), instead of torch's traceback."""
    if "RANK" not in os.environ and "WORLD_SIZE" not in os.environ:
        return None
    missing = [v for v in LAUNCH_VARS if not os.environ.get(v)]
    values = {}
    for var in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT"):
        text = os.environ.get(var)
        if text is not None and var not in missing:
            try:
                values[var] = int(text)
            except ValueError:
                raise UserError(f"environment variable {var}={text!r}: expected an "
                                f"integer") from None
    if values.get("WORLD_SIZE") == 1 and "RANK" not in missing:
        return None
    if missing:
        given = [v for v in LAUNCH_VARS if v not in missing]
        raise UserError(f"a partial torch distributed environment: {', '.join(given)} "
                        f"set but {', '.join(missing)} not; launch with torchrun or "
                        f"{param('processes')} K, or unset {', '.join(given)} to train "
                        f"alone")
    rank, world = values["RANK"], values["WORLD_SIZE"]
    if world < 1 or not 0 <= rank < world:
        raise UserError(f"environment RANK={rank}, WORLD_SIZE={world}: expected "
                        f"0 <= RANK < WORLD_SIZE")
    return rank, world


def rendezvous_timeout() -> float:
    """Seconds to wait for every process to join (:data:`RENDEZVOUS_ENV`, default
    :data:`RENDEZVOUS_S`)."""
    text = os.environ.get(RENDEZVOUS_ENV)
    if text is None:
        return RENDEZVOUS_S
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < 1e6:
        raise UserError(f"environment variable {RENDEZVOUS_ENV}={text!r}: expected seconds "
                        f"> 0")
    return value


def _join(rank: int, world: int, backend: str) -> None:
    """The rendezvous, bounded by :func:`rendezvous_timeout` (torch's own waits 30 min):
    a TCP store at MASTER_ADDR:MASTER_PORT (torchrun's agent holds it when it says so),
    then the process group on it (its collectives keep torch's default timeout: rank 0
    may bin a dataset while the others wait)."""
    seconds = rendezvous_timeout()
    host, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
    master = rank == 0 and os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True"
    try:
        store = dist.TCPStore(host, port, world, master, timedelta(seconds=seconds))
        store.set(f"rouser/joined/{rank}", "1")
        store.wait([f"rouser/joined/{r}" for r in range(world)], timedelta(seconds=seconds))
    except (RuntimeError, OSError) as err:  # DistStoreError is a RuntimeError
        raise UserError(f"rank {rank} of {world}: the other processes did not all join at "
                        f"{host}:{port} within {seconds:g} s ({str(err).splitlines()[0]}); "
                        f"set {RENDEZVOUS_ENV} to wait longer") from None
    dist.init_process_group(backend, store=store, rank=rank, world_size=world)


def start(device: str) -> Ranks:
    """Join the process group torchrun set up (gloo on CPU, nccl on CUDA), or, without
    torchrun or with one process, run alone. Ranks other than 0 log only errors."""
    env = launch_environment()
    if env is None:
        return Ranks(device=device_for(device))
    rank, world = env
    dev = device_for(device, int(os.environ.get("LOCAL_RANK", 0)))
    _join(rank, world, "nccl" if dev.type == "cuda" else "gloo")
    if rank != 0:
        logging.getLogger().setLevel(logging.ERROR)
    return Ranks(rank, world, dev)


def stop(ranks: Ranks) -> None:
    """Leave the process group :func:`start` joined, together (every rank must call it;
    nothing to do alone).

    torch 2.3's gloo process group joins its worker threads in its destructor while
    holding the GIL. A worker that drops the last reference to a collective's tensor
    whose Python object is already gone (as ``all_gather_object``'s are) needs the GIL
    to free it, so it waits for it and the process hangs (seen once in 3 to 12 runs).
    So the last collective is on a tensor that outlives the destructor, and a short
    wait with the GIL released lets the workers finish dropping the earlier ones.
    """
    if ranks.world > 1 and dist.is_initialized():
        last = torch.zeros(1, device=ranks.device)
        dist.all_reduce(last)
        time.sleep(0.05)
        dist.destroy_process_group()
        del last


def run_on_ranks(device: str, work: Callable[[Ranks], T]) -> T:
    """``work(ranks)`` in the process group :func:`start` joins on ``device`` (cpu or
    cuda), or alone without torchrun. The ranks leave together (:func:`stop`) when
    ``work`` returns or raises UserError (raised on every rank alike, see
    :func:`agree`); after another error this rank exits and torchrun stops the rest."""
    ranks = start(device)
    try:
        result = work(ranks)
    except UserError:
        stop(ranks)
        raise
    stop(ranks)
    return result


def launch(processes: int, code: str, argv: list[str]) -> int:
    """Run ``python -c code argv`` in ``processes`` processes on this machine, as
    ``torchrun --standalone --nproc_per_node processes`` does, and return the exit
    status: 0, the first failed rank's (each rank printed its own one line), or 130
    after Ctrl-C. Unlike torchrun's, neither ends with the launcher's traceback
    (``ChildFailedError``, ``SignalException``) nor its log lines."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    os.environ.setdefault("OMP_NUM_THREADS", "1")  # torchrun's value, without its warning
    logging.getLogger().setLevel(logging.WARNING)  # this process only launches
    for name in list(logging.root.manager.loggerDict):  # each sets its own level
        if name.startswith("torch.distributed"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    args = parse_args(["--standalone", "--nproc_per_node", str(processes), "--no-python",
                       sys.executable, "-c", code, *argv])
    try:
        run(args)
    except ChildFailedError as err:
        status = int(err.get_first_failure()[1].exitcode)
        return status if status > 0 else 128 - status  # killed by signal s: 128 + s
    except SignalException:  # torchrun's agent turns SIGINT and SIGTERM into this
        raise KeyboardInterrupt from None
    return 0


def agree(ranks: Ranks, step: Callable[[], T]) -> T:
    """``step()`` on every rank; if it raises UserError on any, every rank raises the
    lowest such rank's error (so all exit with the same line, none left waiting)."""
    error, result = None, None
    try:
        result = step()
    except UserError as err:
        error = str(err)
    if ranks.world > 1:
        errors = [None] * ranks.world
        dist.all_gather_object(errors, error)
        error = next((e for e in errors if e is not None), None)
    if error is not None:
        raise UserError(error)
    return cast(T, result)  # step() returned: no rank raised


def all_sum(ranks: Ranks, values: torch.Tensor) -> torch.Tensor:
    """``values`` summed over ranks (a new tensor on ``values``' device)."""
    values = values.to(ranks.device).clone()
    if ranks.world > 1:
        dist.all_reduce(values)
    return values


def wrap(net: nn.Module, ranks: Ranks) -> nn.Module:
    """The module to train: ``net`` itself alone, else ``net`` in DDP (which checks at
    construction that every rank holds the same parameters). Buffers (fixed thresholds)
    never change in training, so they are not re-broadcast before every forward."""
    if ranks.world == 1:
        return net
    ids = [ranks.device.index] if ranks.device.type == "cuda" else None
    return nn.parallel.DistributedDataParallel(net, device_ids=ids, broadcast_buffers=False)


def check_same(ranks: Ranks, net: nn.Module) -> None:
    """Raise RuntimeError on every rank unless all ranks hold bit-identical parameters."""
    if ranks.world == 1:
        return
    flat = torch.cat([p.detach().reshape(-1) for p in net.parameters()])
    first = flat.clone()
    dist.broadcast(first, src=0)
    differ = all_sum(ranks, torch.tensor([float(not torch.equal(flat, first))]))
    if differ.item():
        raise RuntimeError(f"parameters differ between ranks on {int(differ.item())} "
                           f"rank(s): data-parallel training lost step with rank 0")

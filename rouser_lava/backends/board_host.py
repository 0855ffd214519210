"""Choose the Loihi 2 host as Intel's public code does, without Lava's ``sinfo`` parser.

lava-nc 0.10's ``lava.utils.loihi.use_slurm_host(partition=...)`` parses ``sinfo`` and
raises ``IndexError`` on the output's trailing empty line (lava#753, open;
``lava/utils/slurm.py``, ``get_partitions``), and its plain name match misses the
default partition, which ``sinfo`` prints as ``oheogulch*``. Public code avoids it:
Intel's tutorials call ``use_slurm_host(loihi_gen=...)`` with no partition (lava
``tutorials/lava_va/``), lava-dl's netx notebooks set the environment through
``lava.utils.system.Loihi2`` (``SLURM=1``, ``LOIHI_GEN``, ``PARTITION``, never
overwriting a value the user set), and users' scripts set the same variables directly.

:func:`select_host` does the latter: it reads ``sinfo`` itself (to fail early, in one
line, when SLURM is missing or the partition is unknown or down), then sets ``SLURM``,
``PARTITION``, ``LOIHI_GEN`` (and ``BOARD`` when the config names one) from the hardware
config, keeping whatever the user's environment already holds. It imports nothing from
Lava, so it is tested without lava-loihi against a stub ``sinfo``.
"""

from __future__ import annotations

import logging
import os
import subprocess
from collections.abc import MutableMapping
from dataclasses import dataclass

from ..deploy.hw_config import LOIHI2_GENERATIONS
from ..errors import UserError

log = logging.getLogger(__name__)

SINFO_TIMEOUT_S = 20.0  # Lava's own call gives up after 1 s (slurm.try_run_command)
_CHECK = ("check that SLURM's sinfo is on PATH (INRC systems: /nfs/ncl/bin) and that "
          "`sinfo` lists the partition")


@dataclass(frozen=True)
class Partition:
    """One row of ``sinfo``: ``name`` without the default marker ``*``."""

    name: str
    available: str  # 'up', 'down', ...
    state: str  # 'idle', 'alloc', 'mix', 'down*', 'drain', ...
    default: bool = False


def parse_sinfo(text: str) -> list[Partition]:
    """Rows of ``sinfo``'s default table (``PARTITION AVAIL TIMELIMIT NODES STATE
    NODELIST``); blank lines (the trailing newline) are skipped, ``name*`` is the
    default partition. A partition may take several rows (one per node state)."""
    rows = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if not fields:
            continue
        name = fields[0]
        rows.append(Partition(name.rstrip("*"), fields[1] if len(fields) > 1 else "",
                              fields[4] if len(fields) > 4 else "", name.endswith("*")))
    return rows


def read_sinfo(partition: str, timeout: float = SINFO_TIMEOUT_S) -> list[Partition]:
    """``sinfo``'s rows; UserError naming ``partition`` when it cannot be run."""
    try:
        done = subprocess.run(["sinfo"], capture_output=True, text=True, timeout=timeout,
                              check=True)
    except FileNotFoundError:
        raise UserError(f"Loihi 2 partition '{partition}': no `sinfo` on PATH, so no SLURM "
                        f"to reach the board; {_CHECK}") from None
    except subprocess.TimeoutExpired:
        raise UserError(f"Loihi 2 partition '{partition}': `sinfo` gave no answer within "
                        f"{timeout:.0f} s; check that the SLURM controller is reachable"
                        ) from None
    except subprocess.CalledProcessError as err:
        why = (err.stderr or "").strip().splitlines()
        raise UserError(f"Loihi 2 partition '{partition}': `sinfo` failed (exit status "
                        f"{err.returncode}{': ' + why[-1] if why else ''}); {_CHECK}"
                        ) from None
    return parse_sinfo(done.stdout)


@dataclass(frozen=True)
class HostChoice:
    """What :func:`select_host` set: the environment Lava's Loihi 2 run reads."""

    partition: str
    loihi_gen: str
    board: str | None
    from_user: tuple[str, ...]  # variables the user's environment had already set

    def describe(self) -> str:
        kept = f" (kept from the environment: {', '.join(self.from_user)})" \
            if self.from_user else ""
        board = f", BOARD={self.board}" if self.board else ""
        return (f"SLURM=1, PARTITION={self.partition}, LOIHI_GEN={self.loihi_gen}{board}"
                f"{kept}")


def select_host(partition: str, loihi_gen: str, board: str | None = None,
                env: MutableMapping[str, str] | None = None,
                sinfo=read_sinfo) -> HostChoice:
    """Set ``SLURM=1``, ``PARTITION``, ``LOIHI_GEN`` (and ``BOARD``) in ``env``
    (default ``os.environ``) from the config's ``partition``, ``loihi_gen`` and
    ``board``, keeping values the environment already holds; check the partition
    against ``sinfo`` first (``sinfo(partition) -> [Partition]``).

    Raises UserError, one line naming the partition and what to check, when ``sinfo``
    cannot be run, or the partition is unknown or down; logs a warning when every
    node of it is allocated (the run waits in SLURM's queue).
    """
    env = os.environ if env is None else env
    from_user = tuple(k for k in ("PARTITION", "LOIHI_GEN", "BOARD") if env.get(k))
    partition = env.get("PARTITION") or partition
    loihi_gen = env.get("LOIHI_GEN") or loihi_gen
    board = env.get("BOARD") or board
    if loihi_gen not in LOIHI2_GENERATIONS:
        raise UserError(f"Loihi 2 partition '{partition}': LOIHI_GEN '{loihi_gen}' is not a "
                        f"Loihi 2 chip generation (one of {', '.join(LOIHI2_GENERATIONS)}); "
                        f"check the config's loihi_gen or the environment")
    listed = sinfo(partition)
    rows = [row for row in listed if row.name == partition]
    if not rows:
        known = sorted({row.name for row in listed})
        raise UserError(f"Loihi 2 partition '{partition}': not listed by `sinfo` (it lists "
                        f"{', '.join(known) or 'none'}); set the config's partition or "
                        f"PARTITION to one of them")
    if all(row.available != "up" or row.state.rstrip("*~#") in ("down", "drain", "drained")
           for row in rows):
        raise UserError(f"Loihi 2 partition '{partition}': down (sinfo: "
                        f"{', '.join(f'{r.available}/{r.state}' for r in rows)}); check "
                        f"`sinfo` and try another partition or later")
    if all(row.state.rstrip("*~#") == "alloc" for row in rows if row.available == "up"):
        log.warning("Loihi 2 partition '%s': every board is allocated; the run waits in "
                    "SLURM's queue and counts against its time limit", partition)
    env.setdefault("SLURM", "1")
    env.pop("NOSLURM", None)
    env["PARTITION"], env["LOIHI_GEN"] = partition, loihi_gen
    if board:
        env["BOARD"] = board
    return HostChoice(partition, loihi_gen, board, from_user)

"""Issue 23: data-parallel training started by ``rouser-train --processes K`` ends a
user error with each rank's one line and Ctrl-C with exit status 130 and one line per
process, never with the launcher's traceback; a Ctrl-C while a command's interpreter
shuts down (its output written) does not kill it by the signal."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nir
import pytest

from rouser_lava.cli import train_main

from .conftest import error_line

pytestmark = pytest.mark.slow  # each test starts processes that import torch

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
TINY = ["--hidden", "8", "--time-steps", "8", "--quiet"]


def _command(verb: str, args: list[str]) -> list[str]:
    """What the console script ``verb`` runs (``main()`` without arguments)."""
    main = verb.replace("rouser-", "") + "_main"
    return [sys.executable, "-c", f"import sys; sys.argv[0] = '{verb}'; from rouser_lava.cli "
            f"import {main}; sys.exit({main}())", *args]


def _start(verb: str, args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(_command(verb, args), env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)


def test_a_user_error_on_every_rank_ends_without_the_launchers_traceback(tmp_path):
    done = subprocess.run(_command("rouser-train", [
        *TINY, "--processes", "2", "--batch-size", "33", "--out", str(tmp_path / "m.pt")]),
        env=ENV, capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    line = ("rouser-train: error: --batch-size 33 is the global batch, split equally over "
            "the 2 processes: give a multiple of 2")
    assert [x for x in done.stderr.splitlines() if "Warning" not in x and
            not x.startswith("  warn")] == [line, line]  # one per rank
    assert not list(tmp_path.iterdir())


def test_ctrl_c_ends_every_process_with_130(tmp_path):
    out = tmp_path / "m.pt"
    proc = _start("rouser-train", [*TINY, "--processes", "2", "--epochs", "500",
                                   "--batch-size", "64", "--out", str(out)])
    deadline = time.monotonic() + 200
    while not (tmp_path / "m.ckpt.pt").exists():  # training, past every start-up
        assert time.monotonic() < deadline and proc.poll() is None, proc.stderr
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130
    assert "Traceback" not in err and "SignalException" not in err
    assert err.splitlines()[-3:] == ["rouser-train: interrupted"] * 3  # 2 ranks, launcher


def test_processes_under_torchrun_is_refused(monkeypatch, capsys):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert train_main([*TINY, "--processes", "2", "--out", "x.pt"]) == 1
    assert "--processes starts its own processes; under torchrun leave it out" in \
        error_line(capsys)


def test_ctrl_c_after_the_output_is_written(model_file, tmp_path):
    """The NIR file appears (atomically) just before the command returns; a Ctrl-C
    then meets the interpreter's shutdown (about a second with torch loaded)."""
    path = tmp_path / "m.nir"
    proc = _start("rouser-export", [str(model_file), str(path)])
    deadline = time.monotonic() + 200
    while not path.exists():
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130), err  # never -2: killed by the signal
    assert "Traceback" not in err
    assert proc.returncode == 0 or err.splitlines()[-1] == "rouser-export: interrupted"
    assert isinstance(nir.read(path), nir.NIRGraph)  # complete

"""Data-parallel training under torchrun: two gloo processes on the CPU equal one process
(weights, thresholds, per-epoch metrics), resume after a kill, rank 0 alone writes and
logs, and an inconsistent launch fails on every rank without hanging."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from rouser_lava.cli import export_main, info_main, train_main

pytestmark = pytest.mark.slow  # torchrun: two training processes per run

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "digits", "--hidden", "12", "--time-steps", "8", "--quiet"]
# what the console script rouser-train runs; the driver can also stop rank 0 right after
# its first checkpoint, as a kill would
SCRIPT = """import sys
from rouser_lava.cli import train_main
if sys.argv[1] == "--die-after-checkpoint":
    from rouser_lava.training import trainrun
    save = trainrun.save_record
    def save_then_die(path, record):
        save(path, record)
        if str(path).endswith(".ckpt.pt"):
            raise KeyboardInterrupt
    trainrun.save_record = save_then_die
    del sys.argv[1]
sys.exit(train_main())
"""


def torchrun(tmp_path: Path, args: list[str], procs: int = 2, name: str = "logs"
             ) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the training script under torchrun; returns the result and the folder of the
    per-rank logs (``<rank>/stderr.log``)."""
    script = tmp_path / "rouser-train"
    script.write_text(SCRIPT)
    logs = tmp_path / name
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone",
           "--nproc_per_node", str(procs), "--log-dir", str(logs), "--redirects", "3",
           str(script), *args]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    return done, logs


def rank_log(logs: Path, rank: int) -> str:
    """Rank ``rank``'s stderr (torchrun keeps one folder per attempt)."""
    return "".join(p.read_text() for p in logs.glob(f"**/attempt_*/{rank}/stderr.log"))


def messages(text: str) -> list[str]:
    """Lines other than Python warnings (a warning's text and its source line)."""
    lines = text.splitlines()
    return [line for i, line in enumerate(lines) if "Warning" not in line
            and not (i and "Warning" in lines[i - 1])]


def state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def assert_same_run(a: dict, b: dict, tol: float) -> None:
    """Same weights and thresholds (to ``tol``) and the same per-epoch metrics."""
    for key, value in a["state_dict"].items():
        torch.testing.assert_close(b["state_dict"][key], value, rtol=tol, atol=tol)
    assert len(a["history"]) == len(b["history"])
    for row_a, row_b in zip(a["history"], b["history"]):
        assert set(row_a) == set(row_b)
        for key in set(row_a) - {"wall_s", "metrics_s", "layers"}:
            assert row_b[key] == pytest.approx(row_a[key], rel=1e-5), key
        for la, lb in zip(row_a["layers"], row_b["layers"]):
            assert la["name"] == lb["name"] and la["readout"] == lb["readout"]
            for key in set(la) - {"name", "readout"}:
                assert lb[key] == pytest.approx(la[key], rel=1e-5, abs=1e-9), key


def test_two_processes_equal_one_and_only_rank_0_writes(tmp_path, capsys):
    run = [*TINY, "--batch-size", "64", "--epochs", "1"]
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    assert train_main([*run, "--out", str(tmp_path / "one" / "m.pt")]) == 0
    done, logs = torchrun(tmp_path, [*run, "--out", str(tmp_path / "two" / "m.pt")])
    assert done.returncode == 0, done.stderr[-2000:]
    one, two = state(tmp_path / "one" / "m.pt"), state(tmp_path / "two" / "m.pt")
    assert any(row["layers"][0]["dead_pct"] < 100 for row in one["history"])
    assert_same_run(one, two, tol=1e-5)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [
        "m.best.pt", "m.ckpt.pt", "m.metrics.jsonl", "m.pt"]  # nothing else, no temp files
    assert "data-parallel on 2 processes" in rank_log(logs, 0)
    assert messages(rank_log(logs, 1)) == []  # rank 1 logs nothing but errors
    # provenance tells the runs apart: 1 process, 2 ranks (model and checkpoint)
    assert one["provenance"]["world_size"] == 1
    for record in (two, state(tmp_path / "two" / "m.ckpt.pt")):
        assert record["provenance"]["world_size"] == 2
        assert record["provenance"]["argv"][1:] == [*run, "--out", str(tmp_path / "two" /
                                                                      "m.pt")]
    # rouser-info shows it for the model and for its netx and NIR exports
    for suffix in (".net", ".nir"):
        assert export_main([str(tmp_path / "two" / "m.pt"),
                            str(tmp_path / f"m{suffix}")]) == 0
    capsys.readouterr()
    for path in (tmp_path / "two" / "m.pt", tmp_path / "m.net", tmp_path / "m.nir"):
        assert info_main([str(path)]) == 0
        shown = [line for line in capsys.readouterr().out.splitlines()
                 if line.startswith(("provenance: ", "provenance of the model exported: "))]
        assert "world size 2" in shown[-1] and "device cpu" in shown[-1], shown


def test_killed_run_resumes_to_the_uninterrupted_state(tmp_path):
    """A 2-epoch run of 3 global batches each (718, 718, 1: the last leaves rank 1
    without a sample) dies right after epoch 1's checkpoint; resuming it, on 2
    processes, gives the uninterrupted run."""
    run = [*TINY, "--batch-size", "718", "--epochs", "2"]
    full, part = tmp_path / "full.pt", tmp_path / "part.pt"
    assert train_main([*run, "--out", str(full)]) == 0
    done, _ = torchrun(tmp_path, ["--die-after-checkpoint", *run, "--out", str(part)],
                       name="killed")
    assert done.returncode != 0
    assert len(state(part)["history"]) == 1
    done, _ = torchrun(tmp_path, ["--resume", "--out", str(part), "--quiet"], name="resumed")
    assert done.returncode == 0, done.stderr[-2000:]
    assert_same_run(state(full), state(part), tol=1e-5)


def test_inconsistent_launch_fails_on_every_rank(tmp_path):
    done, logs = torchrun(tmp_path, [*TINY, "--batch-size", "63", "--out",
                                     str(tmp_path / "m.pt")])
    assert done.returncode != 0
    line = ("rouser-train: error: --batch-size 63 is the global batch, split equally over "
            "the 2 processes: give a multiple of 2")
    for rank in (0, 1):
        assert messages(rank_log(logs, rank)) == [line]
    assert not list(tmp_path.glob("m*"))

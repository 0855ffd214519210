"""A partial torch distributed environment is refused with one line naming what is
missing, a rendezvous that does not complete ends within its stated time, and a
checkpoint is checked field by field before a run resumes from it."""

import socket
import time

import pytest
import torch

from rouser_lava.cli import train_main

from .conftest import error_line

TINY = ["--dataset", "digits", "--hidden", "8", "--time-steps", "4", "--epochs", "1",
        "--quiet"]


@pytest.mark.parametrize("env, words", [
    ({"RANK": "0"}, "RANK set but WORLD_SIZE, MASTER_ADDR, MASTER_PORT not"),
    ({"WORLD_SIZE": "2", "RANK": "0", "MASTER_ADDR": "127.0.0.1"}, "MASTER_PORT not"),
    ({"WORLD_SIZE": "two", "RANK": "0"}, "WORLD_SIZE='two': expected an integer"),
    ({"WORLD_SIZE": "2", "RANK": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "1"},
     "expected 0 <= RANK < WORLD_SIZE"),
])
def test_partial_environment_is_one_line(monkeypatch, tmp_path, capsys, env, words):
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    assert train_main([*TINY, "--out", str(tmp_path / "m.pt")]) == 1
    assert words in error_line(capsys)
    assert not list(tmp_path.iterdir())


def test_a_missing_peer_ends_within_the_rendezvous_timeout(monkeypatch, tmp_path, capsys):
    with socket.socket() as s:  # a free port
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    for var, value in {"RANK": "0", "WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1",
                       "MASTER_PORT": str(port), "ROUSER_RENDEZVOUS_TIMEOUT": "2"}.items():
        monkeypatch.setenv(var, value)
    t0 = time.monotonic()
    assert train_main([*TINY, "--out", str(tmp_path / "m.pt")]) == 1
    assert time.monotonic() - t0 < 30
    line = error_line(capsys)
    assert "rank 0 of 2: the other processes did not all join" in line
    assert "within 2 s" in line and "ROUSER_RENDEZVOUS_TIMEOUT" in line


@pytest.mark.parametrize("field, value, words", [
    ("optimizer", None, "missing field(s) optimizer"),
    ("generator", torch.zeros(3, dtype=torch.uint8), "field 'generator'"),
    ("settings", {"epochs": "two"}, "m.ckpt.pt: --epochs must be an integer >= 1"),
    ("epoch", -2, "field 'epoch' -2: expected a whole number from 1"),
    ("history", [], "field 'history' list: expected one metrics row per epoch 1 .. 1"),
    ("optimizer.lr", -5.0, "optimizer.param_groups[0].lr' -5.0: expected a learning rate"),
])
def test_checkpoints_are_checked_before_resuming(tmp_path, capsys, field, value, words):
    out = tmp_path / "m.pt"
    assert train_main([*TINY, "--epochs", "1", "--out", str(out)]) == 0
    path = tmp_path / "m.ckpt.pt"
    ckpt = torch.load(path, weights_only=True)
    if field == "optimizer" and value is None:
        del ckpt["optimizer"]
    elif field == "optimizer.lr":
        ckpt["optimizer"]["param_groups"][0]["lr"] = value
    else:
        ckpt[field] = value
    torch.save(ckpt, path)
    capsys.readouterr()
    assert train_main(["--resume", "--epochs", "2", "--out", str(out), "--quiet"]) == 1
    assert words in error_line(capsys)

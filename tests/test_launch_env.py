"""A partial torch distributed environment is refused with one line naming what is
missing, and a rendezvous that does not complete ends within its stated time."""

import socket
import time

import pytest

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

"""lava-dl's one hardware ground truth, reproduced from the command line.

lava-dl's ``tests/lava/lib/dl/netx/test_hdf5_nx.py::test_pilotnet_lif`` runs PilotNet
SNN on a Loihi 2 board with ``reset_interval=16``, the image as the input layer's
``bias_mant``, for 15 steps, and asserts layer 8's ``u`` (the dense layer ``fc-2``)
against ``fc-2-u[:, 14]`` (files in ``tests/data/lavadl_pilotnet_lif``, see its README).
The emulator's stream layout, Lava's CPU simulator in the same layout, and the board
rehearsal must all give that ``u``, and the same ``u`` and ``v`` in every layer.
"""

from pathlib import Path

import numpy as np
import pytest

from rouser_lava.cli import run_main

DATA = Path(__file__).parent / "data" / "lavadl_pilotnet_lif"
STREAM = ["--stream", "reset-interval", "--reset-interval", "16"]
BIAS = ["--input-bias", str(DATA / "image.npy"), "--steps", "15"]
LAYER, STEP = 8, 14  # test_pilotnet_lif: idx = 8, num_steps = 15


def _states(tmp_path: Path, name: str, *options: str) -> dict:
    out = tmp_path / f"{name}.npz"
    assert run_main([str(DATA / "network.net"), *options, *BIAS, "--dump-state",
                     str(out)]) == 0
    with np.load(out) as f:
        return dict(f)


def _hardware_u() -> np.ndarray:
    return np.load(DATA / "fc-2-u.npy")[:, STEP]


def test_emulator_stream_gives_the_board_u(tmp_path, capsys):
    states = _states(tmp_path, "emu", *STREAM)
    u = states[f"u_layer{LAYER}"][0, :, STEP]
    assert np.array_equal(u, _hardware_u()), (u, _hardware_u())
    assert np.abs(u).max() > 0 and len(set(u.tolist())) > 2  # not a vacuous match
    assert "backend emulator: 1 samples" in capsys.readouterr().out


@pytest.mark.lava
@pytest.mark.slow
@pytest.mark.parametrize("name, options", [("lava", ["--backend", "lava", *STREAM]),
                                           ("rehearsal", ["--backend", "loihi2",
                                                          "--rehearse", "--reset-interval",
                                                          "16"])])
def test_lava_and_the_rehearsal_give_the_board_u_in_every_layer(name, options, tmp_path):
    """At steps 13 and 14 (reading every state of every step costs minutes)."""
    steps = ["--state-steps", "13,14"]
    emulator = _states(tmp_path, "emu", *STREAM, *steps)
    lava = _states(tmp_path, name, *options, *steps)
    assert list(lava["steps"]) == [13, 14]
    assert np.array_equal(lava[f"u_layer{LAYER}"][0, :, -1], _hardware_u())
    assert sorted(lava) == sorted(emulator)
    for key in emulator:
        assert np.array_equal(lava[key], emulator[key]), key

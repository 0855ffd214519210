"""The Loihi 2 board backend where no board is: it checks design rules and the resource
map first, prints the exact run configuration with --dry-run, and without lava-loihi
fails with one line that says what is needed and which simulator command runs the same
network."""

import json

import numpy as np
import pytest

from rouser_lava.cli import run_main
from rouser_lava.deploy.hw_config import CONFIG_DIR
from rouser_lava.deploy.quantize import quantize_network
from rouser_lava.netx.write import write_netx

from .conftest import error_line, random_spikes


@pytest.fixture
def fold_file(dense_net, tmp_path):
    """A fold export (one vThMant per layer: what the chip holds) and 4 input samples."""
    path = tmp_path / "fold.net"
    write_netx(quantize_network(dense_net, "fold"), path, 16)
    np.save(tmp_path / "x.npy", random_spikes((4, 20, 16), 0.4, seed=3))
    return str(path), str(tmp_path / "x.npy")


def test_without_lava_loihi_fails_with_what_is_needed(fold_file, capsys):
    net, x = fold_file
    assert run_main([net, "--backend", "loihi2", "--input", x]) == 1
    line = error_line(capsys)
    assert "lava-loihi" in line and "INRC" in line
    assert f"rouser-run {net} --backend loihi2 --rehearse" in line


@pytest.mark.parametrize("config, partition", [("loihi2-oheogulch", "oheogulch"),
                                               ("loihi2-kapohopoint", "kp")])
def test_dry_run_prints_map_and_run_configuration(fold_file, config, partition, capsys):
    net, x = fold_file
    assert run_main([net, "--backend", "loihi2", "--hw-config", config, "--input", x,
                     "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "design rules: passed" in out and "total" in out
    assert f"SLURM=1, PARTITION={partition}, LOIHI_GEN=N3B3" in out
    assert "use_slurm_host" not in out  # its partition parser breaks (lava#753)
    assert "reset_interval=32, reset_offset=0" in out  # 16 steps + 2 layers -> 32
    assert "PyToNxAdapter(shape=(20,))" in out and "NxToPyAdapter(shape=(6,)" in out
    assert "4 samples in run calls of 64" in out
    assert "RunSteps(" in out and "Loihi2HwCfg()" in out


def test_dry_run_conv_input_builds_the_hop_into_the_offset(conv_net, tmp_path, capsys):
    """A conv (3-D) input goes through PyToN3ConvAdapter, whose one-step hop is built
    into the network's reset_offset (lava-dl test_hdf5_nx.py, reset_offset=1)."""
    path = tmp_path / "conv.net"
    write_netx(quantize_network(conv_net, "fold"), path, 12)
    np.save(tmp_path / "x.npy", random_spikes((2, 2 * 6 * 7, 12), 0.3, seed=1))
    assert run_main([str(path), "--backend", "loihi2", "--input", str(tmp_path / "x.npy"),
                     "--dry-run", "--reset-offset", "2"]) == 0
    out = capsys.readouterr().out
    assert "PyToN3ConvAdapter(shape=(7, 6, 2))" in out
    assert "reset_interval=16, reset_offset=3" in out  # the user's 2 + the hop


def test_dry_run_runs_the_design_rules_first(dense_net, fold_file, tmp_path, capsys):
    net, x = fold_file
    assert run_main([net, "--backend", "loihi2", "--input", x, "--dry-run",
                     "--reset-interval", "24"]) == 1
    assert "reset_interval" in capsys.readouterr().err
    vector = tmp_path / "vector.net"  # per-neuron thresholds: the chip holds one
    write_netx(quantize_network(dense_net, "vector"), vector, 16)
    assert run_main([str(vector), "--backend", "loihi2", "--input", x, "--dry-run"]) == 1
    err = capsys.readouterr().err
    assert "threshold" in err and "Traceback" not in err


def test_network_too_big_for_the_board_fails_before_submitting(fold_file, tmp_path, capsys):
    net, x = fold_file
    config = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())
    config["limits"]["cores_per_chip"]["value"] = 1
    tiny = tmp_path / "tiny-board.json"
    tiny.write_text(json.dumps(config))
    assert run_main([net, "--backend", "loihi2", "--hw-config", str(tiny), "--input", x,
                     "--dry-run"]) == 1
    assert "chips" in capsys.readouterr().err


def test_board_options_belong_to_the_board(fold_file, capsys):
    net, x = fold_file
    with pytest.raises(SystemExit) as stop:
        run_main([net, "--input", x, "--dry-run"])
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        run_main([net, "--backend", "loihi2", "--input", x, "--stream", "per-sample"])
    assert "stream layout" in capsys.readouterr().err
    for extra in (["--rehearse"], ["--chunk-samples", "2"]):
        with pytest.raises(SystemExit):
            run_main([net, "--input", x, *extra])
    with pytest.raises(SystemExit):
        run_main([net, "--backend", "loihi2", "--input", x, "--rehearse", "--dry-run"])
    assert "choose one" in capsys.readouterr().err

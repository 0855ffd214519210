"""Host selection for the board (rouser_lava.backends.board_host) against a stub `sinfo`
on PATH that prints a realistic table: the environment Intel's public code sets, Lava's
broken sinfo parser (lava#753) never called, every failure one line naming the
partition. Needs neither lava-loihi nor SLURM."""

import os
import stat

import pytest

from rouser_lava.backends.board_host import parse_sinfo, select_host
from rouser_lava.deploy.hw_config import load_hw_config
from rouser_lava.errors import UserError

# sinfo's default table: a header, the default partition marked '*', a partition with
# every node allocated, a down partition, and the trailing newline
TABLE = """PARTITION   AVAIL  TIMELIMIT  NODES  STATE NODELIST
oheogulch*     up   infinite      2   idle ncl-ext-og-[01-02]
kp             up   infinite      1  alloc ncl-ext-kp-01
kp_stack     down   infinite      1  down* ncl-ext-kps-01
"""


def stub(folder, body: str) -> None:
    path = folder / "sinfo"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.fixture
def sinfo(tmp_path, monkeypatch):
    """A stub `sinfo` first on PATH; Lava's parser fails the test if it is called."""
    (tmp_path / "TABLE").write_text(TABLE)
    stub(tmp_path, f"cat {tmp_path / 'TABLE'}")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    from lava.utils import slurm

    def broken(*args, **kwargs):
        raise AssertionError("Lava's sinfo parser was called")

    monkeypatch.setattr(slurm, "get_partitions", broken)
    monkeypatch.setattr(slurm, "get_boards", broken)
    return tmp_path


def test_the_stub_breaks_lavas_own_parser(tmp_path, monkeypatch):
    """Why Lava's parser is avoided: on this table it raises IndexError (lava#753)."""
    (tmp_path / "TABLE").write_text(TABLE)
    stub(tmp_path, f"cat {tmp_path / 'TABLE'}")
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    from lava.utils import slurm

    with pytest.raises(IndexError):
        slurm.get_partition_info("oheogulch")


def test_parse_reads_default_marker_and_skips_blank_lines():
    rows = parse_sinfo(TABLE + "\n")
    assert [(r.name, r.available, r.state, r.default) for r in rows] == [
        ("oheogulch", "up", "idle", True), ("kp", "up", "alloc", False),
        ("kp_stack", "down", "down*", False)]


@pytest.mark.parametrize("config, partition, gen", [("loihi2-oheogulch", "oheogulch", "N3B3"),
                                                    ("loihi2-kapohopoint", "kp", "N3B3")])
def test_sets_the_environment_from_the_config(sinfo, config, partition, gen, caplog):
    hw = load_hw_config(config)
    env = {"NOSLURM": "1"}
    choice = select_host(hw.partition, hw.loihi_gen, hw.board, env=env)
    assert env == {"SLURM": "1", "PARTITION": partition, "LOIHI_GEN": gen}
    assert choice.from_user == ()
    assert ("every board is allocated" in caplog.text) == (partition == "kp")


def test_the_users_environment_wins(sinfo):
    env = {"PARTITION": "kp", "LOIHI_GEN": "N3C1", "SLURM": "1"}
    choice = select_host("oheogulch", "N3B3", env=env)
    assert env == {"SLURM": "1", "PARTITION": "kp", "LOIHI_GEN": "N3C1"}
    assert choice.from_user == ("PARTITION", "LOIHI_GEN")
    assert "kept from the environment: PARTITION, LOIHI_GEN" in choice.describe()


def one_line_error(**kwargs) -> str:
    with pytest.raises(UserError) as err:
        select_host(env={}, **kwargs)
    text = str(err.value)
    assert "\n" not in text
    return text


def test_failures_are_one_line_naming_the_partition(sinfo, tmp_path, monkeypatch):
    text = one_line_error(partition="kp_stack", loihi_gen="N3B3")
    assert "partition 'kp_stack': down" in text and "sinfo" in text
    text = one_line_error(partition="loihi", loihi_gen="N3B3")
    assert "'loihi': not listed" in text and "kp, kp_stack, oheogulch" in text
    text = one_line_error(partition="oheogulch", loihi_gen="N2A2")
    assert "'oheogulch'" in text and "N3B3" in text
    stub(sinfo, "echo 'slurm_load_partitions: Unable to contact slurm controller' >&2; "
                "exit 1")
    text = one_line_error(partition="oheogulch", loihi_gen="N3B3")
    assert "'oheogulch'" in text and "Unable to contact" in text and "PATH" in text
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    text = one_line_error(partition="oheogulch", loihi_gen="N3B3")
    assert "'oheogulch': no `sinfo` on PATH" in text and "/nfs/ncl/bin" in text


def test_chip_generation_is_a_config_value(tmp_path):
    import json

    from rouser_lava.deploy.hw_config import CONFIG_DIR

    config = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())
    config["loihi_gen"] = "N3C1"
    (tmp_path / "c1.json").write_text(json.dumps(config))
    assert load_hw_config(str(tmp_path / "c1.json")).loihi_gen == "N3C1"
    config["loihi_gen"] = "N3X9"
    (tmp_path / "bad.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match="loihi_gen"):
        load_hw_config(str(tmp_path / "bad.json"))

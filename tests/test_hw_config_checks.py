"""Issue 23: a hardware config (``--hw-config my.json``) is checked against a stated
range, with its unit, for every number before it is used: a limit of 0 bits, a tiny or
infinite synapse cost, absurd widths and a timeout of 0 s end in one line naming the
file and the field, in every command that reads a config."""

from __future__ import annotations

import json
import math

import pytest

from rouser_lava.cli import export_main, map_main, run_main
from rouser_lava.deploy.hw_config import CONFIG_DIR, RANGES, load_hw_config
from rouser_lava.errors import UserError

from .conftest import error_line

# the cases: field, value, what the line says
CASES = [
    ("limits.state_bits", 0, "expected 2 .. 24 (bits, signed"),
    ("limits.bias_bits", 0, "expected 2 .. 13 (bits, signed"),
    ("limits.conv_synapses_per_unit", 1e-300, "expected 0.01 .. 1024 (channels per SynMem"),
    ("limits.dense_neuron_units", math.inf, "value Infinity: expected 0.01 .. 1024"),
    ("limits.weight_bits", 1000, "expected 1 .. 8 (bits"),
    ("limits.state_bits", 10 ** 6, "expected 2 .. 24"),
    ("limits.delay_max", 10 ** 6, "expected 0 .. 62 (steps"),
    ("run.timeout_s", 0, "expected 1 .. 604800 (seconds"),
    ("chips", 0, "expected 1 .. 65536 (chips"),
    ("limits.conv_units_per_row", math.nan, "value NaN"),
]


def _config(tmp_path, field: str, value, base: str = "loihi2-oheogulch") -> str:
    data = json.loads((CONFIG_DIR / f"{base}.json").read_text())
    where = data
    *sections, key = field.split(".")
    for section in sections:
        where = where[section]
    where[key]["value"] = value
    path = tmp_path / "my.json"
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize("field, value, expected", CASES)
def test_out_of_range_numbers_name_file_field_and_unit(tmp_path, field, value, expected):
    path = _config(tmp_path, field, value)
    with pytest.raises(UserError) as err:
        load_hw_config(path)
    assert str(err.value).startswith(f"{path}: field '{field}': value ")
    assert expected in str(err.value)


def test_every_command_that_reads_a_config_ends_in_one_line(tmp_path, model_file, capsys):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    capsys.readouterr()
    for field in ("limits.state_bits", "limits.bias_bits"):
        config = _config(tmp_path, field, 0)
        for main, argv in ((map_main, [str(net)]),
                           (export_main, [str(model_file), str(tmp_path / "o.net")]),
                           (run_main, [str(net), "--backend", "loihi2", "--dry-run"])):
            assert main([*argv, "--hw-config", config]) == 1
            assert f"field '{field}': value 0" in error_line(capsys)
    assert not (tmp_path / "o.net").exists()


def test_bundled_configs_lie_inside_the_ranges(tmp_path):
    for path in CONFIG_DIR.glob("*.json"):
        load_hw_config(str(path))
    for field, (low, high, _) in RANGES.items():  # the ends themselves are accepted
        for value in (low, high):
            load_hw_config(_config(tmp_path, field, value))
    sim = _config(tmp_path, "limits.state_bits", 25, base="lava-cpu-sim")
    with pytest.raises(UserError, match="limits.state_bits': value 25"):
        load_hw_config(sim)

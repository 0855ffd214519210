"""The public Python API: cheap to import, every name resolves, the README's
"Use from Python" example (examples/own_module.py, included verbatim) runs, and so does
the README's silent-output diagnosis (examples/digits_silent_output.py)."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import rouser_lava as rl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_module.py"
SILENT = ROOT / "examples" / "digits_silent_output.py"


def test_import_is_cheap():
    code = ("import sys, rouser_lava; heavy = [m for m in ('torch', 'lava', 'numba', 'h5py') "
            "if m in sys.modules]; print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    assert out == "", f"importing rouser_lava imported {out}"


def test_every_api_name_resolves():
    for name in rl.__all__:
        assert getattr(rl, name) is not None, name
    with pytest.raises(AttributeError):
        rl.no_such_name  # noqa: B018


def test_readme_includes_the_example_verbatim():
    readme = (ROOT / "README.md").read_text()
    assert f"```python\n{EXAMPLE.read_text()}```" in readme


@pytest.mark.slow
def test_readme_example_trains_exports_and_emulates(capsys):
    result = runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert result["accuracy"] >= 0.6, capsys.readouterr().out
    assert result["agreement"] >= 0.9
    assert "deployed accuracy" in capsys.readouterr().out


@pytest.mark.slow
def test_silent_output_example_starts_far_above_its_targets_on_the_datasets_split():
    out = subprocess.run([sys.executable, str(SILENT), "--epochs", "0"], capture_output=True,
                         text=True, check=True, cwd=ROOT).stdout
    assert "'source': 'carved'" in out and "'size': 142" in out, out
    spikes = float(re.search(r"at init: .*output spikes/sample ([0-9.]+)", out).group(1))
    assert spikes > 100, out  # the loss's target is 15 per sample: the diagnosis's premise


def test_from_blocks_shares_parameters_and_checks_the_chain():
    cfg = rl.NeuronConfig()
    a, b = rl.Dense(rl.dense_spec(8, 6), cfg), rl.Dense(rl.dense_spec(6, 3), cfg)
    net = rl.RouserNet.from_blocks((8,), [a, b])
    assert net.blocks[0] is a and net.arch == [a.spec, b.spec]
    assert net.neuron_config == cfg
    with pytest.raises(ValueError, match="block 1"):
        rl.RouserNet.from_blocks((8,), [a, rl.Dense(rl.dense_spec(5, 3), cfg)])
    with pytest.raises(ValueError, match="one NeuronConfig"):
        rl.RouserNet.from_blocks((8,), [a, rl.Dense(rl.dense_spec(6, 3),
                                                     rl.NeuronConfig(threshold=1.0))])
    conv = rl.Conv(rl.conv_spec(2, 4, 3), cfg)
    with pytest.raises(ValueError, match="block 0"):
        rl.RouserNet.from_blocks((8,), [conv])

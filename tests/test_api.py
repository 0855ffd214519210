"""The public Python API: cheap to import, every name resolves and has a page in the API
reference, and the "Use from Python" guide's example (examples/own_module.py, which the
page includes at every build) runs."""

import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

import rouser_lava as rl

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "own_module.py"


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


def test_the_python_guide_includes_the_example():
    """The page includes the file itself (pymdownx.snippets, check_paths: a missing file
    fails the build), so what it shows is what the test runs."""
    guide = (ROOT / "docs" / "guides" / "python.md").read_text()
    assert '```python\n--8<-- "examples/own_module.py"\n```' in guide


def test_every_api_name_has_a_reference_entry():
    pages = "".join(p.read_text() for p in (ROOT / "docs" / "reference" / "api").glob("*.md"))
    for name in rl.__all__:
        assert re.search(rf"^::: rouser_lava\.[\w.]+\.{name}$", pages, re.M), name


@pytest.mark.slow
def test_the_example_trains_exports_and_emulates(capsys):
    result = runpy.run_path(str(EXAMPLE), run_name="__main__")
    assert result["accuracy"] >= 0.6, capsys.readouterr().out
    assert result["agreement"] >= 0.9
    assert "deployed accuracy" in capsys.readouterr().out


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

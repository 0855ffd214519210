"""The runnable examples the guides link, other than examples/own_module.py (run by
tests/test_api.py): each runs as it stands and shows what its guide says it shows."""

import re
import runpy
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_digits_silent_output_shows_the_silent_output_layer(monkeypatch, capsys):
    """docs/guides/experiments.md: at Th_init 0.25 the output layer starts far above the
    loss's targets (15 spikes per sample in all), is silent within the first epoch, while
    a linear probe still reads the classes from the hidden layer."""
    monkeypatch.setattr(sys, "argv", ["digits_silent_output.py", "--epochs", "1"])
    runpy.run_path(str(ROOT / "examples" / "digits_silent_output.py"), run_name="__main__")
    out = capsys.readouterr().out
    found = re.findall(r"^(at init|after epoch 1): probe ([\d.]+) %, output spikes/sample "
                       r"([\d.]+)", out, re.M)
    rows = {name: (float(probe), float(spikes)) for name, probe, spikes in found}
    assert set(rows) == {"at init", "after epoch 1"}, out
    assert rows["at init"][1] > 100 and rows["after epoch 1"][1] < 1, out
    assert rows["at init"][0] > 80 and rows["after epoch 1"][0] > 80, out

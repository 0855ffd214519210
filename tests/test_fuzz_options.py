"""Issue 23's property for the command line's numeric options: any generated value
either runs to a valid output or ends in one line naming the option (or the file it
concerns), with no traceback, in bounded time (see ``fuzz_common``)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rouser_lava.cli import map_main, run_main, train_main

from .fuzz_common import FUZZ, run_case, valid_inputs

# what a user might type where a number goes
VALUES = st.one_of(
    st.integers(-(2 ** 70), 2 ** 70).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", "0", "-1", "1", "2", "3", "8", "9", "16", "64", "1e-9", "0.5",
                     "2**40", "1099511627776", "nan", "inf", "-inf", "1,,2", "128,", ",64",
                     "9" * 30, "1e308", " 4", "0x10", "1_000"]),
    st.text("0123456789.,-e", max_size=8),
)
RUN_OPTIONS = ("--limit", "--reset-interval", "--reset-offset", "--timeout", "--workers",
               "--steps", "--chunk-samples", "--input-shape", "--state-steps")
TRAIN_OPTIONS = ("--epochs", "--batch-size", "--lr", "--lr-threshold", "--threshold-init",
                 "--hidden", "--seed", "--time-steps", "--bin-ms", "--downsample",
                 "--current-decay", "--voltage-decay")
MAP_OPTIONS = ("--limit", "--reset-interval")


@pytest.fixture(scope="module")
def files(model_file, tmp_path_factory):
    return valid_inputs(model_file, tmp_path_factory.mktemp("fuzz-options"), seed=1)


def _extra(option: str) -> list[str]:
    """What an option needs beside it to be meaningful."""
    if option in ("--reset-interval", "--reset-offset"):
        return ["--stream", "reset-interval"]
    if option == "--state-steps":
        return ["--dump-state"]  # its file name follows
    return []


@FUZZ
@given(option=st.sampled_from(RUN_OPTIONS), value=VALUES)
def test_fuzz_run_options(files, capsys, option, value):
    with tempfile.TemporaryDirectory() as work:
        out, state = Path(work) / "r.json", Path(work) / "s.npz"
        extra = [*_extra(option), state] if option == "--state-steps" else _extra(option)
        argv = [files["net"], "--input", files["x"], "--json", out, *extra, option, value]
        if run_case(run_main, argv, capsys, [files["net"], files["x"]],
                    [option, files["net"]]) == 0:
            assert 1 <= len(json.loads(out.read_text())["predictions"]) <= 3  # --limit


@FUZZ
@given(option=st.sampled_from(MAP_OPTIONS), value=VALUES)
def test_fuzz_map_options(files, capsys, option, value):
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "m.json"
        code = run_case(map_main, [files["net"], "--json", out, option, value], capsys,
                        [files["net"]], [option], ok=(0, 3))
        if code in (0, 3):
            assert json.loads(out.read_text())["fits"] == (code == 0)


@FUZZ
@given(option=st.sampled_from(TRAIN_OPTIONS), value=VALUES)
def test_fuzz_train_options(capsys, option, value):
    """The settings are checked before any file is opened: a valid value gets as far as
    ``--out``, in a folder that does not exist (no training starts)."""
    with tempfile.TemporaryDirectory() as work:
        out = Path(work) / "missing" / "m.pt"
        run_case(train_main, [option, value, "--out", out, "--quiet"], capsys, [],
                 [option, out], ok=())

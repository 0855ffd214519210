"""What every Hypothesis fuzz test of issue 23 asserts about one generated case, and
the budget: ``ROUSER_FUZZ_EXAMPLES`` examples per test (default 20, a fixed seed, so
``make test`` stays short and repeatable); set it higher for a longer, randomised local
run, e.g. ``ROUSER_FUZZ_EXAMPLES=500 pytest tests/test_fuzz_*.py``."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from rouser_lava.cli import export_main

EXAMPLES = int(os.environ.get("ROUSER_FUZZ_EXAMPLES", "20"))
CASE_SECONDS = 20.0  # one command on one generated input
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize="ROUSER_FUZZ_EXAMPLES"
                not in os.environ, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow, HealthCheck.filter_too_much])

# values a hand-edited or foreign file can hold where a number is expected
ODD = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2 ** 70), max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 2, 7, 2 ** 31, 2 ** 63 - 1, 10 ** 9, 1e-300, 1e-9, 1e30,
                     -1e30, 0.5, 1.5]),
    st.text(max_size=6),
    st.lists(st.integers(-5, 5), max_size=4),
    st.dictionaries(st.text(max_size=3), st.integers(-3, 3), max_size=2),
)


def digest(paths) -> dict:
    """sha256 of each file (the inputs a command must leave unchanged)."""
    return {str(p): hashlib.sha256(Path(p).read_bytes()).hexdigest() for p in paths}


def run_case(main, argv, capsys, inputs, names, ok=(0,)) -> int:
    """Run ``main(argv)`` in this process and check the outcome: an exit status in
    ``ok`` (the caller then checks the output), or 1 or 2 with exactly one error line
    naming one of ``names`` (a file or an option); never a traceback (an exception
    other than argparse's SystemExit fails the test); the ``inputs`` unchanged; within
    :data:`CASE_SECONDS`. Returns the exit status."""
    capsys.readouterr()
    before = digest(inputs)
    start = time.monotonic()
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse: usage line and one error line
        code = exit_.code
    elapsed = time.monotonic() - start
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert elapsed < CASE_SECONDS, f"{elapsed:.1f} s"
    assert digest(inputs) == before, "an input file changed"
    if code not in ok:
        assert code in (1, 2), (code, err)
        lines = [line for line in err.splitlines() if "error:" in line]
        assert len(lines) == 1, err
        assert any(str(n) in lines[0] for n in names), (lines[0], names)
    return code


def valid_inputs(model_file: Path, root: Path, seed: int) -> dict[str, Path]:
    """The valid files every fuzz case starts from, written under ``root``: the model,
    its netx export and 3 samples of uint8 spikes ``(3, 64, 8)`` drawn with ``seed``."""
    net = root / "n.net"
    assert export_main([str(model_file), str(net)]) == 0
    np.save(root / "x.npy", np.random.default_rng(seed).integers(0, 2, (3, 64, 8), np.uint8))
    return {"model": model_file, "net": net, "x": root / "x.npy"}

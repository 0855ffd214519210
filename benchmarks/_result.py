"""One comparison's figures as a machine-readable line, for ``benchmarks/run_all.py``.

Every benchmark prints, beside its own report, one ``RESULT {json}`` line per
comparison: the two figures measured in the same run, their unit and the speed-up of
the first over the second (``ratio`` > 1: ``ours`` is faster). ``run_all.py`` collects
these lines into ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import json

TIME_UNITS = ("ms/step", "s/epoch", "s")  # lower is better; any other unit is a rate


def report(comparison: str, ours: tuple[str, float], reference: tuple[str, float],
           unit: str, target: str = "") -> None:
    """Print the ``RESULT`` line of one comparison.

    Parameters
    ----------
    comparison : str
        What is compared, with the settings that matter (sizes, steps, batch, threads).
    ours, reference : (str, float)
        Label and figure of each side, both in ``unit``.
    unit : str
        A time (``TIME_UNITS``: the ratio is ``reference / ours``) or a rate such as
        ``samples/s`` (the ratio is ``ours / reference``).
    target : str
        The speed-up asked for, as text (``">= 3"``), or empty.
    """
    ratio = reference[1] / ours[1] if unit in TIME_UNITS else ours[1] / reference[1]
    print("RESULT " + json.dumps({
        "comparison": comparison, "ours": list(ours), "reference": list(reference),
        "unit": unit, "ratio": round(ratio, 3), "target": target}), flush=True)

"""``rouser-compare --fail-on``: limits on what deployment may change, for users and CI.

Each gate is ``NAME=LIMIT``:

- ``accuracy-drop=PP``: the deployed network's accuracy (emulator, whole test set) may
  be at most ``PP`` percentage points below the trained model's;
- ``spike-change=PCT``: no layer's total spike count may change by more than ``PCT``
  percent between the trained model and the deployed network;
- ``agreement=PCT``: trained and deployed predictions must agree on at least ``PCT``
  percent of the samples.
"""

from __future__ import annotations

import argparse
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # rouser-compare parses --fail-on before it loads the comparison
    from .compare import Comparison

GATES = ("accuracy-drop", "spike-change", "agreement")
PERCENTS = ("accuracy-drop", "agreement")  # at most 100 (a spike count may change more)


def parse_gate(text: str) -> tuple[str, float]:
    """``accuracy-drop=1`` -> ``("accuracy-drop", 1.0)`` (an argparse type)."""
    name, _, value = text.partition("=")
    try:
        limit = float(value)
    except ValueError:
        limit = math.nan
    if name not in GATES or not math.isfinite(limit) or limit < 0:
        raise argparse.ArgumentTypeError(
            f"expected NAME=LIMIT with NAME one of {', '.join(GATES)} and LIMIT >= 0, "
            f"got '{text}'")
    if name in PERCENTS and limit > 100:
        raise argparse.ArgumentTypeError(
            f"{name} is a share of the samples or of the accuracy, 0 .. 100; got '{text}'")
    return name, limit


def failed_gates(c: Comparison, gates: list[tuple[str, float]]) -> list[str]:
    """The figures of ``c`` that break ``gates``, one phrase each (empty if none)."""
    failures = []
    for name, limit in gates:
        if name == "accuracy-drop" and c.trained.accuracy is not None:
            assert c.deployed.accuracy is not None  # the same labels as the trained run
            drop = 100 * (c.trained.accuracy - c.deployed.accuracy)
            if drop > limit:
                failures.append(f"accuracy dropped {drop:.2f} pp "
                                f"({100 * c.trained.accuracy:.2f} % -> "
                                f"{100 * c.deployed.accuracy:.2f} %; limit {limit:g} pp)")
        elif name == "spike-change":
            for la in c.layers:
                change = 100 * abs(la.relative_delta) if la.trained_spikes else \
                    (math.inf if la.deployed_spikes else 0.0)
                if change > limit:
                    failures.append(f"{la.name} spikes changed {la.trained_spikes} -> "
                                    f"{la.deployed_spikes} ({change:.1f} %; limit {limit:g} %)")
        elif name == "agreement" and 100 * c.agreement < limit:
            failures.append(f"prediction agreement {100 * c.agreement:.2f} % "
                            f"(limit {limit:g} %)")
    return failures

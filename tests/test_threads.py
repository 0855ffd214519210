"""Thread pools sized once by ``import rouser_lava``, before torch and numba load."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rouser_lava._threads import cores

pytestmark = pytest.mark.slow  # each probe starts a Python that imports torch and numba

PROBE = ("import json, os, rouser_lava, numba, torch; print(json.dumps({"
         "'torch': torch.get_num_threads(), 'numba': numba.config.NUMBA_NUM_THREADS, "
         "'wait': os.environ['OMP_WAIT_POLICY']}))")
ROOT = Path(__file__).resolve().parents[1]  # "python -c" imports this checkout's package
VARS = ("OMP_NUM_THREADS", "NUMBA_NUM_THREADS", "OMP_WAIT_POLICY", "MKL_NUM_THREADS")


def _pools(**env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in VARS}
    out = subprocess.run([sys.executable, "-c", PROBE], env={**clean, **env}, cwd=ROOT,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.splitlines()[-1])


def test_pools_follow_the_affinity_or_the_users_count():
    n = cores()
    assert n == len(os.sched_getaffinity(0))
    assert _pools() == {"torch": n, "numba": n, "wait": "PASSIVE"}
    assert _pools(OMP_NUM_THREADS="1") == {"torch": 1, "numba": 1, "wait": "PASSIVE"}
    assert _pools(NUMBA_NUM_THREADS="1", OMP_WAIT_POLICY="ACTIVE") == {
        "torch": 1, "numba": 1, "wait": "ACTIVE"}

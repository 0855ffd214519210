"""A random dense CUBA netx network for the benchmarks (written with h5py)."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np


def write_dense_network(path: Path, sizes: tuple[int, ...], mean: float, std: float,
                        seed: int = 0) -> None:
    """Dense layers ``sizes[0] -> ... -> sizes[-1]``; even 8-bit weights drawn from
    N(``mean``, ``std``); Rouser's decays (iDecay 1024, vDecay 123), vThMant 640."""
    rng = np.random.default_rng(seed)
    with h5py.File(path, "w") as f:
        f.create_group("layer/0").create_dataset("type", (1,), "S10", [b"input"])
        f["layer/0"].create_dataset("shape", data=np.array([sizes[0]]))
        for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            g = f.create_group(f"layer/{i}")
            g.create_dataset("type", (1,), "S10", [b"dense"])
            g.create_dataset("shape", data=np.array([n_out]))
            g.create_dataset("inFeatures", data=n_in)
            g.create_dataset("outFeatures", data=n_out)
            w = np.clip(rng.normal(mean, std, (n_out, n_in)), -256, 254).astype(int) // 2 * 2
            g.create_dataset("weight", data=w)
            n = g.create_group("neuron")
            n.create_dataset("type", (1,), "S10", [b"CUBA"])
            for key, value in (("iDecay", 1024), ("vDecay", 123), ("vThMant", 80 * 8),
                               ("refDelay", 1), ("gradedSpike", False)):
                n.create_dataset(key, data=value)

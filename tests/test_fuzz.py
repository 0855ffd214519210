"""Seeded corruptions of a valid netx file and a valid model.pt: every command either
runs or exits 1 with one line (never a traceback), within a time bound, and the
emulator gives the same spikes on every run of the same input."""

from __future__ import annotations

import shutil
import time

import h5py
import numpy as np
import pytest
import torch

from rouser_lava.cli import export_main, run_main

from .conftest import error_line
from .netx_random import write_random_netx

CASE_SECONDS = 20  # bound per case (the first emulator call compiles its kernels)
NETX_CASES = 36
MODEL_CASES = 24


def _datasets(f: h5py.File) -> list[str]:
    names = []
    f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset)
                 else None)
    return sorted(names)


def _replace(f: h5py.File, name: str, value) -> None:
    del f[name]
    f.create_dataset(name, data=value)


def corrupt_netx(path, seed: int) -> str:
    """Apply one seeded corruption to the netx file at ``path``; returns its name."""
    rng = np.random.default_rng(seed)
    kind = ["delete", "reshape", "nan", "inf", "huge", "negative", "string", "truncate",
            "gap", "type"][seed % 10]
    if kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * rng.uniform(0.05, 0.95))])
        return kind
    with h5py.File(path, "a") as f:
        names = _datasets(f)
        name = names[int(rng.integers(len(names)))]
        value = np.asarray(f[name][()])
        if kind == "delete":
            del f[name]
        elif kind == "reshape":
            _replace(f, name, np.zeros((*value.shape[:-1], value.shape[-1] + 1)
                                       if value.ndim else (2, 2), dtype=np.int64))
        elif kind in ("nan", "inf"):
            _replace(f, name, np.full(value.shape, np.nan if kind == "nan" else np.inf))
        elif kind in ("huge", "negative"):
            _replace(f, name, np.full(value.shape, 2 ** 60 if kind == "huge" else -5,
                                      dtype=np.int64))
        elif kind == "string":
            _replace(f, name, np.bytes_("x" * 3))
        elif kind == "gap":
            last = str(len(f["layer"]) - 1)
            f["layer"].move(last, str(len(f["layer"]) + 1))
        else:
            types = [n for n in names if n.endswith("type")]
            _replace(f, types[int(rng.integers(len(types)))], np.array([b"bogus"]))
    return f"{kind} {name}" if kind not in ("gap",) else kind


def _check_outcome(code: int, capsys, started: float, what: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err, what
    assert code in (0, 1), (what, code, err)
    if code == 1:
        assert len([line for line in err.splitlines() if "error:" in line]) == 1, (what, err)
    assert time.perf_counter() - started < CASE_SECONDS, what


def test_corrupted_netx_files_fail_in_one_line_or_run_the_same_every_time(tmp_path, capsys):
    good = tmp_path / "good.net"
    input_shape, info = write_random_netx(str(good), seed=30)
    assert {"conv", "flatten", "dense_rec", "dense"} <= set(info["kinds"])
    x = (np.random.default_rng(0).random((3, int(np.prod(input_shape)), 12)) < 0.3)
    np.save(tmp_path / "x.npy", x.astype(np.uint8))
    outcomes = {0: 0, 1: 0}
    for seed in range(NETX_CASES):
        bad = tmp_path / f"bad{seed}.net"
        shutil.copy(good, bad)
        what = corrupt_netx(bad, seed)
        runs = []
        for k in range(2):
            started = time.perf_counter()
            dump = tmp_path / f"s{seed}_{k}.npz"
            code = run_main([str(bad), "--input", str(tmp_path / "x.npy"),
                             "--dump-spikes", str(dump)])
            _check_outcome(code, capsys, started, what)
            outcomes[code] += 1
            if code == 0:
                with np.load(dump) as z:
                    runs.append({key: z[key] for key in z.files})
        if runs:
            assert all(np.array_equal(runs[0][k], runs[1][k]) for k in runs[0]), what
    assert outcomes[1] >= NETX_CASES, outcomes  # most corruptions are caught


def corrupt_model(path, seed: int) -> str:
    """Apply one seeded corruption to the model file at ``path``; returns its name."""
    rng = np.random.default_rng(seed)
    kind = ["drop-key", "drop-tensor", "reshape", "nan", "inf", "huge-arch", "bad-kind",
            "bad-shape", "truncate", "string", "version", "zero-threshold"][seed % 12]
    if kind == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[:int(len(data) * rng.uniform(0.05, 0.95))])
        return kind
    record = torch.load(path, weights_only=True)
    keys = sorted(record["state_dict"])
    key = keys[int(rng.integers(len(keys)))]
    sd = record["state_dict"]
    if kind == "drop-key":
        del record[["arch", "neuron", "state_dict", "input_shape"][seed % 4]]
    elif kind == "drop-tensor":
        del sd[key]
    elif kind == "reshape":
        sd[key] = torch.zeros(3, 5)
    elif kind in ("nan", "inf"):
        sd[key] = sd[key].clone().fill_(float("nan") if kind == "nan" else float("inf"))
    elif kind == "huge-arch":
        record["arch"][0]["out_features"] = 10 ** 7
        record["arch"][0]["in_features"] = 10 ** 7
    elif kind == "bad-kind":
        record["arch"][0]["kind"] = "lstm"
    elif kind == "bad-shape":
        record["input_shape"] = "sixty-four"
    elif kind == "string":
        record["neuron"]["threshold"] = "high"
    elif kind == "version":
        record["version"] = 99
    else:
        sd[[k for k in keys if k.endswith("threshold")][0]].zero_()
    torch.save(record, path)
    return f"{kind} {key}"


def test_corrupted_model_files_fail_in_one_line(model_file, tmp_path, capsys):
    for seed in range(MODEL_CASES):
        bad = tmp_path / f"bad{seed}.pt"
        shutil.copy(model_file, bad)
        what = corrupt_model(bad, seed)
        before = bad.read_bytes()
        for argv in ([str(bad), str(tmp_path / f"n{seed}.net")],
                     [str(bad), "--backend", "torch", "--limit", "4"]):
            started = time.perf_counter()
            code = (export_main if argv[1].endswith(".net") else run_main)(argv)
            _check_outcome(code, capsys, started, what)
            assert code == 1 or "threshold" not in what, what
        assert bad.read_bytes() == before, what  # input never modified


@pytest.mark.parametrize("field,value,message", [
    ("layer/1/neuron/vThMant", np.nan, "vThMant [nan]: must be finite"),
    ("layer/1/neuron/vThMant", 2 ** 60, "above the allowed range 0..131071"),
    ("layer/1/neuron/iDecay", 5000, "iDecay 5000: above the allowed range 0..4096"),
    ("layer/1/neuron/vDecay", -100, "vDecay -100: below the allowed range 0..4096"),
    ("layer/2/weight", np.zeros((10, 100)), "weight of shape (10, 100): expected (10, 32)"),
    ("layer/2/weight", np.zeros((10, 32)), "weight all zero: netx cannot scale"),
])
def test_validator_names_layer_field_value_and_range(model_file, tmp_path, capsys, field,
                                                     value, message):
    net = tmp_path / "n.net"
    assert export_main([str(model_file), str(net), "--threshold-form", "vector"]) == 0
    with h5py.File(net, "a") as f:
        _replace(f, field, value)
    capsys.readouterr()
    for backend in ("emulator", "lava"):
        started = time.perf_counter()
        assert run_main([str(net), "--backend", backend, "--limit", "2"]) == 1
        line = error_line(capsys)
        assert str(net) in line and f"layer/{field.split('/')[1]}" in line, line
        assert message in line, line
        assert time.perf_counter() - started < CASE_SECONDS  # Lava hung on a NaN vThMant

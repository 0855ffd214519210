"""Issue 23's property: for every file kind a user hands us (a hardware config, a NIR
graph, a netx file, a model file, an ``.npy`` input, an SHD file), any generated
corruption either runs to a valid output or ends in one line naming the file, with no
traceback, the input unchanged, in bounded time (see ``fuzz_common``)."""

from __future__ import annotations

import copy
import json
import tempfile
from pathlib import Path

import h5py
import nir
import numpy as np
import pytest
import torch
from hypothesis import given, reject
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from rouser_lava.cli import data_main, export_main, import_main, map_main, run_main
from rouser_lava.deploy.hw_config import CONFIG_DIR
from rouser_lava.interop.nir_export import nir_graph
from rouser_lava.model.modelfile import load_model
from rouser_lava.netx.check import check_netx

from .event_files import write_dvs_original, write_nmnist_folder, write_shd_folder
from .fuzz_common import FUZZ, ODD, run_case, valid_inputs

DTYPES = st.sampled_from(["u1", "i1", "i8", "f4", "f8", "?", "S3"])
ARRAYS = hnp.arrays(DTYPES, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
                    elements=None)


@pytest.fixture(scope="module")
def files(model_file, tmp_path_factory):
    """The valid inputs every case starts from: model.pt, its netx file, spikes."""
    return valid_inputs(model_file, tmp_path_factory.mktemp("fuzz"), seed=0)


def _work():
    return tempfile.TemporaryDirectory(dir=tempfile.gettempdir())


def _leaves(data, prefix=()) -> list[tuple]:
    """Paths of every value in nested dicts (a number's ``{"value", "source"}`` too)."""
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for key, value in data.items():
            out += _leaves(value, (*prefix, key))
    return out


def _set(data, path: tuple, value) -> None:
    for key in path[:-1]:
        data = data[key]
    if value is _DELETE:
        del data[path[-1]]
    else:
        data[path[-1]] = value


_DELETE = object()
CONFIG = json.loads((CONFIG_DIR / "loihi2-oheogulch.json").read_text())


@FUZZ
@given(path=st.sampled_from(_leaves(CONFIG)), value=st.one_of(ODD, st.just(_DELETE)),
       cut=st.one_of(st.none(), st.floats(0.0, 1.0)))
def test_fuzz_hw_config(files, capsys, path, value, cut):
    data = copy.deepcopy(CONFIG)
    _set(data, path, value)
    with _work() as work:
        config, out = Path(work) / "my.json", Path(work) / "map.json"
        text = json.dumps(data)
        config.write_text(text if cut is None else text[:int(len(text) * cut)])
        code = run_case(map_main, [files["net"], "--hw-config", config, "--json", out],
                        capsys, [config, files["net"]], [config], ok=(0, 3))
        if code in (0, 3):
            assert json.loads(out.read_text())["fits"] == (code == 0)


def _scaled(array, factor):
    with np.errstate(all="ignore"):
        return np.asarray(array, np.float64) * factor


@FUZZ
@given(data=st.data())
def test_fuzz_nir_graph(dense_net, capsys, data):
    graph = nir_graph(dense_net)
    names = sorted(graph.nodes) + ["metadata"]
    name = data.draw(st.sampled_from(names), "node")
    if name == "metadata":
        key = data.draw(st.sampled_from(["dt", "convention", "source", "provenance"]), "key")
        graph.metadata[key] = data.draw(ODD, "value")
    else:
        node = graph.nodes[name]
        field = data.draw(st.sampled_from(sorted(vars(node))), "field")
        old = getattr(node, field)
        value = data.draw(st.one_of(
            ODD, st.floats(allow_nan=True, allow_infinity=True).map(
                lambda f: _scaled(old, f) if isinstance(old, np.ndarray) else f),
            ARRAYS), "value")
        setattr(node, field, value)
    with _work() as work:
        path, out = Path(work) / "g.nir", Path(work) / "m.pt"
        try:
            nir.write(path, graph)
        except Exception:  # nir cannot store it: not a file a user can hand us
            reject()
        if run_case(import_main, [path, out, "--quiet"], capsys, [path], [path]) == 0:
            net, _ = load_model(out)
            assert all(torch.isfinite(p).all() for p in net.parameters())


def _netx_items(path) -> list[str]:
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return sorted(names) + ["@rouser_dataset", "@rouser_threshold_form", "@rouser_provenance"]


@FUZZ
@given(data=st.data())
def test_fuzz_netx_file(files, capsys, data):
    item = data.draw(st.sampled_from(_netx_items(files["net"])), "item")
    with _work() as work:
        net, out = Path(work) / "n.net", Path(work) / "r.json"
        net.write_bytes(files["net"].read_bytes())
        with h5py.File(net, "a") as f:
            if item.startswith("@"):
                value = data.draw(st.one_of(ODD.map(json.dumps), st.text(max_size=8),
                                            st.integers(-3, 3)), "attribute")
                f.attrs[item[1:]] = value
            else:
                old = f[item][()]
                value = data.draw(st.one_of(
                    ARRAYS, st.floats(allow_nan=True, allow_infinity=True).map(
                        lambda x: _scaled(old, x) if np.asarray(old).dtype.kind in "biuf"
                        else x),
                    st.integers(-(2 ** 62), 2 ** 62).map(lambda x: np.full_like(old, x)
                                                          if old.dtype.kind in "iu" else x),
                    st.just(None)), "value")
                del f[item]
                if value is not None:
                    f.create_dataset(item, data=value)
        code = run_case(run_main, [net, "--input", files["x"], "--json", out], capsys,
                        [net, files["x"]], [net, files["x"], "--input"])
        if code == 0:
            assert len(json.loads(out.read_text())["predictions"]) == 3


def _model_paths(record) -> list[tuple]:
    paths = [(k,) for k in record] + [("neuron", k) for k in record["neuron"]]
    paths += [("dataset", k) for k in record["dataset"]]
    paths += [("dataset", "encoding", k) for k in record["dataset"]["encoding"]]
    paths += [("arch", i, k) for i, spec in enumerate(record["arch"]) for k in spec]
    return paths + [("state_dict", k) for k in record["state_dict"]]


@FUZZ
@given(data=st.data())
def test_fuzz_model_file(files, capsys, data):
    record = torch.load(files["model"], weights_only=True)
    path = data.draw(st.sampled_from(_model_paths(record)), "field")
    if path[0] == "state_dict" and len(path) == 2:
        old = record["state_dict"][path[1]]
        value = data.draw(st.one_of(
            st.floats(allow_nan=True, allow_infinity=True).map(
                lambda f: torch.from_numpy(_scaled(old.numpy(), f)).to(old.dtype)),
            st.just(torch.zeros(3)), st.just(_DELETE)), "tensor")
    else:
        value = data.draw(st.one_of(ODD, st.just(_DELETE)), "value")
    _set(record, path, value)
    with _work() as work:
        model, out = Path(work) / "m.pt", Path(work) / "n.net"
        torch.save(record, model)
        if run_case(export_main, [model, out], capsys, [model], [model]) == 0:
            assert check_netx(str(out)).layers


NPY_SHAPES = st.one_of(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=3),
                       st.tuples(st.integers(0, 3), st.sampled_from([64, 63]),
                                 st.integers(0, 9)))


@FUZZ
@given(array=hnp.arrays(st.sampled_from(["u1", "i8", "f8", "?", "c8", "U2"]), NPY_SHAPES,
                        elements=None),
       header=st.one_of(st.none(), st.text("0123456789(), -", max_size=14)),
       cut=st.one_of(st.none(), st.integers(0, 200)))
def test_fuzz_npy_input(files, capsys, array, header, cut):
    with _work() as work:
        x, out = Path(work) / "x.npy", Path(work) / "r.json"
        np.save(x, array)
        raw = x.read_bytes()
        if header is not None:  # another shape in the header, the data unchanged
            start, end = raw.index(b"'shape': ") + 9, raw.index(b"), }") + 1
            raw = raw[:start] + f"({header})".encode() + raw[end:]
        x.write_bytes(raw if cut is None else raw[:cut])
        if run_case(run_main, [files["net"], "--input", x, "--json", out], capsys,
                    [x, files["net"]], [x, "--input"]) == 0:
            assert json.loads(out.read_text())["predictions"]


@FUZZ
@given(key=st.sampled_from(["labels", "spikes/times", "spikes/units"]),
       value=st.one_of(ARRAYS, st.just(None)))
def test_fuzz_shd_file(tmp_path_factory, capsys, key, value):
    root = tmp_path_factory.mktemp("shd")
    write_shd_folder(root, per_split=2)
    with h5py.File(root / "shd_train.h5", "a") as f:
        del f[key]
        if value is not None:
            f.create_dataset(key, data=value)
    run_case(data_main, ["info", "--dataset", "shd", "--data-root", root], capsys,
             [root / "shd_train.h5", root / "shd_test.h5"], [root])


@FUZZ
@given(kind=st.sampled_from(["nmnist", "dvs128"]), at=st.floats(0.0, 1.0),
       patch=st.binary(min_size=0, max_size=12), cut=st.booleans())
def test_fuzz_event_files(tmp_path_factory, capsys, kind, at, patch, cut):
    """Bytes of an N-MNIST ``.bin`` or a DVS128 ``.aedat`` recording overwritten or cut."""
    root = tmp_path_factory.mktemp(kind)
    if kind == "nmnist":
        write_nmnist_folder(root, per_class=1, events=20)
        target = root / "Train" / "0" / "00000.bin"
    else:
        write_dvs_original(root, {"user01_led": "train", "user02_led": "test"})
        target = root / "user01_led.aedat"
    raw = target.read_bytes()
    i = int(at * len(raw))
    target.write_bytes(raw[:i] if cut else raw[:i] + patch + raw[i + len(patch):])
    run_case(data_main, ["info", "--dataset", kind, "--data-root", root], capsys,
             sorted(p for p in root.rglob("*") if p.is_file()), [root, target])

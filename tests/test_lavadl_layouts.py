"""Every layout lava-dl's ``export_hdf5`` writes is read by the one validator and reader:
networks in PilotNet SNN's layout, built from lava-dl's blocks and written by its
exporter (and rewritten into the published file's layout), run in the emulator equal to
Lava spike for spike, with a bias input and with spikes; ``rouser-map`` maps them and
``rouser-import`` reads them. Genuinely bad shapes still get one-line errors."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import run_path
from rouser_lava.cli import map_main
from rouser_lava.errors import UserError
from rouser_lava.interop.netx_import import import_netx
from rouser_lava.netx.check import check_netx

from .conftest import random_spikes
from .lavadl_nets import INPUT_SHAPE, dense_affine, pilotnet_like, set_shape

SHAPES = [(3, 11, 13), (6, 5, 6), (8, 3, 4), (96,), (12,), (6,), (1,)]
STEPS = 12


def _bias_images(path) -> str:
    np.save(path, np.random.default_rng(0).integers(0, 60, (3, *INPUT_SHAPE[::-1])))
    return str(path)


def _spikes(path) -> str:
    np.save(path, random_spikes((3, int(np.prod(INPUT_SHAPE)), STEPS), 0.4, 1))
    return str(path)


@pytest.mark.parametrize("published", [False, True])
def test_export_layouts_check_to_the_same_summary(tmp_path, published):
    net = pilotnet_like(tmp_path / "n.net", published=published, readout=True)
    with h5py.File(net) as f:  # the layouts under test are in the file
        flatten, last = f["layer/3/shape"][()], f["layer/6/weight"].shape
    assert list(flatten) == ([1, 1, 96] if published else [96, 1, 1])
    assert last == ((6,) if published else (1, 6))
    summary = check_netx(net)
    assert [la.shape for la in summary.layers] == SHAPES
    assert [la.kind for la in summary.layers] == ["input", "conv", "conv", "flatten",
                                                 "dense", "dense", "dense"]
    assert [la.synapses for la in summary.layers] == [0, 6 * 3 * 9, 8 * 6 * 9, 0,
                                                      96 * 12, 12 * 6, 6]
    assert summary.input_shape == INPUT_SHAPE and summary.membrane_readout


def test_singleton_order_does_not_change_the_run(tmp_path):
    images = _bias_images(tmp_path / "b.npy")
    runs = []
    for i, (flat, dense) in enumerate([([96], [12]), ([1, 1, 96], [12, 1, 1]),
                                       ([1, 96, 1], [1, 1, 12]), ([96, 1], [1, 12])]):
        net = pilotnet_like(tmp_path / f"n{i}.net", seed=1)
        set_shape(net, 3, flat)
        set_shape(net, 4, dense)
        assert [la.shape for la in check_netx(net).layers] == SHAPES
        runs.append(run_path(net, RunOptions(input_bias=images, steps=STEPS,
                                             keep_spikes=True, progress=False)))
    assert all(s.sum() > 0 for s in runs[0].spikes), [int(s.sum()) for s in runs[0].spikes]
    for run in runs[1:]:
        assert all(np.array_equal(a, b) for a, b in zip(runs[0].spikes, run.spikes))


@pytest.mark.parametrize("index, field, value, message", [
    (3, "shape", [2, 48, 1], r"layer/3 \(flatten\): shape \[ 2,48, 1\]: expected \(N,\)"),
    (3, "shape", [1, 1, 95], r"layer/3 \(flatten\): shape \[ 1, 1,95\]: holds 95 neurons; "
                             r"expected 96"),
    (4, "shape", [3, 4, 1], r"layer/4 \(dense\): shape \[3,4,1\]: expected \(N,\)"),
    (4, "shape", [1, 1, 1, 12], r"layer/4 \(dense\): shape .*: expected \(N,\)"),
    (5, "weight", np.full(72, 2.0), r"layer/5 \(dense\): weight of shape \(72,\): "
                                    r"expected \(6, 12\)$"),
    (6, "weight", np.full(5, 2.0), r"layer/6 \(dense\): weight of shape \(5,\): "
                                   r"expected \(1, 6\) or \(6,\)"),
])
def test_bad_shapes_are_one_line_errors(tmp_path, index, field, value, message):
    net = pilotnet_like(tmp_path / "n.net")
    with h5py.File(net, "r+") as f:
        del f[f"layer/{index}/{field}"]
        f.create_dataset(f"layer/{index}/{field}", data=np.array(value))
    with pytest.raises(UserError, match=message) as err:
        check_netx(net)
    assert "\n" not in str(err.value)


@pytest.mark.lava
def test_pilotnet_layout_bias_input_emulator_equals_lava(tmp_path):
    net = pilotnet_like(tmp_path / "n.net", published=True, readout=True, seed=1)
    images = _bias_images(tmp_path / "b.npy")
    emu, lava = [run_path(net, RunOptions(backend=b, input_bias=images, steps=STEPS,
                                          keep_spikes=True, record_state=True,
                                          progress=False))
                 for b in ("emulator", "lava")]
    assert all(s.sum() > 0 for s in lava.spikes[:-1]), [int(s.sum()) for s in lava.spikes]
    assert np.abs(lava.v[-1]).max() > 0  # the readout integrated something
    for a, b in [(emu.spikes, lava.spikes), (emu.u, lava.u), (emu.v, lava.v)]:
        assert len(a) == len(b) == 6
        assert all(np.array_equal(x, y) for x, y in zip(a, b))


@pytest.mark.lava
def test_pilotnet_layout_spike_input_emulator_equals_lava(tmp_path):
    net = pilotnet_like(tmp_path / "n.net", published=True, seed=1, input_threshold=0.1)
    spikes = _spikes(tmp_path / "x.npy")
    emu, lava = [run_path(net, RunOptions(backend=b, input_npy=spikes, keep_spikes=True,
                                          progress=False))
                 for b in ("emulator", "lava")]
    assert all(s.sum() > 0 for s in lava.spikes), [int(s.sum()) for s in lava.spikes]
    assert len(emu.spikes) == len(lava.spikes) == 6
    assert all(np.array_equal(x, y) for x, y in zip(emu.spikes, lava.spikes))


@pytest.mark.parametrize("published", [False, True])
def test_map_reads_lavadl_exports(tmp_path, capsys, published):
    net = pilotnet_like(tmp_path / "n.net", published=published, readout=True)
    code = map_main([net])
    out = capsys.readouterr().out
    assert code in (0, 3), out
    assert "layer5 (dense)" in out and "layer1 (conv)" in out


def test_import_reads_lavadl_exports(tmp_path):
    net = pilotnet_like(tmp_path / "n.net", input_neurons=False, norm=False, published=True)
    result = import_netx(net)
    kinds = [layer["kind"] for layer in result.net.arch]
    assert kinds == ["conv", "conv", "flatten", "dense", "dense", "dense"]
    assert result.net.arch[-1]["in_features"] == 6 and result.net.arch[-1]["out_features"] == 1
    net = pilotnet_like(tmp_path / "m.net", published=True)  # a refusal for a reason
    with pytest.raises(UserError, match=r"layer0 \(input\).*input layer with neurons"):
        import_netx(net)


def test_affine_threshold_is_read_and_only_it(tmp_path):
    net = dense_affine(tmp_path / "a.net")
    summary = check_netx(net)
    assert [la.shape for la in summary.layers] == [(8,), (3,)]
    assert not summary.membrane_readout  # Affine's voltage decays
    with h5py.File(net, "r+") as f:
        f["layer/1/neuron/vThMant"][()] = (1 << 18) - 2
    with pytest.raises(UserError, match=r"layer/1 \(dense\): vThMant 262142: above the "
                                        r"allowed range 0..131071 \(or 262143"):
        check_netx(net)


@pytest.mark.lava
def test_affine_emulator_equals_lava(tmp_path):
    net = dense_affine(tmp_path / "a.net")
    spikes = str(tmp_path / "x.npy")
    np.save(spikes, random_spikes((3, 10, 20), 0.5, 2))
    emu, lava = [run_path(net, RunOptions(backend=b, input_npy=spikes, keep_spikes=True,
                                          record_state=True, progress=False))
                 for b in ("emulator", "lava")]
    assert lava.spikes[0].sum() > 0 and lava.spikes[1].sum() == 0
    assert np.abs(lava.v[1]).max() > 0
    for a, b in [(emu.spikes, lava.spikes), (emu.u, lava.u), (emu.v, lava.v)]:
        assert all(np.array_equal(x, y) for x, y in zip(a, b))

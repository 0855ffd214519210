"""netx in one home: a file is opened once per run, Loihi's 24-bit format in one place."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch

from rouser_lava import loihi
from rouser_lava.backends.options import RunOptions
from rouser_lava.backends.runfile import run_path
from rouser_lava.cli.common import flag
from rouser_lava.errors import OptionError, UserError, name_parameters_as, param
from rouser_lava.netx.file import read_netx

from .test_emulator import write_dense


@pytest.fixture
def counted_opens(monkeypatch):
    """What h5py opened since the test began (paths, and the ids it reopens), in order."""
    opened = []
    original = h5py.File.__init__

    def init(self, name, *args, **kwargs):
        opened.append(str(name))
        original(self, name, *args, **kwargs)

    monkeypatch.setattr(h5py.File, "__init__", init)
    return opened


def test_emulator_run_opens_the_file_once(tmp_path, counted_opens):
    path, spikes = str(tmp_path / "n.net"), str(tmp_path / "x.npy")
    write_dense(path, np.array([[100, -30], [20, 90]]), 2048, 1024, 200)
    np.save(spikes, np.ones((3, 2, 6), np.uint8))
    counted_opens.clear()  # the write above
    result = run_path(path, RunOptions(input_npy=spikes, progress=False))
    assert result.samples == 3 and result.layer_names == ["layer0"]
    assert counted_opens.count(path) == 1


def test_read_netx_describes_the_file(tmp_path):
    path = str(tmp_path / "n.net")
    write_dense(path, np.array([[100, -30], [20, 90]]), 2048, 1024, 200)
    netx = read_netx(path, layers=True)
    assert netx.input_shapes == [(2,)] and netx.checked and netx.layers is not None
    assert netx.metadata.dataset == {} and netx.metadata.time_steps is None
    assert netx.emulator_layers() is netx.layers
    assert not read_netx(path).checked and read_netx(path).layers is None


def test_run_options_name_parameters_in_python_and_flags_on_the_command_line():
    with pytest.raises(OptionError) as err:
        RunOptions(dry_run=True)
    assert str(err.value) == ("`dry_run`, `rehearse`, `chunk_samples` and "
                              "`hw_config` go with `backend` loihi2")
    with name_parameters_as(flag), pytest.raises(OptionError) as err:
        RunOptions(dry_run=True)
    assert str(err.value) == ("--dry-run, --rehearse, --chunk-samples and "
                              "--hw-config go with --backend loihi2")
    with pytest.raises(UserError, match="`workers` 2: only the lava backend"):
        RunOptions(backend="emulator", workers=2)
    assert param("input_npy") == "`input_npy`"  # the naming is restored after the block


@pytest.mark.parametrize("lib", ["numpy", "torch"])
def test_24_bit_wrap_and_clip_as_lava(lib):
    top = loihi.UV_MAX
    values = [top + 5, top, -top, -top + 1, 2 * top - 1, -2 * top + 1, 0, 7]
    # lava/proc/lif/models.py: u > 2**23 wraps down by 2**24, u <= -2**23 wraps up
    want_u = [-top + 5, top, top, -top + 1, -1, 1, 0, 7]
    want_v = [top - 1, top - 1, 1 - top, 1 - top, top - 1, 1 - top, 0, 7]
    x = np.array(values, np.int64) if lib == "numpy" else torch.tensor(values)
    assert loihi.wrap_u(x).tolist() == want_u
    assert loihi.clip_v(x).tolist() == want_v


def test_emulator_run_reads_each_layer_dataset_once(tmp_path, monkeypatch):
    """The structure check, the value check and the emulator's loader share what was
    read: every dataset under /layer is read from the file at most once per run."""
    path, spikes = str(tmp_path / "n.net"), str(tmp_path / "x.npy")
    write_dense(path, np.array([[100, -30], [20, 90]]), 2048, 1024, 200)
    np.save(spikes, np.ones((3, 2, 6), np.uint8))
    reads: list[str] = []
    original = h5py.Dataset.__getitem__

    def getitem(self, args, *rest, **kwargs):
        reads.append(self.name)
        return original(self, args, *rest, **kwargs)

    monkeypatch.setattr(h5py.Dataset, "__getitem__", getitem)
    result = run_path(path, RunOptions(input_npy=spikes, progress=False))
    assert result.samples == 3
    layer_reads = [name for name in reads if name.startswith("/layer/")]
    assert "/layer/0/weight" in layer_reads and "/layer/0/neuron/vThMant" in layer_reads
    assert len(layer_reads) == len(set(layer_reads)), sorted(layer_reads)

"""Issue 23: no command writes over a file it reads. Every output path (``--out``,
``--json``, ``--dump-spikes``, ``--dump-state``, ``--report``, export and import
targets) is compared with every input, symlinks followed and hard links found, before
any work; a clash is one line, exit 1, and the input keeps its bytes."""

from __future__ import annotations

import hashlib
import os

import numpy as np
import pytest

from rouser_lava.cli import compare_main, export_main, import_main, map_main, run_main, train_main
from rouser_lava.errors import UserError
from rouser_lava.fileio import refuse_overwrites

from .conftest import error_line


def _digest(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture
def net(exported_net):
    return exported_net


def _refused(main, argv, keep, capsys, expected="would overwrite") -> str:
    before = {p: _digest(p) for p in keep}
    assert main([str(a) for a in argv]) == 1
    line = error_line(capsys)
    assert expected in line, line
    assert {p: _digest(p) for p in keep} == before
    return line


def test_run_and_map_outputs_never_replace_their_inputs(net, tmp_path, capsys):
    x = tmp_path / "x.npy"
    np.save(x, np.zeros((2, 64, 8), np.uint8))
    for flag in ("--json", "--dump-spikes", "--dump-state"):
        line = _refused(run_main, [net, flag, net], [net], capsys)
        assert f"{flag} would overwrite the network run" in line
    line = _refused(run_main, [net, "--input", x, "--json", x], [net, x], capsys)
    assert "--json would overwrite --input" in line
    link = tmp_path / "link.npz"
    link.symlink_to(net)
    line = _refused(run_main, [net, "--dump-spikes", link], [net], capsys)
    assert "link.npz: --dump-spikes would overwrite the network run" in line
    line = _refused(run_main, [net, "--json", tmp_path / "a", "--dump-spikes",
                               tmp_path / "a"], [net], capsys, "name the same file")
    assert "--dump-spikes and --json" in line
    assert not (tmp_path / "a").exists()
    line = _refused(map_main, [net, "--json", net], [net], capsys)
    assert "--json would overwrite the network mapped" in line
    hw = tmp_path / "hw.json"
    hw.write_text(open(os.path.join("hw_configs", "lava-cpu-sim.json")).read())
    _refused(map_main, [net, "--hw-config", hw, "--json", hw], [net, hw], capsys)


def test_train_never_writes_over_the_model_it_starts_from(model_file, tmp_path, capsys):
    init = tmp_path / "init.pt"
    init.write_bytes(model_file.read_bytes())
    line = _refused(train_main, ["--init", init, "--out", init, "--epochs", "1"], [init],
                    capsys)
    assert "--out would overwrite --init" in line
    link = tmp_path / "through.pt"
    link.symlink_to(init)
    _refused(train_main, ["--init", init, "--out", link, "--epochs", "1"], [init], capsys)
    best = tmp_path / "run.best.pt"  # --out run.pt also writes run.best.pt
    best.write_bytes(model_file.read_bytes())
    line = _refused(train_main, ["--init", best, "--out", tmp_path / "run.pt",
                                 "--epochs", "1"], [best], capsys)
    assert line.split(": ")[2] == f"{best}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["init.pt", "run.best.pt",
                                                          "through.pt"]


def test_export_import_and_compare_refuse_their_inputs(model_file, net, tmp_path, capsys):
    model = tmp_path / "m.pt"
    model.write_bytes(model_file.read_bytes())
    hard = tmp_path / "hard.net"
    os.link(model, hard)  # another name of the same file
    for target in (model, hard, tmp_path / "m.nir"):
        if target.suffix == ".nir":
            (tmp_path / "m.nir").symlink_to(model)
        line = _refused(export_main, [model, target], [model], capsys)
        assert "would overwrite the model" in line
    nir_file = tmp_path / "g.nir"
    assert export_main([str(model), str(nir_file)]) == 0
    capsys.readouterr()
    line = _refused(import_main, [nir_file, tmp_path / "out.nir"], [nir_file], capsys,
                    "unknown suffix '.nir' for the model file")
    assert not (tmp_path / "out.nir").exists()
    (tmp_path / "out.pt").symlink_to(net)
    _refused(import_main, [net, tmp_path / "out.pt"], [net], capsys,
             "would overwrite the source")
    report = tmp_path / "r"
    report.mkdir()
    baseline = report / "report.json"
    baseline.write_text("{}")
    line = _refused(compare_main, [model, net, "--report", report, "--baseline", baseline],
                    [model, net, baseline], capsys)
    assert "--report would overwrite --baseline" in line


def test_the_library_names_its_parameters(tmp_path):
    a = tmp_path / "a"
    a.write_text("x")
    refuse_overwrites([("`out`", tmp_path / "b"), ("`json`", None)], [("`init`", a)])
    with pytest.raises(UserError, match="`out` would overwrite `init`"):
        refuse_overwrites([("`out`", a)], [("`init`", a), ("`other`", None)])

"""Messages that point at the cause: the field and the value as the file holds them."""

import argparse

import torch

from rouser_lava.cli import export_main

from .conftest import error_line


def test_a_version_of_the_wrong_type_is_shown_as_stored(model_file, tmp_path, capsys):
    record = torch.load(model_file, weights_only=True)
    record["version"] = str(record["version"])
    bad = tmp_path / "string_version.pt"
    torch.save(record, bad)
    assert export_main([str(bad), str(tmp_path / "n.net")]) == 1
    line = error_line(capsys)
    assert "field 'version' '1': expected the integer 1" in line and str(bad) in line


def test_a_foreign_pt_file_says_why_torch_refused_it(tmp_path, capsys):
    foreign = tmp_path / "foreign.pt"
    torch.save(argparse.Namespace(lr=1), foreign)  # more than tensors: a pickled class
    assert export_main([str(foreign), str(tmp_path / "n.net")]) == 1
    line = error_line(capsys)
    assert "holds more than tensors and plain data" in line and "argparse.Namespace" in line


def test_an_encoding_field_of_another_dataset_names_the_file_field(model_file, tmp_path,
                                                                   capsys):
    """A digits model whose record holds an event dataset's option: the file's field is
    named, not a command-line flag nobody gave."""
    record = torch.load(model_file, weights_only=True)
    record["dataset"]["encoding"]["bin_ms"] = 1.0
    bad = tmp_path / "bin_ms.pt"
    torch.save(record, bad)
    assert export_main([str(bad), str(tmp_path / "n.net")]) == 1
    line = error_line(capsys)
    assert f"{bad}: field 'dataset': encoding field 'bin_ms': not an option of dataset " \
           f"'digits'" in line and "--bin-ms" not in line

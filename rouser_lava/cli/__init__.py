"""Command-line entry points, one module per command (see ``[project.scripts]``)."""

from .compare import compare_main
from .data import data_main
from .experiment import experiment_main
from .export import export_main
from .importer import import_main
from .info import info_main
from .map import map_main
from .run import run_main
from .train import train_main

__all__ = ["compare_main", "data_main", "experiment_main", "export_main", "import_main",
           "info_main", "map_main", "run_main", "train_main"]

"""One vocabulary across the verbs: an option that two commands share is spelled, typed,
restricted and shown the same way in both."""

import argparse
from collections import defaultdict

import pytest

from rouser_lava.cli.commands import PROGRAMS, parser
from rouser_lava.deploy.hw_config import CONFIG_DIR, load_hw_config, resolve_config_path


def _options(parser: argparse.ArgumentParser, where: str, into: dict) -> None:
    """Every action of ``parser`` and its sub-commands, by dest."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                _options(sub, f"{where} {name}", into)
        elif not isinstance(action, argparse._HelpAction):
            into[action.dest].append((where, action))


def _every_option() -> dict:
    found: dict = defaultdict(list)
    for prog, verb in PROGRAMS.items():
        _options(parser(prog), verb, found)
    return found


def test_the_same_dest_is_the_same_option_in_every_verb():
    found = _every_option()
    shared = {dest: uses for dest, uses in found.items() if len(uses) > 1}
    assert {"dataset", "hw_config", "lava_samples", "json_out", "reset_interval"} <= set(shared)
    for dest, uses in shared.items():
        def looks(action):
            return (tuple(action.option_strings), type(action).__name__, action.type,
                    tuple(action.choices) if action.choices else None, action.metavar,
                    action.nargs)
        first_where, first = uses[0]
        for where, action in uses[1:]:
            assert looks(action) == looks(first), f"{dest}: {where} vs {first_where}"


def test_a_flag_means_one_thing():
    """``--deploy`` chooses a training forward pass and ``--thresholds`` learned or
    fixed, wherever they appear; the experiments' own options have their own names."""
    found = _every_option()
    by_flag = defaultdict(set)
    for dest, uses in found.items():
        for _, action in uses:
            for flag in action.option_strings:
                by_flag[flag].add(dest)
    assert all(len(dests) == 1 for dests in by_flag.values()), \
        {f: d for f, d in by_flag.items() if len(d) > 1}
    assert "--measure-deployed" in by_flag and "--threshold-inits" in by_flag


@pytest.mark.parametrize("name", ["loihi2-oheogulch", "loihi2-oheogulch.json"])
def test_bundled_hw_configs_by_name_with_or_without_json(name):
    assert resolve_config_path(name) == CONFIG_DIR / "loihi2-oheogulch.json"
    assert load_hw_config(name).name == "loihi2-oheogulch"

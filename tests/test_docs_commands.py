"""The documentation is true to the command line, and builds.

Every shell command in README.md and docs/ (lines of fenced ``bash``/``sh``/``console``
blocks, and inline code that starts with a program) names programs, sub-commands,
flags and choices that exist in the parsers (``rouser_lava.cli.commands``), ``make``
targets that exist in the Makefile, and scripts (with their flags) that exist in the
repository; a flag named alone in inline code exists somewhere. The checker is itself
tested on wrong commands, and the site is built with ``--strict``.
"""

from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from rouser_lava.cli.commands import PROGRAMS, parser, subcommands

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SHELL = ("bash", "sh", "shell", "console")
FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```", re.M | re.S)
INLINE = re.compile(r"(?<!`)`((?:rouser-|make |torchrun |python )[^`\n]*)`(?!`)")
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_]*$")  # NAME, N, CONFIG: a value to fill in
SEPARATORS = {"|", "||", "&&", ";", "&"}
PROJECT = "rouser-lava"  # the project's name, not a program


def commands_in(markdown: str) -> list[str]:
    """The shell commands of a Markdown text: each line of a fenced shell block (its
    backslash continuations joined, a ``console`` block's ``$ `` lines only), and each
    inline code span that starts with a program."""
    found = []
    for lang, body in FENCE.findall(markdown):
        if lang not in SHELL:
            continue
        lines = body.replace("\\\n", " ").splitlines()
        if lang == "console":
            lines = [line[2:] for line in lines if line.startswith("$ ")]
        found += [line.strip() for line in lines if line.strip()
                  and not line.lstrip().startswith("#")]
    outside = FENCE.sub("", markdown)
    found += [span for span in INLINE.findall(outside)
              if span.split()[0] != PROJECT and not span.split()[0].endswith(":")]
    return found


def _words(command: str) -> list[list[str]]:
    """``command`` as shell words, split at pipes and ``&&``; comments dropped; a
    command substitution ``$(...)`` stands as one word."""
    command = re.sub(r"\$\([^)]*\)", "SUBST", command)
    lex = shlex.shlex(command, posix=True, punctuation_chars="|&;")
    lex.whitespace_split, lex.commenters = True, "#"
    parts: list[list[str]] = [[]]
    for word in lex:
        if word in SEPARATORS:
            parts.append([])
        else:
            parts[-1].append(word)
    return [p for p in parts if p]


def _make_targets() -> set[str]:
    text = (ROOT / "Makefile").read_text()
    return set(re.findall(r"^([A-Za-z][\w-]*)\s*:(?!=)", text, re.M))


def _takes(action: argparse.Action, rest: list[str]) -> int:
    """How many of the words after ``action``'s flag are its values."""
    nargs = action.nargs
    if nargs == 0:
        return 0
    if nargs is None:
        return 1
    if isinstance(nargs, int):
        return nargs
    count = 0
    while count < len(rest) and not rest[count].startswith("-"):
        count += 1
        if nargs == "?":
            break
    return count


def _script_flags(script: Path) -> set[str]:
    """The flags a script in examples/ or benchmarks/ declares (its argparse calls)."""
    return set(re.findall(r"add_argument\(\s*\"(--?[\w-]+)\"", script.read_text()))


def _every_flag() -> set[str]:
    """Every flag of every program and sub-command, and of the scripts."""
    found: set[str] = set()

    def walk(p: argparse.ArgumentParser) -> None:
        for action in p._actions:
            found.update(action.option_strings)
        for sub in subcommands(p).values():
            walk(sub)
    for prog in PROGRAMS:
        walk(parser(prog))
    for script in [*ROOT.glob("examples/*.py"), *ROOT.glob("benchmarks/*.py")]:
        found |= _script_flags(script)
    return found


def flags_in(markdown: str) -> list[str]:
    """The flags that inline code outside fenced blocks names on their own
    (`` `--threshold-form vector` ``)."""
    return re.findall(r"(?<!`)`(--[a-z][\w-]*)", FENCE.sub("", markdown))


def _is_number(word: str) -> bool:
    return re.fullmatch(r"-\d+(\.\d*)?(e-?\d+)?", word) is not None


def check_args(prog: str, p: argparse.ArgumentParser, args: list[str]) -> list[str]:
    """What in ``args`` the parser ``p`` of ``prog`` does not have: flags (spelled out
    in full: no abbreviations), values outside an option's choices, sub-commands."""
    problems: list[str] = []
    flags = {s: a for a in p._actions for s in a.option_strings}
    subs = subcommands(p)
    i = 0
    while i < len(args):
        word = args[i]
        i += 1
        if word == "...":
            continue
        if word.startswith("-") and not _is_number(word):
            name, eq, value = word.partition("=")
            action = flags.get(name)
            if action is None:
                problems.append(f"{prog}: no option {name}")
                continue
            if eq:
                values = [value]
            else:
                n = _takes(action, args[i:])
                values, i = args[i:i + n], i + n
            if action.choices is not None:
                problems += [f"{prog} {name}: {v!r} is not one of {sorted(action.choices)}"
                             for v in values if v != "..." and not PLACEHOLDER.match(v)
                             and v not in [str(c) for c in action.choices]]
        elif subs:
            if word not in subs:
                problems.append(f"{prog}: no sub-command {word!r} (has {sorted(subs)})")
                return problems
            return problems + check_args(f"{prog} {word}", subs[word], args[i:])
    return problems


def _check_torchrun(args: list[str]) -> list[str]:
    """torchrun's own flags (its parser), then the command it launches."""
    from torch.distributed.run import get_args_parser

    flags = {s: a for a in get_args_parser()._actions for s in a.option_strings}
    i = 0
    while i < len(args) and args[i].startswith("-"):
        name, eq, _ = args[i].partition("=")
        if name not in flags:
            return [f"torchrun: no option {name}"]
        i += 1 + (0 if eq else _takes(flags[name], args[i + 1:]))
    return check_command(shlex.join(args[i:])) if i < len(args) else []


def check_command(command: str) -> list[str]:
    """What ``command`` names that does not exist (empty if all of it exists)."""
    problems: list[str] = []
    for words in _words(command):
        while words and re.fullmatch(r"[A-Za-z_]\w*=\S*", words[0]):
            words = words[1:]  # VAR=value before the command
        if not words:
            continue
        head, args = Path(words[0]).name, words[1:]
        if head in PROGRAMS:
            problems += check_args(head, parser(head), args)
        elif head.startswith("rouser-"):
            problems.append(f"no program {head} (programs: {', '.join(PROGRAMS)})")
        elif head == "make":
            targets = [a for a in args if not a.startswith("-") and "=" not in a]
            problems += [f"make: no target {t}" for t in targets if t not in _make_targets()]
        elif head in ("python", "python3"):
            if args[:1] == ["-m"] and len(args) > 1:
                module = args[1].rpartition("rouser_lava.cli.")[2]
                prog = next((k for k, v in PROGRAMS.items() if v == module), None)
                if not args[1].startswith("rouser_lava.cli.") or prog is None:
                    problems.append(f"python -m {args[1]}: not a command module")
                else:
                    problems += check_args(prog, parser(prog), args[2:])
            elif args and args[0].endswith(".py"):
                script = ROOT / args[0]
                if not script.is_file():
                    problems.append(f"python: no script {args[0]}")
                else:
                    declared = _script_flags(script) | {"-h", "--help"}
                    problems += [f"{args[0]}: no option {a.partition('=')[0]}"
                                 for a in args[1:] if a.startswith("-") and not _is_number(a)
                                 and a.partition("=")[0] not in declared]
        elif head == "torchrun":
            problems += _check_torchrun(args)
        elif head == "bash" and "-c" in args:
            inner = args[args.index("-c") + 1:]
            problems += check_command(inner[0]) if inner else ["bash -c: no command"]
        elif head == "srun":
            rest = [i for i, a in enumerate(args) if a in ("bash", "torchrun")]
            problems += check_command(shlex.join(args[rest[0]:])) if rest else []
    return problems


def test_programs_are_the_console_scripts():
    scripts = (ROOT / "pyproject.toml").read_text().split("[project.scripts]")[1]
    scripts = scripts.split("\n[")[0]
    listed = dict(re.findall(r'^([\w-]+) = "rouser_lava\.cli:(\w+)"', scripts, re.M))
    assert set(listed) == set(PROGRAMS) - {"rouser-demo"}
    import rouser_lava.cli as cli
    for prog, function in listed.items():
        assert getattr(cli, function).__module__ == f"rouser_lava.cli.{PROGRAMS[prog]}"


def test_the_pages_hold_commands():
    """The extraction finds what the pages show (a broken pattern would find nothing
    and so check nothing)."""
    every = [c for page in PAGES for c in commands_in(page.read_text())]
    assert len(every) > 100
    heads = {Path(_words(c)[0][0]).name for c in every}
    assert {"rouser-train", "rouser-run", "rouser-experiment", "make", "torchrun",
            "srun", "python"} <= heads


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_documented_command_exists(page):
    problems = [f"{command}\n    {problem}" for command in commands_in(page.read_text())
                for problem in check_command(command)]
    assert not problems, "\n".join(problems)


def test_every_flag_named_in_prose_exists():
    known = _every_flag()
    unknown = {(page.relative_to(ROOT).as_posix(), f) for page in PAGES
               for f in flags_in(page.read_text()) if f not in known}
    assert not unknown, sorted(unknown)
    assert "--no-such-flag" not in known and "--reset-adam" in known


@pytest.mark.parametrize("command, expected", [
    ("rouser-train --dataset digits --epoch 20", "no option --epoch"),
    ("rouser-train --dataset mnist", "'mnist' is not one of"),
    ("rouser-trian --dataset digits", "no program rouser-trian"),
    ("rouser-experiment ablate --preset digits", "no sub-command 'ablate'"),
    ("rouser-experiment ablation --preset digits --no-such", "ablation: no option --no-such"),
    ("rouser-run net.net --backend gpu --limit 5", "'gpu' is not one of"),
    ("rouser-run net.net --fail-on agreement=99", "no option --fail-on"),
    ("ROUSER_TEST_LAVA_NETS=8 make tests", "make: no target tests"),
    ("python examples/no_such.py", "no script examples/no_such.py"),
    ("python examples/digits_silent_output.py --reset-adams", "no option --reset-adams"),
    ("python -m rouser_lava.cli.demo --out x --bad", "rouser-demo: no option --bad"),
    ("torchrun --standalone --nproc_per_node 2 .venv/bin/rouser-train --bad 1",
     "rouser-train: no option --bad"),
    ("torchrun --no-such-torchrun-flag 2 .venv/bin/rouser-train", "torchrun: no option"),
    ("srun -N 2 bash -c 'torchrun --nnodes 2 --rdzv-endpoint $(hostname):29500 "
     "rouser-train --preset nmnist --oops'", "rouser-train: no option --oops"),
])
def test_the_checker_catches_a_wrong_command(command, expected):
    problems = check_command(command)
    assert any(expected in p for p in problems), problems


def test_the_checker_passes_right_commands_and_finds_wrong_ones_in_a_page():
    page = """
Run `rouser-run NET.net --backend lava --limit 20`, then `rouser-lava` is the project.

```bash
rouser-train --dataset digits --epochs 20 --lr 2e-3 \\
    --deploy fold-exact --out export/model.pt   # a comment --not-a-flag
make test
```

```console
$ rouser-compare a.pt b.net --fail-on agreement=99 --lava-samples all
rouser-compare: error: --not-an-option in output is not checked
```

```bash
rouser-map export/net.net --hw-config loihi2-kapohopoint --jsn map.json
```
Also `rouser-info model.pt --josn x.json`, and `--thresholds` with `--threshold-inits`
but not `--threshhold-form`.
"""
    commands = commands_in(page)
    assert len(commands) == 6
    problems = {c: check_command(c) for c in commands}
    assert [c for c, p in problems.items() if p] == [
        "rouser-map export/net.net --hw-config loihi2-kapohopoint --jsn map.json",
        "rouser-info model.pt --josn x.json"]
    assert [f for f in flags_in(page) if f not in _every_flag()] == ["--threshhold-form"]


@pytest.mark.slow
def test_the_site_builds_strict(tmp_path):
    """``mkdocs build --strict`` (what ``make docs`` runs): a warning, a broken link, a
    docstring mkdocstrings cannot render or a missing included file fails."""
    site = tmp_path / "site"
    run = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "-d",
                          str(site)], cwd=ROOT, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    train = (site / "reference" / "cli" / "rouser-train" / "index.html").read_text()
    assert "--lr-threshold" in train  # the generated help
    api = (site / "reference" / "api" / "model" / "index.html").read_text()
    assert "RouserNet" in api and "from_blocks" in api
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    commit = re.search(r"- commit: (\w+)", results)
    assert commit and commit.group(1) in (site / "benchmarks" / "index.html").read_text()

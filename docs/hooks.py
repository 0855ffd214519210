"""MkDocs hooks (``hooks:`` in ``mkdocs.yml``): the CLI reference, generated from the
argparse parsers at every build, so it cannot differ from ``--help``.

``on_files`` adds ``reference/cli/index.md`` (every command and its description) and
one page per command, ``reference/cli/<prog>.md``, holding its ``--help`` and that of
each sub-command, as argparse formats them at 100 columns.

``on_page_content`` drops the Sphinx roles the docstrings use (``:func:`x```, which
mkdocstrings renders as ``:func:`` before the code), leaving the code.

It also bridges mkdocstrings 1.0.6 and pymdown-extensions 12, which made ``md`` the first
argument of ``pymdownx.highlight.Highlight``: mkdocstrings' ``Highlighter(md)`` calls
``Highlight.__init__`` without it (``mkdocstrings/_internal/handlers/rendering.py``), so
every API page failed with ``TypeError: Highlight.__init__() missing 1 required
positional argument: 'md'``. :func:`_highlight_md` hands the Markdown instance on; with
a pymdown-extensions whose ``Highlight`` takes no ``md`` it changes nothing.
"""

from __future__ import annotations

import inspect
import os
import re
import sys
from pathlib import Path

from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]
WIDTH = "100"  # argparse wraps help to $COLUMNS - 2
SPHINX_ROLE = re.compile(r":(?:mod|func|class|meth|attr|data|obj|exc):(?=<code>)")


def _highlight_md() -> None:
    from mkdocstrings._internal.handlers.rendering import Highlighter
    from pymdownx.highlight import Highlight

    if "md" not in inspect.signature(Highlight.__init__).parameters or \
            getattr(Highlighter, "_md_passed", False):
        return
    highlighter_init, highlight_init = Highlighter.__init__, Highlight.__init__

    def init(self, md):
        self._md = md
        highlighter_init(self, md)

    def base_init(self, *args, **kwargs):
        if not args and "md" not in kwargs and isinstance(self, Highlighter):
            args = (self._md,)
        highlight_init(self, *args, **kwargs)

    Highlighter.__init__ = init
    Highlight.__init__ = base_init
    Highlighter._md_passed = True


_highlight_md()


def _help(p) -> str:
    previous = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = WIDTH
    try:
        return p.format_help()
    finally:
        if previous is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = previous


def _page(prog: str, commands) -> str:
    p = commands.parser(prog)
    how = ("`make demo` runs it as `python -m rouser_lava.cli.demo --out export/demo`."
           if prog == "rouser-demo" else f"Console script `{prog}` (`pyproject.toml`).")
    parts = [f"# {prog}\n", f"{how} Generated from its argparse parser at build time "
             f"(`rouser_lava/cli/{commands.PROGRAMS[prog]}.py`).\n",
             f"```text\n{_help(p)}```\n"]
    for name, sub in commands.subcommands(p).items():
        parts += [f"## {prog} {name}\n", f"```text\n{_help(sub)}```\n"]
    return "\n".join(parts)


def _index(commands) -> str:
    rows = ["# Command line\n",
            "Every command's `--help`, generated from its parser when the site is built. "
            "User errors end with one line and exit status 1 (argparse's own: 2); see "
            "[the error policy](../errors.md).\n",
            "| command | what it does |", "|---|---|"]
    for prog in commands.PROGRAMS:
        text = " ".join((commands.parser(prog).description or "").split())
        first = text.split(". ")[0].rstrip(".")
        rows.append(f"| [`{prog}`]({prog}.md) | {first}. |")
    return "\n".join(rows) + "\n"


def on_files(files: Files, config) -> Files:
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))  # document this checkout, not an installed copy
    from rouser_lava.cli import commands

    files.append(File.generated(config, "reference/cli/index.md", content=_index(commands)))
    for prog in commands.PROGRAMS:
        files.append(File.generated(config, f"reference/cli/{prog}.md",
                                    content=_page(prog, commands)))
    return files


def on_page_content(html: str, page, config, files) -> str:
    return SPHINX_ROLE.sub("", html)

"""Builds the site's command-line reference (``cli.md``) from the argparse parsers.

The page is made at build time from the parser objects themselves,
``dassgnn.cli.build_parser()`` and, for ``dassgnn bench`` (which parses its own
options), ``dassgnn.bench.build_parser()``: every command and sub-command with its
usage line, description and options, so it cannot drift from ``--help``.

The docs build must not need torch (the site is built without it). The parsers are
therefore imported from the checkout with torch and its relatives *blocked*, in
every environment alike: a parser module that starts importing torch fails the
build here, not only in the torch-less publishing job.
"""

from __future__ import annotations

import argparse
import contextlib
import html
import importlib
import importlib.abc
import logging
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.exceptions import PluginError
from mkdocs.structure.files import File, Files

log = logging.getLogger("mkdocs.hooks.cli_reference")

PAGE = "cli.md"
HEAVY = ("torch", "torch_geometric", "torch_scatter", "torchvision", "ray", "pymoo")
"""Packages the parsers must not need: importing one while they load fails the build."""

USAGE_WIDTH = 88


class _Blocker(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        if fullname.split(".")[0] in HEAVY:
            raise ImportError(
                f"{fullname} is blocked while the docs read the CLI's parsers", name=fullname
            )


@contextlib.contextmanager
def _light_imports(root: Path) -> Iterator[None]:
    """Imports from ``root`` with the heavy packages blocked; forgets what it imported."""
    before = set(sys.modules)
    blocker = _Blocker()
    sys.path.insert(0, str(root))
    sys.meta_path.insert(0, blocker)
    try:
        yield
    finally:
        sys.meta_path.remove(blocker)
        sys.path.remove(str(root))
        for name in set(sys.modules) - before:
            if name == "dassgnn" or name.startswith("dassgnn."):
                del sys.modules[name]


def _plain(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` with a fixed-width, colourless help formatter (the same on every machine)."""
    parser.formatter_class = lambda prog: argparse.HelpFormatter(prog, width=USAGE_WIDTH)
    if hasattr(parser, "color"):  # Python 3.14+
        parser.color = False
    return parser


def _text(text: str | None) -> str:
    """argparse text as Markdown: one paragraph, HTML and Markdown specials escaped."""
    if not text:
        return ""
    text = html.escape(" ".join(text.split()), quote=False)
    return re.sub(r"([\\*_|\[\]])", r"\\\1", text)


def _sentence(text: str) -> str:
    """A help phrase as a paragraph: capital first letter, final full stop."""
    if text and text[0].islower() and not text.startswith("dassgnn"):
        text = text[0].upper() + text[1:]
    return text if not text or text.endswith((".", ")", ":")) else text + "."


def _subcommands(parser: argparse.ArgumentParser) -> list[tuple[str, str, Any]]:
    """``(name, help, sub-parser)`` of each sub-command of ``parser``, in order."""
    out = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {a.dest: a.help or "" for a in action._choices_actions}
            out += [(name, helps.get(name, ""), p) for name, p in action.choices.items()]
    return out


def _default(action: argparse.Action) -> str:
    if action.required:
        return "required"
    if action.nargs == 0 or action.default in (None, argparse.SUPPRESS):
        return ""
    value = action.default
    if isinstance(value, list | tuple):
        value = " ".join(str(v) for v in value)
    return f"`{value}`"


def _options_table(parser: argparse.ArgumentParser) -> list[str]:
    formatter = parser._get_formatter()
    rows = []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        if action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        description = _text(formatter._expand_help(action) if action.help else "")
        if action.choices is not None and "{" not in invocation:  # else the usage lists them
            choices = "one of " + ", ".join(f"`{c}`" for c in action.choices)
            description = f"{description}; {choices}" if description else choices.capitalize()
        rows.append(f"| `{invocation}` | {_default(action)} | {description} |")
    if not rows:
        return []
    return ["| Option | Default | Description |", "|---|---|---|", *rows, ""]


def _anchor(prog: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", prog.lower()).strip("-")


def _section(
    parser: argparse.ArgumentParser, level: int, summary: str, replace: dict[str, Any]
) -> list[str]:
    _plain(parser)
    lines = [f"{'#' * level} {parser.prog} {{ #{_anchor(parser.prog)} }}", ""]
    text = _text(parser.description) or _sentence(_text(summary))
    if text:
        lines += [text, ""]
    lines += ["```text", parser.format_usage().strip(), "```", ""]
    lines += _options_table(parser)
    subs = [(n, h, replace.get(f"{parser.prog} {n}", p)) for n, h, p in _subcommands(parser)]
    if subs:
        lines += ["| Command | What it does |", "|---|---|"]
        lines += [f"| [`{n}`](#{_anchor(p.prog)}) | {_text(h)} |" for n, h, p in subs]
        lines += [""]
    if parser.epilog:
        lines += [_text(parser.epilog), ""]
    for _, help_text, sub in subs:
        lines += _section(sub, min(level + 1, 4), help_text, replace)
    return lines


def page(root: Path) -> str:
    """The Markdown of the command-line reference."""
    with _light_imports(root):
        try:
            cli = importlib.import_module("dassgnn.cli")
            bench = importlib.import_module("dassgnn.bench")
        except ImportError as error:
            raise PluginError(
                f"the CLI reference could not import the parsers without torch: {error}"
            ) from error
        top = cli.build_parser()
        bench_parser = bench.build_parser(prog="dassgnn bench")
    lines = [
        "# Command line",
        "",
        "The `dassgnn` command (also `python -m dassgnn.cli`). Every command and sub-command "
        "takes `-h`/`--help`. Errors are one line on stderr with a non-zero exit status; "
        "`dassgnn --debug COMMAND ...` shows the traceback instead.",
        "",
        "This page is generated from the argparse parsers (`dassgnn.cli.build_parser()`, "
        "and `dassgnn.bench.build_parser()` for `dassgnn bench`) when the site is built.",
        "",
    ]
    lines += _section(top, 2, "", {"dassgnn bench": bench_parser})
    return "\n".join(lines)


def on_files(files: Files, config: MkDocsConfig) -> Files:
    root = Path(config.config_file_path).parent
    files.append(File.generated(config, PAGE, content=page(root)))
    return files

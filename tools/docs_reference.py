"""Write the generated reference pages of the docs site from the code, or check that they are current.

    python tools/docs_reference.py           # rewrite docs/reference/cli.md from the typer app
    python tools/docs_reference.py --check   # exit 1 naming each stale page (tests/test_docs.py runs this)

The pages are committed so that they read on any repository browser; the check keeps them from drifting
from the commands they describe.
"""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from prism.cli import app

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"

CLI_INTRO = """# CLI reference

Generated from the typer app by `python tools/docs_reference.py`; a test fails when this page is stale.
Every command takes `--help`, which prints the same text. All but `prism init` take `--workdir DIR`
(default: the current folder). Exit codes: 0 success, 2 bad input (one line naming the file, column,
row or value; no traceback), 1 internal failure (`PRISM_DEBUG=1` shows the traceback), 130 interrupted
(`Ctrl-C`, `SIGTERM`).
"""


def _cell(text: str) -> str:
    """One table cell: a single line, pipes escaped."""
    return " ".join(text.split()).replace("|", "\\|")


def _context(cmd, path: str):
    """A click context for `cmd` (typer ships its own click, so its own context class makes it)."""
    return cmd.context_class(cmd, info_name=path)


def _param_row(param, ctx) -> str:
    """A table row for one option or argument, in the words `--help` prints for it."""
    names, what = param.get_help_record(ctx) or (param.name, param.help or "")
    return f"| `{_cell(names)}` | {_cell(what)} |"


def _command_section(path: str, cmd) -> list[str]:
    """The heading, help text, usage and parameter table of one command (and of its subcommands)."""
    ctx = _context(cmd, path)
    out = [f"## `{path}`", "", (cmd.help or "").strip().split("\f")[0].strip(), "",
           "```", cmd.get_usage(ctx).replace("Usage: ", ""), "```", ""]
    params = [p for p in cmd.params if not getattr(p, "hidden", False) and p.name != "help"]
    if params:
        out += ["| parameter | what |", "|---|---|", *(_param_row(p, ctx) for p in params), ""]
    for name, sub in getattr(cmd, "commands", {}).items():
        if not sub.hidden:
            out += _command_section(f"{path} {name}", sub)
    return out


def cli_page() -> str:
    """The whole CLI reference page, commands in the order `prism --help` lists them."""
    group = typer.main.get_command(app)
    lines = [CLI_INTRO]
    ctx = _context(group, "prism")
    for name in group.list_commands(ctx):
        sub = group.get_command(ctx, name)
        if sub is not None and not sub.hidden:
            lines += _command_section(f"prism {name}", sub)
    return "\n".join(lines).rstrip() + "\n"


PAGES = {CLI_PAGE: cli_page}


def main(argv: list[str]) -> int:
    """Rewrite the pages, or with --check report the stale ones and return 1."""
    stale = [path for path, render in PAGES.items() if not path.exists() or path.read_text() != render()]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is stale: run `python tools/docs_reference.py`")
        return 1 if stale else 0
    for path in stale:
        path.write_text(PAGES[path]())
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

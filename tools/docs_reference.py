"""Write the generated reference pages of the docs site from the code, or check that they are current.

    python tools/docs_reference.py           # rewrite docs/reference/cli.md and config.md
    python tools/docs_reference.py --check   # exit 1 naming each stale page (tests/test_docs.py runs this)

cli.md comes from the typer app, config.md from the pydantic schema of config.json (`prism.schemas.Config`:
types, defaults, bounds and each field's description).

The pages are committed so that they read on any repository browser; the check keeps them from drifting
from the commands they describe.
"""

from __future__ import annotations

import sys
import types
import typing
from pathlib import Path

import typer
from annotated_types import Ge, Gt, Le, Lt, MinLen
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from prism.cli import app
from prism.schemas import Config

ROOT = Path(__file__).resolve().parents[1]
CLI_PAGE = ROOT / "docs" / "reference" / "cli.md"
CONFIG_PAGE = ROOT / "docs" / "reference" / "config.md"

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


CONFIG_INTRO = """# `config.json` reference

Generated from the schema (`prism.schemas.Config`) by `python tools/docs_reference.py`; a test fails when
this page is stale. `config.json` is written by `prism discover` (once, or again when role flags are
given), then owned by the Tuner; it is validated on every read: an unknown key, a value out of bounds or
an unknown channel exits 2 naming the key. Same seed → same numbers. `null` means the setting is not
fixed (learned from the data, or chosen as described).

| key | type | default | what |
|---|---|---|---|"""
BOUND_WORDS = ((Ge, "ge", "≥"), (Gt, "gt", ">"), (Le, "le", "≤"), (Lt, "lt", "<"), (MinLen, "min_length", "length ≥"))


def _bounds(metadata: list) -> str:
    """The numeric bounds in a field's metadata, e.g. `≥ 1, ≤ 52`."""
    return ", ".join(f"{word} {getattr(m, attr)}" for m in metadata for kind, attr, word in BOUND_WORDS
                     if isinstance(m, kind))


def _type_text(ann) -> str:
    """A short, readable type: literals as their values, optional as `… or null`, containers with their items."""
    origin, args = typing.get_origin(ann), typing.get_args(ann)
    if origin is typing.Literal:
        return " | ".join(f'"{a}"' for a in args)
    if origin is typing.Annotated:
        inner = _type_text(args[0])
        extra = _bounds([m for a in args[1:] for m in (a.metadata if isinstance(a, FieldInfo) else [a])])
        return f"{inner} ({extra})" if extra else inner
    if origin in (typing.Union, types.UnionType):
        kept = [a for a in args if a is not type(None)]
        return " or ".join(_type_text(a) for a in kept) + (" or null" if len(kept) < len(args) else "")
    if origin in (list, tuple):
        return f"[{', '.join(_type_text(a) for a in args if a is not Ellipsis)}]"
    if origin is dict:
        return f"{{{_type_text(args[0])}: {_type_text(args[1])}}}"
    if isinstance(ann, type) and issubclass(ann, BaseModel):
        return "{" + ", ".join(ann.model_fields) + "}"
    return {str: "text", int: "integer", float: "number", bool: "true/false"}.get(ann, getattr(ann, "__name__", str(ann)))


def _default_text(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    return "`null`" if value is None else f"`{json_text(value)}`"


def json_text(value) -> str:
    import json

    if isinstance(value, BaseModel):
        value = value.model_dump(mode="json")
    return json.dumps(list(value) if isinstance(value, tuple) else value, ensure_ascii=False)


def _config_rows(model: type[BaseModel], prefix: str = "") -> list[str]:
    """One row per leaf key, nested sections flattened to dotted keys."""
    rows = []
    for name, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel) and prefix == "":
            rows += _config_rows(ann, f"{name}.")
            continue
        kind = _type_text(ann) + (f" ({b})" if (b := _bounds(field.metadata)) else "")
        rows.append(f"| `{prefix}{name}` | {_cell(kind)} | {_cell(_default_text(field))} | "
                    f"{_cell(field.description or '')} |")
    return rows


def config_page() -> str:
    """The config.json reference: every key of the schema with its type, default, bounds and description."""
    return "\n".join([CONFIG_INTRO, *_config_rows(Config)]) + "\n"


PAGES = {CLI_PAGE: cli_page, CONFIG_PAGE: config_page}


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

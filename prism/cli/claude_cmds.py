"""Claude-session commands: `prism init` makes a workspace ready for "Read program.md and run the loop".

The prompts are package data (`prism/templates/`), the one source of truth: the repository's own
`program.md` and `agents/*.md` are copies of them (a test keeps them identical), so `prism init` works
after a non-editable install.
"""

from __future__ import annotations

from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Optional

import typer

from prism.cli.app import WorkdirOpt, app, console
from prism.errors import InputError
from prism.workspace import Workspace, write_text

PROMPT_TARGETS = ("agents", ".claude/agents")  # agents/ for the reader, .claude/agents/ for Claude Code


def templates() -> Traversable:
    return resources.files("prism").joinpath("templates")


def prompt_files() -> dict[str, str]:
    """Workspace-relative path → text, for every prompt file `prism init` writes."""
    from prism.agents.base import AGENT_NAMES

    root = templates()
    files = {"program.md": root.joinpath("program.md").read_text(encoding="utf-8")}
    for name in AGENT_NAMES:
        text = root.joinpath("agents", f"{name}.md").read_text(encoding="utf-8")
        files.update({f"{target}/{name}.md": text for target in PROMPT_TARGETS})
    return files


def init_workspace(root: Path, force: bool = False) -> tuple[list[Path], list[Path]]:
    """Write the prompt files under `root`; existing files are kept (they may be edited) unless `force`."""
    written, kept = [], []
    for rel, text in prompt_files().items():
        path = root / rel
        if path.exists() and not force:
            kept.append(path)
            continue
        write_text(path, text)
        written.append(path)
    return written, kept


@app.command()
def init(directory: Path = typer.Argument(Path("."), help="Workspace folder (created if missing)."),
         force: bool = typer.Option(False, "--force", help="Overwrite prompt files that already exist.")) -> None:
    """Make a workspace ready for a Claude terminal session: program.md, agents/, .claude/agents/."""
    root = directory.resolve()
    written, kept = init_workspace(root, force)
    console.print(f"[green]✓[/] {len(written)} prompt file(s) written in {root}", highlight=False)
    if kept:
        console.print(f"kept {len(kept)} existing file(s) (use --force to overwrite): "
                      + ", ".join(str(p.relative_to(root)) for p in kept), highlight=False)
    console.print("Next: put your data here, run [bold]prism discover --path <data>[/], then open Claude Code "
                  "in this folder and say: [bold]Read program.md and run the loop.[/]")


@app.command("check-numbers")
def check_numbers(file: Path = typer.Argument(..., help="A file an agent wrote, relative to the workspace, "
                                                      "e.g. rounds/R02_analysis.md."),
                  workdir: Path = WorkdirOpt,
                  round_no: Optional[int] = typer.Option(None, "--round", min=1, help="Round (default: current; "
                                                         "a tuning file: the round its evidence came from)."),
                  ) -> None:
    """Guard for a Claude session: every number and stated ratio in FILE must match the round's values."""
    from prism.orchestration.guards import number_problems
    from prism.workspace import load_state

    ws = Workspace(workdir)
    path = (file if file.is_absolute() else ws.root / file).resolve()
    if not path.exists():
        raise InputError(f"{path}: file not found")
    n = round_no or _evidence_round(ws, path, max(load_state(ws).round, 1))
    check = number_problems(ws, path, n)
    for w in check.warnings:
        console.print(f"[yellow]flag:[/] {w}", highlight=False)
    if check.failures:
        for p in check.failures:
            console.print(f"[red]✗[/] {file}: {p}", highlight=False)
        raise typer.Exit(1)
    console.print(f"[green]✓[/] every number in {file} is in round {n}'s results", highlight=False)


@app.command("facts")
def facts_cmd(workdir: Path = WorkdirOpt,
              round_no: Optional[int] = typer.Option(None, "--round", min=1, help="Round (default: the current one)."),
              as_json: bool = typer.Option(False, "--json", help="Every quotable figure with its key, as JSON.")) -> None:
    """Every figure an agent may quote for the round, by channel and metric, with the key the guard checks."""
    import json

    from prism.analysis import claims
    from prism.analysis.facts import RoundFacts
    from prism.workspace import load_state

    ws = Workspace(workdir)
    n = round_no or _results_round(ws, max(load_state(ws).round, 1))
    book = claims.book(ws, RoundFacts.load(ws, n, need_results=ws.round_results(n).exists()))
    if as_json:
        typer.echo(json.dumps(claims.as_json(book)))
        return
    for line in claims.screen(book):
        console.print(line, highlight=False, markup=False, soft_wrap=True)


def _results_round(ws: Workspace, current: int) -> int:
    """The current round, or the last one with results (a tuning round has none yet)."""
    n = current
    while n > 1 and not ws.round_results(n).exists():
        n -= 1
    return n


def _evidence_round(ws: Workspace, path: Path, current: int) -> int:
    """A tuning file quotes the round before it (its own round has no results yet)."""
    for n in range(current, 1, -1):
        if path == ws.tuning(n).resolve():
            return n - 1
    return current

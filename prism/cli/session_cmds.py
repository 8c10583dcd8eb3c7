"""`prism next`: what a Claude terminal session does now, read from state.json and the one stage table."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.markup import escape

from prism.cli.app import WorkdirOpt, app, console
from prism.workspace import Workspace


@app.command("next")
def next_cmd(workdir: Path = WorkdirOpt,
             as_json: bool = typer.Option(False, "--json", help="One JSON object, for tools.")) -> None:
    """The current stage, the agent file to play, the exact commands (run, then record) and the files to write."""
    from prism.orchestration.session import next_step

    step = next_step(Workspace(workdir))
    if as_json:
        typer.echo(json.dumps(step.as_dict()))
        return
    show_next(step)


def show_next(step) -> None:
    """The next step as a few plain lines (also printed after every session command)."""
    head = f"round {step.round}" + (f" of {step.rounds}" if step.rounds else "")
    if step.finished:
        console.print(f"[bold]{head}: the loop is finished[/] — {escape(step.stopped_reason or '')}", highlight=False)
        console.print("finish: run `prism status` and point the user to results/report.md")
        return
    console.print(f"[bold]next:[/] {head}, stage {step.stage} ({escape(step.label)})", highlight=False)
    if step.agent_file:
        console.print(f"  play:   {step.agent_file}", highlight=False)
    for cmd in step.run:
        console.print(f"  run:    {escape(cmd)}", highlight=False, soft_wrap=True)
    if step.writes:
        console.print(f"  write:  {', '.join(step.writes)}", highlight=False)
    if step.record:
        console.print(f"  record: {escape(step.record)}   (runs the guard first)", highlight=False, soft_wrap=True)
    for note in step.notes:
        console.print(f"  note:   {escape(note)}", highlight=False, soft_wrap=True)


def after_session_command(ws: Workspace) -> None:
    """Prism's own stages up to the session's next turn, then what that turn is."""
    from prism.orchestration.session import advance, next_step

    advance(ws, console)
    show_next(next_step(ws))

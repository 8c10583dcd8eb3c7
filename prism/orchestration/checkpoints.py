"""Human checkpoints of `prism loop --checkpoints`: show what is proposed, ask approve / edit / stop.

After the Explorer: the readiness and actions (edit = open config.json in $EDITOR). After a Tuner change:
the change (edit = type a corrected value, validated like `prism tune --validate`). Before the report is
proofread and rendered: the draft report (edit = open report.md in $EDITOR). After the proofread: approve
the round as the model `prism refresh` starts from (recorded in decisions.jsonl with who and when).
"""

from __future__ import annotations

import typer
from rich.markdown import Markdown
from rich.panel import Panel
from rich.prompt import Prompt

from prism.errors import InputError
from prism.orchestration.context import LoopContext
from prism.orchestration.recording import record
from prism.orchestration.stages import APPROVAL
from prism.schemas import Config, State
from prism.workspace import read_model

CHOICES = ["approve", "edit", "stop"]
PREVIEW_LINES = 40


def ask(ctx: LoopContext, state: State, name: str) -> tuple[str, str]:
    """The user's decision and a note of what was edited."""
    ctx.console.print(Panel(Markdown(_preview(ctx, state, name)), title=f"checkpoint: {name} (round {state.round})"))
    while True:
        choice = Prompt.ask("approve / edit / stop", choices=CHOICES, default="approve", console=ctx.console)
        if choice != "edit":
            return choice, ""
        try:
            return "edit", _edit(ctx, state, name)
        except InputError as exc:
            ctx.console.print(f"[red]not accepted:[/] {exc}")


def _preview(ctx: LoopContext, state: State, name: str) -> str:
    ws = ctx.ws
    path = {"exploration": ws.exploration(), "tuning": ws.tuning(state.round), "report": ws.report_md,
            APPROVAL: ws.report_md}[name]
    lines = path.read_text(encoding="utf-8").splitlines()
    if name == "exploration":
        start = next((i for i, ln in enumerate(lines) if ln.startswith("## Readiness")), 0)
        lines = lines[start:]
    return "\n".join(lines[:PREVIEW_LINES])


def _edit(ctx: LoopContext, state: State, name: str) -> str:
    ws = ctx.ws
    if name == "exploration":
        typer.edit(filename=str(ws.config))
        read_model(ws.config, Config)  # an invalid edit is refused here, with the key named
        return "config.json edited after the exploration"
    if name == "report":
        typer.edit(filename=str(ws.report_md))
        return "report.md edited before proofreading"
    if name == APPROVAL:
        raise InputError("nothing to edit at the approval checkpoint: approve the round, or stop")
    return _edit_tuning(ctx, state)


def _edit_tuning(ctx: LoopContext, state: State) -> str:
    from prism.agents import tuner

    rec = record(state, state.round)
    key = (rec.change_key or "").split("=")[0]
    if not key:
        raise InputError("this round has no change to edit")
    raw = Prompt.ask(f"new value for {key} (JSON)", console=ctx.console)
    # the corrected value replaces the proposal (it does not stack on it) and keeps the Tuner's revert
    out = tuner.change_config(ctx.ws, state.round, key, raw, "edited at checkpoint by the user",
                              f"replaces the Tuner's proposal {rec.change_key}")
    rec.change, rec.change_key = out.extra["change"], out.extra["change_key"]
    return f"user set {out.detail}"

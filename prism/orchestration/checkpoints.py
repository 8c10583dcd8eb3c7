"""Human checkpoints of `prism loop --checkpoints`: show what is proposed, ask approve / edit / stop.

After the Explorer: the readiness and actions (edit = config.json). After a Tuner change: the change (edit =
a corrected value, validated like `prism tune --validate`). Before the report is proofread and rendered: the
draft report (edit = report.md). After the proofread: approve the round as the model `prism refresh` starts
from (recorded in decisions.jsonl with who and when).

The question is asked at the terminal (edits in $EDITOR) and written to `.prism-checkpoint.json` at the same
time, so `prism serve`'s page can answer it (`.prism-answer.json`, edits as text): the first answer wins.
"""

from __future__ import annotations

import os
import select
import sys
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

import typer
from pydantic import ValidationError
from rich.markdown import Markdown
from rich.panel import Panel

from prism.errors import InputError
from prism.orchestration.context import LoopContext
from prism.orchestration.recording import now, record
from prism.orchestration.stages import APPROVAL
from prism.schemas import CheckpointAnswer, CheckpointRequest, Config, State
from prism.workspace import Workspace, read_model, remove_file, write_json, write_text

CHOICES = ["approve", "edit", "stop"]
PREVIEW_LINES = 40
POLL_SECONDS = 0.3
PAGE_NOTE = "answered on the prism serve page"
EDITS = {"exploration": "config", "tuning": "value", "report": "report"}


@dataclass
class Reply:
    """A checkpoint's answer: the decision, what was edited, who gave it and when."""

    decision: str
    note: str
    by: str
    at: datetime

    @property
    def user(self) -> str:
        return self.by.removeprefix("user:")


def ask(ctx: LoopContext, state: State, name: str, user: str) -> Reply:
    """The first answer, from the terminal (when there is one) or the page; an edit that is not accepted is
    said where it came from and asked again."""
    request = _request(ctx, state, name)
    if ctx.terminal:
        ctx.console.print(Panel(Markdown(request.preview), title=f"checkpoint: {name} (round {state.round})"))
    write_json(ctx.ws.checkpoint, request.model_dump(mode="json"))
    try:
        while True:
            reply, edit_text = _next(ctx, request, user)
            if reply.decision != "edit":
                return reply
            try:
                reply.note = "; ".join(filter(None, [reply.note, _edit(ctx, state, name, edit_text)]))
                return reply
            except InputError as exc:
                ctx.console.print(f"[red]not accepted:[/] {exc}")
                request.error = str(exc)
                write_json(ctx.ws.checkpoint, request.model_dump(mode="json"))
    finally:
        remove_file(ctx.ws.checkpoint)
        remove_file(ctx.ws.checkpoint_answer)


def _request(ctx: LoopContext, state: State, name: str) -> CheckpointRequest:
    edit = EDITS.get(name)
    text, key = "", ""
    if edit == "config":
        text = ctx.ws.config.read_text(encoding="utf-8")
    elif edit == "report":
        text = ctx.ws.report_md.read_text(encoding="utf-8")
    elif edit == "value":
        key, _, text = (record(state, state.round).change_key or "").partition("=")
    return CheckpointRequest(id=uuid.uuid4().hex, round=state.round, checkpoint=name, asked_at=now(),
                             preview=_preview(ctx, state, name), edit=edit if edit != "value" or key else None,
                             edit_key=key, edit_text=text)


def _next(ctx: LoopContext, request: CheckpointRequest, user: str) -> tuple[Reply, str | None]:
    """Wait for the page's answer file or a terminal line; `None` edit text = edit at the terminal."""
    if ctx.terminal:
        ctx.console.print(f"approve / edit / stop [{CHOICES[0]}] (or answer on the page): ", end="")
    while True:
        answer = read_answer(ctx.ws, request.id)
        if answer is not None:
            if ctx.terminal:
                ctx.console.print(f"\n{answer.decision} (on the page, by {answer.by})")
            return Reply(answer.decision, PAGE_NOTE, answer.by, answer.at), answer.edit_text
        line = TERMINAL.line(POLL_SECONDS) if ctx.terminal else None
        if line is not None:
            choice = line.lower() or CHOICES[0]
            if choice in CHOICES:
                return Reply(choice, "", f"user:{user}", now()), None
            ctx.console.print(f"[red]please answer one of {', '.join(CHOICES)}:[/] ", end="")
        elif not ctx.terminal:
            time.sleep(POLL_SECONDS)


class _Lines:
    """Lines typed at the terminal, read without blocking so the page can answer meanwhile (a chunk read at
    once may hold several lines: the rest wait here for the next question)."""

    def __init__(self) -> None:
        self.pending: list[str] = []
        self.partial = ""

    def line(self, timeout: float | None) -> str | None:
        """The next line, or None when none came within `timeout` seconds (None: wait as long as it takes)."""
        fd = sys.stdin.fileno()
        while not self.pending:
            if not select.select([fd], [], [], timeout)[0]:
                return None
            chunk = os.read(fd, 4096).decode(errors="replace")
            if not chunk:  # the terminal closed: take the default rather than spin
                return ""
            *done, self.partial = (self.partial + chunk).split("\n")
            self.pending += [ln.strip() for ln in done]
        return self.pending.pop(0)


TERMINAL = _Lines()


def read_answer(ws: Workspace, request_id: str) -> CheckpointAnswer | None:
    """The page's answer to this question (the question is taken down first, so no second answer is taken
    for it); an answer to another (stale) question is dropped."""
    if not ws.checkpoint_answer.exists():
        return None
    try:
        answer = read_model(ws.checkpoint_answer, CheckpointAnswer)
    except InputError:  # not an answer (the page writes whole files): dropped, the question stays open
        answer = None
    if answer is not None and answer.id == request_id:
        remove_file(ws.checkpoint)
    remove_file(ws.checkpoint_answer)
    return answer if answer is not None and answer.id == request_id else None


def _preview(ctx: LoopContext, state: State, name: str) -> str:
    ws = ctx.ws
    path = {"exploration": ws.exploration(), "tuning": ws.tuning(state.round), "report": ws.report_md,
            APPROVAL: ws.report_md}[name]
    lines = path.read_text(encoding="utf-8").splitlines()
    if name == "exploration":
        start = next((i for i, ln in enumerate(lines) if ln.startswith("## Readiness")), 0)
        lines = lines[start:]
    return "\n".join(lines[:PREVIEW_LINES])


def _edit(ctx: LoopContext, state: State, name: str, text: str | None) -> str:
    """Apply an edit: `text` from the page, or None to edit at the terminal ($EDITOR, a prompt)."""
    ws = ctx.ws
    if name == APPROVAL:
        raise InputError("nothing to edit at the approval checkpoint: approve the round, or stop")
    if name == "exploration":
        if text is None:
            typer.edit(filename=str(ws.config))
            read_model(ws.config, Config)  # an invalid edit is refused here, with the key named
        else:
            _check_config(ws, text)
            write_text(ws.config, text)
        return "config.json edited after the exploration"
    if name == "report":
        if text is None:
            typer.edit(filename=str(ws.report_md))
        elif not text.strip():
            raise InputError(f"{ws.report_md}: the edited report is empty")
        else:
            write_text(ws.report_md, text)
        return "report.md edited before proofreading"
    return _edit_tuning(ctx, state, text)


def _check_config(ws: Workspace, text: str) -> None:
    """A config.json edited on the page is checked before it is written: a bad one never lands."""
    try:
        Config.model_validate_json(text)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"]) or "the file"
        raise InputError(f"{ws.config}: {where}: {err['msg']}") from None


def _edit_tuning(ctx: LoopContext, state: State, raw: str | None) -> str:
    from prism.agents import tuner

    rec = record(state, state.round)
    key = (rec.change_key or "").split("=")[0]
    if not key:
        raise InputError("this round has no change to edit")
    if raw is None:
        ctx.console.print(f"new value for {key} (JSON): ", end="")
        raw = TERMINAL.line(None) or ""
    # the corrected value replaces the proposal (it does not stack on it) and keeps the Tuner's revert
    out = tuner.change_config(ctx.ws, state.round, key, raw, "edited at checkpoint by the user",
                              f"replaces the Tuner's proposal {rec.change_key}")
    rec.change, rec.change_key = out.extra["change"], out.extra["change_key"]
    return f"user set {out.detail}"

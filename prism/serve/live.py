"""The loop seen from the page: start one (a `prism loop` process), what it is doing now (for the event
stream), and answers to the checkpoint it waits at.

One loop at a time: the workspace lock (`loop_lock`) is the judge, whoever started the loop; a start while
one runs is refused. An answer is written once (created exclusively, atomically) and names the question it
answers, so a second tab or a second click cannot answer twice or answer the next question by mistake.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

from prism.errors import InputError
from prism.orchestration.recording import now
from prism.schemas import CheckpointAnswer, CheckpointRequest
from prism.workspace import Workspace, json_bytes, load_state, lock_holder, read_json, read_model

LOG_TAIL = 12  # lines of the loop's output shown on the page
MAX_ROUNDS = 20
START_WAIT = 10.0  # seconds a start waits for the new loop to take the lock (or to fail)


class Busy(InputError):
    """A loop already runs, or the question was already answered: HTTP 409."""


class LoopStarter:
    """Starts `prism loop --checkpoints --page` as a process of its own (it survives a closed tab)."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self.proc: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def start(self, rounds: int, quick: bool, checkpoints: bool) -> int:
        """The new loop's pid, once it holds the workspace lock; Busy when a loop already runs."""
        if not 1 <= rounds <= MAX_ROUNDS:
            raise InputError(f"rounds must be 1 to {MAX_ROUNDS}, got {rounds}")
        with self._lock:
            pid = lock_holder(self.ws)
            if pid is not None or (self.proc is not None and self.proc.poll() is None):
                raise Busy(f"a loop is already running in this workspace (pid {pid or self.proc.pid})")
            cmd = [sys.executable, "-m", "prism", "loop", "--workdir", str(self.ws.root), "--rounds", str(rounds),
                   *(["--checkpoints", "--page"] if checkpoints else []), *(["--quick"] if quick else [])]
            with self.ws.loop_log.open("wb") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                             start_new_session=True, env={**os.environ, "COLUMNS": "120"})
            threading.Thread(target=self.proc.wait, name="prism-loop-reaper", daemon=True).start()
            return self._started()

    def _started(self) -> int:
        """Wait until the loop holds the lock (so a second start is refused by it) or has ended."""
        assert self.proc is not None
        deadline = time.monotonic() + START_WAIT
        while time.monotonic() < deadline and self.proc.poll() is None and lock_holder(self.ws) is None:
            time.sleep(0.05)
        if self.proc.poll() not in (None, 0):
            last = log_tail(self.ws, 1)
            raise InputError(f"the loop did not start: {last[0] if last else 'no output'}"[:400])
        return self.proc.pid


def log_tail(ws: Workspace, lines: int = LOG_TAIL) -> list[str]:
    """The last lines a loop started from the page printed."""
    if not ws.loop_log.exists():
        return []
    with ws.loop_log.open("rb") as f:
        f.seek(max(0, f.seek(0, os.SEEK_END) - 16_384))
        text = f.read().decode(errors="replace")
    return [ln.rstrip() for ln in text.replace("\r", "\n").splitlines() if ln.strip()][-lines:]


def _log_is_current(ws: Workspace) -> bool:
    """The page's loop log tells the last loop's story unless a loop from the terminal ran since."""
    if not ws.loop_log.exists():
        return False
    return not ws.state.exists() or ws.loop_log.stat().st_mtime >= ws.state.stat().st_mtime - 1.0


def pending(ws: Workspace) -> CheckpointRequest | None:
    """The checkpoint a running loop waits at (a file left by a loop that died is not a question)."""
    if not ws.checkpoint.exists() or lock_holder(ws) is None:
        return None
    try:
        return read_model(ws.checkpoint, CheckpointRequest)
    except InputError:
        return None


def snapshot(ws: Workspace) -> dict[str, Any]:
    """What the page's live panel shows: where the loop is, its progress rows, the verdicts of the round,
    the question it waits at and the last lines it printed."""
    pid = lock_holder(ws)
    out: dict[str, Any] = {"running": pid is not None, "pid": pid, "log": log_tail(ws) if _log_is_current(ws) else []}
    if ws.state.exists():
        state = load_state(ws)
        rec = next((r for r in state.rounds if r.round == state.round), None)
        out.update(round=state.round, stage=state.stage, stopped=state.stopped_reason, best=state.best_round,
                   waiting=state.pending_checkpoint,
                   verdicts=rec.verdicts if rec else {}, decisions=[d.model_dump(mode="json")
                                                                     for d in state.decisions[-5:]])
    progress = read_json(ws.progress) if pid is not None and ws.progress.exists() else {}
    out["rows"], out["models"] = progress.get("rows", []), progress.get("models", {})
    question = pending(ws)
    out["checkpoint"] = question.model_dump(mode="json") if question else None
    return out


def answer(ws: Workspace, request_id: str, decision: str, who: str, edit_text: str = "") -> CheckpointAnswer:
    """Write the page's answer to the question `request_id`: refused when no loop waits at it (answered
    already, or a stale page) or an answer is already on its way."""
    question = pending(ws)
    if question is None or question.id != request_id:
        raise Busy("this checkpoint is no longer waiting (answered already, or the loop moved on): reload the page")
    if decision == "edit" and question.edit is None:
        raise InputError(f"nothing to edit at the {question.checkpoint} checkpoint: approve, or stop")
    reply = CheckpointAnswer(id=request_id, decision=decision, by=f"user:{who}", at=now(),
                             edit_text=edit_text if decision == "edit" else "")
    _create_once(ws, json_bytes(reply.model_dump(mode="json")))
    return reply


def _create_once(ws: Workspace, data: bytes) -> None:
    """Write the answer file whole and only if none is there: a hard link of a finished temp file fails
    when the name exists, so two answers at the same instant cannot both land."""
    fd, tmp = tempfile.mkstemp(dir=ws.root, prefix=".prism-answer-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        try:
            os.link(tmp, ws.checkpoint_answer)
        except FileExistsError:
            raise Busy("this checkpoint has already been answered") from None
    finally:
        os.unlink(tmp)

"""The round as a small state machine over state.json.

discover → Explorer (round 1) | Tuner (2+) → run models → compare → Analyst → Critic (→ one Analyst
revision → Critic decides) → Reporter → Proofreader. Each stage's work is followed by one atomic state
write holding its record and the next stage, so a loop killed anywhere resumes at the stage it was in
and nothing is recorded twice. The Tuner stage first restores the config the previous round ran with,
so a Tuner killed after writing config.json does not stack a second change on the first.
"""

from __future__ import annotations

import os
import re
import sys
import time
from contextlib import nullcontext
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import Progress
from rich.table import Table

from prism.agents.base import AgentOutcome
from prism.analysis import governance
from prism.errors import InputError, Stopped
from prism.models.pool import refit_jobs, shared_pool
from prism.orchestration.cache import cached_table, combined, refit_key
from prism.orchestration.checkpoints import ask
from prism.orchestration.guards import session_guard
from prism.orchestration.progress import ProgressFile, add_row, loop_progress, refit_bar
from prism.orchestration.context import LoopContext
from prism.orchestration.recording import (cpu_seconds, finish_if_last, login_name, note_outcome, note_timing, now,
                                           record, update_best)
from prism.orchestration.registry import check_ready, impl_for
from prism.orchestration.stages import APPROVAL, STAGES, next_stage
from prism.schemas import STATUS_LINES, AgentCall, Config, Decision, Results, RoundRecord, State, Status
from prism.workspace import Workspace, load_state, loop_lock, read_model, save_state, write_text

PAUSE_ENV = "PRISM_PAUSE_AT"  # tests: sleep after this stage's work, before its record is saved
PAUSE_SECONDS = 600
SHORT = {"lightweight_mmm": "lw"}  # model names in the narrow round table
INTERRUPTED = "interrupted"  # state.json history status of a stage stopped by Ctrl-C or SIGTERM


# ------------------------------------------------------------------------------------ transitions
def execute(ctx: LoopContext, state: State, stage: str) -> str:
    """Run one stage of the current round, record it in `state` (not yet saved) and return its status."""
    n = state.round
    t0 = time.perf_counter()
    if stage == "discover":
        from prism.data.discover import refresh_metadata
        from prism.knowledge.sync import pull

        if not ctx.ws.config.exists():
            raise InputError(f"{ctx.ws.config}: file not found (run `prism discover` first, or `prism demo`)")
        note = refresh_metadata(ctx.ws).change_note  # weekly.parquet is rewritten: the round's one read of the source
        if note:
            ctx.console.print(f"[yellow]R{n:02d} {note}[/]")
        pulled = pull(ctx.ws)  # Notion failing only warns: the round goes on with the last good knowledge
        if pulled.warning:
            ctx.console.print(f"[yellow]warning:[/] {escape(pulled.warning)}", soft_wrap=True)
        _pause("discover")
        status = Status.METADATA_REFRESHED
        note_timing(state, n, stage, time.perf_counter() - t0, status)
        return status
    if stage == "run":
        return _run_models(ctx, state, t0)
    if stage == "compare":
        return _compare(ctx, state, t0)
    if stage == "tune":
        from prism.agents.tuner import restore_pre_tune_config

        restore_pre_tune_config(ctx.ws, n)
    if stage == "proofread":
        proofread_from_draft(ctx.ws, n)
    if stage == "recritique":
        keep_first_review(ctx.ws, n)
    spec = STAGES[stage]
    name = spec.agent
    agent, impl = ctx.agent(name)
    outcome = agent(ctx.ws, n, revision=spec.revision)
    _pause(stage)
    note_outcome(state, n, stage, name, impl, outcome, time.perf_counter() - t0, ctx.ws.root)
    _after_agent(ctx, state, stage, outcome)
    return outcome.status


def _run_models(ctx: LoopContext, state: State, t0: float) -> str:
    from prism.models.runner import run_models

    n = state.round
    state.deliverable_round = None  # results/ move on to this round; the hand-off picks the best again at the end
    write_text(ctx.ws.round_file(n, "config", "json"), ctx.ws.config.read_text(encoding="utf-8"))
    res = run_models(ctx.ws, n, quick=ctx.quick, console=ctx.console)
    _pause("run")
    rec = record(state, n)
    rec.objective = res.objective
    rec.test_mape = {k: (m.fit.mape_test if m.fit else None) for k, m in res.models.items() if m.status == "ok"}
    rec.model_status = {k: m.status for k, m in res.models.items()}
    _add_artifacts(rec, f"rounds/R{n:02d}_config.json", f"rounds/R{n:02d}_results.json", "results/latest.json",
                   "results/model_fit.csv")
    ok = len(res.ok_models())
    down = [f"{k} {m.status}" for k, m in res.models.items() if m.status != "ok"]
    status = f"{ok}/{len(res.models)} models ok" + (f" ({', '.join(down)})" if down else "")
    note_timing(state, n, "run", time.perf_counter() - t0, status)
    update_best(state)
    if ok == 0:
        raise InputError(f"round {n}: no model ran ({'; '.join(f'{k}: {m.reason}' for k, m in res.models.items())})")
    return status


def _compare(ctx: LoopContext, state: State, t0: float) -> str:
    from prism.analysis.compare import run_compare

    n = state.round
    audited = not ctx.quick and _audit(ctx, n)
    res: Results = run_compare(ctx.ws, n)
    if audited:
        _plans(ctx, n)
    _pause("compare")
    rec = record(state, n)
    rec.high_agreement = sum(a.label == "high" for a in res.agreement.values())
    rec.channels = len(res.channels)
    _add_artifacts(rec, "results/roi_comparison.csv", "results/contribution_comparison.csv",
                   *(["results/audit.csv", "results/test_plan.csv"] if audited else []))
    rec.high_confidence = sum(c.label == "high" for c in res.confidence.values())
    status = f"{rec.high_agreement}/{len(res.channels)} high agreement, {rec.high_confidence} high confidence"
    note_timing(state, n, "compare", time.perf_counter() - t0, status)
    return status


def _audit(ctx: LoopContext, n: int) -> bool:
    """The recoverability audit before compare (the confidence label reads it); the quick loop skips it and
    the test plans, since they refit ridge many times. Reused from the cache while what it reads is
    unchanged (prism/orchestration/cache.py)."""
    from prism.analysis import audit, confidence

    ws = ctx.ws
    res = read_model(ws.round_results(n), Results)
    source = audit.audit_source(res)
    if source is None:
        return False
    key = _audit_key(ws, res)
    with refit_bar(ctx.progress, f"Round {n} · audit: refits on synthetic series"):
        cached_table(ws, confidence.AUDIT_FILE, key, n, lambda: audit.run_audit(ws))
    return True


def _audit_key(ws: Workspace, res: Results) -> str:
    """What the audit reads (its source model's results, the data, config, knowledge and code): the audit's
    cache key, and part of the plans' (they read its verdicts)."""
    from prism.analysis import audit
    from prism.models import ridge

    return refit_key(ws, res, [audit.audit_source(res)], audit.run_audit, ridge.fit)


def _plans(ctx: LoopContext, n: int) -> None:
    """The test plans after compare: they are sized for the channels below `high` by compare's label, the
    one label every output shows (the Reporter reads the plans); cached on what they read, the label too."""
    from prism.analysis import audit, confidence, market_match, test_plan
    from prism.models import ridge, ridge_panel

    ws = ctx.ws
    res = read_model(ws.round_results(n), Results)
    code = (audit.run_audit, ridge.fit, test_plan.run_plans, confidence.compute_confidence, market_match.match_split,
            ridge_panel.fit_panel)  # a panel's market splits are matched and refitted
    key = combined(refit_key(ws, res, list(res.ok_models()), *code), _audit_key(ws, res),
                   labels.read_text(encoding="utf-8") if (labels := ws.result("roi_comparison.csv")).exists() else "")
    with refit_bar(ctx.progress, f"Round {n} · test plans: simulated tests"):
        cached_table(ws, test_plan.TEST_PLAN_FILE, key, n, lambda: test_plan.run_plans(ws))


def _add_artifacts(rec: RoundRecord, *paths: str) -> None:
    rec.artifacts += [p for p in paths if p not in rec.artifacts]


def proofread_from_draft(ws: Workspace, n: int) -> None:
    """Keep the Reporter's text until the Proofreader's stage is recorded, so a rerun makes the same edits."""
    draft = ws.round_file(n, "report_draft")
    if draft.exists():
        write_text(ws.report_md, draft.read_text(encoding="utf-8"))
    elif ws.report_md.exists():  # else the Proofreader says which file is missing
        write_text(draft, ws.report_md.read_text(encoding="utf-8"))


def keep_first_review(ws: Workspace, n: int) -> None:
    """The final Critic rewrites R{NN}_review.md: the first review (its REVISE line, the notes) stays beside it."""
    first, review = ws.round_file(n, "review_first"), ws.review(n)
    if review.exists() and not first.exists():
        write_text(first, review.read_text(encoding="utf-8"))


def _drop_draft(ws: Workspace, n: int, stage: str) -> None:
    """The draft lives from the Reporter's text until the Proofreader is recorded; a new report replaces it."""
    if stage in ("report", "proofread"):
        ws.round_file(n, "report_draft").unlink(missing_ok=True)


def _after_agent(ctx: LoopContext, state: State, stage: str, outcome: AgentOutcome) -> None:
    rec = record(state, state.round)
    if stage == "explore":
        rec.readiness = outcome.extra.get("readiness")
    elif stage == "tune":
        reverted = outcome.extra.get("reverted")
        if reverted and reverted not in state.reverted_changes:
            state.reverted_changes.append(reverted)
        if outcome.status == Status.NO_CHANGE:
            rec.change, rec.status = Status.NO_CHANGE, "stopped"
            state.stopped_reason = f"round {state.round}: the Tuner found no change left to try (NO_CHANGE)"
        else:
            rec.change, rec.change_key = outcome.extra.get("change", outcome.detail), outcome.extra.get("change_key")
        if reverted:
            rec.change = f"revert {reverted}; {rec.change}"
    elif stage in ("critique", "recritique"):
        rec.open_issues = outcome.extra.get("open_issues", [])
        if stage == "recritique" and ctx.ws.round_file(state.round, "review_first").exists():
            _add_artifacts(rec, f"rounds/R{state.round:02d}_review_first.md")
    elif stage == "proofread":
        _render(ctx, state)
        snap = ctx.ws.round_file(state.round, "report")
        write_text(snap, ctx.ws.report_md.read_text(encoding="utf-8"))
        _add_artifacts(rec, "results/report.md", f"rounds/R{state.round:02d}_report.md")
        rec.status = "done"


def _render(ctx: LoopContext, state: State) -> None:
    """Charts and decks from report.md (helper REPORT's renderer); a missing renderer is recorded, not faked."""
    rec = record(state, state.round)
    if not ctx.render:
        rec.render_note = "deliverables not rendered (--no-render); `prism report --render-only` renders them"
        return
    try:
        from prism.report.build import render_deliverables
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("prism.report"):
            raise
        rec.render_note = "deliverables not rendered: prism.report.build is not installed"
        return
    t0 = time.perf_counter()
    try:
        paths = render_deliverables(ctx.ws, state.round)
    except InputError as exc:
        rec.render_note = f"deliverables not rendered: {exc}"
        ctx.console.print(f"[yellow]warning:[/] {escape(rec.render_note)}")
        return
    rec.timings["render"] = round(time.perf_counter() - t0, 3)
    _add_artifacts(rec, *(str(p.relative_to(ctx.ws.root)) if p.is_relative_to(ctx.ws.root) else str(p)
                          for p in paths))


def _pause(stage: str) -> None:
    if os.environ.get(PAUSE_ENV) == stage:
        print(f"PRISM_PAUSED {stage}", file=sys.stderr, flush=True)
        time.sleep(PAUSE_SECONDS)


# ------------------------------------------------------------------------------------ checkpoints
def _checkpoint(ctx: LoopContext, state: State, name: str, pause_view: Callable[[], Any]) -> bool:
    """Ask approve / edit / stop (or record that no one approved); False means stop."""
    if not _interactive(ctx):
        by = "auto-approve" if ctx.auto_approve else "no-terminal"
        state.decisions.append(Decision(round=state.round, checkpoint=name, decision="approve", by=by, at=now(),
                                        note="proceeded without a human approval"))
        return True
    with pause_view():
        reply = ask(ctx, state, name, login_name())
    state.decisions.append(Decision(round=state.round, checkpoint=name, decision=reply.decision,
                                    by=reply.by, at=reply.at, note=reply.note))
    if name == APPROVAL and reply.decision == "approve":
        _approve(ctx, state.round, reply.user)
    if reply.decision == "stop":
        state.stopped_reason = f"stopped by the user at the {name} checkpoint of round {state.round}"
        return False
    return True


def _approve(ctx: LoopContext, round_no: int, user: str) -> None:
    """Record the user's approval in decisions.jsonl; a round that cannot be approved (no manifest, data changed
    since) is said, and the loop goes on: `prism approve` can do it later."""
    try:
        entry = governance.approve(ctx.ws, round_no, user, "approved at the loop's approval checkpoint")
    except InputError as exc:
        ctx.console.print(f"[yellow]round {round_no} not approved:[/] {escape(str(exc))}")
        return
    ctx.console.print(f"round {round_no} approved ({entry['id']} in decisions.jsonl)")


def _interactive(ctx: LoopContext) -> bool:
    """Someone can answer: at the terminal, or on `prism serve`'s page for a loop started with `--page`."""
    return (ctx.terminal or ctx.page) and not ctx.auto_approve


def _asks(ctx: LoopContext, state: State, checkpoint: str) -> bool:
    """A Tuner's NO_CHANGE ends the loop unasked; the approval checkpoint asks only a person (auto-approve and
    a loop without a terminal approve no model: that takes someone who can say who and why)."""
    return _interactive(ctx) if checkpoint == APPROVAL else state.stage != "done"


# ------------------------------------------------------------------------------------ the loop
def run_loop(ws: Workspace, rounds: int, agents: str = "rules", model: str | None = None,
             checkpoints: bool = False, auto_approve: bool = False, quick: bool = False,
             console: Console | None = None, steps: int | None = None, render: bool = True,
             page: bool = False) -> State:
    """Run (or resume) rounds until `rounds` rounds are done, the Tuner says NO_CHANGE or a user stops
    (or, with `steps`, after that many stages: `prism loop --step` for a Claude terminal session). With `page`,
    checkpoints wait for `prism serve`'s page even without a terminal."""
    check_start(ws, rounds, agents)
    ctx = LoopContext(ws, agents, model, quick, render, checkpoints or auto_approve, auto_approve,
                      console or Console(), page=page)
    with loop_lock(ws):
        state = load_state(ws)
        _prepare_resume(state, rounds)
        state.rounds_target = rounds
        save_state(ws, state)
        with nullcontext() if quick else shared_pool(refit_jobs()):  # every round's audit and plans: one pool
            _drive(ctx, state, rounds, steps)
        ctx.console.print(round_table(state))
        if state.stopped_reason:
            ctx.console.print(f"[bold]stopped:[/] {escape(state.stopped_reason)}")
        if state.best_round and state.best_round != state.round and state.deliverable_round != state.best_round:
            ctx.console.print(f"best round by the tuning objective: {state.best_round} "
                              f"(its report: rounds/R{state.best_round:02d}_report.md)")
        return state


def check_start(ws: Workspace, rounds: int, agents: str) -> None:
    """What a loop needs before it touches anything: rounds to run, config.json, a known --agents value and,
    for Claude agents, the API key (state.json once moved on before the key was found missing)."""
    if rounds < 1:
        raise InputError(f"--rounds must be at least 1, got {rounds}")
    if not ws.config.exists():
        raise InputError(f"{ws.config}: file not found (run `prism discover` first, or `prism demo`)")
    check_ready(agents, read_model(ws.config, Config))


def _prepare_resume(state: State, rounds: int) -> None:
    if state.round == 0:
        state.round, state.stage = 1, "discover"
    if not state.stopped_reason:
        return
    last = record(state, state.round)
    if last.verdicts.get("tuner") == Status.NO_CHANGE:
        if state.round >= rounds:  # converged and no more rounds asked for: nothing to do
            return
        last.status, state.stage = "running", "tune"  # more rounds asked for: the Tuner looks again
    state.stopped_reason = None  # a user stop: resume at the pending checkpoint


def _drive(ctx: LoopContext, state: State, rounds: int, steps: int | None = None) -> None:
    progress = ctx.progress = loop_progress(ctx.console)
    with progress, ProgressFile(ctx.ws, progress) as feed:
        while True:
            pending = state.pending_checkpoint
            if pending:
                go = _checkpoint(ctx, state, pending, lambda: _Paused(progress))
                state.pending_checkpoint = None if go else pending
                save_state(ctx.ws, state)
                if not go:
                    return
            if steps is not None and steps <= 0:
                return
            if state.stage == "done":
                if state.stopped_reason or state.round >= rounds:
                    finish_if_last(state)
                    _hand_off(ctx, state)
                    save_state(ctx.ws, state)
                    return
                state.round, state.stage = state.round + 1, "discover"
                save_state(ctx.ws, state)
            stage = state.stage
            task = add_row(progress, f"Round {state.round}/{rounds} · {STAGES[stage].label}")
            t0, cpu0 = time.perf_counter(), cpu_seconds()
            runner_view = _Paused(progress) if stage == "run" else nullcontext()  # the runner shows its own progress
            with runner_view, feed.models_running():
                status = _interruptible(ctx, state, stage)
            record(state, state.round).cpu[stage] = round(cpu_seconds() - cpu0, 2)
            progress.remove_task(task)
            state.stage = next_stage(stage, state.round, status)
            finish_if_last(state)
            checkpoint = STAGES[stage].checkpoint
            if ctx.checkpoints and checkpoint and _asks(ctx, state, checkpoint):
                state.pending_checkpoint = checkpoint
            save_state(ctx.ws, state)
            _drop_draft(ctx.ws, state.round, stage)
            steps = None if steps is None else steps - 1
            ctx.console.print(f"R{state.round:02d} {STAGES[stage].label:<18} {time.perf_counter() - t0:6.1f}s  {escape(status[:70])}",
                              highlight=False, soft_wrap=True)


def _hand_off(ctx: LoopContext, state: State) -> None:
    from prism.orchestration.handoff import hand_off

    note = hand_off(ctx.ws, state, ctx.render)
    if note:
        ctx.console.print(escape(note), highlight=False, soft_wrap=True)


def _interruptible(ctx: LoopContext, state: State, stage: str) -> str:
    """Run a stage; Ctrl-C or SIGTERM says where the loop stopped (state.json still points there) and
    records how long the stage ran before it was stopped."""
    t0 = time.perf_counter()
    try:
        return execute(ctx, state, stage)
    except KeyboardInterrupt:
        note_interrupted(ctx.ws, state.round, stage, time.perf_counter() - t0)
        raise Stopped(f"round {state.round}, stage {stage} did not finish; `prism loop` resumes there") from None


def note_interrupted(ws: Workspace, round_no: int, stage: str, seconds: float) -> None:
    """A history entry `interrupted` with the seconds spent, on the state as last saved: what the stopped
    stage had changed in memory is not kept, so the resumed loop runs it again from the start."""
    saved = load_state(ws)
    saved.history.append({"round": round_no, "stage": stage, "status": INTERRUPTED, "seconds": round(seconds, 3),
                          "at": now().isoformat(timespec="seconds")})
    save_state(ws, saved)


class _Paused:
    """Stop the live spinner while the user answers a checkpoint."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def __enter__(self) -> None:
        self.progress.stop()

    def __exit__(self, *exc: object) -> None:
        self.progress.start()


def run_stage(ws: Workspace, stage: str, agents: str = "rules", model: str | None = None,
              record_only: bool = False, console: Console | None = None) -> str:
    """One stage for the current round (`prism explore|tune|analyze|critique|report|proofread`).

    It is recorded like a loop stage; when the state machine stands at this stage it also moves on.
    `record_only`: the agent's file was written by someone else (a Claude terminal session)."""
    ctx = LoopContext(ws, agents, model, console=console or Console())
    with loop_lock(ws):
        state = _current(ws)
        if record_only and STAGES[stage].agent is None:
            raise InputError(f"stage '{stage}' has no agent file to record; run it with `prism loop --step`")
        if record_only:
            session_guard(ws, state.round, stage)  # recording follows the guard: a failing file is not recorded
            outcome = recorded_outcome(ws, state.round, stage)
            if stage == "tune" and outcome.status == Status.NO_CHANGE:  # undo a worse change, as the Tuner would
                from prism.agents import tuner

                tuner.begin(ws, state.round)
            note_outcome(state, state.round, stage, STAGES[stage].agent, "claude", outcome, 0.0, ws.root)
            _after_agent(ctx, state, stage, outcome)
            status = outcome.status
        else:
            status = execute(ctx, state, stage)
        if state.stage == stage:
            state.stage = next_stage(stage, state.round, status)
        finish_if_last(state)
        save_state(ws, state)
        _drop_draft(ws, state.round, stage)
        return status


def _current(ws: Workspace) -> State:
    state = load_state(ws)
    if state.round == 0:
        state.round, state.stage = 1, "discover"
    return state


def recorded_outcome(ws: Workspace, round_no: int, stage: str) -> AgentOutcome:
    """The outcome of an agent file written outside Prism: its status is the file's last status line."""
    spec = STAGES[stage]
    path = spec.artifact(ws, round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found; write it before recording the {stage} stage")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip().startswith(STATUS_LINES)]
    status = lines[-1] if lines else spec.default_status
    if status is None:
        raise InputError(f"{path}: no status line ({', '.join(STATUS_LINES)}) found")
    extra = {}
    if stage == "explore":
        from prism.agents.explorer import parse_readiness

        extra["readiness"] = parse_readiness(path.read_text(encoding="utf-8"))
    return AgentOutcome(status=status, path=path, extra=extra,
                   call=AgentCall(agent=spec.agent, impl="claude", by="session",
                                  note="written in a Claude terminal session"))


def set_change(ws: Workspace, key: str, value: str, rule: str, evidence: str) -> str:
    """`prism tune --set KEY=VALUE`: the round's Tuner decision made by hand or by a Claude session."""
    from prism.agents import tuner

    with loop_lock(ws):
        state = _current(ws)
        if state.round < 2:
            raise InputError("the Tuner runs from round 2 on (round 1 is the baseline)")
        outcome = tuner.change_config(ws, state.round, key, value, rule, evidence)
        outcome.call.impl, outcome.call.by, outcome.call.note = "claude", "session", "set with prism tune --set"
        note_outcome(state, state.round, "tune", "tuner", "claude", outcome, 0.0, ws.root)
        _after_agent(LoopContext(ws), state, "tune", outcome)
        if state.stage == "tune":
            state.stage = next_stage("tune", state.round, outcome.status)
        save_state(ws, state)
        return f"{outcome.status}: {outcome.detail}"


# ------------------------------------------------------------------------------------ the table
LONG_LIST = re.compile(r"\[([^\[\]]*,[^\[\]]*)\]")


def short_change(change: str) -> str:
    """A change as a table cell: a list of values as its count (an event's dates ran the column 18 lines tall)."""
    return LONG_LIST.sub(lambda m: f"[{m.group(1).count(',') + 1} values]", change)

def round_table(state: State) -> Table:
    """round, change, tuning objective, test MAPE, channels with high confidence (what the plans act on), verdict."""
    t = Table(title="Rounds", show_lines=False)
    for col in ("round", "change", "tuning objective (CV MAPE %)", "test MAPE %", "high confidence", "verdict"):
        t.add_column(col, overflow="fold")
    for r in state.rounds:
        best = " ★" if r.round == state.best_round else ""
        obj = f"{r.objective:.2f}{best}" if r.objective is not None else "–"
        test = ", ".join(f"{SHORT.get(k, k)} {v:.1f}" for k, v in r.test_mape.items() if v is not None) or "–"
        chans = r.channels
        high = f"{r.high_confidence}/{chans}" if r.high_confidence is not None else "–"
        verdict = r.verdict or r.status
        t.add_row(str(r.round), escape(short_change(r.change)), obj, test, high, escape(verdict[:60]))
    return t


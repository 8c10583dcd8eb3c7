"""Recording on state.json: the small transitions the loop and single-stage commands share.

A stage's work and its record (timing, verdict, agent call, history entry, next stage) are saved in one
atomic write after the stage finishes, so a stage killed half-way leaves no record and simply runs again.
"""

from __future__ import annotations

import resource
from datetime import datetime, timezone
from pathlib import Path

from prism.agents.base import AgentOutcome
from prism.models.pool import shared_cpu
from prism.orchestration.stages import STAGES
from prism.schemas import AgentCall, RoundRecord, State, best_round


def now() -> datetime:
    return datetime.now(timezone.utc)


def login_name() -> str:
    """Who answers a checkpoint at this machine (the terminal's user, and the page's default name)."""
    try:
        import getpass

        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "unknown"


def record(state: State, round_no: int) -> RoundRecord:
    """The record of a round, created on first use."""
    for r in state.rounds:
        if r.round == round_no:
            return r
    rec = RoundRecord(round=round_no)
    state.rounds.append(rec)
    state.rounds.sort(key=lambda r: r.round)
    return rec


def note_outcome(state: State, round_no: int, stage: str, agent: str, impl: str, outcome: AgentOutcome,
                 seconds: float, root: Path) -> None:
    """Record an agent's verdict, artifact (relative to the workspace `root`), timing and call on its round."""
    rec = record(state, round_no)
    rec.verdicts[stage if STAGES[stage].revision else agent] = outcome.status
    if outcome.path is not None:
        path = Path(outcome.path).resolve()
        rel = str(path.relative_to(root)) if path.is_relative_to(root) else str(path)
        if rel not in rec.artifacts:
            rec.artifacts.append(rel)
    call = outcome.call or AgentCall(agent=agent, impl=impl)  # type: ignore[arg-type]
    if call.by is None:
        call.by = "claude-api" if call.impl == "claude" else "rules"
    if not call.seconds:
        call.seconds = round(seconds, 3)
    rec.agents.append(call.model_copy(update={"stage": stage}))
    note_timing(state, round_no, stage, seconds, outcome.status)


def note_timing(state: State, round_no: int, stage: str, seconds: float, status: str = "") -> None:
    rec = record(state, round_no)
    rec.timings[stage] = round(seconds, 3)
    state.history.append({"round": round_no, "stage": stage, "status": status, "seconds": round(seconds, 3),
                          "at": now().isoformat(timespec="seconds")})


def cpu_seconds() -> float:
    """CPU seconds used so far by this process, the child processes it has waited for (model workers) and the
    loop's refit pool, whose processes live on between stages: a stage's difference is what that stage
    cost, whatever else shares the machine."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + shared_cpu()


def finish_if_last(state: State) -> None:
    """At `done` of the last round asked for, the loop ends: say why (status and `prism next` read it)."""
    target = state.rounds_target
    if state.stage == "done" and target and state.round >= target and not state.stopped_reason:
        state.stopped_reason = f"round {state.round} of {target} done: the rounds asked for are complete"


def update_best(state: State) -> None:
    """Best round = lowest tuning objective among rounds that ran their models."""
    best = best_round(state.rounds)
    if best is not None:
        state.best_round, state.best_objective = best.round, best.objective

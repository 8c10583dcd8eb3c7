"""The Claude terminal session's side of the loop: what to do now (`prism next`) and Prism's own work
between the session's turns.

A session's turn is one agent stage of the stage table. Recording it (`--record-only`) runs the stage's
guard first (`guards.session_guard`: nothing is recorded when it fails), then Prism runs its own stages up
to the session's next turn (into the next round when one is due) and writes the computed part of that
turn's file, so each turn is: write, record. When the loop stops, the best round is handed off.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from rich.console import Console

from prism.errors import InputError
from prism.orchestration.context import LoopContext
from prism.orchestration.recording import finish_if_last
from prism.orchestration.stages import STAGES, next_stage
from prism.schemas import Metadata, State
from prism.workspace import Workspace, load_state, loop_lock, read_model, save_state

STEP = "prism loop --step --rounds {n}"
DEFAULT_ROUNDS = 4  # `prism loop` and `prism demo` run this many rounds unless told otherwise
CANDIDATES_SHOWN = 3  # the Tuner's turn lists this many candidate changes, best first


@dataclass
class NextStep:
    """What the session does now: the stage, the agent to play, the commands and the files it may write."""

    round: int
    stage: str
    label: str
    rounds: int | None = None
    agent: str | None = None
    agent_file: str | None = None
    run: list[str] = field(default_factory=list)   # commands to run (Prism's own work) before writing
    record: str | None = None                      # guard, then record (and Prism's stages up to the next turn)
    writes: list[str] = field(default_factory=list)
    finished: bool = False
    stopped_reason: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def next_step(ws: Workspace) -> NextStep:
    """The session's next move, read from state.json and the stage table (changes nothing)."""
    if not ws.config.exists():
        raise InputError(f"{ws.config}: file not found (run `prism discover --path <data> --kpi <column>` first)")
    state = load_state(ws) if ws.state.exists() else State()
    n, stage = max(state.round, 1), state.stage
    target = state.rounds_target
    step = STEP.format(n=target or DEFAULT_ROUNDS)
    out = NextStep(round=n, stage=stage, label="end of round" if stage == "done" else STAGES[stage].label,
                   rounds=target, notes=_dropped(ws) if n == 1 and stage in ("discover", "explore") else [])
    if target is None:
        out.notes.append(f"{DEFAULT_ROUNDS} rounds is the default: use the number the user asked for instead")
    if stage == "done":
        out.finished = bool(state.stopped_reason) or (target is not None and n >= target)
        out.stopped_reason = state.stopped_reason
        if not out.finished:
            out.run = [step]
        return out
    spec = STAGES[stage]
    if spec.agent is None:
        out.run = [step]
        return out
    out.agent, out.agent_file = spec.agent, f"agents/{spec.agent}.md"
    out.writes = [w.replace("{NN}", f"{n:02d}") for w in spec.writes]
    out.record = spec.record_command
    if stage == "tune":  # a change is applied and recorded by --set; the record command is for NO_CHANGE
        out.record = 'prism tune --set KEY=VALUE --rule "..." --evidence "..."'
        out.notes += _candidates(ws, n)
        out.notes.append(f"NO_CHANGE instead: write {out.writes[0]} ending with NO_CHANGE, then "
                         f"{spec.record_command}")
    return out


def _candidates(ws: Workspace, n: int) -> list[str]:
    """The Tuner's turn shows its best candidates (`--set` validates): no separate listing command needed."""
    import json
    import shlex

    from prism.agents.tuner import candidate_changes

    cands = candidate_changes(ws, n)[:CANDIDATES_SHOWN]
    if not cands:
        return ["no untried change is left: NO_CHANGE"]
    return [f"candidate {i}: prism tune " + shlex.join(["--set", f"{c.key}={json.dumps(c.new, sort_keys=True)}",
                                                        "--rule", c.rule, "--evidence", c.evidence])
            for i, c in enumerate(cands, 1)] + \
        ["more candidates, with what each changes: prism tune --candidates"]


def _dropped(ws: Workspace) -> list[str]:
    """Columns discover left out of the model, with its reason (the session tells the user)."""
    if not ws.metadata.exists():
        return []
    meta = read_model(ws.metadata, Metadata)
    return [f"not modelled: {r.column} ({r.reason})" for r in meta.roles if r.role == "ignored"]


# ------------------------------------------------------------------------------------ Prism's turns
def advance(ws: Workspace, console: Console | None = None) -> State:
    """Run Prism's own stages up to the session's next turn and write that turn's computed part."""
    from prism.orchestration.loop import execute

    ctx = LoopContext(ws, console=console or Console())
    with loop_lock(ws):
        state = load_state(ws)
        while _starts_next_round(state) or (state.stage != "done" and STAGES[state.stage].agent is None):
            if state.stage == "done":
                state.round, state.stage = state.round + 1, "discover"
            status = execute(ctx, state, state.stage)
            state.stage = next_stage(state.stage, state.round, status)
            save_state(ws, state)
        prepare(ctx, state)
        finish_if_last(state)
        if state.stage == "done":
            from prism.orchestration.handoff import hand_off

            hand_off(ws, state, ctx.render)
        save_state(ws, state)
        return state


def _starts_next_round(state: State) -> bool:
    """A round that ended before the rounds asked for flows into the next one (no `loop --step` between)."""
    target = state.rounds_target
    return state.stage == "done" and not state.stopped_reason and target is not None and state.round < target


def prepare(ctx: LoopContext, state: State) -> None:
    """Write the computed part of a prepared stage (statistics, checks, number corrections), unrecorded."""
    from prism.agents import critic, explorer, proofreader
    from prism.orchestration.loop import keep_first_review, proofread_from_draft

    stage, n, ws = state.stage, state.round, ctx.ws
    if stage == "done" or not STAGES[stage].prepared:
        return
    if stage == "explore" and not ws.exploration().exists():
        explorer.run(ws, n)
    elif stage == "critique":
        critic.run(ws, n)
    elif stage == "recritique":
        keep_first_review(ws, n)
        critic.run(ws, n, revision=True)
    elif stage == "proofread":
        proofread_from_draft(ws, n)
        proofreader.run(ws, n)

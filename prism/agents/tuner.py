"""Tuner (rule-based, round 2+): one change to config.json per round, or NO_CHANGE.

It judges changes only by `Results.objective` (rolling-origin CV MAPE inside the training weeks), never
by the holdout. A change that made the objective worse than the best round is reverted (config restored
from the best round's snapshot) and listed in state.reverted_changes, so it is never tried again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import ValidationError

from prism.agents.base import AgentOutcome
from prism.analysis import checks
from prism.analysis.facts import BAYESIAN_MODELS, RoundFacts
from prism.errors import InputError
from prism.schemas import CONVERGENCE, AgentCall, Config, Diag, GateFailure, Results, Status, best_round
from prism.workspace import Workspace, load_state, read_model, write_json, write_text

DRAWS_FACTOR = 2
MAX_DRAWS = 4000
DECAY_STEP = 0.2
DECAY_ROUND = 0.05
SHORT_DECAY = 0.3        # learned decays this short make long lags pointless
SHORT_LAG = 4
LAG_STEP = 4
HALF_FACTORS = (0.7, 1.4)
SLOPE_STEP = 0.5
ALPHA_FACTORS = (4.0, 0.25)
DEFAULT_HALF = 1.0       # half-saturation at the mean adstocked spend
DEFAULT_SLOPE = 1.0
PATIENCE = 2             # rounds after the best one without a better objective: stop tuning
TUNABLE = ("adstock.decay", "adstock.max_lag", "adstock.channel_decays", "saturation.half", "saturation.slope",
           "pymc.draws", "pymc.tune", "pymc.target_accept", "lightweight_mmm.samples", "lightweight_mmm.warmup",
           "lightweight_mmm.target_accept", "ridge.alpha")
CHANNEL_MAPS = ("adstock.channel_decays", "saturation.channel_half", "saturation.channel_slope")
SAMPLER_KEYS = {"pymc": "pymc.draws", "lightweight_mmm": "lightweight_mmm.samples"}
TARGET_ACCEPT = 0.95     # divergences: smaller steps, not more draws
SAMPLER_SETTINGS = ("draws", "tune", "samples", "warmup", "target_accept")



@dataclass(frozen=True)
class Change:
    key: str
    old: Any
    new: Any
    rule: str = ""
    evidence: str = ""

    @property
    def ident(self) -> str:
        """How the change is remembered in state (tried and reverted lists)."""
        return f"{self.key}={json.dumps(self.new, sort_keys=True)}"

    @property
    def describe(self) -> str:
        return f"{self.key}: {_show(self.old)} → {_show(self.new)}"


def _show(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {x}" for k, x in v.items()) + "}" if v else "{}"
    return "learned" if v is None else str(v)


# --------------------------------------------------------------------------- config access
def get_path(data: dict, key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def set_path(data: dict, key: str, value: Any) -> dict:
    out = json.loads(json.dumps(data))
    node = out
    parts = key.split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    return out


def _allowed(key: str) -> bool:
    return key in TUNABLE or any(key.startswith(m + ".") and key.count(".") == 2 for m in CHANNEL_MAPS)


def parse_value(raw: Any) -> Any:
    """A value from the command line: JSON when it parses ('0.3', 'null', '{"tv": 0.5}'), else the text."""
    if not isinstance(raw, str):
        return raw
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def tried(ws: Workspace) -> set[str]:
    """Every change already made or reverted in this workspace."""
    state = load_state(ws)
    made = {r.change_key for r in state.rounds}
    return {m for m in made if m} | set(state.reverted_changes)


def validate_change(ws: Workspace, key: str, value: Any) -> Change:
    """One tunable key, a value the config schema accepts, different from now, not a reverted repeat."""
    if not _allowed(key):
        raise InputError(f"tune: key '{key}' is not tunable; tunable keys are {', '.join(TUNABLE)} "
                         f"and {', '.join(m + '.<channel>' for m in CHANNEL_MAPS)}")
    value = parse_value(value)
    current = json.loads(ws.config.read_text(encoding="utf-8")) if ws.config.exists() else None
    if current is None:
        raise InputError(f"{ws.config}: file not found (run prism discover first)")
    old = get_path(current, key)
    if old == value:
        raise InputError(f"tune: {key} is already {_show(value)}; a change must change something")
    try:
        Config.model_validate(set_path(current, key, value))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(f"tune: {key}={json.dumps(value)} is out of bounds: "
                         f"{err['msg'].removeprefix('Value error, ')}") from None
    change = Change(key, old, value)
    if change.ident in load_state(ws).reverted_changes:
        raise InputError(f"tune: {change.ident} was reverted earlier (it made the objective worse); not retried")
    return change


# --------------------------------------------------------------------------- candidates
def candidate_changes(ws: Workspace, round_no: int) -> list[Change]:
    """Valid, untried changes in rule order, from the latest results and the knowledge layer."""
    facts = _facts_for(ws, round_no)
    done = tried(ws)
    touched = {d.split("=")[0] for d in done}
    out: list[Change] = []
    for key, value, rule, evidence in _proposals(facts):
        if rule.startswith("sampler") and key in touched:
            continue  # one sampler change per setting: a second doubling rarely fixes what the first did not
        try:
            change = validate_change(ws, key, value)
        except InputError:
            continue
        if change.ident not in done and all(c.ident != change.ident for c in out):
            out.append(Change(change.key, change.old, change.new, rule, evidence))
    return out


def _facts_for(ws: Workspace, round_no: int) -> RoundFacts:
    prev = round_no - 1
    if not ws.round_results(prev).exists():
        raise InputError(f"{ws.round_results(prev)}: file not found (the Tuner needs round {prev}'s results)")
    return RoundFacts.load(ws, prev)


def _proposals(facts: RoundFacts) -> list[tuple[str, Any, str, str]]:
    cfg = facts.cfg
    props: list[tuple[str, Any, str, str]] = []
    for name, m in facts.ok_models.items():  # 1. sampler settings when Bayesian diagnostics fail
        if name in BAYESIAN_MODELS:
            props += _sampler_moves(cfg, name, CONVERGENCE.failures(name, m.diagnostics))
    over = checks.overfitting(facts)  # 2. overfitting: shorter memory, stronger shrinkage
    if not over.passed:
        props.append(("adstock.max_lag", max(1, cfg.adstock.max_lag // 2), "overfitting: shorter lag", over.evidence))
        if cfg.ridge.alpha:
            props.append(("ridge.alpha", cfg.ridge.alpha * ALPHA_FACTORS[0], "overfitting: more shrinkage", over.evidence))
    known = {ch: f.adstock_decay for ch, f in facts.meta.knowledge.fields.items()  # 3. knowledge-layer decays
             if f.adstock_decay is not None and ch in cfg.data.channels}
    if known and {**cfg.adstock.channel_decays, **known} != cfg.adstock.channel_decays:
        props.append(("adstock.channel_decays", {**cfg.adstock.channel_decays, **known},
                      "per-channel decays from the knowledge layer",
                      f"metadata.json knowledge fields give decays for {len(known)} channel(s)"))
    learned = _learned_decays(facts)
    props += _decay_moves(cfg, learned)  # 4. global decay and max lag
    props += _saturation_moves(cfg)       # 5. Hill half-saturation and slope
    if cfg.ridge.alpha:                   # 6. ridge shrinkage
        props += [("ridge.alpha", cfg.ridge.alpha * f, "ridge alpha step", f"alpha {cfg.ridge.alpha}")
                  for f in ALPHA_FACTORS]
    return props


def _sampler_moves(cfg: Config, name: str, failures: list[GateFailure]) -> list[tuple[str, Any, str, str]]:
    """Divergences → a higher target acceptance; r-hat or ESS → more draws."""
    settings = cfg.model_dump()
    out: list[tuple[str, Any, str, str]] = []
    evidence = "; ".join(map(str, failures))
    accept_key = f"{name}.target_accept"
    if any(f.key is Diag.DIVERGENCES for f in failures) and get_path(settings, accept_key) < TARGET_ACCEPT:
        out.append((accept_key, TARGET_ACCEPT, "sampler: divergences, smaller steps", evidence))
    draws_key = SAMPLER_KEYS[name]
    cur = get_path(settings, draws_key)
    if any(f.key in (Diag.RHAT_MAX, Diag.ESS_BULK_MIN) for f in failures) and cur < MAX_DRAWS:
        out.append((draws_key, min(MAX_DRAWS, cur * DRAWS_FACTOR), "sampler draws: r-hat or ESS fail", evidence))
    return out


def _learned_decays(facts: RoundFacts) -> list[float]:
    return [c.params["decay"] for m in facts.ok_models.values() for c in m.channels.values() if "decay" in c.params]


def _decay_moves(cfg: Config, learned: list[float]) -> list[tuple[str, Any, str, str]]:
    out: list[tuple[str, Any, str, str]] = []
    if cfg.adstock.decay is None and learned:
        median = sorted(learned)[len(learned) // 2]
        value = round(round(median / DECAY_ROUND) * DECAY_ROUND, 2)
        out.append(("adstock.decay", value, "fix the global decay at the learned median (fewer parameters)",
                    f"median learned decay {median:.3f} over {len(learned)} channel estimates"))
        if median < SHORT_DECAY and cfg.adstock.max_lag > SHORT_LAG:
            out.append(("adstock.max_lag", SHORT_LAG, "short learned decays: shorter max lag",
                        f"median learned decay {median:.3f} < {SHORT_DECAY}"))
    elif cfg.adstock.decay is not None:
        for step in (-DECAY_STEP, DECAY_STEP):
            value = round(min(0.95, max(0.0, cfg.adstock.decay + step)), 2)
            out.append(("adstock.decay", value, "global decay step", f"decay {cfg.adstock.decay} ± {DECAY_STEP}"))
    lag = cfg.adstock.max_lag
    out += [("adstock.max_lag", v, "max lag step", f"max lag {lag}") for v in (lag // 2, lag + LAG_STEP) if v >= 1]
    return out


def _saturation_moves(cfg: Config) -> list[tuple[str, Any, str, str]]:
    sat = cfg.saturation
    out: list[tuple[str, Any, str, str]] = []
    if sat.half is None:
        out.append(("saturation.half", DEFAULT_HALF, "fix Hill half-saturation at mean spend", "half is learned"))
    else:
        out += [("saturation.half", round(sat.half * f, 2), "Hill half-saturation step", f"half {sat.half}")
                for f in HALF_FACTORS]
    if sat.slope is None:
        out.append(("saturation.slope", DEFAULT_SLOPE, "fix Hill slope at 1", "slope is learned"))
    else:
        out += [("saturation.slope", round(max(0.5, sat.slope + s), 2), "Hill slope step", f"slope {sat.slope}")
                for s in (-SLOPE_STEP, SLOPE_STEP)]
    return out


# --------------------------------------------------------------------------- the one transaction
def config_snapshot(ws: Workspace, round_no: int):
    """The config a round's models ran with (written by the loop before running them)."""
    return ws.round_file(round_no, "config", "json")


def restore_pre_tune_config(ws: Workspace, round_no: int) -> None:
    """Start from the config the previous round ran with, so a rerun never stacks a second change on the first."""
    snap = config_snapshot(ws, round_no - 1)
    if snap.exists():
        write_text(ws.config, snap.read_text(encoding="utf-8"))


def begin(ws: Workspace, round_no: int, restore: bool = True) -> Change | None:
    """Every Tuner decision starts here (deterministic, idempotent): restore, then undo a worse change.

    Agents pass `restore=False`: the loop restored the config before it called them."""
    if restore:
        restore_pre_tune_config(ws, round_no)
    return revert_if_worse(ws, round_no)


def change_config(ws: Workspace, round_no: int, key: str, value: Any, rule: str, evidence: str,
                  check: Callable[[Change], None] | None = None, restore: bool = True) -> AgentOutcome:
    """The whole transaction for one change, whoever decides it (rules, Claude, `tune --set`, a checkpoint):
    begin, validate (and the caller's `check`), apply; a rejected change leaves config.json as it was."""
    before = ws.config.read_text(encoding="utf-8") if ws.config.exists() else None
    reverted = begin(ws, round_no, restore)
    try:
        change = validate_change(ws, key, value)
        if check is not None:
            check(change)
    except Exception:
        if before is not None:
            write_text(ws.config, before)
        raise
    return apply_change(ws, round_no, change, rule, evidence, reverted)


def keep_config(ws: Workspace, round_no: int, body: list[str], restore: bool = True) -> AgentOutcome:
    """The transaction without a change: begin, then the NO_CHANGE note (with the revert, if one ran)."""
    return write_no_change(ws, round_no, begin(ws, round_no, restore), body)


def revert_if_worse(ws: Workspace, round_no: int) -> Change | None:
    """Undo the previous round's change when its objective is worse than the best earlier round."""
    state = load_state(ws)
    prev = next((r for r in state.rounds if r.round == round_no - 1), None)
    key = prev.change_key if prev else None
    best = best_round(r for r in state.rounds if r.round < round_no - 1)
    if not prev or not key or best is None:
        return None
    if prev.objective is not None and prev.objective <= best.objective:
        return None
    snap = config_snapshot(ws, best.round)
    if not snap.exists():
        return None
    write_text(ws.config, snap.read_text(encoding="utf-8"))
    worse = "no objective" if prev.objective is None else f"{prev.objective:.2f}%"
    return Change(key.split("=")[0], key, None, "revert",
                  f"round {prev.round} objective {worse} vs best {best.objective:.2f}% in round {best.round}")


def apply_change(ws: Workspace, round_no: int, change: Change, rule: str, evidence: str,
                 reverted: Change | None = None) -> AgentOutcome:
    """Write the one change to config.json and the tuning note; CONFIG_UPDATED."""
    data = json.loads(ws.config.read_text(encoding="utf-8"))
    write_json(ws.config, Config.model_validate(set_path(data, change.key, change.new)))
    body = [f"Rule fired: {rule}", "", f"Evidence: {evidence}", "", "Config diff:", "", "```diff",
            f"- {change.key}: {json.dumps(change.old)}", f"+ {change.key}: {json.dumps(change.new)}", "```"]
    write_text(ws.tuning(round_no), _note(round_no, reverted, body, Status.CONFIG_UPDATED))
    return AgentOutcome(status=Status.CONFIG_UPDATED, path=ws.tuning(round_no), detail=change.describe,
                        call=AgentCall(agent="tuner", impl="rules"),
                        extra={"change": change.describe, "change_key": change.ident,
                               "reverted": reverted.old if reverted else None})


def _note(round_no: int, reverted: Change | None, body: list[str], status: str) -> str:
    head = [f"# Round {round_no} tuning", "", "Selection score: rolling-origin CV MAPE inside the training weeks "
            "(the holdout is never used to choose).", ""]
    if reverted:
        head += [f"Reverted: {reverted.old} ({reverted.evidence}); config restored from the best round. "
                 f"It will not be tried again.", ""]
    return "\n".join(head + body + ["", status, ""])


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    if round_no < 2:
        raise InputError("the Tuner runs from round 2 on (round 1 is the baseline)")
    reverted = begin(ws, round_no, restore=False)
    stalled = _stalled(ws, round_no)
    cands = [] if stalled else candidate_changes(ws, round_no)
    if cands:
        c = cands[0]
        return apply_change(ws, round_no, c, c.rule, c.evidence, reverted)
    objective = _objective(ws, round_no - 1)
    body = [stalled or f"No untried change is left (last objective {objective}); keeping the current config."]
    outcome = write_no_change(ws, round_no, reverted, body)
    outcome.call = AgentCall(agent="tuner", impl="rules")
    return outcome


def write_no_change(ws: Workspace, round_no: int, reverted: Change | None, body: list[str]) -> AgentOutcome:
    """The round's tuning note for NO_CHANGE (with the revert, if one ran first)."""
    write_text(ws.tuning(round_no), _note(round_no, reverted, body, Status.NO_CHANGE))
    return AgentOutcome(status=Status.NO_CHANGE, path=ws.tuning(round_no),
                        extra={"reverted": reverted.old if reverted else None})


def _stalled(ws: Workspace, round_no: int) -> str | None:
    """Why tuning should stop: PATIENCE rounds after the best one brought no better objective."""
    scored = [r for r in load_state(ws).rounds if r.round < round_no and r.objective is not None]
    best = best_round(scored)
    if best is None:
        return None
    tries = [r for r in scored if r.round > best.round and not _sampler_change(r.change_key)]
    if len(tries) >= PATIENCE:
        return (f"The objective stopped improving: {len(tries)} model changes since round {best.round} "
                f"({best.objective:.2f}%) did not beat it; keeping the best config.")
    return None


def _sampler_change(change_key: str | None) -> bool:
    """Sampler settings fix diagnostics; they are not expected to move the objective, so they never count
    towards a stall."""
    key = (change_key or "").split("=")[0]
    return key.split(".")[-1] in SAMPLER_SETTINGS


def _objective(ws: Workspace, round_no: int) -> str:
    res = read_model(ws.round_results(round_no), Results)
    return f"{res.objective:.2f}%" if res.objective is not None else "n/a"

"""Tuner (rule-based, round 2+): one change to config.json per round, or NO_CHANGE.

It judges changes only by `Results.objective` (the mean over every model that ran of its out-of-sample error
inside the training weeks: ridge's rolling-origin CV MAPE, the Bayesian models' PSIS-LOO MAPE), never by
the holdout. Candidates come from the previous round's results and from the data the Explorer described:
recurring KPI anomalies become events, many 0/1 controls become events, a known country adds holidays, a
timed-out model gets more time or fewer draws (a failed model is a finding in the note, never a silence).
A change that made the objective worse than the best round is reverted (config restored from the best round's
snapshot) and listed in state.reverted_changes, so it is never tried again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable

from pydantic import ValidationError

from prism.agents.base import AgentOutcome
from prism.analysis import checks
from prism.analysis.anomalies import RecurringEvent, recurring_events
from prism.analysis.facts import BAYESIAN_MODELS, RoundFacts
from prism.analysis.refresh import read_refresh
from prism.data.column_kinds import is_binary
from prism.errors import InputError
from prism.knowledge.checks import unapplied_decay_benchmarks
from prism.schemas import (CONVERGENCE, AgentCall, Config, Diag, GateFailure, Results, RoundRecord, Status, Verdict,
                           best_round)
from prism.models.base import holdout_weeks
from prism.workspace import Workspace, load_state, read_model, read_weekly, write_json, write_text

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
           "saturation.type", "fourier_order", "pymc.draws", "pymc.tune", "pymc.target_accept",
           "lightweight_mmm.samples", "lightweight_mmm.warmup", "lightweight_mmm.target_accept", "ridge.alpha",
           "baseline.event_weeks", "baseline.event_columns", "baseline.holidays",
           "timeouts.ridge", "timeouts.pymc", "timeouts.lightweight_mmm")
CHANNEL_MAPS = ("adstock.channel_decays", "saturation.channel_half", "saturation.channel_slope")
SAMPLER_KEYS = {"pymc": "pymc.draws", "lightweight_mmm": "lightweight_mmm.samples"}
TARGET_ACCEPT = 0.95     # divergences: smaller steps, not more draws
SAMPLER_SETTINGS = ("draws", "tune", "samples", "warmup", "target_accept")
TIMEOUT_FACTOR = 2
MAX_TIMEOUT = 3600       # beyond an hour a round is not worth waiting for: cut the draws instead
MIN_CUT_DRAWS = 500      # cutting draws below this rarely keeps bulk ESS above 400
TIMED_OUT = "timed out"  # the runner's reason for a model past its timeout
DUMMY_CONTROLS_MIN = 5   # this many 0/1 controls: move them to the baseline's events
FOURIER_STEPS = (1, -1)
SATURATION_TYPES = ("hill", "logistic")
COUNTRY_KEYS = ("country", "market", "country_code")  # knowledge-layer business context naming the country



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


def with_change(data: dict, key: str, value: Any) -> dict:
    """The config with the change applied; columns that become events leave the controls in the same change."""
    out = set_path(data, key, value)
    if key == "baseline.event_columns":
        controls = out.get("data", {}).get("controls", [])
        out["data"]["controls"] = [c for c in controls if c not in set(value or [])]
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
        Config.model_validate(with_change(current, key, value))
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
    props: list[tuple[str, Any, str, str]] = _timeout_moves(facts)  # 0. a timed-out model: more time, fewer draws
    for name, m in facts.ok_models.items():  # 1. sampler settings when Bayesian diagnostics fail
        if name in BAYESIAN_MODELS and not m.quick:  # quick fits ignore the sampler settings
            props += _sampler_moves(cfg, name, CONVERGENCE.failures(name, m.diagnostics))
    props += _data_moves(facts)  # 2. what the data shows: recurring KPI anomalies, dummy controls, holidays
    over = checks.overfitting(facts, holdout=False)  # 3. overfitting in sample, never the holdout
    if not over.passed:
        props.append(("adstock.max_lag", max(1, cfg.adstock.max_lag // 2), "overfitting: shorter lag", over.evidence))
        if cfg.ridge.alpha:
            props.append(("ridge.alpha", cfg.ridge.alpha * ALPHA_FACTORS[0], "overfitting: more shrinkage", over.evidence))
    known = unapplied_decay_benchmarks(cfg, facts.meta.knowledge)  # 4. knowledge-layer decay benchmarks
    if known:
        props.append(("adstock.channel_decays", {**cfg.adstock.channel_decays, **known},
                      "per-channel decays from the knowledge layer",
                      f"metadata.json knowledge fields give decays for {len(known)} channel(s) not yet applied"))
    learned = _learned_decays(facts)
    props += _decay_moves(cfg, learned)  # 5. global decay and max lag
    props += _seasonality_moves(cfg)      # 6. Fourier order
    props += _saturation_moves(cfg)       # 7. Hill half-saturation and slope, then the saturation family
    if cfg.ridge.alpha:                   # 8. ridge shrinkage
        props += [("ridge.alpha", cfg.ridge.alpha * f, "ridge alpha step", f"alpha {cfg.ridge.alpha}")
                  for f in ALPHA_FACTORS]
    return props


def _timeout_moves(facts: RoundFacts) -> list[tuple[str, Any, str, str]]:
    """A model past its timeout: double the timeout (up to an hour), else cut its draws (not below 500)."""
    settings = facts.cfg.model_dump()
    out: list[tuple[str, Any, str, str]] = []
    for name, m in facts.failed_models.items():
        if not (m.reason or "").startswith(TIMED_OUT):
            continue
        evidence = f"{name} {m.reason} in round {facts.round_no}"
        limit = facts.cfg.timeouts[name]
        if limit < MAX_TIMEOUT:
            out.append((f"timeouts.{name}", min(MAX_TIMEOUT, limit * TIMEOUT_FACTOR), "timeout: more time", evidence))
        draws_key = SAMPLER_KEYS.get(name)
        if draws_key and get_path(settings, draws_key) > MIN_CUT_DRAWS:
            out.append((draws_key, max(MIN_CUT_DRAWS, get_path(settings, draws_key) // DRAWS_FACTOR),
                        "timeout: fewer draws", evidence))
    return out


def failure_findings(facts: RoundFacts) -> list[str]:
    """Every model that failed last round, with its reason: a finding the tuning note always states."""
    return [f"Finding: {name} failed in round {facts.round_no}: {m.reason or 'no reason recorded'}."
            for name, m in facts.failed_models.items() if m.status == "failed"]


def _data_moves(facts: RoundFacts) -> list[tuple[str, Any, str, str]]:
    """Events the data argues for: recurring KPI spikes, 0/1 controls, the known country's holidays."""
    b = facts.cfg.baseline
    out: list[tuple[str, Any, str, str]] = []
    for event in anomaly_events(facts):
        if event.name not in b.event_weeks:
            out.append(("baseline.event_weeks", {**b.event_weeks, event.name: list(event.dates)},
                        "recurring KPI anomalies as an event", event.evidence))
    dummies = dummy_controls(facts)
    if len(dummies) >= DUMMY_CONTROLS_MIN:
        out.append(("baseline.event_columns", [*b.event_columns, *dummies], "many 0/1 controls → events",
                    f"{len(dummies)} of {len(facts.cfg.data.controls)} controls are 0/1 dummies "
                    f"({', '.join(dummies[:3])}, …): as events they enter the baseline unscaled, one lift each"))
    country = known_country(facts)
    if country and b.holidays is None:
        out.append(("baseline.holidays", country, "country holidays", f"the knowledge layer names the country "
                                                                       f"'{country}'"))
    return out


def anomaly_events(facts: RoundFacts) -> list[RecurringEvent]:
    """The Explorer's KPI anomalies, on the training weeks only, that recur in the same weeks of several years."""
    frame = read_weekly(facts.ws, facts.cfg)
    d = facts.cfg.data
    frame = frame.sort_values(d.date_column).reset_index(drop=True)
    n_train = len(frame) - holdout_weeks(len(frame), facts.cfg)
    return recurring_events(frame[d.kpi], frame[d.date_column], n_train)


def dummy_controls(facts: RoundFacts) -> list[str]:
    frame = read_weekly(facts.ws, facts.cfg)
    return [c for c in facts.cfg.data.controls if is_binary(frame[c])]


def known_country(facts: RoundFacts) -> str | None:
    """The country the knowledge layer or the dataset description names; never a guess."""
    context = {k.lower(): v for k, v in {**facts.meta.dataset, **facts.meta.knowledge.business_context.model_dump()}.items()}
    return next((str(context[k]).strip() for k in COUNTRY_KEYS if isinstance(context.get(k), str)), None)


def _seasonality_moves(cfg: Config) -> list[tuple[str, Any, str, str]]:
    return [("fourier_order", cfg.fourier_order + s, "seasonality order step", f"fourier_order {cfg.fourier_order}")
            for s in FOURIER_STEPS if cfg.fourier_order + s >= 0]


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
    other = next(t for t in SATURATION_TYPES if t != sat.type)
    out.append(("saturation.type", other, "saturation family", f"saturation {sat.type}; try {other}"))
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


def comparable(ws: Workspace, rounds: list[RoundRecord]) -> list[RoundRecord]:
    """The rounds fitted on the current data. A refresh that went through starts a new series: its objective
    is measured on more weeks, and the configs before it lack its fixed scales and data, so no revert or
    stall compares across it."""
    report = read_refresh(ws)
    start = report.round if report is not None and report.verdict != Verdict.BLOCKED else 0
    return [r for r in rounds if r.round >= start]


def revert_if_worse(ws: Workspace, round_no: int) -> Change | None:
    """Undo the previous round's change when its objective is worse than the best earlier round."""
    state = load_state(ws)
    prev = next((r for r in state.rounds if r.round == round_no - 1), None)
    key = prev.change_key if prev else None
    best = best_round(r for r in comparable(ws, state.rounds) if r.round < round_no - 1)
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
                 reverted: Change | None = None, findings: list[str] | None = None) -> AgentOutcome:
    """Write the one change to config.json and the tuning note (after any findings); CONFIG_UPDATED."""
    data = json.loads(ws.config.read_text(encoding="utf-8"))
    write_json(ws.config, Config.model_validate(with_change(data, change.key, change.new)))
    body = [*(f + "\n" for f in findings or []), f"Rule fired: {rule}", "", f"Evidence: {evidence}", "", "Config diff:", "", "```diff",
            f"- {change.key}: {json.dumps(change.old)}", f"+ {change.key}: {json.dumps(change.new)}", "```"]
    write_text(ws.tuning(round_no), _note(round_no, reverted, body, Status.CONFIG_UPDATED))
    return AgentOutcome(status=Status.CONFIG_UPDATED, path=ws.tuning(round_no), detail=change.describe,
                        call=AgentCall(agent="tuner", impl="rules"),
                        extra={"change": change.describe, "change_key": change.ident,
                               "reverted": reverted.old if reverted else None})


def _note(round_no: int, reverted: Change | None, body: list[str], status: str) -> str:
    head = [f"# Round {round_no} tuning", "", "Selection score: the tuning objective, the mean over the models "
            "that ran of their out-of-sample MAPE inside the training weeks (the holdout is never used to choose).", ""]
    if reverted:
        head += [f"Reverted: {reverted.old} ({reverted.evidence}); config restored from the best round. "
                 f"It will not be tried again.", ""]
    return "\n".join(head + body + ["", status, ""])


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    if round_no < 2:
        raise InputError("the Tuner runs from round 2 on (round 1 is the baseline)")
    reverted = begin(ws, round_no, restore=False)
    findings = failure_findings(_facts_for(ws, round_no))
    stalled = _stalled(ws, round_no)
    cands = [] if stalled else candidate_changes(ws, round_no)
    if cands:
        c = cands[0]
        return apply_change(ws, round_no, c, c.rule, c.evidence, reverted, findings)
    objective = _objective(ws, round_no - 1)
    body = [*findings, stalled or f"No untried change is left (last objective {objective}); keeping the current config."]
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
    scored = [r for r in comparable(ws, load_state(ws).rounds) if r.round < round_no and r.objective is not None]
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

"""`prism ask` and `prism chat`: plain-English questions answered from the latest results, the comparison
and audit tables and the kept draws, never by refitting.

The rule-based router (`ask_router`) picks the answer function; with ANTHROPIC_API_KEY set, Claude
routes and phrases instead, through a tool that calls these same functions (`ask_claude`), and every
number it writes must be one of theirs. Numbers are printed as the agents print them, so the project's
number check can match each one to a value of the round.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np
import pandas as pd

from prism.analysis.facts import INTERVAL_LEVEL, SATURATED_PCT, ChannelFacts, RoundFacts, fmt
from prism.errors import InputError
from prism.llm import ask_router as R
from prism.planning.outputs import OPTIMIZATION, read_confidence, read_labels
from prism.schemas import MARKET_SPLIT, Results
from prism.workspace import Workspace, read_csv, read_model

AUDIT, TEST_PLAN = "audit.csv", "test_plan.csv"
TOP = 3  # channels named in a ranking or a drivers answer


@dataclass
class Answer:
    """What `prism ask` prints: the routed intent, the text, and the figures it rests on."""

    question: str
    intent: str
    text: str
    channels: list[str] = field(default_factory=list)
    facts: dict[str, Any] = field(default_factory=dict)
    phrased_by: str = "rules"

    def to_json(self) -> str:
        return json.dumps(jsonable(asdict(self)), allow_nan=False)


def jsonable(obj: Any) -> Any:
    """Figures as JSON: numpy scalars as floats, NaN and infinities as null."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def money(x: float) -> str:
    """Compact amounts as the report writes them: 1.2m, 350k, 1,234."""
    a = abs(x)
    for scale, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
        if a >= 10 * scale or (a >= scale and suffix != "k"):
            return f"{x / scale:,.{0 if a >= 100 * scale else 1}f}{suffix}"
    return f"{x:,.0f}"


class AskContext:
    """The latest round's files, read once per question (or once per chat session)."""

    def __init__(self, ws: Workspace, market: str | None = None):
        self.ws = ws
        self.market = market  # a panel's market whose draws what-if and budget answers plan on
        if not ws.latest.exists():
            raise InputError(f"{ws.latest}: file not found (run `prism run` and `prism compare` first)")
        self.results = read_model(ws.latest, Results)
        self.facts = RoundFacts.load(ws, self.results.round)
        self.facts.results = self.results
        self.labels = {**read_labels(ws), **{c: self.facts.label(c) for c in self.results.channels}}
        self.confidence = read_confidence(ws) or {}
        self._planners: dict[int, Any] = {}

    @property
    def channels(self) -> list[str]:
        return list(self.results.channels)

    def label(self, ch: str) -> str:
        return self.labels.get(ch, ch)

    def channel(self, ch: str) -> ChannelFacts:
        return self.facts.channel_facts[ch]

    def mroi(self, ch: str) -> float:
        vals = [m.channels[ch].mroi for m in self.results.ok_models().values() if ch in m.channels]
        return float(np.mean(vals)) if vals else float("nan")

    def trust_word(self, ch: str) -> str:
        return self.confidence.get(ch) or self.channel(ch).confidence

    @cached_property
    def weekly(self) -> pd.DataFrame | None:
        """Weekly actual, baseline and channel contributions averaged over the models that ran."""
        models = [m.weekly for m in self.results.ok_models().values() if m.weekly is not None]
        if not models:
            return None
        frames = [pd.DataFrame({"actual": w.actual, "baseline": w.baseline, **w.contributions}) for w in models]
        mean = sum(frames) / len(frames)
        mean.index = pd.DatetimeIndex(pd.to_datetime(models[0].dates))
        return mean

    @property
    def dates(self) -> pd.DatetimeIndex | None:
        return None if self.weekly is None else self.weekly.index

    def planner(self, weeks: int):
        """The consensus planner over the kept draws for a horizon (built on first use)."""
        if weeks not in self._planners:
            from prism.planning.outputs import open_planner

            self._planners[weeks] = open_planner(self.ws, weeks=weeks, market=self.market)
        return self._planners[weeks]

    def keep_responses(self) -> None:
        """Keep what the planners computed for the next question's process (planning.outputs.keep_responses)."""
        if self._planners:
            from prism.planning.outputs import keep_responses

            for planner in self._planners.values():
                keep_responses(self.ws, planner)

    def table(self, name: str) -> pd.DataFrame | None:
        """A results/ table when it exists (audit, test plan, optimization)."""
        path = self.ws.result(name)
        return read_csv(path, required=("channel",)) if path.exists() else None


# ------------------------------------------------------------------------------------------ answers
def _channels_or_all(ctx: AskContext, q: R.Question) -> list[str]:
    return q.channels or [f.channel for f in ctx.facts.ranked]


def _roi_phrase(ctx: AskContext, ch: str) -> str:
    f = ctx.channel(ch)
    return (f"{f.label} returns {fmt(f.roi)} per {ctx.facts.spend_unit} of spend ({f.range_name} {fmt(f.roi_low)} to "
            f"{fmt(f.roi_high)}; {f.agreement} agreement across {f.n_models} models)")


def answer_roi(ctx: AskContext, q: R.Question) -> Answer:
    if q.channels:
        text = "; ".join(_roi_phrase(ctx, ch) for ch in q.channels) + "."
        if len(q.channels) >= 2:
            best = max(q.channels, key=lambda c: ctx.channel(c).roi)
            text += f" {ctx.label(best)} returns the most per {ctx.facts.spend_unit} of spend."
    else:
        ranked = ctx.facts.ranked
        text = (f"By return per {ctx.facts.spend_unit} of spend: " + ", ".join(f"{f.label} {fmt(f.roi)}" for f in ranked)
                + f". Across all media: {fmt(ctx.facts.portfolio_roi)}.")
    facts = {ch: asdict(ctx.channel(ch)) for ch in _channels_or_all(ctx, q)}
    return Answer(q.text, R.ROI, text, q.channels, facts)


def answer_saturation(ctx: AskContext, q: R.Question) -> Answer:
    chans = _channels_or_all(ctx, q)
    rows = {ch: (ctx.channel(ch).saturation_pct, ctx.mroi(ch)) for ch in chans}
    parts = [f"{ctx.label(ch)} is at {fmt(s, 0)}% of its maximum effect (one more unit of spend returns "
             f"{fmt(m)})" for ch, (s, m) in sorted(rows.items(), key=lambda kv: -kv[1][0])]
    near = [ctx.label(ch) for ch, (s, _) in rows.items() if s >= SATURATED_PCT]
    lead = (f"Near saturation (at least {fmt(SATURATED_PCT, 0)}% of maximum effect): {', '.join(near)}. "
            if near else f"No channel{' asked about' if q.channels else ''} is near saturation "
                         f"({fmt(SATURATED_PCT, 0)}% of its maximum effect). ")
    return Answer(q.text, R.SATURATION, lead + "; ".join(parts) + ".", q.channels,
                  {ch: {"saturation_pct": s, "mroi": m} for ch, (s, m) in rows.items()})


def answer_contribution(ctx: AskContext, q: R.Question) -> Answer:
    chans = _channels_or_all(ctx, q)
    if q.period is not None and ctx.weekly is not None:
        span = ctx.weekly.loc[q.period.start:q.period.end]
        total = float(span["actual"].sum())
        shares = {ch: float(span[ch].sum()) / total * 100 if total else float("nan") for ch in chans}
        where = f" in {q.period.label}"
    else:
        shares = {ch: ctx.channel(ch).contribution_pct for ch in chans}
        where = " over the modelled weeks"
    ranked = sorted(shares.items(), key=lambda kv: -kv[1])
    text = f"Share of {ctx.results.kpi}{where}: " + ", ".join(f"{ctx.label(ch)} {fmt(v, 1)}%" for ch, v in ranked) + "."
    if not q.channels and q.period is None:
        text += f" All media together: {fmt(ctx.facts.mean_media_share, 1)}%."
    return Answer(q.text, R.CONTRIBUTION, text, q.channels, {"contribution_pct": shares})


def answer_drivers(ctx: AskContext, q: R.Question) -> Answer:
    if ctx.weekly is None:
        return Answer(q.text, R.DRIVERS, "The results hold no weekly decomposition, so drivers by period "
                                         "cannot be shown (re-run `prism run`).", [], {})
    w = ctx.weekly
    period = q.period or R.Period("the last 13 weeks", w.index[-min(13, len(w))], w.index[-1])
    inside = (w.index >= period.start) & (w.index <= period.end)
    if inside.all():
        return Answer(q.text, R.DRIVERS, f"{period.label} covers every week of the data; there is no rest to "
                                         "compare it with.", [], {})
    parts = ["baseline", *ctx.channels]
    diff = {p: float(w.loc[inside, p].mean() - w.loc[~inside, p].mean()) for p in parts}
    kpi_in, kpi_out = float(w.loc[inside, "actual"].mean()), float(w.loc[~inside, "actual"].mean())
    order = sorted(diff, key=lambda p: -abs(diff[p]))[:TOP]
    named = ", ".join(f"{'baseline demand' if p == 'baseline' else ctx.label(p)} {'+' if diff[p] >= 0 else '−'}"
                      f"{money(abs(diff[p]))} a week" for p in order)
    text = (f"In {period.label} {ctx.results.kpi} averaged {money(kpi_in)} a week against {money(kpi_out)} in the "
            f"other weeks ({fmt((kpi_in / kpi_out - 1) * 100, 1)}%). The biggest differences: {named}.")
    return Answer(q.text, R.DRIVERS, text, [p for p in order if p != "baseline"],
                  {"period": period.label, "kpi_week_in": kpi_in, "kpi_week_out": kpi_out, "difference": diff})


def answer_scenario(ctx: AskContext, q: R.Question) -> Answer:
    if not q.changes:
        return Answer(q.text, R.SCENARIO, "Name a channel and a change, e.g. \"what if we cut "
                                          f"{ctx.label(ctx.channels[0])} by 20%\". " + valid_channels(ctx), [], {})
    planner = ctx.planner(q.weeks or R.HORIZON_WORDS["next quarter"])
    items = [f"{ch}={pct:+g}%" for ch, pct in q.changes.items()]
    outcome = planner.outcome(planner.moves(items))
    mean, low, high = outcome.summary
    moves = " and ".join(f"{ctx.label(ch)} {pct:+g}%" for ch, pct in q.changes.items())
    text = (f"{moves} over the next {planner.weeks} weeks: {ctx.results.kpi} changes by {money(mean)} "
            f"({INTERVAL_LEVEL}% interval {money(low)} to {money(high)}"
            + (f"; a gain in {outcome.prob_gain:.0%} of the pooled model draws" if outcome.moved else
               "; the spend does not change") + "), carry-over included.")
    return Answer(q.text, R.SCENARIO, text, list(q.changes),
                  {"changes_pct": q.changes, "weeks": planner.weeks, "kpi_change": mean, "low": low, "high": high,
                   "prob_gain": outcome.prob_gain})


def answer_budget(ctx: AskContext, q: R.Question) -> Answer:
    from prism.planning.plan import PlanRequest

    weeks = q.weeks or R.HORIZON_WORDS["next quarter"]
    planner = ctx.planner(weeks)
    plan = planner.optimize(PlanRequest(weeks=weeks, budget=q.amount))
    mean, low, high = plan.outcome.summary
    split = ", ".join(f"{ctx.label(ln.channel)} {money(ln.recommended)}" for ln in
                      sorted(plan.lines, key=lambda ln: -ln.recommended))
    text = (f"For {money(plan.budget)} over {weeks} weeks: {split}. Expected {ctx.results.kpi} change against "
            f"today's spend: {money(mean)} ({INTERVAL_LEVEL}% interval {money(low)} to {money(high)}).")
    text += "".join(f" Note: {n}." for n in plan.notes)
    return Answer(q.text, R.BUDGET, text, [], {"plan": plan.frame().to_dict(orient="records")})


def answer_trust(ctx: AskContext, q: R.Question) -> Answer:
    if not q.channels:
        return _unknown_channel(ctx, q)
    lines, facts = [], {}
    audit, tests = ctx.table(AUDIT), ctx.table(TEST_PLAN)
    for ch in q.channels:
        f = ctx.channel(ch)
        why = ctx.results.agreement[ch].note if ch in ctx.results.agreement else ""
        line = (f"{f.label}: {ctx.trust_word(ch)} confidence. ROI {fmt(f.roi)} ({f.range_name} "
                f"{fmt(f.roi_low)} to {fmt(f.roi_high)}), {f.agreement} agreement ({why}).")
        if ctx.facts.in_collinear_pair(ch):
            line += " Its spend moves with another channel's, so the models cannot fully separate the two."
        line += _audit_line(audit, ch) + _test_line(tests, ch)
        lines.append(line)
        facts[ch] = {**asdict(f), "confidence": ctx.trust_word(ch)}
    return Answer(q.text, R.TRUST, " ".join(lines), q.channels, facts)


def _audit_line(audit: pd.DataFrame | None, ch: str) -> str:
    if audit is None or "channel" not in audit.columns:
        return ""
    rows = audit[audit["channel"] == ch]
    return "".join(f" Recoverability audit ({r['model']}): {r['verdict']}." for _, r in rows.iterrows())


def _test_line(tests: pd.DataFrame | None, ch: str) -> str:
    if tests is None or "channel" not in tests.columns:
        return ""
    rows = tests[tests["channel"] == ch]
    return "".join(f" Suggested market-split test: {r['description']}." if r["design"] == MARKET_SPLIT else
                   f" Suggested test: {r['design']} for {int(r['weeks'])} weeks, spend change "
                   f"{fmt(r['spend_change_pct'], 0)}%." for _, r in rows.iterrows())


def answer_summary(ctx: AskContext, q: R.Question) -> Answer:
    ranked = ctx.facts.ranked
    best = ", ".join(f"{f.label} ({fmt(f.roi)})" for f in ranked[:TOP])
    weak = [f.label for f in ranked if ctx.trust_word(f.channel) == "low"]
    text = (f"Round {ctx.results.round}: {len(ctx.facts.ok_models)} models ran. Media drive "
            f"{fmt(ctx.facts.mean_media_share, 1)}% of {ctx.results.kpi}; every unit of media spend returns "
            f"{fmt(ctx.facts.portfolio_roi)}. Best returns: {best}.")
    if weak:
        text += f" Low confidence (test before moving money): {', '.join(weak)}."
    opt = ctx.table(OPTIMIZATION)
    if opt is not None and "expected_kpi_change" in opt.columns and (opt["channel"] == "total").any():
        total = opt[opt["channel"] == "total"].iloc[0]
        text += (f" The budget plan (results/optimization.csv) expects {money(total['expected_kpi_change'])} more "
                 f"{ctx.results.kpi} at the same spend.")
    return Answer(q.text, R.SUMMARY, text, [], {"ranked": [asdict(f) for f in ranked]})


def answer_help(ctx: AskContext, q: R.Question) -> Answer:
    text = ("I can answer questions about ROI and comparisons, saturation, what-if scenarios (\"what if we cut "
            f"{ctx.label(ctx.channels[0])} by 20%\"), drivers by period (\"what drove sales in Q4\"), contribution, "
            "budget splits (\"how should I split 500k next month\"), trust in a channel's number, and a summary. "
            + valid_channels(ctx))
    return Answer(q.text, R.HELP, text, [], {})


def valid_channels(ctx: AskContext) -> str:
    return "Channels: " + ", ".join(f"{ctx.label(c)} ({c})" for c in ctx.channels) + "."


def _unknown_channel(ctx: AskContext, q: R.Question) -> Answer:
    what = f"No channel matches '{q.unknown_name}'" if q.unknown_name else "The question names no channel"
    return Answer(q.text, q.intent, f"{what}. {valid_channels(ctx)}", [], {"unknown": q.unknown_name})


def _unknown_period(ctx: AskContext, q: R.Question) -> Answer:
    d = ctx.dates
    text = (f"The data has no weeks in {q.period_text}: it runs from {d.min():%Y-%m-%d} to {d.max():%Y-%m-%d}. "
            "Ask about a quarter (Q1–Q4 with a year), a year, a month or 'the last 8 weeks' within that range.")
    return Answer(q.text, q.intent, text, [], {"unknown_period": q.period_text})


ANSWERS: dict[str, Callable[[AskContext, R.Question], Answer]] = {
    R.ROI: answer_roi, R.SATURATION: answer_saturation, R.CONTRIBUTION: answer_contribution,
    R.DRIVERS: answer_drivers, R.SCENARIO: answer_scenario, R.BUDGET: answer_budget, R.TRUST: answer_trust,
    R.SUMMARY: answer_summary, R.HELP: answer_help,
}
NEEDS_CHANNEL = (R.SCENARIO, R.TRUST)
NAMED = (R.ROI, R.SATURATION, R.CONTRIBUTION)  # answer for all channels unless an unknown one is named
USES_PERIOD = (R.DRIVERS, R.CONTRIBUTION)


PLANS = (R.SCENARIO, R.BUDGET)  # the intents answered from the planner (one market's draws with --market)


def answer(ctx: AskContext, q: R.Question) -> Answer:
    """The answer to a routed question; an unknown channel or period gets the valid ones (not an error)."""
    if q.intent in USES_PERIOD and q.period is None and q.period_text:
        return _unknown_period(ctx, q)
    if not q.channels and (q.intent in NEEDS_CHANNEL or (q.unknown_name and q.intent in NAMED)):
        return _unknown_channel(ctx, q)
    result = ANSWERS[q.intent](ctx, q)
    if q.unknown_name and q.channels:
        result.text += f" No channel matches '{q.unknown_name}'. {valid_channels(ctx)}"
    if ctx.market is not None:
        result.text = (f"Market {ctx.market}: " if q.intent in PLANS else
                       f"National figures (--market applies to what-if and budget questions): ") + result.text
    return result


def follow_up(q: R.Question, previous: R.Question | None) -> R.Question:
    """"And search?" after a question keeps its topic (and a scenario's change) for the newly named channel."""
    if q.intent != R.HELP or previous is None or not (q.channels or q.period):
        return q
    q.intent = previous.intent
    if q.intent == R.SCENARIO and previous.changes:
        q.changes = dict.fromkeys(q.channels, next(iter(previous.changes.values())))
    q.amount, q.weeks = q.amount or previous.amount, q.weeks or previous.weeks
    return q


def respond(ctx: AskContext, text: str, previous: R.Question | None = None) -> tuple[R.Question, Answer]:
    """Route (rule-based) and answer one question."""
    if not text.strip():
        raise InputError("ask: the question is empty")
    q = follow_up(R.route(text, ctx.channels, ctx.labels, ctx.dates), previous)
    return q, answer(ctx, q)

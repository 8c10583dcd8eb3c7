"""Explorer (rule-based, round 1): EDA of the weekly table and a 1–5 readiness score from a rubric.

Reads the same clean weekly table the models fit (the workspace's weekly.parquet) plus metadata.json, so every
figure describes what the models will see.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism.agents.base import AgentOutcome
from prism.analysis.anomalies import KPI_ANOMALY_Z, SPEND_ANOMALY_Z, anomalies
from prism.analysis.facts import (
    COLLINEAR_R, COLLINEAR_VIF, MIN_WEEKS_CAVEAT, WEEKS_PER_PARAMETER, RoundFacts, collinear_pairs, fmt, vif_from_corr,
)
from prism.knowledge.checks import IssueWeeks, inspect_issue
from prism.schemas import AgentCall, Status
from prism.workspace import Workspace, read_weekly, write_text

WEEKS_MIN_YEAR = 52          # below a year, seasonality cannot be learned at all
SPARSE_ZERO_SHARE = 0.5      # a channel dark more than half the weeks
FLIGHTED_ZERO_SHARE = 0.2    # dark more than this share of weeks: flighted rather than always on
ANOMALY_SHARE = 0.02         # KPI anomalies in more than this share of weeks
WEEK_DAYS = 7


@dataclass(frozen=True)
class Deduction:
    points: int
    finding: str
    action: str


def run(ws: Workspace, round_no: int = 1, revision: bool = False) -> AgentOutcome:
    facts = RoundFacts.load(ws, round_no, need_results=False)
    frame = read_weekly(ws, facts.cfg)
    text, score = compose(facts, frame)
    write_text(ws.exploration(), text)
    return AgentOutcome(status=Status.EXPLORATION_DONE, path=ws.exploration(), detail=f"readiness {score}/5",
                        call=AgentCall(agent="explorer", impl="rules"), extra={"readiness": score})


def compose(facts: RoundFacts, frame: pd.DataFrame) -> tuple[str, int]:
    d = facts.cfg.data
    chans = [c for c in d.channels if c in frame.columns]
    dates = pd.to_datetime(frame[d.date_column])
    corr = frame[chans].astype(float).corr().fillna(0.0)
    facts.corr = corr
    kpi_anoms = anomalies(frame[d.kpi], dates, KPI_ANOMALY_Z)
    spend_anoms = {c: anomalies(frame[c], dates, SPEND_ANOMALY_Z) for c in chans}
    gaps = week_gaps(dates)
    issues = [inspect_issue(i, frame, d.date_column, d.kpi) for i in facts.meta.knowledge.known_issues]
    deductions = rubric(facts, frame, corr, kpi_anoms, gaps) + issue_deductions(issues)
    score = readiness(deductions)
    parts = [
        "# Round 1 data exploration", "",
        _overview(facts, frame, dates), _kpi(frame[d.kpi]), _spend(facts, frame, chans),
        _collinearity(facts, corr), _anomalies(facts, kpi_anoms, spend_anoms), _entities(facts),
        _continuity(dates, gaps), _known_issues(facts, issues), _readiness(score, deductions),
    ]
    return "\n".join(parts).rstrip() + "\n", score


def week_gaps(dates: pd.Series) -> list[str]:
    """Dates after which the next week is missing."""
    steps = dates.diff().dt.days.iloc[1:]
    return [str(dates.iloc[i - 1].date()) for i, s in steps.items() if s != WEEK_DAYS]


def rubric(facts: RoundFacts, frame: pd.DataFrame, corr: pd.DataFrame,
           kpi_anoms: list, gaps: list[str]) -> list[Deduction]:
    """The readiness rubric: start at 5 and deduct per finding (weeks, sparsity, collinearity, anomalies)."""
    weeks, params = len(frame), facts.n_parameters
    out: list[Deduction] = []
    if weeks < WEEKS_MIN_YEAR:
        out.append(Deduction(2, f"{weeks} weeks: less than a year, so seasonality cannot be learned",
                             "collect at least a full year of weeks before trusting any channel split"))
    elif weeks < MIN_WEEKS_CAVEAT:
        out.append(Deduction(1, f"{weeks} weeks: less than two years",
                             "treat seasonality estimates as rough; add history if it exists"))
    if weeks < WEEKS_PER_PARAMETER * params:
        out.append(Deduction(1, f"{weeks} weeks for {params} parameters (below {WEEKS_PER_PARAMETER} per parameter)",
                             "fix transforms from the knowledge layer (decays) or merge small channels"))
    sparse = [c for c in corr.columns if (frame[c] == 0).mean() > SPARSE_ZERO_SHARE]
    if sparse:
        out.append(Deduction(1, f"sparse channels (zero spend > {SPARSE_ZERO_SHARE:.0%} of weeks): "
                                f"{', '.join(facts.label(c) for c in sparse)}",
                             "merge sparse channels with a similar one or read their ROI as indicative only"))
    pairs = collinear_pairs(corr)
    high_vif = [c for c, v in vif_from_corr(corr).items() if v > COLLINEAR_VIF]
    if pairs or high_vif:
        names = [f"{facts.label(a)} & {facts.label(b)}" for a, b, _ in pairs] + [facts.label(c) for c in high_vif]
        out.append(Deduction(1, f"collinear spend: {', '.join(dict.fromkeys(names))}",
                             "combine the pair or vary their schedules; report their split as uncertain"))
    if len(kpi_anoms) > ANOMALY_SHARE * len(frame) or gaps:
        out.append(Deduction(1, f"{len(kpi_anoms)} KPI anomaly week(s), {len(gaps)} gap(s) in the weeks",
                             "check the flagged weeks with the business; add an event control if they are real"))
    return out


def issue_deductions(issues: list[IssueWeeks]) -> list[Deduction]:
    """A high-severity known issue that touches modelled weeks costs a point until it is handled."""
    hit = [w for w in issues if w.issue.severity == "high" and w.weeks]
    if not hit:
        return []
    weeks = sum(len(w.weeks) for w in hit)
    return [Deduction(1, f"{len(hit)} high-severity known issue(s) touch {weeks} modelled week(s)",
                      "apply each issue's recommended action (an event control, a corrected column or excluded "
                      "weeks) before trusting the affected channels")]


def readiness(deductions: list[Deduction]) -> int:
    return int(min(5, max(1, 5 - sum(d.points for d in deductions))))


def _overview(facts: RoundFacts, frame: pd.DataFrame, dates: pd.Series) -> str:
    d = facts.cfg.data
    return "\n".join([
        "## Overview", "",
        f"- Weeks: {len(frame)} ({dates.iloc[0].date()} to {dates.iloc[-1].date()})",
        f"- KPI: {facts.label(d.kpi)} (`{d.kpi}`)",
        f"- Channels: {len(d.channels)} ({', '.join(facts.label(c) for c in d.channels)})",
        f"- Controls: {', '.join(d.controls) if d.controls else 'none'}",
        f"- Free parameters of the media model: {facts.n_parameters}", "",
    ])


def _kpi(kpi: pd.Series) -> str:
    k = kpi.astype(float)
    quarter = max(1, len(k) // 4)
    first, last = k.iloc[:quarter].mean(), k.iloc[-quarter:].mean()
    return "\n".join([
        "## KPI distribution", "",
        f"- Mean {fmt(k.mean(), 0)}, median {fmt(k.median(), 0)}, std {fmt(k.std(), 0)} "
        f"(CV {fmt(100 * k.std() / k.mean(), 1)}%), min {fmt(k.min(), 0)}, max {fmt(k.max(), 0)}, "
        f"skew {fmt(float(k.skew()), 2)}",
        f"- First quarter of weeks averages {fmt(first, 0)}, last quarter {fmt(last, 0)} "
        f"({fmt(100 * (last / first - 1), 1) if first else 'n/a'}% change)", "",
    ])


def _spend(facts: RoundFacts, frame: pd.DataFrame, chans: list[str]) -> str:
    total = float(frame[chans].to_numpy().sum())
    kpi = frame[facts.cfg.data.kpi].astype(float)
    rows = ["## Spend per channel", "", "| channel | total spend | share | zero weeks | pattern | r with KPI |",
            "|---|---|---|---|---|---|"]
    for c in chans:
        s = frame[c].astype(float)
        zero = int((s == 0).sum())
        share = 100 * s.sum() / total if total else 0.0
        r = float(np.corrcoef(s, kpi)[0, 1]) if s.std() > 0 else float("nan")
        rows.append(f"| {facts.label(c)} | {fmt(s.sum(), 0)} | {fmt(share, 1)}% | {zero} ({fmt(100 * zero / len(s), 0)}%) "
                    f"| {_pattern(s)} | {fmt(r, 2)} |")
    return "\n".join(rows + [""])


def _pattern(s: pd.Series) -> str:
    zero_share = float((s == 0).mean())
    if zero_share > SPARSE_ZERO_SHARE:
        return "sparse"
    if zero_share > FLIGHTED_ZERO_SHARE:
        return "flighted (on/off)"
    return "always on, pulsed" if s.std() > s.mean() else "always on"


def _collinearity(facts: RoundFacts, corr: pd.DataFrame) -> str:
    cols = list(corr.columns)
    head = "| | " + " | ".join(facts.label(c) for c in cols) + " |"
    rows = ["## Correlation and VIF", "", head, "|---|" + "---|" * len(cols)]
    rows += [f"| {facts.label(a)} | " + " | ".join(fmt(corr.loc[a, b], 2) for b in cols) + " |" for a in cols]
    vif = vif_from_corr(corr)
    rows += ["", "| channel | VIF |", "|---|---|"] + [f"| {facts.label(c)} | {fmt(v, 1)} |" for c, v in vif.items()]
    pairs = collinear_pairs(corr)
    rows += [""] + ([f"- {facts.label(a)} and {facts.label(b)} move together (r = {fmt(r)}); their split will be "
                     f"uncertain." for a, b, r in pairs] or [f"- No pair with |r| > {COLLINEAR_R}."])
    rows += [f"- {facts.label(c)}: VIF {fmt(v, 1)} > {COLLINEAR_VIF:g}." for c, v in vif.items() if v > COLLINEAR_VIF]
    return "\n".join(rows + [""])


def _anomalies(facts: RoundFacts, kpi_anoms: list, spend_anoms: dict[str, list]) -> str:
    rows = ["## Anomalies", "", f"KPI weeks with |z| > {KPI_ANOMALY_Z:g}:"]
    rows += [f"- {a.date.date()}: {fmt(a.value, 0)} (z = {fmt(a.z, 1)})" for a in kpi_anoms] or ["- none"]
    rows += ["", f"Spend weeks with |z| > {SPEND_ANOMALY_Z:g}:"]
    spend = [f"- {facts.label(c)} {a.date.date()}: {fmt(a.value, 0)} (z = {fmt(a.z, 1)})"
             for c, items in spend_anoms.items() for a in items]
    return "\n".join(rows + (spend or ["- none"]) + [""])


def _entities(facts: RoundFacts) -> str:
    prof = facts.meta.profile
    d = facts.cfg.data
    if not prof.entity_column or len(prof.entities) <= 1:
        line = "- One entity in the data: nothing to filter or aggregate."
    elif d.aggregate_entities:
        line = f"- {len(prof.entities)} entities in `{prof.entity_column}`, summed into one series."
    else:
        line = f"- {len(prof.entities)} entities in `{prof.entity_column}`; modelling `{d.entity}` only."
    return "\n".join(["## Multi-entity check", "", line, ""])


def _continuity(dates: pd.Series, gaps: list[str]) -> str:
    line = (f"- {len(gaps)} break(s) in the weekly sequence, after: {', '.join(gaps)}" if gaps
            else f"- Every week present: {len(dates)} consecutive weeks.")
    return "\n".join(["## Week continuity", "", line, ""])


def _known_issues(facts: RoundFacts, issues: list[IssueWeeks]) -> str:
    """Each known issue from the knowledge layer, with the weeks it names as the data shows them."""
    if not issues:
        return ""
    rows = ["## Known data issues (knowledge layer)", ""]
    for w in issues:
        i = w.issue
        head = f"- {i.issue} ({i.severity}; {facts.label(w.column)}"
        if i.start is None:
            rows.append(f"{head}): no period given, so no week to inspect.")
        elif not w.weeks:
            rows.append(f"{head}; {i.start} to {i.end}): outside the modelled weeks, nothing to inspect.")
        else:
            change = f" ({fmt(w.change_pct, 1)}%)" if w.change_pct is not None else ""
            elsewhere = (f" against {fmt(w.mean_outside, 0)} in the other weeks{change}"
                         if w.mean_outside is not None else "")
            rows.append(f"{head}; {i.start} to {i.end}): {len(w.weeks)} modelled week(s), {w.weeks[0]} to "
                        f"{w.weeks[-1]}; {facts.label(w.column)} averages {fmt(w.mean_inside, 0)} there{elsewhere}; "
                        f"{w.zero_weeks} zero week(s).")
        if i.action:
            rows.append(f"  Recommended action: {i.action}")
    return "\n".join(rows + [""])


def _readiness(score: int, deductions: list[Deduction]) -> str:
    rows = ["## Readiness", "", f"Readiness score: {score}/5", "", "Rubric (start at 5):"]
    rows += [f"- −{d.points}: {d.finding}" for d in deductions] or ["- no deduction"]
    rows += ["", "Actions:"] + ([f"- {d.action}" for d in deductions] or ["- none needed; proceed to modelling"])
    return "\n".join(rows + [""])


def parse_readiness(text: str) -> int | None:
    """The score from an exploration file (for the loop's record and the Reporter)."""
    for line in text.splitlines():
        if line.startswith("Readiness score:"):
            return int(line.split(":")[1].split("/")[0])
    return None

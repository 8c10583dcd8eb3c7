"""Analyst (rule-based): the round's results as a short business narrative, every number from the results.

Covers the ROI ranking with intervals, where the models agree and disagree, contribution %, and what
the data can and cannot support. It states every failed numeric check itself, so a revision only has to
answer the Critic's stated reason.
"""

from __future__ import annotations

from prism.agents.base import AgentOutcome
from prism.analysis import checks
from prism.analysis.confidence import WHY_AUDIT_NOT
from prism.analysis.facts import INTERVAL_LEVEL, RoundFacts, fmt
from prism.errors import InputError
from prism.schemas import REVISE_PREFIX, AgentCall, Status
from prism.workspace import Workspace, write_text

MAX_WORDS = 400
TOP_N = 3  # channels named in the headline ranking sentence


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    facts = RoundFacts.load(ws, round_no)
    if not facts.ok_models:
        raise InputError(f"{ws.round_results(round_no)}: no model ran successfully; nothing to analyse")
    reason = _review_reason(ws, round_no) if revision else None
    text = compose(facts, reason)
    write_text(ws.analysis(round_no), text)
    return AgentOutcome(status=Status.ANALYSIS_DONE, path=ws.analysis(round_no), detail=f"{word_count(text)} words",
                        call=AgentCall(agent="analyst", impl="rules"))


def word_count(text: str) -> int:
    """Counted like `wc -w` (whitespace-separated), so the session's own count agrees with the guard."""
    return len(text.split())


def compose(facts: RoundFacts, reason: str | None = None) -> str:
    """The analysis; sections are dropped from the end of the optional list until it is under MAX_WORDS."""
    core = [_heading(facts), _ranking(facts), _agreement(facts), _limits(facts)]
    optional = [_contribution(facts)]
    tail = [_response(reason)] if reason else []
    while True:
        text = "\n".join(p for p in core + optional + tail if p).rstrip() + "\n"
        if word_count(text) < MAX_WORDS or not optional:
            return text
        optional.pop()


def _heading(facts: RoundFacts) -> str:
    ranked = facts.ranked
    top = ", ".join(f"{f.label} ({fmt(f.roi)})" for f in ranked[:TOP_N])
    n = len(facts.ok_models)
    return (f"# Round {facts.round_no} analysis\n\nBased on {n} model(s) ({', '.join(facts.ok_models)}). "
            f"Highest mean ROI: {top}. All media together return {fmt(facts.portfolio_roi)} per {facts.spend_unit} of spend.\n")


def _ranking(facts: RoundFacts) -> str:
    rows = ["## ROI ranking", "",
            f"| channel | mean ROI | {INTERVAL_LEVEL}% range | agreement | contribution % |", "|---|---|---|---|---|"]
    rows += [f"| {f.label} | {fmt(f.roi)} | {fmt(f.roi_low)}–{fmt(f.roi_high)} | {f.agreement} | "
             f"{fmt(f.contribution_pct, 1)} |" for f in facts.ranked]
    return "\n".join(rows) + "\n"


def _agreement(facts: RoundFacts) -> str:
    high = [f.label for f in facts.ranked if f.agreement == "high"]
    lines = ["## Agreement across models", ""]
    lines.append(f"- Models agree on: {', '.join(high)}." if high else "- No channel reaches high agreement.")
    for f in facts.ranked:
        if f.agreement == "low":
            cv = f" (CV {fmt(f.cv, 0)}%)" if f.cv is not None else ""
            lines.append(f"- {f.label}: the models disagree{cv}, so its return is uncertain.")
        elif f.agreement == "n/a":
            lines.append(f"- {f.label}: rests on one model only, so its return is uncertain.")
    return "\n".join(lines) + "\n"


def _contribution(facts: RoundFacts) -> str:
    shares = ", ".join(f"{fmt(facts.media_share(m), 1)}% ({m})" for m in facts.ok_models)
    return f"## Contribution\n\nMedia share of the KPI: {shares}.\n"


def _limits(facts: RoundFacts) -> str:
    lines = ["## What the data can and cannot support", ""]
    for name, m in facts.failed_models.items():
        lines.append(f"- {name} {m.status} ({m.reason or 'no reason given'}); this round rests on "
                     f"{len(facts.ok_models)} model(s).")
    for a, b, r in facts.collinear_pairs:
        lines.append(f"- {facts.label(a)} and {facts.label(b)} moved together (r = {fmt(r)}): the models cannot "
                     f"separate their split, so it is uncertain.")
    for c, v in facts.high_vif.items():
        if not any(c in (a, b) for a, b, _ in facts.collinear_pairs):
            lines.append(f"- {facts.label(c)} is correlated with the other channels combined (VIF {fmt(v, 1)}).")
    lost = [f.label for f in facts.ranked if WHY_AUDIT_NOT in f.why]  # one line: the 400-word limit holds
    if lost:
        lines.append(f"- The recoverability audit could not recover the ROI of {', '.join(lost)} from this spend "
                     f"(results/audit.csv), so those returns are uncertain whatever the models say.")
    if facts.sample_caveat_needed:
        lines.append(f"- Sample caveat: only {facts.weeks} weeks of data for {facts.n_parameters} parameters; "
                     f"treat the estimates as indicative.")
    for check in (checks.overfitting(facts), checks.sign_correctness(facts),
                  checks.contribution_plausibility(facts), checks.model_health(facts)):
        if not check.passed:
            lines.append(f"- {_ACK[check.name]}: {check.evidence}.")
    if len(lines) == 2:
        lines.append("- No data limitation beyond the usual: intervals above carry the uncertainty.")
    return "\n".join(lines) + "\n"


# Opening words for each failed numeric check; each contains a word checks.ACK_WORDS looks for.
_ACK = {
    "overfitting": "Possible overfit (check the holdout)",
    "sign correctness": "Negative returns that need a data check",
    "contribution plausibility": "Implausible media share of the KPI",
    "model health": "Not every Bayesian model converged cleanly (diagnostics)",
    "experiment agreement": "A lift test and the data disagree on a channel (experiment vs model)",
    "expected roi range": "A channel's ROI is outside the expected range the business gave (knowledge layer)",
}


def _response(reason: str) -> str:
    return (f"## Response to the review\n\nThe review asked: {reason}. The sections above now state each "
            f"point it raised.\n")


def _review_reason(ws: Workspace, round_no: int) -> str | None:
    path = ws.review(round_no)
    if not path.exists():
        return None
    verdict = checks.parse_verdict(path.read_text(encoding="utf-8"))
    return verdict.removeprefix(REVISE_PREFIX).strip() if verdict and verdict.startswith(REVISE_PREFIX) else None

"""Analyst (rule-based): the round's results as a short business narrative, every number from the results.

Covers the ROI ranking with intervals, where the models agree and disagree, contribution %, and what
the data can and cannot support. A revision answers each point the Critic raised, one line per point
with what the analysis now says about it (the Critic re-checks those lines, not a promise that they exist).
"""

from __future__ import annotations

from prism.agents.base import AgentOutcome
from prism.analysis import checks
from prism.analysis.confidence import WHY_AUDIT_NOT
from prism.analysis.facts import INTERVAL_LEVEL, RoundFacts, fmt
from prism.errors import InputError
from prism.schemas import AgentCall, Status
from prism.workspace import Workspace, write_text

MAX_WORDS = 400
TOP_N = 3  # channels named in the headline ranking sentence


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    facts = RoundFacts.load(ws, round_no)
    if not facts.ok_models:
        raise InputError(f"{ws.round_results(round_no)}: no model ran successfully; nothing to analyse")
    points = checks.raised_points(ws, round_no) if revision else None
    text = compose(facts, points)
    write_text(ws.analysis(round_no), text)
    return AgentOutcome(status=Status.ANALYSIS_DONE, path=ws.analysis(round_no), detail=f"{word_count(text)} words",
                        call=AgentCall(agent="analyst", impl="rules"))


def word_count(text: str) -> int:
    """Counted like `wc -w` (whitespace-separated), so the session's own count agrees with the guard."""
    return len(text.split())


def compose(facts: RoundFacts, points: list[str] | None = None) -> str:
    """The analysis; sections are dropped from the end of the optional list until it is under MAX_WORDS."""
    core = [_heading(facts), _ranking(facts), _agreement(facts), _limits(facts)]
    optional = [_contribution(facts)]
    tail = [_response(facts, points)] if points else []
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
    span = facts.ranked[0].range_name if facts.ranked else f"{INTERVAL_LEVEL}% range"
    rows = ["## ROI ranking", "",
            f"| channel | mean ROI | {span} | agreement | contribution % |", "|---|---|---|---|---|"]
    rows += [f"| {f.label} | {fmt(f.roi)} | {fmt(f.roi_low)}–{fmt(f.roi_high)} | {f.agreement} | "
             f"{fmt(f.contribution_pct, 1)} |" for f in facts.ranked]
    return "\n".join(rows) + "\n"


def _agreement(facts: RoundFacts) -> str:
    high = [f.label for f in facts.ranked if f.agreement == "high"]
    lines = ["## Agreement across models", ""]
    lines.append(f"- Models agree on: {', '.join(high)}." if high else "- No channel reaches high agreement.")
    return "\n".join(lines + [f"- {s}" for s in _uncertain(facts)]) + "\n"


def _uncertain(facts: RoundFacts) -> list[str]:
    """Each channel the models disagree on (or one model alone measured), called uncertain."""
    out = []
    for f in facts.ranked:
        if f.agreement == "low":
            cv = f" (CV {fmt(f.cv, 0)}%)" if f.cv is not None else ""
            out.append(f"{f.label}: the models disagree{cv}, so its return is uncertain.")
        elif f.agreement == "n/a":
            out.append(f"{f.label}: rests on one model only, so its return is uncertain.")
    return out


def _contribution(facts: RoundFacts) -> str:
    shares = ", ".join(f"{fmt(facts.media_share(m), 1)}% ({m})" for m in facts.ok_models)
    return f"## Contribution\n\nMedia share of the KPI: {shares}.\n"


def _limits(facts: RoundFacts) -> str:
    lines = ["## What the data can and cannot support", ""]
    for name, m in facts.failed_models.items():
        lines.append(f"- {name} {m.status} ({m.reason or 'no reason given'}); this round rests on "
                     f"{len(facts.ok_models)} model(s).")
    lines += [f"- {s}" for s in _collinear(facts) + _unrecoverable(facts) + _sample(facts)]
    for check in (checks.overfitting(facts), checks.sign_correctness(facts),
                  checks.contribution_plausibility(facts), checks.model_health(facts)):
        if not check.passed:
            lines.append(f"- {_acknowledged(check)}")
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


def _collinear(facts: RoundFacts) -> list[str]:
    out = [f"{facts.label(a)} and {facts.label(b)} moved together (r = {fmt(r)}): the models cannot separate "
           f"their split, so it is uncertain." for a, b, r in facts.collinear_pairs]
    return out + [f"{facts.label(c)} is correlated with the other channels combined (VIF {fmt(v, 1)}), so its "
                  f"split from them is uncertain." for c, v in facts.high_vif.items()
                  if not any(c in (a, b) for a, b, _ in facts.collinear_pairs)]


def _unrecoverable(facts: RoundFacts) -> list[str]:
    lost = [f.label for f in facts.ranked if WHY_AUDIT_NOT in f.why]  # one line: the 400-word limit holds
    return [f"The recoverability audit could not recover the ROI of {', '.join(lost)} from this spend "
            f"(results/audit.csv), so those returns are uncertain whatever the models say."] if lost else []


def _sample(facts: RoundFacts) -> list[str]:
    return [f"Sample caveat: only {facts.weeks} weeks of data for {facts.n_parameters} parameters; treat the "
            f"estimates as indicative."] if facts.sample_caveat_needed else []


def _acknowledged(check: checks.Check) -> str:
    return f"{_ACK[check.name]}: {check.evidence}."


# What the analysis says about each text check the Critic can raise (numeric ones: `_acknowledged`).
_ANSWERS = {"consensus honesty": _uncertain, "collinearity": _collinear, "sample size": _sample,
            "identifiability": _unrecoverable}
NUMERIC = {c.__name__.replace("_", " "): c for c in (
    checks.overfitting, checks.sign_correctness, checks.contribution_plausibility, checks.model_health,
    checks.experiment_agreement, checks.expected_roi_range)}


def _response(facts: RoundFacts, points: list[str]) -> str:
    """One line per point the Critic raised: the sentences of this analysis that address it."""
    lines = ["## Response to the review", ""]
    for raised in points:
        name = raised.partition(checks.POINT_SEP)[0]
        lines.append(f"- On {name}: {' '.join(_answer(facts, name)) if name in (*_ANSWERS, *NUMERIC) else _OPEN}")
    return "\n".join(lines) + "\n"


_OPEN = ("not one of the computed checks; the rule-based Analyst cannot answer it from the results, so it stays "
         "open for the Critic.")


def _answer(facts: RoundFacts, name: str) -> list[str]:
    if name in _ANSWERS:
        return _ANSWERS[name](facts) or [f"the check passes on this round's results ({_passing(facts, name)})."]
    check = NUMERIC[name](facts)
    return [_acknowledged(check) if not check.passed else f"the check passes on this round's results "
                                                          f"({check.evidence})."]


def _passing(facts: RoundFacts, name: str) -> str:
    """Why a text check the Critic raised has nothing left to say (its evidence on an empty text)."""
    return next(c.evidence for c in checks.text_checks(facts, "") if c.name == name)

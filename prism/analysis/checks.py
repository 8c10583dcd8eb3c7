"""The Critic's checks as data: ten deterministic checks (`CHECK_NAMES`) on a round's facts and the analysis,
plus the release gates on a round that `prism refresh` produced.

Shared by the rule-based Critic, the Claude review tools, the Proofreader and the guards. The checks judge the numbers (overfitting, signs, plausibility, health) and whether the analysis says
what the numbers require it to say (consensus honesty, collinearity, sample size). A failed numeric
check needs acknowledging in the analysis; after one revision the Critic re-checks it and decides
(APPROVED or REJECTED), recording what is still open.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from prism.analysis.confidence import WHY_AUDIT_NOT
from prism.analysis.refresh import read_refresh
from prism.analysis.facts import (
    BAYESIAN_MODELS, COLLINEAR_R, COLLINEAR_VIF, MIN_WEEKS_CAVEAT, WEEKS_PER_PARAMETER, RoundFacts,
)
from prism.knowledge.checks import roi_outside_expected
from prism.models.experiments import AGREE_Z, EXPERIMENTS_KEY
from prism.schemas import CONVERGENCE, REJECT_PREFIX, REVISE_PREFIX, Status, readable_label, reject, revise
from prism.workspace import Workspace



@dataclass(frozen=True)
class Thresholds:
    """The numeric checks' threshold config, in one place (the prompts and the number check quote it)."""

    overfit_r2: float = 0.98          # train R² this close to 1 ...
    overfit_test_ratio: float = 2.0   # test MAPE more than this multiple of train MAPE ...
    overfit_test_gap: float = 5.0     # ... and more than this many percentage points above it
    media_share_min: float = 5.0      # plausible media share of the KPI, %
    media_share_max: float = 80.0
    experiment_z: float = AGREE_Z     # a model's lift for a test window this many test se's from the test


THRESHOLDS = Thresholds()

UNCERTAIN_WORDS = ("uncertain", "disagree", "low agreement", "not reliable", "unreliable", "cannot separate",
                   "can't separate", "unclear", "do not agree", "don't agree")
COLLINEAR_WORDS = ("together", "collinear", "correlat", "co-move", "cannot separate", "can't separate",
                   "overlap", "split")
SAMPLE_WORDS = ("only", "limited", "short", "small", "few", "caveat", "thin")
ACK_WORDS = {
    "overfitting": ("overfit", "too closely", "holdout", "held-out"),
    "sign correctness": ("negative",),
    "contribution plausibility": ("implausib", "media share", "of the kpi", "share of"),
    "model health": ("converge", "diagnostic", "r-hat", "divergen", "effective sample"),
    "experiment agreement": ("experiment", "lift test"),
    "expected roi range": ("expected range", "expected roi", "benchmark"),
    "release gates": ("refresh", "release gate", "drift"),
}
TEXT_CHECKS = ("consensus honesty", "collinearity", "sample size", "identifiability")
NUMERIC_CHECKS = tuple(ACK_WORDS)
CHECK_NAMES = ("overfitting", "sign correctness", "contribution plausibility", *TEXT_CHECKS, "model health",
               "experiment agreement", "expected roi range")  # compute_checks' order; the docs say how many
MODEL_HEALTH = "model health"
HEALTH_FAIL = "WITH MODEL HEALTH FAIL"  # in the verdict line of a round approved although model health fails
# report.md's headings: the contract between the Reporter, the Proofreader, the guards and the renderer
HEADINGS = {
    "answer": "## The answer",
    "roi": "## Return on spend by channel",
    "markets": "## Return by market",
    "contribution": "## Where the spend's effect comes from",
    "actions": "## What to do",
    "disagree": "## Where the models disagree",
    "settle": "## What would settle it",
    "caveats": "## Data caveats",
    "appendix": "## Appendix: fit, diagnostics, method",
}


def required_headings(facts: RoundFacts) -> list[str]:
    """The headings a report of this round must have: the per-market one only for a regional panel."""
    return [h for k, h in HEADINGS.items() if k != "markets" or facts.market_rois]


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"


class Kind(StrEnum):
    NUMERIC = "numeric"  # judged on the numbers: a failure must be acknowledged in the text
    TEXT = "text"        # judged on what the text says: a failure must be fixed


@dataclass(frozen=True)
class Check:
    """One check's result: the Critic, the Claude review tool, the guards and the report all read these."""

    name: str
    passed: bool
    evidence: str

    @property
    def outcome(self) -> Outcome:
        return Outcome.PASS if self.passed else Outcome.FAIL

    @property
    def kind(self) -> Kind:
        return Kind.TEXT if self.name in TEXT_CHECKS else Kind.NUMERIC


def compute_checks(ws: Workspace, round_no: int, analysis_text: str) -> list[Check]:
    """The `CHECK_NAMES` checks, in that order, for a round's results against a text."""
    facts = RoundFacts.load(ws, round_no)
    return [overfitting(facts), sign_correctness(facts), contribution_plausibility(facts),
            *text_checks(facts, analysis_text), model_health(facts), experiment_agreement(facts),
            expected_roi_range(facts), *release_gates(ws, round_no)]


def text_checks(facts: RoundFacts, text: str) -> list[Check]:
    """The checks on what a text says (also used by the Proofreader on the report)."""
    return [consensus_honesty(facts, text), collinearity(facts, text), sample_size(facts, text),
            identifiability(facts, text)]


# ---------------------------------------------------------------------------- numeric checks
def overfitting(facts: RoundFacts, holdout: bool = True) -> Check:
    """Train R² near 1 on too few weeks per parameter, or (`holdout`) the held-out final weeks' error far
    above the training error.

    The Critic judges both; the Tuner passes holdout=False and gets the in-sample half alone, so the
    held-out weeks never steer a tuning decision (neither the check nor its evidence reads them; the
    Tuner's out-of-sample judge is its objective, the cross-validation error inside the training weeks)."""
    bad, ok = [], []
    limit = WEEKS_PER_PARAMETER * facts.n_parameters
    train_weeks = facts.results.train_weeks * facts.n_markets  # a panel's market-weeks
    unit = "training weeks" if facts.n_markets == 1 else "training market-weeks"
    for name, m in facts.ok_models.items():
        if m.fit is None:
            continue
        f = m.fit
        desc = f"{name}: train R² {f.r2:.3f}, train MAPE {f.mape_train:.1f}%" + (
            (", test MAPE " + (f"{f.mape_test:.1f}%" if f.mape_test is not None else "n/a")) if holdout else "")
        t = THRESHOLDS
        if f.r2 >= t.overfit_r2 and train_weeks < limit:
            bad.append(f"{desc} (R² ≥ {t.overfit_r2} on {train_weeks} {unit} < {limit})")
        elif holdout and f.mape_test is not None and f.mape_test > t.overfit_test_ratio * f.mape_train \
                and f.mape_test - f.mape_train > t.overfit_test_gap:
            bad.append(f"{desc} (test more than {t.overfit_test_ratio:g}× train)")
        else:
            ok.append(desc)
    return Check("overfitting", not bad, "; ".join(bad or ok) or "no model fit to check")


def sign_correctness(facts: RoundFacts) -> Check:
    bad = [f"{name}: {facts.label(ch)} ROI {c.roi:.2f} on spend {c.spend:,.0f}"
           for name, m in facts.ok_models.items() for ch, c in m.channels.items() if c.spend > 0 and c.roi < 0]
    return Check("sign correctness", not bad,
                 "; ".join(bad) or f"every channel with spend has a non-negative ROI in {len(facts.ok_models)} model(s)")


def contribution_plausibility(facts: RoundFacts) -> Check:
    shares = {name: facts.media_share(name) for name in facts.ok_models}
    low, high = THRESHOLDS.media_share_min, THRESHOLDS.media_share_max
    bad = [f"{n}: media {s:.1f}% of KPI" for n, s in shares.items() if not low <= s <= high]
    ok = [f"{n}: media {s:.1f}% of KPI" for n, s in shares.items()]
    return Check("contribution plausibility", not bad,
                 ("; ".join(bad) + f" (plausible range {low:g}–{high:g}%)") if bad
                 else "; ".join(ok) or "no model ran")


def expected_roi_range(facts: RoundFacts) -> Check:
    """Plausibility against the business's own expectations: each channel's ROI (mean across the models) inside
    the knowledge layer's expected range; a finding quotes both numbers."""
    rois = {ch: f.roi for ch, f in facts.channel_facts.items()}
    outside = roi_outside_expected(rois, facts.meta.knowledge)
    bad = [f"{facts.label(o.channel)}: ROI {o.roi:.2f} {o.direction} the expected range {o.expected_min:g}–{o.expected_max:g}"
           for o in outside]
    n_ranges = len(facts.meta.knowledge.roi_ranges(list(rois)))
    return Check("expected roi range", not bad, "; ".join(bad) or (
        f"{n_ranges} channel(s) with an expected range: every ROI inside it" if n_ranges
        else "no expected ROI range in the knowledge layer"))


def model_health(facts: RoundFacts) -> Check:
    problems: list[str] = []
    checked = []
    for name, m in facts.ok_models.items():
        if name in BAYESIAN_MODELS:
            checked.append(name)
            problems += [str(f) for f in CONVERGENCE.failures(name, m.diagnostics)]
    failed = [f"{n} {m.status}: {m.reason or 'no reason given'}" for n, m in facts.failed_models.items()]
    evidence = "; ".join(problems + failed) or (
        f"{', '.join(checked)}: r-hat, divergences and effective sample size within gates" if checked
        else "no Bayesian model ran")
    return Check(MODEL_HEALTH, not problems and not failed, evidence)


def experiment_agreement(facts: RoundFacts) -> Check:
    """Data and lift tests agree: each model's lift for a test's window is within `experiment_z` test se's.

    A model calibrated on a test follows it unless its data pull it away, so a gap means the data and the
    test disagree (a wrong test, or a model mis-specified for that channel); either needs saying.
    """
    z = THRESHOLDS.experiment_z
    rows = [(name, r) for name, m in facts.ok_models.items() for r in m.diagnostics.get(EXPERIMENTS_KEY, [])]
    text = lambda n, r: (f"{n}: {facts.label(r['channel'])} {r['start']}..{r['end']} test {r['incremental_kpi']:,.0f} "  # noqa: E731
                         f"± {r['incremental_kpi_se']:,.0f}, model {r['model_kpi']:,.0f} ({r['z']:.1f} se)")
    bad = [text(n, r) for n, r in rows if r["z"] > z]
    evidence = ("; ".join(bad) + f" (more than {z:g} test se apart)") if bad else (
        "; ".join(text(n, r) for n, r in rows) or "no lift test to compare")
    return Check("experiment agreement", not bad, evidence)


def release_gates(ws: Workspace, round_no: int) -> list[Check]:
    """On a round a refresh produced: its release gates (config.json `gates`) and its verdict; else nothing."""
    report = read_refresh(ws)
    if report is None or report.round != round_no:
        return []
    failed = [f"{g.name} ({g.action}): {g.reason}" for g in report.gates_failed]
    suspects = ", ".join(s.name for s in report.suspects)
    evidence = "; ".join(failed) or f"all {len(report.gates_passed)} gates passed"
    evidence += f"; refresh verdict {report.verdict}" + (f" (suspects: {suspects})" if suspects else "")
    return [Check("release gates", not failed and report.verdict == "stable", evidence)]


# ---------------------------------------------------------------------------- text checks
def sentences(text: str) -> list[str]:
    """Sentences and table rows / bullet lines, lower-cased."""
    parts = re.split(r"(?<=[.!?])\s+|\n", text)
    return [p.strip().lower() for p in parts if p.strip()]


def names(facts: RoundFacts, ch: str) -> tuple[str, ...]:
    """How a text may name a channel: its column, its label or the alias read from the column name."""
    return tuple({facts.label(ch).lower(), ch.lower(), ch.lower().replace("_", " "), readable_label(ch).lower()})


def mentions(sentence: str, facts: RoundFacts, ch: str) -> bool:
    """A name starting a word counts ("tv spending" names TV; "activity" does not)."""
    return any(re.search(rf"(?<!\w){re.escape(n)}", sentence) for n in names(facts, ch))


def said_with(text: str, facts: RoundFacts, chans: list[str], words: tuple[str, ...]) -> bool:
    """Some sentence names every channel in `chans` together with one of `words`."""
    return any(all(mentions(s, facts, c) for c in chans) and any(w in s for w in words) for s in sentences(text))


def consensus_honesty(facts: RoundFacts, text: str) -> Check:
    low = [f for f in facts.channel_facts.values() if f.agreement == "low"]
    missing = [f.label for f in low if not said_with(text, facts, [f.channel], UNCERTAIN_WORDS)]
    if missing:
        return Check("consensus honesty", False,
                     f"low-agreement channel(s) not called uncertain: {', '.join(missing)}")
    return Check("consensus honesty", True,
                 f"{len(low)} low-agreement channel(s), each called uncertain" if low
                 else "no channel has low agreement")


def collinearity(facts: RoundFacts, text: str) -> Check:
    pairs = facts.collinear_pairs
    high_vif = facts.high_vif
    missing = [f"{facts.label(a)} & {facts.label(b)} (r = {r:.2f})" for a, b, r in pairs
               if not said_with(text, facts, [a, b], COLLINEAR_WORDS)]
    missing += [f"{facts.label(c)} (VIF {v:.1f})" for c, v in high_vif.items()
                if not said_with(text, facts, [c], COLLINEAR_WORDS)]
    found = [f"{facts.label(a)} & {facts.label(b)} r = {r:.2f}" for a, b, r in pairs]
    found += [f"{facts.label(c)} VIF {v:.1f}" for c, v in high_vif.items()]
    if missing:
        return Check("collinearity", False, f"not named in the text: {'; '.join(missing)} "
                                            f"(|r| > {COLLINEAR_R} or VIF > {COLLINEAR_VIF:g})")
    return Check("collinearity", True, ("named: " + "; ".join(found)) if found
                 else f"no pair with |r| > {COLLINEAR_R}, no VIF > {COLLINEAR_VIF:g}")


def sample_size(facts: RoundFacts, text: str) -> Check:
    weeks, params, markets = facts.weeks, facts.n_parameters, facts.n_markets
    need = facts.sample_caveat_needed
    unit = "weeks" if markets == 1 else f"market-weeks ({weeks} weeks × {markets} markets)"
    basis = (f"{facts.observations} {unit} for {params} parameters (caveat needed below {MIN_WEEKS_CAVEAT} "
             f"weeks or {WEEKS_PER_PARAMETER} per parameter = {WEEKS_PER_PARAMETER * params})")
    if not need:
        return Check("sample size", True, basis + ": no caveat needed")
    present = any(("sample" in s or f"{weeks} weeks" in s) and any(w in s for w in SAMPLE_WORDS)
                  for s in sentences(text))
    return Check("sample size", present, basis + (": caveat present" if present else ": caveat missing"))


def identifiability(facts: RoundFacts, text: str) -> Check:
    """Channels the recoverability audit could not recover (results/audit.csv) must be called uncertain:
    what the models say about them is not a measurement, however well they agree."""
    unrecoverable = [f for f in facts.channel_facts.values() if WHY_AUDIT_NOT in f.why]
    missing = [f.label for f in unrecoverable if not said_with(text, facts, [f.channel], UNCERTAIN_WORDS)]
    if missing:
        return Check("identifiability", False, f"not recoverable in the audit but not called uncertain: "
                                               f"{', '.join(missing)}")
    return Check("identifiability", True,
                 f"{len(unrecoverable)} channel(s) not recoverable in the audit, each called uncertain" if unrecoverable
                 else "no channel the recoverability audit could not recover (or no audit this round)")


def acknowledged(check: Check, text: str) -> bool:
    """A failed numeric check counts as handled when the text speaks about it."""
    low = text.lower()
    return any(w in low for w in ACK_WORDS.get(check.name, ()))


def open_issues(checks: list[Check], text: str) -> list[Check]:
    """Failed checks the analysis has not handled (text checks must pass; numeric ones be acknowledged).
    Failed model health is never handled by a mention: a model whose sampler did not converge has no
    estimate to report, so the first review always asks for a revision that says so."""
    return [c for c in checks if not c.passed
            and (c.kind is Kind.TEXT or c.name == MODEL_HEALTH or not acknowledged(c, text))]


def approval(checks: list[Check]) -> str:
    """The approving verdict: APPROVED, or, while model health fails, the failure stated in the verdict line
    (`APPROVED WITH MODEL HEALTH FAIL: <evidence>`): the round goes on to the report, but no reader of the
    review can take it for a clean approval."""
    failed = [c for c in checks if c.name == MODEL_HEALTH and not c.passed]
    return f"{Status.APPROVED} {HEALTH_FAIL}: {failed[0].evidence}" if failed else Status.APPROVED


def plain_approval_despite_failed_health(checks: list[Check], verdict: str) -> bool:
    """A bare APPROVED while model health fails (what the guard refuses)."""
    return verdict.startswith(Status.APPROVED) and approval(checks) != Status.APPROVED and HEALTH_FAIL not in verdict


def render(round_no: int, checks: list[Check], status: str, unhandled: list[Check], revision: bool) -> str:
    lines = [f"# Round {round_no} review" + (f" {FINAL_MARK}" if revision else ""), "",
             "| check | result | evidence |", "|---|---|---|"]
    lines += [f"| {c.name} | {c.outcome} | {c.evidence.replace('|', '/')} |" for c in checks]
    failed = [c for c in checks if not c.passed]
    if failed:
        lines += ["", "## Open issues"]
        lines += [f"- {c.name}: {c.evidence}" + ("" if c in unhandled else " (acknowledged in the analysis)")
                  for c in failed]
    lines += ["", status, ""]
    return "\n".join(lines)


def parse_verdict(text: str) -> str | None:
    """The verdict line of a review file (last line starting APPROVED, REVISE: or REJECTED:)."""
    starts = (Status.APPROVED, REVISE_PREFIX, REJECT_PREFIX)
    found = [ln.strip() for ln in text.splitlines() if ln.strip().startswith(starts)]
    return found[-1] if found else None


FINAL_MARK = "(after revision)"  # the final review's heading says so (the guards read it too)
POINT_SEP = " — "  # a raised point is "<check name> — <its evidence>"; points are joined by "; "


def point(check: Check) -> str:
    return f"{check.name}{POINT_SEP}{check.evidence}"


def raised_points(ws: Workspace, round_no: int) -> list[str]:
    """The points the round's first review sent back (its REVISE reason, one per unhandled check, then any
    reason of the reviewer's own); [] when it approved. Until the final review is written, R{NN}_review.md is
    the first review; after, the first is kept as R{NN}_review_first.md."""
    review = ws.review(round_no)
    text = review.read_text(encoding="utf-8") if review.exists() else ""
    if FINAL_MARK in text.split("\n", 1)[0]:
        first = ws.round_file(round_no, "review_first")
        text = first.read_text(encoding="utf-8") if first.exists() else ""
    verdict = parse_verdict(text)
    if not verdict or not verdict.startswith(REVISE_PREFIX):
        return []
    reason, names = verdict.removeprefix(REVISE_PREFIX).strip(), CHECK_NAMES
    starts = [m.start() for m in re.finditer("|".join(re.escape(n + POINT_SEP) for n in names), reason)]
    cuts = [0, *[i for i in starts if i > 0], len(reason)]
    return [reason[a:b].strip().rstrip(";").strip() for a, b in zip(cuts, cuts[1:]) if reason[a:b].strip()]


def unquoted(text: str, points: list[str]) -> str:
    """The text without verbatim copies of the review's points and their evidence: repeating what the Critic
    said does not address it (the old fixed "Response to the review" passed every re-check that way)."""
    for p in points:
        text = text.replace(p, " ")
        name, sep, evidence = p.partition(POINT_SEP)
        if sep and evidence.strip():
            text = text.replace(evidence.strip(), " ")
    return text


def reviewed_text(ws: Workspace, round_no: int, text: str, revision: bool) -> str:
    """The analysis as a review judges it: the final review (after the revision) without the first review's
    points quoted back (`unquoted`), so each raised point must be answered in the analysis's own words."""
    return unquoted(text, raised_points(ws, round_no)) if revision else text


def verdict(checks: list[Check], text: str, revision: bool) -> tuple[str, list[Check]]:
    """(the verdict, the checks still open) for `checks` computed on `text` (see `reviewed_text`): APPROVED when
    every failed check is handled (with failed model health stated in the verdict, `approval`); otherwise REVISE
    on the first review, and on the final one (after the one revision) REJECTED naming what is still open."""
    unhandled = open_issues(checks, text)
    still = [c for c in unhandled if c.name != MODEL_HEALTH]  # after the revision, failed health is stated, not fixed
    if not unhandled or (revision and not still):
        return approval(checks), unhandled
    if not revision:
        return revise("; ".join(point(c) for c in unhandled)), unhandled
    return reject("not addressed after the revision: " + "; ".join(point(c) for c in still)), unhandled

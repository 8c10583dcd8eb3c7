"""Deterministic guards run after an agent (rule-based or Claude): does its file keep the rules?

`prism critique --check`: every check in the review has the computed result, a failed check is never
marked PASS, and the verdict follows from the checks. `prism proofread --check`: report.md has the
renderer's headings and every number, channel and caveat the Proofreader demands.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prism.agents import analyst, proofreader
from prism.analysis import checks, claims
from prism.analysis.checks import required_headings
from prism.analysis.facts import RoundFacts
from prism.analysis.numbers import INTERPRETATION, SPELLED_OUT, ratios
from prism.errors import GuardFailed, InputError
from prism.schemas import PROOFREAD_STATUSES, REJECT_PREFIX, REVISE_PREFIX, Status
from prism.orchestration.stages import STAGES
from prism.workspace import Workspace, load_state


def _round(ws: Workspace, kind: str) -> int:
    """The current round, or the last one that has the file (a round stopped by NO_CHANGE has none)."""
    n = max(load_state(ws).round, 1)
    while n > 1 and not ws.round_file(n, kind).exists():
        n -= 1
    return n


def check_review(ws: Workspace) -> list[str]:
    """Problems with the current round's review (empty = it passes)."""
    n = _round(ws, "review")
    review, analysis = ws.review(n), ws.analysis(n)
    for p in (review, analysis):
        if not p.exists():
            raise InputError(f"{p}: file not found")
    text = review.read_text(encoding="utf-8")
    final = checks.FINAL_MARK in text.splitlines()[0] if text else False
    analysis_text = checks.reviewed_text(ws, n, analysis.read_text(encoding="utf-8"), final)
    computed = checks.compute_checks(ws, n, analysis_text)
    problems = []
    for c in computed:
        row = next((ln for ln in text.splitlines() if ln.lower().startswith(f"| {c.name} |")), None)
        expected = c.outcome
        if row is None:
            problems.append(f"check '{c.name}' is missing from {review.name}")
        elif f"| {expected} |" not in row:
            problems.append(f"check '{c.name}' must be {expected}: {c.evidence}")
    verdict = checks.parse_verdict(text)
    decided, unhandled = checks.verdict(computed, analysis_text, final)
    if verdict is None:
        problems.append(f"{review.name} has no verdict line (APPROVED, REVISE: <reason> or, after the revision, "
                        f"REJECTED: <reason>)")
    elif verdict.startswith(Status.APPROVED) and not decided.startswith(Status.APPROVED):
        problems.append(("APPROVED although the revision does not address: " if final else
                         "APPROVED although these checks are not handled: ") + ", ".join(c.name for c in unhandled))
    elif verdict.startswith(REVISE_PREFIX) and final:
        problems.append("the review after the revision must decide: APPROVED when every point is addressed, "
                        "else REJECTED: <what is not>")
    elif verdict.startswith(REJECT_PREFIX) and not final:
        problems.append("REJECTED is the final review's verdict; the first review asks for a revision (REVISE)")
    elif checks.plain_approval_despite_failed_health(computed, verdict):
        problems.append(f"model health fails: the verdict must say so ({checks.approval(computed)})")
    return problems


def check_report(ws: Workspace) -> list[str]:
    """Problems with results/report.md and the round's proofread note (empty = it passes)."""
    n = _round(ws, "proofread")
    if not ws.report_md.exists():
        raise InputError(f"{ws.report_md}: file not found")
    text = ws.report_md.read_text(encoding="utf-8")
    facts = RoundFacts.load(ws, n)
    problems = [f"heading missing: {h}" for h in required_headings(facts) if h not in text]
    if not text.startswith("# "):
        problems.append("report.md must start with a '# ' title")
    _, edits, issues = proofreader.review(text, facts, ws)
    problems += [f"line {e.line}: {e.old} does not match the results (nearest: {e.new})" for e in edits]
    problems += issues
    note = ws.proofread(n)
    if not note.exists():
        problems.append(f"{note.name} is missing")
    elif not any(ln.strip() in PROOFREAD_STATUSES for ln in note.read_text().splitlines()):
        problems.append(f"{note.name} has no PROOFREAD_CLEAN / PROOFREAD_CORRECTED line")
    return problems


@dataclass
class NumberCheck:
    """`failures` block recording (figures not their subject's, wrong ratios, numbers in words); `warnings`
    are ratios Prism cannot compute."""

    round: int
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def number_problems(ws: Workspace, path: Path, round_no: int) -> NumberCheck:
    """Every number and stated ratio in an agent's file against the round's values (NUMBER_SOURCES)."""
    text = path.read_text(encoding="utf-8")
    if path == ws.exploration():  # the computed sections are Prism's own; only the interpretation is checked
        text = INTERPRETATION + text.partition(INTERPRETATION)[2]
    facts = RoundFacts.load(ws, round_no, need_results=ws.round_results(round_no).exists())
    out = NumberCheck(round_no)
    for r in ratios(text, facts):
        if r.wrong:
            out.failures.append(f"'{r.text}' is not the ratio of the two channels' ROI in its sentence "
                                f"({r.actual:.1f}×); quote both figures instead")
        elif r.actual is None:
            out.warnings.append(f"'{r.text}': Prism cannot compute this ratio; quote the two figures instead")
        text = text[:r.start] + " " * (r.end - r.start) + text[r.end:]  # judged as a ratio, not as a number
    out.failures += [f"'{m.group()}' is a number in words: write the figure so it can be checked"
                     for m in SPELLED_OUT.finditer(text)]
    wrong = claims.check(text, facts)
    if wrong:
        out.failures.insert(0, f"{len(wrong)} number(s) are not their subject's value in round {round_no} "
                               "(see `prism facts`): " + "; ".join(p.message for p in wrong))
    return out


def word_problems(path: Path) -> list[str]:
    """The analysis must stay under MAX_WORDS, counted like `wc -w`."""
    words = analyst.word_count(path.read_text(encoding="utf-8"))
    return [f"{words} words; the analysis must be under {analyst.MAX_WORDS}"] if words >= analyst.MAX_WORDS else []


def session_guard(ws: Workspace, round_no: int, stage: str) -> None:
    """The stage's guard on the session's file; raises GuardFailed (nothing is recorded) when it fails."""
    spec = STAGES[stage]
    path = spec.artifact(ws, round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found; write it before recording the {stage} stage")
    if stage in ("critique", "recritique"):
        problems = check_review(ws)
    elif stage == "proofread":
        problems = check_report(ws)
    else:
        evidence_round = round_no - 1 if stage == "tune" else round_no  # the Tuner quotes the last round
        problems = number_problems(ws, path, evidence_round).failures
        if stage in ("analyze", "revise"):
            problems += word_problems(path)
    if problems:
        raise GuardFailed(str(path.relative_to(ws.root)), problems)

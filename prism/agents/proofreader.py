"""Proofreader (rule-based): checks results/report.md against the round's numbers and corrects it in place.

Every number must be its subject's value (the channel, model and metric its sentence names) within its
printed rounding; a number that is not is replaced from the same line's channel's figures (atomic rewrite). Jargon outside the appendix,
one figure stated two ways, missing channels and missing caveats are reported, not rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from prism.agents.base import AgentOutcome
from prism.analysis import checks, claims, numbers
from prism.analysis.checks import HEADINGS
from prism.analysis.facts import RoundFacts, fmt
from prism.errors import InputError
from prism.schemas import AgentCall, Status
from prism.workspace import Workspace, write_text

JARGON = ("ridge", "pymc", "lightweight", "bayesian", "posterior", "mape", "r²", "r-hat", "adstock", "hill",
          "coefficient", "bootstrap", "vif", "collinear", "credible interval", "regression", "prior",
          "divergen", "heteroscedastic", "p-value", "nuts sampler", "cross-validation")
CORRECTABLE = ("roi", "interval", "kpi_share", "spend_share", "saturation")  # metrics a line's channel corrects
ROI_CLAIM = re.compile(r"(?:returns?|roi)\D{0,20}?(\d+\.\d+)", re.IGNORECASE)


@dataclass(frozen=True)
class Edit:
    line: int
    old: str
    new: str
    why: str


def review(text: str, facts: RoundFacts, ws: Workspace) -> tuple[str, list[Edit], list[str]]:
    """Corrected text, the numeric edits made and the issues found (not fixed).

    A figure is wrong when it is not its subject's value (analysis/claims.py: the channel, model and
    metric its sentence names); on a line about one channel it is corrected from that channel's figures."""
    book = claims.book(ws, facts)
    wrong = {p.claim.found.start for p in claims.check(text, facts, book) if _correctable(p, book)}
    lines, edits, pos = text.split("\n"), [], 0
    for i, line in enumerate(lines):
        at = {s - pos for s in wrong if pos <= s < pos + len(line)}
        pos += len(line) + 1
        lines[i], line_edits = _correct_line(line, i + 1, facts, at)
        edits += line_edits
    corrected = "\n".join(lines)
    issues = jargon(corrected) + inconsistent(corrected, facts) + missing_channels(corrected, facts)
    issues += [f"missing caveat — {c.name}: {c.evidence}" for c in checks.text_checks(facts, corrected)
               if not c.passed]
    issues += [f"line {corrected.count(chr(10), 0, p.claim.found.start) + 1}: {p.message}"
               for p in claims.check(corrected, facts, book)]
    return corrected, edits, issues


def _correctable(problem: claims.Problem, book: claims.Book) -> bool:
    """Only a return or a share is corrected from the line's channel (the figures `_correct_line` draws on); a
    figure of unknown metric only when it is no value of the round at all. Others are reported."""
    c = problem.claim
    if c.metric is None:
        return not numbers.matches(c.found, [q.value for q in book.values])
    return c.metric in CORRECTABLE


def _correct_line(line: str, line_no: int, facts: RoundFacts, wrong: set[int]) -> tuple[str, list[Edit]]:
    """Correct the wrong figures (their positions in the line) of a line that names exactly one channel."""
    chans = [f for f in facts.channel_facts.values() if checks.mentions(line.lower(), facts, f.channel)]
    if len(chans) != 1 or not wrong:
        return line, []
    f = chans[0]
    candidates_pct = [f.contribution_pct, f.spend_share, f.saturation_pct]
    candidates = [f.roi, f.roi_low, f.roi_high, *f.roi_by_model.values()]  # headline figures first
    out, edits, shift = line, [], 0
    for found in numbers.extract(line):
        if found.start not in wrong:
            continue
        pool = candidates_pct if found.percent or "%" in line[found.end:found.end + 2] else candidates
        printed = [g for g in numbers.extract(line) if g.start != found.start]
        target = _likely_value(found, pool, printed)
        if target is None:
            continue
        decimals = len(found.text.strip().rstrip("%").split(".")[1]) if "." in found.text else 0
        new = fmt(target, decimals) + ("%" if found.text.strip().endswith("%") else "")
        old = found.text.strip()
        start = found.start + shift + (len(found.text) - len(found.text.lstrip()))
        out = out[:start] + new + out[start + len(old):]
        shift += len(new) - len(old)
        edits.append(Edit(line_no, old, new, f"{f.label}: nearest value in the results"))
    return out, edits


def _likely_value(found: numbers.Found, pool: list[float], printed: list[numbers.Found]) -> float | None:
    """The first headline figure the line lacks (a row shows mean, low and high), else the nearest value."""
    missing = [v for v in pool if not any(numbers.matches(g, [v]) for g in printed)]
    if missing:
        return numbers.closest(found, missing) if found.percent else missing[0]
    return numbers.closest(found, pool)


def body_before_appendix(text: str) -> str:
    return text.split(HEADINGS["appendix"])[0]


def jargon(text: str) -> list[str]:
    body = body_before_appendix(text).lower()
    return [f"jargon outside the appendix: '{w}'" for w in JARGON if re.search(rf"\b{re.escape(w)}", body)]


def inconsistent(text: str, facts: RoundFacts) -> list[str]:
    """A channel whose return is stated as two different figures."""
    out = []
    for f in facts.channel_facts.values():
        claims = {m.group(1) for s in checks.sentences(body_before_appendix(text)) if checks.mentions(s, facts, f.channel)
                  and sum(checks.mentions(s, facts, g) for g in facts.channels) == 1
                  for m in ROI_CLAIM.finditer(s)}
        claims = {c for c in claims if abs(float(c) - f.roi_low) > 0.005 and abs(float(c) - f.roi_high) > 0.005}
        if len(claims) > 1:
            out.append(f"{f.label}: return stated as {', '.join(sorted(claims))}")
    return out


def missing_channels(text: str, facts: RoundFacts) -> list[str]:
    low = text.lower()
    return [f"channel missing from the report: {f.label}" for f in facts.channel_facts.values()
            if not any(n in low for n in checks.names(facts, f.channel))]


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    if not ws.report_md.exists():
        raise InputError(f"{ws.report_md}: file not found (run the Reporter first)")
    facts = RoundFacts.load(ws, round_no)
    text = ws.report_md.read_text(encoding="utf-8")
    corrected, edits, issues = review(text, facts, ws)
    if edits:
        write_text(ws.report_md, corrected)
    status = Status.PROOFREAD_CORRECTED if edits else Status.PROOFREAD_CLEAN
    write_text(ws.proofread(round_no), render(round_no, text, edits, issues, status))
    return AgentOutcome(status=status, path=ws.proofread(round_no),
                        detail=f"{len(edits)} edit(s), {len(issues)} issue(s)",
                        call=AgentCall(agent="proofreader", impl="rules"),
                        extra={"edits": len(edits), "issues": issues})


def render(round_no: int, text: str, edits: list[Edit], issues: list[str], status: str) -> str:
    n = len(numbers.extract(text))
    lines = [f"# Round {round_no} proofread", "", f"Numbers checked: {n}.", "", "## Edits"]
    lines += [f"- line {e.line}: {e.old} → {e.new} ({e.why})" for e in edits] or ["- none"]
    lines += ["", "## Issues found"]
    lines += [f"- {i}" for i in issues] or ["- none"]
    lines += ["", status, ""]
    return "\n".join(lines)

"""Critic (rule-based): the round's checks against the analysis, then APPROVED or REVISE.

A failed numeric check needs acknowledging in the analysis, a failed text check fixing. After the one
revision the Critic re-checks the revised analysis and decides: APPROVED when every point is addressed,
otherwise REJECTED naming what is not (quoting the review back does not count). Failed model health is never
a plain approval: the first review asks for a revision, the final one approves with the failure stated in the
verdict line (checks.approval). The checks themselves live in the analysis layer (prism.analysis.checks).
"""

from __future__ import annotations

from prism.agents.base import AgentOutcome
from prism.analysis.checks import compute_checks, render, reviewed_text, verdict
from prism.errors import InputError
from prism.schemas import AgentCall
from prism.workspace import Workspace, write_text


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    """Review the round's analysis; `revision=True` is the second (final) review after the Analyst's fix."""
    path = ws.analysis(round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found (run the Analyst first)")
    text = reviewed_text(ws, round_no, path.read_text(encoding="utf-8"), revision)
    checks = compute_checks(ws, round_no, text)
    status, unhandled = verdict(checks, text, revision)
    write_text(ws.review(round_no), render(round_no, checks, status, unhandled, revision))
    return AgentOutcome(status=status, path=ws.review(round_no),
                        detail=f"{sum(c.passed for c in checks)}/{len(checks)} checks pass",
                        call=AgentCall(agent="critic", impl="rules"),
                        extra={"open_issues": [c.name for c in checks if not c.passed]})

"""Critic (rule-based): the round's checks against the analysis, then APPROVED or REVISE.

A failed numeric check needs acknowledging in the analysis; after one revision the Critic approves and
records what is still open. Failed model health is never a plain approval: the first review asks for a
revision, the second approves with the failure stated in the verdict line (checks.approval). The checks
themselves live in the analysis layer (prism.analysis.checks).
"""

from __future__ import annotations

from prism.agents.base import AgentOutcome
from prism.analysis.checks import approval, compute_checks, open_issues, render
from prism.errors import InputError
from prism.schemas import AgentCall, revise
from prism.workspace import Workspace, write_text


def run(ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome:
    """Review the round's analysis; `revision=True` is the second (final) review after the Analyst's fix."""
    path = ws.analysis(round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found (run the Analyst first)")
    text = path.read_text(encoding="utf-8")
    checks = compute_checks(ws, round_no, text)
    unhandled = open_issues(checks, text)
    if unhandled and not revision:
        status = revise("; ".join(f"{c.name} — {c.evidence}" for c in unhandled))
    else:
        status = approval(checks)
    write_text(ws.review(round_no), render(round_no, checks, status, unhandled, revision))
    return AgentOutcome(status=status, path=ws.review(round_no),
                        detail=f"{sum(c.passed for c in checks)}/{len(checks)} checks pass",
                        call=AgentCall(agent="critic", impl="rules"),
                        extra={"open_issues": [c.name for c in checks if not c.passed]})

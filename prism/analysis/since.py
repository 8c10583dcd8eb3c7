"""The report's "Since last time": what the last refresh moved, why, and how past decisions turned out.

Every figure comes from results/refresh.json, results/refresh.csv and decisions.jsonl (sources the number
check accepts), printed with the agents' rounding (`facts.fmt`), in the body's plain words: no method
names, and no "return" beside a past figure (the Proofreader reads that as a second ROI claim).
"""

from __future__ import annotations

from typing import Callable

import pandas as pd

from prism.analysis import governance
from prism.analysis.facts import fmt
from prism.analysis.refresh import FLAG_MOVED, FLAG_SUSPECT, LEVEL, read_refresh
from prism.schemas import RefreshReport, Verdict
from prism.workspace import Workspace

HEADING = "## Since last time"
# Plain words for the report body: the gates' own reasons name methods and error measures (appendix words).
PLAIN_GATES = {"convergence": "a refitted method failed to run or did not settle",
               "holdout_error": "the refitted model predicts the weeks it did not see worse than the approved one did",
               "forecast_coverage": "too few new weeks fell inside the approved model's forecast range",
               "roi_moves": "a channel's estimate left its approved range",
               "confidence_downgrades": "a channel's confidence fell"}
VERDICT_WORDS = {Verdict.STABLE: "stable: nothing moved beyond what the approved model expected",
                 Verdict.DRIFT: "drift: something changed that the approved model did not expect",
                 Verdict.BLOCKED: "blocked: a release gate failed, so the approved results stay current"}


def applies(report: RefreshReport | None, round_no: int) -> bool:
    """A report on the refresh's own round, or on the round a blocked refresh left current."""
    return report is not None and round_no in (report.round, report.current_round)


def since_last_time(ws: Workspace, round_no: int, label: Callable[[str], str], kpi: str) -> list[str]:
    """The section's lines (none when the round has no refresh behind it)."""
    report = read_refresh(ws)
    if not applies(report, round_no):
        return []
    f = report.forecast
    lines = [HEADING, "",
             f"{len(report.new_weeks)} new weeks ({f.start} to {f.end}) came in after the model approved in round "
             f"{report.approved_round}. Verdict: {VERDICT_WORDS[report.verdict]}.", "",
             f"- Forecast check: from the weeks' actual spend the approved model expected {kpi} of "
             f"{fmt(f.forecast_total, 0)} (90% range {fmt(f.forecast_total_low, 0)} to {fmt(f.forecast_total_high, 0)}); "
             f"{fmt(f.actual_total, 0)} came in, with {fmt(f.coverage * 100, 0)}% of weeks inside their weekly range."]
    lines += _moves(ws, report, label)
    lines += [f"- Release gate {g.name} failed ({'blocking' if g.action == 'block' else 'a warning'}): "
              f"{PLAIN_GATES.get(g.name, g.name)}." for g in report.gates_failed]
    lines += _outcomes(ws, kpi)
    return lines + [""]


def _moves(ws: Workspace, report: RefreshReport, label: Callable[[str], str]) -> list[str]:
    path = ws.result("refresh.csv")
    table = pd.read_csv(path) if path.exists() else pd.DataFrame(columns=["channel", "flag"])
    out = []
    for r in table[table["flag"].astype(str).str.contains(FLAG_MOVED)].itertuples():
        out.append(f"- {label(r.channel)}: the estimate per unit of spend moved from {fmt(r.roi_before)} (range "
                   f"{fmt(r.roi_before_low)} to {fmt(r.roi_before_high)}) to {fmt(r.roi_after)} (range "
                   f"{fmt(r.roi_after_low)} to {fmt(r.roi_after_high)}).")
    for s in report.suspects:
        who = "the baseline (not media)" if s.name == LEVEL else label(s.name)
        out.append(f"- The forecast misses follow {who}: its effect looks {fmt(s.change_pct, 0)}% different from "
                   f"what the approved model expected.")
    flagged = table["flag"].astype(str).str.contains(f"{FLAG_MOVED}|{FLAG_SUSPECT}").any()
    return out or ([] if flagged else ["- No channel's return left its approved range."])


def _outcomes(ws: Workspace, kpi: str) -> list[str]:
    return [f"- Decision \"{o['action']}\" ({o['start']} to {o['end']}): {kpi} came in at {fmt(o['actual'], 0)} against "
            f"a forecast of {fmt(o['forecast'], 0)} ({fmt(o['forecast_low'], 0)} to {fmt(o['forecast_high'], 0)}): "
            f"{o['verdict']} the forecast range." for o in governance.past_outcomes(ws)]

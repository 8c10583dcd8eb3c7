"""The hand-off: when the loop stops, the best round (lowest tuning objective) is the deliverable.

results/latest.json, the comparison tables, results/report.md and its rendered deliverables, config.json and
`prism status` then all name the same round. A change made after the best round lost: it is reverted in
config.json, added to the changes never tried again (state.json) and noted in that round's tuning file.
"""

from __future__ import annotations

from prism.schemas import Results, State
from prism.workspace import Workspace, read_model, write_csv, write_json, write_text


def hand_off(ws: Workspace, state: State, render: bool = True) -> str | None:
    """Make the best round the deliverable once the loop has stopped; returns what was done (None: nothing)."""
    best = state.best_round
    if not state.stopped_reason or best is None or state.deliverable_round == best:
        return None
    snapshot, results = ws.round_file(best, "report"), ws.round_results(best)
    if not (snapshot.exists() and results.exists()):
        return None  # the best round never reached its report: the last report stays
    state.deliverable_round = best
    later = [r for r in state.rounds if r.round > best and r.objective is not None]
    if not later:
        return None  # the last round that ran is the best: results/ already hold it
    _restore_results(ws, best, snapshot.read_text(encoding="utf-8"))
    config = ws.round_file(best, "config", "json")
    if config.exists():
        write_text(ws.config, config.read_text(encoding="utf-8"))
    note = (f"hand-off: round {best} (objective {state.best_objective:.2f}%) is the deliverable; results/ and "
            f"config.json hold it")
    for rec in later:
        if rec.change_key and rec.change_key not in state.reverted_changes:
            state.reverted_changes.append(rec.change_key)
        reason = (f"Reverted at the hand-off: this round's change ({rec.change}) gave objective {rec.objective:.2f}% "
                  f"against {state.best_objective:.2f}% in round {best}; config.json is round {best}'s again.")
        tuning = ws.tuning(rec.round)
        if tuning.exists() and reason not in tuning.read_text(encoding="utf-8"):
            write_text(tuning, tuning.read_text(encoding="utf-8").rstrip("\n") + "\n\n" + reason + "\n")
        note += f"; round {rec.round}'s change reverted ({rec.change})"
    state.history.append({"round": state.round, "stage": "hand-off", "status": note})
    if render:
        from prism.report.build import render_deliverables

        render_deliverables(ws, best)
    return note


def _restore_results(ws: Workspace, best: int, report: str) -> None:
    """latest.json, the comparison tables and report.md become the best round's."""
    from prism.analysis.compare import comparison_table

    res = read_model(ws.round_results(best), Results)
    write_json(ws.latest, res)
    write_csv(ws.result("roi_comparison.csv"), comparison_table(res, "roi"))
    write_csv(ws.result("contribution_comparison.csv"), comparison_table(res, "contribution_pct"))
    write_text(ws.report_md, report)

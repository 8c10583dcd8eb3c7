"""Approval, history and the decision log (`decisions.jsonl`).

The log is one JSON object a line, oldest first, each with an `id` and a `kind`:
- `recommendation`: the spend plan of results/optimization.csv when a round is approved, with its forecast
  KPI change and 90 % interval;
- `approval`: who approved which round, when and why (and the recommendation it approved, if any), with the
  round's data and config hashes: `prism refresh` starts from the last approval;
- `action`: what was really done (`prism decide`): the action, the weeks it ran and who decided;
- `outcome`: written by `prism refresh` once every week of an action has come in: what the KPI did over
  those weeks against the approved model's forecast from their actual spend, and its interval.
The file is rewritten whole, atomically, on every entry: no half-written line survives a crash.
"""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timezone
from typing import Any

import numpy as np
import pandas as pd

from prism.data.prepare import frame_hash
from prism.errors import InputError
from prism.schemas import Manifest, Results
from prism.workspace import Workspace, read_model, write_text

KINDS = ("recommendation", "approval", "action", "outcome")
TOTAL_ROW = "total"


def read_log(ws: Workspace) -> list[dict[str, Any]]:
    """Every entry of decisions.jsonl (none before the first approval); a broken line names its number."""
    if not ws.decisions.exists():
        return []
    out = []
    for no, line in enumerate(ws.decisions.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(f"{ws.decisions}: line {no} is not JSON ({exc.msg})") from None
        if not isinstance(entry, dict) or entry.get("kind") not in KINDS:
            raise InputError(f"{ws.decisions}: line {no} has no kind among {', '.join(KINDS)}")
        out.append(entry)
    return out


def append(ws: Workspace, kind: str, **fields: Any) -> dict[str, Any]:
    """Add one entry (numbered D0001, D0002, …) and return it."""
    log = read_log(ws)
    entry = {"id": f"D{len(log) + 1:04d}", "kind": kind, "at": now(), **fields}
    write_text(ws.decisions, "".join(json.dumps(e, default=str) + "\n" for e in [*log, entry]))
    return entry


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# ---------------------------------------------------------------------------------------------- approve
def approve(ws: Workspace, round_no: int | None, by: str, reason: str) -> dict[str, Any]:
    """Mark a round as the approved model; keep its weekly table beside it so a refresh can start from it."""
    if not by.strip() or not reason.strip():
        raise InputError("approve needs --by WHO and --reason WHY (the decision log records both)")
    res = _round_results(ws, round_no)
    if not res.ok_models():
        raise InputError(f"{ws.round_results(res.round)}: no model ran in round {res.round}; nothing to approve")
    manifest = read_manifest(ws, res.round)
    _snapshot_weekly(ws, res)
    rec = _recommendation(ws, res.round)
    return append(ws, "approval", round=res.round, by=by.strip(), reason=reason.strip(), data_hash=res.data_hash,
                  config_hash=res.config_hash, packages=manifest.packages, recommendation=rec["id"] if rec else None)


def _round_results(ws: Workspace, round_no: int | None) -> Results:
    path = ws.latest if round_no is None else ws.round_results(round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `prism run` first)")
    return read_model(path, Results)


def read_manifest(ws: Workspace, round_no: int) -> Manifest:
    path = ws.manifest(round_no)
    if not path.exists():
        raise InputError(f"{path}: file not found; rerun `prism run --round {round_no}` to write the round's manifest")
    return read_model(path, Manifest)


def _snapshot_weekly(ws: Workspace, res: Results) -> None:
    """rounds/R{NN}_weekly.parquet: the table the round was fitted on (weekly.parquet must still be it)."""
    target = ws.weekly_snapshot(res.round)
    if target.exists():
        return
    if not ws.weekly.exists() or frame_hash(pd.read_parquet(ws.weekly)) != res.data_hash:
        raise InputError(f"{ws.weekly}: no longer the data round {res.round} was fitted on (data_hash "
                         f"{res.data_hash}); approve the latest round, or rerun this one")
    shutil.copyfile(ws.weekly, target)


def _recommendation(ws: Workspace, round_no: int) -> dict[str, Any] | None:
    """Log results/optimization.csv (if any) as the recommendation being approved."""
    path = ws.result("optimization.csv")
    if not path.exists():
        return None
    plan = pd.read_csv(path)
    if TOTAL_ROW not in set(plan["channel"]):
        raise InputError(f"{path}: no '{TOTAL_ROW}' row; rerun `prism optimize`")
    total = plan.set_index("channel").loc[TOTAL_ROW]
    body = plan[plan["channel"] != TOTAL_ROW]
    return append(ws, "recommendation", round=round_no,
                  plan={r.channel: {"current": float(r.current), "recommended": float(r.recommended)}
                        for r in body.itertuples()},
                  forecast=float(total["expected_kpi_change"]), forecast_low=float(total["expected_kpi_change_low"]),
                  forecast_high=float(total["expected_kpi_change_high"]))


def approved_round(ws: Workspace) -> int:
    """The round of the last approval; bad input when nothing was ever approved."""
    approvals = [e for e in read_log(ws) if e["kind"] == "approval"]
    if not approvals:
        raise InputError(f"{ws.decisions}: no approved round; run `prism approve --by WHO --reason WHY` first")
    return int(approvals[-1]["round"])


# ------------------------------------------------------------------------------------------------ decide
def decide(ws: Workspace, action: str, start: str, end: str, by: str, recommendation: str | None) -> dict[str, Any]:
    """Record what was done and over which weeks, so a later refresh can score it against the forecast."""
    first, last = _day(start, "--start"), _day(end, "--end")
    if last < first:
        raise InputError(f"--end {end} is before --start {start}")
    log = read_log(ws)
    if recommendation is None:
        recs = [e for e in log if e["kind"] == "recommendation"]
        recommendation = recs[-1]["id"] if recs else None
    elif not any(e["id"] == recommendation and e["kind"] == "recommendation" for e in log):
        raise InputError(f"--recommendation {recommendation}: no such recommendation in {ws.decisions}")
    if not action.strip() or not by.strip():
        raise InputError("decide needs --action WHAT and --by WHO")
    return append(ws, "action", action=action.strip(), start=str(first), end=str(last), by=by.strip(),
                  recommendation=recommendation, approved_round=approved_round(ws))


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} {text!r}: not a date (YYYY-MM-DD)") from None


def record_outcomes(ws: Workspace, dates: list[str], actual: np.ndarray, predictive: np.ndarray
                    ) -> list[dict[str, Any]]:
    """Score every action whose weeks all lie in `dates` (the refresh's new weeks) and has no outcome yet.

    The forecast is the approved model's, from the weeks' actual spend (S draws × weeks in `predictive`)."""
    log = read_log(ws)
    scored = {e["action"] for e in log if e["kind"] == "outcome"}
    weeks = pd.to_datetime(pd.Series(dates))
    out = []
    six = pd.Timedelta(days=6)
    for e in (e for e in log if e["kind"] == "action" and e["id"] not in scored):
        start, end = pd.Timestamp(e["start"]), pd.Timestamp(e["end"])
        inside = ((weeks + six >= start) & (weeks <= end)).to_numpy()
        if not inside.any() or weeks[inside].min() > start or weeks[inside].max() + six < end:
            continue  # the action's weeks have not all come in with this refresh
        totals = predictive[:, inside].sum(axis=1)
        low, high = np.quantile(totals, [0.05, 0.95])
        got = float(actual[inside].sum())
        verdict = "within" if low <= got <= high else ("above" if got > high else "below")
        out.append(append(ws, "outcome", action=e["id"], weeks=int(inside.sum()), actual=got,
                          forecast=float(totals.mean()), forecast_low=float(low), forecast_high=float(high),
                          verdict=verdict))
    return out


# ----------------------------------------------------------------------------------------------- history
HISTORY_COLUMNS = ["round", "approved_by", "approved_at", "reason", "weeks", "last_week", "data_hash", "config_hash",
                   "seed", "packages"]
SHOWN_PACKAGES = ("prism-mmm", "pymc-marketing", "numpyro", "scikit-learn")


def history(ws: Workspace) -> pd.DataFrame:
    """One row per approval, newest last, with what reproduces the round (its manifest)."""
    rows = []
    for e in (e for e in read_log(ws) if e["kind"] == "approval"):
        m = read_manifest(ws, int(e["round"]))
        rows.append({"round": m.round, "approved_by": e["by"], "approved_at": e["at"], "reason": e["reason"],
                     "weeks": m.weeks, "last_week": m.last_week, "data_hash": m.data_hash,
                     "config_hash": m.config_hash, "seed": ", ".join(f"{k} {v}" for k, v in m.seeds.items()),
                     "packages": ", ".join(f"{p} {m.packages.get(p, '?')}" for p in SHOWN_PACKAGES)})
    return pd.DataFrame(rows, columns=HISTORY_COLUMNS)


def past_outcomes(ws: Workspace) -> list[dict[str, Any]]:
    """Each scored action with its outcome (for the report's "Since last time")."""
    log = read_log(ws)
    actions = {e["id"]: e for e in log if e["kind"] == "action"}
    return [{**actions[e["action"]], **{k: v for k, v in e.items() if k not in ("id", "kind", "at", "action")}}
            for e in log if e["kind"] == "outcome" and e["action"] in actions]

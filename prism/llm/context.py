"""What each Claude agent is shown: the workspace files it reads, trimmed to what it needs.

Long series (weekly fits, response curves, posterior parameters) are dropped: an agent argues from the
per-channel estimates, fit metrics, diagnostics and agreement, and every number it may quote is in them.
"""

from __future__ import annotations

import json
from pathlib import Path

from prism.analysis import checks
from prism.analysis.numbers import SKIP_KEYS as DROP_KEYS  # long series the agents need not read
from prism.analysis.numbers import unknown_numbers
from prism.analysis.refresh import read_refresh
from prism.analysis.since import applies
from prism.workspace import Workspace, read_json

CHANNEL_KEYS = ("roi", "roi_low", "roi_high", "contribution_pct", "mroi", "saturation_pct", "spend")
MAX_FILE_CHARS = 12_000  # one quoted file; the rest is cut with a marker (no agent needs more)
PREVIOUS_TUNING_FILES = 3
FLOAT_DECIMALS = 4
CSV_FILES = ("model_fit.csv", "roi_comparison.csv", "contribution_comparison.csv", "test_plan.csv")
HOLDOUT_KEYS = ("mape_test", "test_mape")  # the held-out final weeks' error: the Tuner is never shown it


def build(agent: str, ws: Workspace, round_no: int, revision: bool, tool_name: str) -> str:
    """The user message for one agent call."""
    sections = _SECTIONS[agent](ws, round_no, revision)
    head = f"Round {round_no} of the Prism loop" + (" (revision after the review)" if revision else "") + "."
    tail = (f"Answer by calling the tool `{tool_name}` exactly once. Quote only numbers that appear above; "
            f"Prism checks every number before it writes your output.")
    return "\n\n".join([head, *[s for s in sections if s], tail])


def section(title: str, body: str, lang: str = "", limit: int | None = MAX_FILE_CHARS) -> str:
    if limit is not None and len(body) > limit:
        body = body[:limit] + "\n… (cut)"
    return f"## {title}\n```{lang}\n{body.rstrip()}\n```"


def compact(obj: object) -> object:
    """Floats to 4 decimals: fewer tokens, and every figure still matches its result within rounding."""
    if isinstance(obj, float):
        return round(obj, FLOAT_DECIMALS)
    if isinstance(obj, dict):
        return {k: compact(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [compact(v) for v in obj]
    return obj


def file_section(ws: Workspace, path: Path, lang: str = "") -> str:
    if not path.exists():
        return ""
    return section(str(path.relative_to(ws.root)), path.read_text(encoding="utf-8"), lang)


def without_holdout(obj: object) -> object:
    """`obj` without the held-out weeks' error at any depth: what the Tuner reads, so those weeks never
    steer a tuning decision (the Critic and the report still show them)."""
    if isinstance(obj, dict):
        return {k: without_holdout(v) for k, v in obj.items() if k not in HOLDOUT_KEYS}
    if isinstance(obj, list):
        return [without_holdout(v) for v in obj]
    return obj


def results_summary(ws: Workspace, round_no: int, holdout: bool = True) -> str:
    """The round's results without the long series: status, fit, diagnostics, channels, agreement (and
    without the holdout's error unless `holdout`)."""
    path = ws.round_results(round_no)
    if not path.exists():
        return ""
    raw = read_json(path) if holdout else without_holdout(read_json(path))
    models = {}
    for name, m in raw.get("models", {}).items():
        models[name] = {k: v for k, v in m.items() if k not in DROP_KEYS and k != "channels"}
        models[name]["channels"] = {ch: {k: c.get(k) for k in CHANNEL_KEYS}
                                    for ch, c in m.get("channels", {}).items()}
    keep = {k: v for k, v in raw.items() if k not in ("models",) and k not in DROP_KEYS}
    return section(f"{path.relative_to(ws.root)} (long series removed)",
                   json.dumps(compact({**keep, "models": models}), indent=1, default=str), "json", limit=None)


def csv_sections(ws: Workspace) -> list[str]:
    return [file_section(ws, ws.result(name), "csv") for name in CSV_FILES]


def knowledge(ws: Workspace) -> str:
    """Labels, knowledge layer and profile headline from metadata.json (no per-column statistics)."""
    if not ws.metadata.exists():
        return ""
    meta = read_json(ws.metadata)
    prof = meta.get("profile", {})
    keep = {"kpi": meta.get("kpi"), "labels": meta.get("labels", {}), "knowledge": meta.get("knowledge", {}),
            "warnings": meta.get("warnings", []),
            "profile": {k: prof.get(k) for k in ("rows", "weeks", "start", "end", "frequency", "entities",
                                                 "gaps", "warnings")}}
    return section("metadata.json (labels, knowledge layer, profile headline)", json.dumps(keep, indent=1), "json")


def history(ws: Workspace, holdout: bool = True) -> str:
    """Past rounds from state.json: change, objective, verdicts, test MAPE (unless not `holdout`), reverted changes."""
    if not ws.state.exists():
        return ""
    state = read_json(ws.state)
    keys = [k for k in ("round", "status", "change", "objective", "test_mape", "high_agreement", "verdicts")
            if holdout or k not in HOLDOUT_KEYS]
    rounds = [{k: r.get(k) for k in keys} for r in state.get("rounds", [])]
    keep = {"rounds": rounds, "best_round": state.get("best_round"),
            "best_objective": state.get("best_objective"), "reverted_changes": state.get("reverted_changes", [])}
    return section("state.json (round history)", json.dumps(keep, indent=1, default=str), "json")


# ------------------------------------------------------------------------------------------ per agent
def _explorer(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    from prism.llm.tools import computed_exploration

    computed, _ = computed_exploration(ws)
    return [section("computed exploration (Prism's rubric and statistics; quote only these numbers)",
                    computed, "markdown", limit=None),
            file_section(ws, ws.config, "json"), knowledge(ws)]


def _tuner(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    from prism.agents import tuner

    tuner.begin(ws, round_no, restore=False)  # deterministic first step, so Claude sees the config it will change
    candidates = [f"- {c.key} = {json.dumps(c.new)} (now {json.dumps(c.old)}); rule: {c.rule}; "
                  f"evidence: {c.evidence}" for c in tuner.candidate_changes(ws, round_no)]
    previous = sorted(ws.rounds_dir.glob("R*_tuning.md"))[-PREVIOUS_TUNING_FILES:]
    return [history(ws, holdout=False), file_section(ws, ws.config, "json"),
            results_summary(ws, round_no - 1, holdout=False),
            section("candidate changes Prism's rules would try, in rule order (pick one, or another "
                    "tunable key, or no_change)",
                    "\n".join(candidates) or "(none left)"),
            *[file_section(ws, p, "markdown") for p in previous], knowledge(ws)]


def _analyst(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    out = [results_summary(ws, round_no), *csv_sections(ws), knowledge(ws)]
    if revision:
        out += [file_section(ws, ws.analysis(round_no), "markdown"), file_section(ws, ws.review(round_no), "markdown")]
    return out


def _critic(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    text = ws.analysis(round_no).read_text(encoding="utf-8")
    computed = checks.compute_checks(ws, round_no, text)
    rows = [{"name": c.name, "passed": c.passed, "evidence": c.evidence} for c in computed]
    unhandled = [c.name for c in checks.open_issues(computed, text)]
    return [file_section(ws, ws.analysis(round_no), "markdown"),
            section("computed checks (deterministic; a FAIL stays FAIL)", json.dumps(rows, indent=1), "json",
                    limit=None),
            section("failed checks the analysis does not handle", ", ".join(unhandled) or "(none)"),
            results_summary(ws, round_no), knowledge(ws)]


def _reporter(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    return [file_section(ws, ws.analysis(round_no), "markdown"), file_section(ws, ws.review(round_no), "markdown"),
            results_summary(ws, round_no), *csv_sections(ws), knowledge(ws), history(ws),
            *refresh_sections(ws, round_no)]


def refresh_sections(ws: Workspace, round_no: int) -> list[str]:
    """After a refresh that concerns this round: its report, stability table and the decision log ("Since last time")."""
    if not applies(read_refresh(ws), round_no):
        return []
    return [file_section(ws, ws.result("refresh.json"), "json"), file_section(ws, ws.result("refresh.csv"), "csv"),
            file_section(ws, ws.decisions, "json")]


def _proofreader(ws: Workspace, round_no: int, revision: bool) -> list[str]:
    report = ws.report_md.read_text(encoding="utf-8")
    unknown = unknown_numbers(report, ws, round_no)
    return [file_section(ws, ws.report_md, "markdown"),
            section("numbers in report.md that match no result (Prism's check)", ", ".join(unknown) or "(none)"),
            results_summary(ws, round_no), *csv_sections(ws), knowledge(ws)]


_SECTIONS = {"explorer": _explorer, "tuner": _tuner, "analyst": _analyst, "critic": _critic,
             "reporter": _reporter, "proofreader": _proofreader}

"""What the pages show, read from the workspace files: the overview, the channel table, the charts (as
plotly.js figures), the test plan, the budget plan and the report.

Every name from user data reaches the page through Jinja2's autoescape or `|tojson`; names inside chart
figures are HTML-escaped too, because plotly.js reads a few HTML tags in its labels (it shows `&lt;` as `<`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
from markdown_it import MarkdownIt

from prism.analysis.facts import fmt
from prism.analysis.test_plan import TEST_PLAN_FILE
from prism.llm.ask import AskContext, jsonable
from prism.orchestration.loop import short_change
from prism.planning.outputs import OPTIMIZATION
from prism.schemas import Metadata, State
from prism.workspace import Workspace, load_state, lock_holder, read_csv, read_model

# what can be downloaded: name in the URL → file under results/ (nothing else is ever served from disk)
DOWNLOADS = {"report.pptx": "the deck", "report.html": "the page", "report.xlsx": "the workbook",
             "report.md": "the report text", "roi_comparison.csv": "ROI per channel and model",
             "test_plan.csv": "the test plan", "optimization.csv": "the budget plan"}
MODEL_COLORS = {"ridge": "#4C72B0", "pymc": "#DD8452", "lightweight_mmm": "#55A868"}
CHANNEL_COLORS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
                  "#CCB974", "#64B5CD"]
LAYOUT = {"margin": {"l": 60, "r": 20, "t": 40, "b": 50}, "hovermode": "closest", "font": {"size": 13},
          "plot_bgcolor": "#ffffff", "paper_bgcolor": "#ffffff"}


def chart_text(text: str) -> str:
    """A name as plotly.js shows it literally: its few HTML tags are escaped (it decodes the entities)."""
    return html.escape(str(text), quote=False)


@dataclass
class Overview:
    state: State | None
    metadata: Metadata | None
    loop_pid: int | None
    downloads: list[tuple[str, str]]

    @property
    def rounds(self) -> list[dict[str, Any]]:
        if self.state is None:
            return []
        return [{"round": r.round, "change": short_change(r.change), "objective": r.objective, "status": r.status,
                 "verdict": r.verdict, "high": r.high_confidence, "channels": r.channels,
                 "best": r.round == self.state.best_round, "models": r.model_status} for r in self.state.rounds]

    @property
    def data(self) -> dict[str, Any]:
        m = self.metadata
        if m is None:
            return {}
        channels = [r.column for r in m.roles if r.role == "channel"]
        return {"source": m.dataset.get("name") or m.dataset.get("source") or "", "weeks": m.profile.weeks,
                "kpi": m.label(m.kpi), "channels": [m.label(c) for c in channels], "start": m.profile.start,
                "end": m.profile.end, "markets": len(m.profile.markets)}


def overview(ws: Workspace) -> Overview:
    state = load_state(ws) if ws.state.exists() else None
    meta = read_model(ws.metadata, Metadata) if ws.metadata.exists() else None
    downloads = [(name, what) for name, what in DOWNLOADS.items() if ws.result(name).exists()]
    return Overview(state, meta, lock_holder(ws), downloads)


def download_path(ws: Workspace, name: str) -> Path | None:
    """The file behind a download name: only the listed names under results/, never a path from the URL."""
    return ws.result(name) if name in DOWNLOADS and ws.result(name).is_file() else None


# ------------------------------------------------------------------------------------------ channels
def channel_rows(ctx: AskContext) -> list[dict[str, Any]]:
    """ROI, its interval, the confidence word and why it is not high, best return first."""
    rows = []
    for f in ctx.facts.ranked:
        rows.append({"channel": f.channel, "label": f.label, "roi": fmt(f.roi), "low": fmt(f.roi_low),
                     "high": fmt(f.roi_high), "range": f.range_name, "confidence": ctx.trust_word(f.channel),
                     "why": "" if ctx.trust_word(f.channel) == "high" else f.confidence_reason,
                     "agreement": f.agreement, "spend_share": fmt(f.spend_share, 1),
                     "contribution": fmt(f.contribution_pct, 1), "saturation": fmt(f.saturation_pct, 0)})
    return rows


def roi_chart(ctx: AskContext, channels: list[str] | None = None) -> dict[str, Any]:
    """ROI per channel with its interval as error bars."""
    facts = [f for f in ctx.facts.ranked if channels is None or f.channel in channels]
    return {"data": [{"type": "bar", "orientation": "h", "y": [chart_text(f.label) for f in facts][::-1],
                      "x": [f.roi for f in facts][::-1], "marker": {"color": "#4C72B0"},
                      "error_x": {"type": "data", "symmetric": False, "array": [f.roi_high - f.roi for f in facts][::-1],
                                  "arrayminus": [f.roi - f.roi_low for f in facts][::-1]},
                      "hovertemplate": "%{y}: %{x:.2f}<extra></extra>"}],
            "layout": {**LAYOUT, "title": {"text": f"Return per {chart_text(ctx.facts.spend_unit)} of spend, with its range"},
                       "height": 120 + 34 * len(facts), "margin": {**LAYOUT["margin"], "l": 170}}}


def response_charts(ctx: AskContext) -> list[dict[str, Any]]:
    """A response curve per channel and model, with its interval band and the current average spend."""
    models = {k: m for k, m in ctx.results.ok_models().items() if m.curves}
    figs = []
    for f in ctx.facts.ranked:
        traces: list[dict[str, Any]] = []
        for name, m in models.items():
            c = m.curves.get(f.channel)
            if c is None:
                continue
            color = MODEL_COLORS.get(name, "#555555")
            traces += [{"x": c.spend + c.spend[::-1], "y": c.kpi_high + c.kpi_low[::-1], "fill": "toself",
                        "fillcolor": color + "26", "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False,
                        "name": f"{name} interval"},
                       {"x": c.spend, "y": c.kpi, "mode": "lines", "name": name, "line": {"color": color, "width": 2}}]
            current = c.current_spend
        if not traces:
            continue
        figs.append({"data": traces, "config": {"displayModeBar": False}, "layout": {
            **LAYOUT, "title": {"text": chart_text(f.label), "x": 0.02}, "height": 300, "showlegend": len(models) > 1,
            "xaxis": {"title": {"text": "average weekly spend"}}, "yaxis": {"title": {"text": "weekly contribution"}},
            "shapes": [{"type": "line", "x0": current, "x1": current, "yref": "paper", "y0": 0, "y1": 1,
                        "line": {"dash": "dash", "color": "#222222", "width": 1}}]}})
    return figs


def contribution_chart(ctx: AskContext) -> dict[str, Any] | None:
    """Weekly contribution by channel on top of the baseline, and the actual KPI."""
    w = ctx.weekly
    if w is None:
        return None
    dates = [d.strftime("%Y-%m-%d") for d in w.index]
    traces = [{"x": dates, "y": w["baseline"].clip(lower=0).tolist(), "stackgroup": "one", "name": "baseline",
               "line": {"width": 0}, "fillcolor": "#d9d9d9"}]
    for i, ch in enumerate(ctx.channels):
        traces.append({"x": dates, "y": w[ch].clip(lower=0).tolist(), "stackgroup": "one", "line": {"width": 0},
                       "name": chart_text(ctx.label(ch)), "fillcolor": CHANNEL_COLORS[i % len(CHANNEL_COLORS)]})
    traces.append({"x": dates, "y": w["actual"].tolist(), "mode": "lines", "name": "actual",
                   "line": {"color": "#222222", "width": 1.5}})
    return {"data": traces, "layout": {**LAYOUT, "height": 420, "title": {"text": f"Weekly {chart_text(ctx.results.kpi)}"
                                                                          " by source"}}}


# ------------------------------------------------------------------------------------------ plans
def table(ws: Workspace, name: str) -> pd.DataFrame | None:
    path = ws.result(name)
    return read_csv(path, required=("channel",)) if path.exists() else None


def plan_rows(ws: Workspace, ctx: AskContext | None) -> list[dict[str, Any]]:
    frame = table(ws, OPTIMIZATION)
    if frame is None:
        return []
    label = ctx.label if ctx is not None else str
    return [{"channel": r["channel"], "label": "total" if r["channel"] == "total" else label(r["channel"]),
             "current": r["current"], "recommended": r["recommended"], "change_pct": r["change_pct"],
             "kpi": r["expected_kpi_change"], "low": r["expected_kpi_change_low"],
             "high": r["expected_kpi_change_high"], "confidence": r.get("confidence", "")}
            for r in jsonable(frame.to_dict(orient="records"))]


def plan_chart(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Today's spend against the plan, per channel."""
    lines = [r for r in rows if r["channel"] != "total"]
    if not lines:
        return None
    names = [chart_text(r["label"]) for r in lines]
    return {"data": [{"type": "bar", "name": "today", "x": names, "y": [r["current"] for r in lines],
                      "marker": {"color": "#b0b0b0"}},
                     {"type": "bar", "name": "plan", "x": names, "y": [r["recommended"] for r in lines],
                      "marker": {"color": "#4C72B0"}}],
            "layout": {**LAYOUT, "barmode": "group", "height": 380, "title": {"text": "Spend: today and the plan"}}}


def test_plan_rows(ws: Workspace, ctx: AskContext | None) -> list[dict[str, Any]]:
    frame = table(ws, TEST_PLAN_FILE)
    if frame is None:
        return []
    label = ctx.label if ctx is not None else str
    return [{**r, "label": label(r["channel"])} for r in jsonable(frame.to_dict(orient="records"))]


def report_html(ws: Workspace) -> str | None:
    """report.md as HTML; raw HTML in it is escaped, never passed through (names come from user data)."""
    if not ws.report_md.exists():
        return None
    return MarkdownIt("commonmark", {"html": False}).enable("table").render(ws.report_md.read_text(encoding="utf-8"))

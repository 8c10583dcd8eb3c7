"""Render every deliverable for a round: charts, report.pptx, report.html and report.xlsx.

The latest round renders into `results/`; a past round renders into `results/R{NN}/` so the current
deliverables are never replaced by an older round's. Every file is written atomically. A render whose
inputs have not changed since the last one copies what that one drew (render_cache.py).
"""

from __future__ import annotations

from pathlib import Path

from prism.report import render_cache
from prism.report.charts import render_charts
from prism.report.deck import build_deck
from prism.report.html import build_html
from prism.report.inputs import ReportInputs, load_inputs
from prism.report.plan_chart import render_plan_chart
from prism.report.xlsx import build_workbook
from prism.workspace import Workspace, write_bytes, write_text


def output_dir(inp: ReportInputs) -> Path:
    """Where a round's deliverables go: results/ for the latest round, results/R{NN}/ for a past one."""
    return inp.ws.results_dir if inp.is_latest else inp.ws.results_dir / f"R{inp.round:02d}"


def render(inp: ReportInputs) -> list[Path]:
    """Write the deliverables for already-loaded inputs (the kept ones when nothing they show changed:
    render_cache.py); returns the paths written."""
    out = output_dir(inp)
    key = render_cache.render_key(inp)
    kept = render_cache.cached(inp, out, key)
    if kept is not None:
        return kept
    paths = _draw(inp, out)
    render_cache.keep(inp, out, paths, key)
    return paths


def _draw(inp: ReportInputs, out: Path) -> list[Path]:
    charts = {**render_charts(inp, out / "charts"), **render_plan_chart(inp, out / "charts")}
    deck, html, xlsx = out / "report.pptx", out / "report.html", out / "report.xlsx"
    write_bytes(deck, build_deck(inp, charts))
    write_text(html, build_html(inp, charts))
    write_bytes(xlsx, build_workbook(inp))
    return [*charts.values(), deck, html, xlsx]


def render_deliverables(ws: Workspace, round_no: int | None = None) -> list[Path]:
    """Charts, report.pptx, report.html and report.xlsx for a round (the latest when None)."""
    return render(load_inputs(ws, round_no))

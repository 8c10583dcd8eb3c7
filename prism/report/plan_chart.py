"""The budget plan chart: current vs recommended spend per channel, and the KPI change each move brings
with its 90 % interval, drawn from results/optimization.csv (the optimizer's own output)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from prism.planning.plan import TOTAL
from prism.report import style
from prism.report.style import COMPACT, figure as _figure, png_bytes, wrap as _wrap
from prism.workspace import write_bytes

if TYPE_CHECKING:  # `prism optimize` draws this chart without the report's inputs (see style.py's figures)
    from prism.report.inputs import ReportInputs

CHART_NAME = "budget_plan"
NO_CHANGE = 0.5  # KPI units: expected changes all smaller than this are no change at all


def budget_plan(frame: pd.DataFrame, labels: dict[str, str] | None = None, kpi_label: str = "KPI") -> Figure:
    """Left: spend over the horizon, current and recommended. Right: expected KPI change, 90 % interval."""
    rows = frame[frame["channel"] != TOTAL].reset_index(drop=True)
    names = [_wrap((labels or {}).get(ch, ch)) for ch in rows["channel"]]
    y = np.arange(len(rows))[::-1]
    fig = _figure((13.0, max(4.5, 1.2 + 0.7 * len(rows))))
    spend, gain = fig.subplots(1, 2, sharey=True)
    spend.barh(y + 0.2, rows["current"], height=0.38, color=style.BASELINE, label="current")
    spend.barh(y - 0.2, rows["recommended"], height=0.38, color=style.ACCENT, label="recommended")
    confirmed = rows["if_confirmed"].to_numpy(float) if "if_confirmed" in rows else np.full(len(rows), np.nan)
    if np.isfinite(confirmed).any():  # what the ±10 % confidence cap holds back
        spend.plot(confirmed, y - 0.2, "D", color=style.INK, markerfacecolor="white", markersize=7,
                   label="if a test confirmed it", clip_on=False)
    spend.set_yticks(y, names)
    spend.xaxis.set_major_formatter(COMPACT)
    spend.set_xlabel("Spend over the plan")
    spend.legend(loc="lower right")
    mean = rows["expected_kpi_change"].to_numpy(float)
    err = np.vstack([mean - rows["expected_kpi_change_low"].to_numpy(float),
                     rows["expected_kpi_change_high"].to_numpy(float) - mean])
    err = np.clip(err, 0.0, None)  # a skewed draw distribution can put its mean outside the 5-95 % band
    gain.axvline(0.0, color=style.MUTED, lw=1)
    if not np.any(np.abs(np.concatenate([mean, err.ravel()])) >= NO_CHANGE):  # an empty panel with "-0.0" ticks says nothing
        gain.set_xticks([])
        gain.text(0.5, 0.5, "No change:\nthe plan keeps today's spend", transform=gain.transAxes, ha="center",
                  va="center", fontsize=style.FONT_SIZE + 2, color=style.MUTED)
    else:
        colors = [style.AGREEMENT_COLORS["high"] if m >= 0 else style.AGREEMENT_COLORS["low"] for m in mean]
        gain.barh(y, mean, height=0.55, color=colors, xerr=err, ecolor=style.INK, capsize=4)
        gain.xaxis.set_major_formatter(COMPACT)
    gain.set_xlabel(f"Expected {kpi_label.lower()} change (90% interval)")
    for ax in (spend, gain):
        ax.grid(axis="x")
        ax.grid(axis="y", visible=False)
    return fig


def render_plan_chart(inp: ReportInputs, out_dir: Path) -> dict[str, Path]:
    """The report's copy of the chart, from the plan the inputs hold; nothing when no plan was made."""
    opt = inp.optimization
    if opt is None or opt.empty:
        return {}
    labels = {str(c): inp.label(str(c)) for c in opt["channel"]}
    return {CHART_NAME: write_budget_plan(opt, out_dir / f"{CHART_NAME}.png", labels, inp.kpi_label)}


def write_budget_plan(frame: pd.DataFrame, path, labels: dict[str, str] | None = None, kpi_label: str = "KPI"):
    """Draw the chart in the house style and write it as PNG (atomically)."""
    write_bytes(path, budget_plan_png(frame, labels, kpi_label))
    return path


def budget_plan_png(frame: pd.DataFrame, labels: dict[str, str] | None = None, kpi_label: str = "KPI") -> bytes:
    """The chart as PNG bytes in the house style (`prism optimize` writes it together with its CSVs)."""
    with style.chart_style():
        fig = budget_plan(frame, labels, kpi_label)
    return png_bytes(fig)

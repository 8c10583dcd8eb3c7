"""report.xlsx: the result tables at full precision for analysts (one sheet per table)."""

from __future__ import annotations

import io

import pandas as pd
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter

from prism.report import style
from prism.workspace import neutralise_formulas
from prism.report.inputs import ReportInputs
from prism.report.tables import (contribution_table, diagnostics_table, fit_table, lift_test_table, roi_summary,
                                 roi_table, round_history)

MAX_COLUMN_WIDTH = 48


def sheets(inp: ReportInputs) -> dict[str, pd.DataFrame]:
    """Sheet name -> table, in workbook order."""
    out = {
        "About": about(inp),
        "ROI": roi_table(inp),
        "ROI summary": roi_summary(inp),
        "Contribution": contribution_table(inp),
        "Fit": fit_table(inp),
        "Diagnostics": diagnostics_table(inp),
        "Rounds": round_history(inp),
    }
    lifts = lift_test_table(inp)
    if not lifts.empty:
        out["Lift tests"] = lifts
    if inp.optimization is not None:
        out["Budget plan"] = inp.optimization
    if inp.test_plan is not None and not inp.test_plan.empty:  # a market split's treated and control markets
        out["Test plans"] = inp.test_plan
    return out


def about(inp: ReportInputs) -> pd.DataFrame:
    """What the figures are in: the KPI, the currency (or "unit" when none is known) and what ROI means."""
    unit = inp.spend_unit
    return pd.DataFrame({"item": ["KPI", "Currency", "ROI", "Round"],
                         "value": [inp.kpi_label, inp.currency or "not given (amounts per unit)",
                                   f"{inp.kpi_label} per {unit} of spend", inp.round]})


def build_workbook(inp: ReportInputs) -> bytes:
    """The workbook as .xlsx bytes (written atomically by the caller)."""
    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for name, frame in sheets(inp).items():
            frame = neutralise_formulas(frame)
            frame.to_excel(writer, sheet_name=name, index=False)
            _style_sheet(writer.sheets[name], frame)
    return buf.getvalue()


def _style_sheet(ws, frame: pd.DataFrame) -> None:
    """Bold header on the accent colour, frozen header row, columns wide enough to read."""
    fill = PatternFill("solid", fgColor=style.ACCENT.lstrip("#"))
    for cell in ws[1]:
        cell.font = Font(bold=True, color="FFFFFF")
        cell.fill = fill
    ws.freeze_panes = "A2"
    for i, col in enumerate(frame.columns, start=1):
        longest = max([len(str(col))] + [len(str(v)) for v in frame[col].head(200)])
        ws.column_dimensions[get_column_letter(i)].width = min(MAX_COLUMN_WIDTH, longest + 2)

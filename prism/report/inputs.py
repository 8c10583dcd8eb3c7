"""Everything one render reads, loaded once from the workspace files (never from other stages' code).

A render is for one round: its results (`rounds/R{NN}_results.json`, or `results/latest.json` for the
latest round), the Reporter's prose (`rounds/R{NN}_report.md`, or `results/report.md`), plus the files
that give it context when present: metadata (business labels), state (round history), config and the
optimizer's `results/optimization.csv` and the test plans of `results/test_plan.csv`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prism.analysis.test_plan import read_plans
from prism.errors import InputError
from prism.report.markdown import ReportText, parse_report
from prism.schemas import Config, Metadata, Results, State, currency_of, readable_label
from prism.workspace import Workspace, load_state, read_csv, read_model, read_weekly

OPTIMIZATION_FILE = "optimization.csv"


@dataclass
class ReportInputs:
    """One round's results and prose, with the context the deliverables show beside them."""

    ws: Workspace
    results: Results
    report: ReportText
    metadata: Metadata | None
    state: State
    config: Config | None
    optimization: pd.DataFrame | None
    is_latest: bool
    spend: pd.DataFrame | None = None
    notes: list[str] = field(default_factory=list)
    test_plan: pd.DataFrame | None = None  # results/test_plan.csv's rows for this round

    @property
    def round(self) -> int:
        return self.results.round

    def label(self, column: str) -> str:
        """Business label from the data dictionary / knowledge layer, else a tidied column name."""
        if self.metadata is not None:
            return self.metadata.label(column)
        return readable_label(column)

    @property
    def currency(self) -> str | None:
        """The currency amounts are in: config.json's, else the knowledge layer's (None when not given)."""
        return currency_of(self.config, self.metadata)

    @property
    def spend_unit(self) -> str:
        """What one unit of spend is called: the currency, else 'unit'."""
        return self.currency or "unit"

    @property
    def kpi_label(self) -> str:
        return self.label(self.results.kpi)

    @property
    def kpi_series(self) -> pd.Series:
        """Weekly KPI as the models saw it."""
        weekly = next(m.weekly for m in self.results.ok_models().values() if m.weekly)
        return pd.Series(weekly.actual, index=pd.DatetimeIndex(pd.to_datetime(weekly.dates)))

    @property
    def period(self) -> tuple[str, str] | None:
        """First and last week of the modelled data."""
        weekly = next((m.weekly for m in self.results.ok_models().values() if m.weekly), None)
        if weekly is None or not weekly.dates:
            return None
        return weekly.dates[0], weekly.dates[-1]


def latest_round(ws: Workspace) -> int:
    """The round `results/latest.json` holds."""
    return read_model(ws.latest, Results).round


def load_inputs(ws: Workspace, round_no: int | None = None) -> ReportInputs:
    """Load the round's results and report; the latest round when `round_no` is None."""
    latest = latest_round(ws) if ws.latest.exists() else None
    if round_no is None:
        if latest is None:
            raise InputError(f"{ws.latest}: file not found (run `prism run` and `prism compare` first)")
        round_no = latest
    is_latest = round_no == latest
    results_path = ws.latest if is_latest else ws.round_results(round_no)
    results = read_model(results_path, Results)
    inputs = ReportInputs(
        ws=ws,
        results=results,
        report=parse_report(_report_path(ws, round_no, is_latest).read_text(encoding="utf-8")),
        metadata=read_model(ws.metadata, Metadata) if ws.metadata.exists() else None,
        state=load_state(ws),
        config=read_model(ws.config, Config) if ws.config.exists() else None,
        optimization=_optimization(ws.result(OPTIMIZATION_FILE)) if is_latest else None,
        is_latest=is_latest,
    )
    inputs.spend = _weekly_spend(inputs)
    inputs.test_plan = read_plans(ws, round_no)
    return inputs


def _report_path(ws: Workspace, round_no: int, is_latest: bool) -> Path:
    """The Reporter's text for the round: results/report.md for the latest round, else its snapshot."""
    snapshot = ws.round_file(round_no, "report")
    path = ws.report_md if is_latest and ws.report_md.exists() else snapshot
    if not path.exists():
        wanted = ws.report_md if is_latest else snapshot
        raise InputError(f"{wanted}: file not found (run `prism report` to have the Reporter write it)")
    return path


def _optimization(path: Path) -> pd.DataFrame | None:
    """The optimizer's budget moves, when it has run; a broken file is bad input naming it."""
    return read_csv(path, required=("channel",)) if path.exists() else None


def _weekly_spend(inp: ReportInputs) -> pd.DataFrame | None:
    """Weekly spend per channel from the prepared data: the results keep contributions, not spend.

    Only the spend chart needs it, so data that can no longer be read skips that chart with a note.
    """
    if inp.config is None or inp.period is None:
        return None
    try:
        frame = read_weekly(inp.ws, inp.config)
    except InputError as exc:
        inp.notes.append(f"spend chart skipped: {exc}")
        return None
    date = inp.config.data.date_column
    missing = [c for c in inp.results.channels if c not in frame.columns]
    if missing:
        inp.notes.append(f"spend chart skipped: data has no column(s) {missing}")
        return None
    frame = frame.set_index(pd.DatetimeIndex(pd.to_datetime(frame[date])))
    start, end = (pd.Timestamp(d) for d in inp.period)
    return frame.loc[start:end, inp.results.channels]

"""Real-world wide files: spend vs exposure twins, holiday/season dummies as events, calendar columns ignored,
glob overrides, re-discover with role flags, the dictionary's role values, and events in the baseline."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.cli import main
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides, detect_roles
from prism.data.sources import SourceSpec
from prism.schemas import Config, Metadata
from prism.workspace import Workspace, read_model

SUFFIXES = ("dm", "inst", "nsp", "auddig", "audtr", "vidtr", "viddig", "so", "on", "sem")
HOLIDAYS = ("Black Friday", "Christmas Day", "Christmas Eve", "Columbus Day", "Cyber Monday", "Day after Christmas",
            "Easter", "Father's Day", "Green Monday", "July 4th", "Labor Day", "MLK", "Memorial Day", "Mother's Day",
            "NYE", "New Year's Day", "Pre Thanksgiving", "Presidents Day", "Prime Day", "Thanksgiving")
SEASONS = [f"seas_prd_{i}" for i in range(1, 7)] + [f"seas_week_{w}" for w in range(40, 49)]
CALENDAR = ("yr_nbr", "qtr_nbr", "prd", "wk_nbr", "wk_in_yr_nbr")
CONTROLS = ("me_ics_all", "me_gas_dpg", "st_ct", "mrkdn_valadd_edw", "mrkdn_pdm")


def retailer_frame(weeks: int = 104, seed: int = 0) -> pd.DataFrame:
    """Built like the retailer's file: spend `mdsp_*` and impressions `mdip_*` per channel, holiday and season
    dummies, markdown/macro controls and calendar columns."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2016-01-03", periods=weeks, freq="W-SUN")
    frame = pd.DataFrame({"wk_strt_dt": dates.strftime("%Y-%m-%d"), "yr_nbr": dates.year,
                          "qtr_nbr": dates.quarter, "prd": dates.month, "wk_nbr": np.arange(1, weeks + 1),
                          "wk_in_yr_nbr": dates.isocalendar().week.to_numpy()})
    for i, s in enumerate(SUFFIXES):
        spend = rng.uniform(0, 1, weeks) * 10_000 * (1 + i)
        frame[f"mdip_{s}"] = np.round(spend * rng.uniform(40, 60, weeks))
        frame[f"mdsp_{s}"] = spend.round(2)
    frame["me_ics_all"] = rng.normal(95, 3, weeks).round(1)
    frame["me_gas_dpg"] = rng.normal(2.5, 0.2, weeks).round(3)
    frame["st_ct"] = rng.integers(90, 95, weeks)
    frame["mrkdn_valadd_edw"] = rng.uniform(0, 5e5, weeks).round(0)
    frame["mrkdn_pdm"] = rng.uniform(0, 3e5, weeks).round(0)
    for k, name in enumerate(HOLIDAYS):
        frame[f"hldy_{name}"] = (np.arange(weeks) % 52 == (k * 5) % 52).astype(int)
    for k, name in enumerate(SEASONS):
        frame[name] = (np.arange(weeks) % 52 // 4 == k % 13).astype(int)
    frame["sales"] = rng.uniform(5e7, 9e7, weeks).round(0)
    return frame


def by_column(roles) -> dict:
    return {r.column: r for r in roles.table}


def test_retailer_file_gets_exactly_its_spend_channels() -> None:
    frame = retailer_frame()
    roles = detect_roles(frame, Overrides(), source="retailer.csv")
    assert (roles.date, roles.kpi) == ("wk_strt_dt", "sales")
    assert roles.channels == [f"mdsp_{s}" for s in SUFFIXES]
    assert roles.exposures == {f"mdip_{s}": f"mdsp_{s}" for s in SUFFIXES}
    assert roles.controls == list(CONTROLS)
    assert roles.events == [f"hldy_{h}" for h in HOLIDAYS] + SEASONS
    table = by_column(roles)
    assert {table[c].role for c in CALENDAR} == {"ignored"}
    assert all("calendar" in table[c].reason for c in CALENDAR)
    assert table["mdip_vidtr"].role == "exposure" and table["mdip_vidtr"].paired_with == "mdsp_vidtr"
    assert "prefix 'mdsp_'" in table["mdsp_vidtr"].reason and table["mdsp_vidtr"].confidence >= 0.9
    assert table["hldy_New Year's Day"].role == "event" and table["hldy_Mother's Day"].role == "event"
    assert all(r.reason and 0 < r.confidence <= 1 for r in roles.table)


def test_pairing_is_learnt_not_the_literal_prefixes() -> None:
    """Any two prefixes shared by several channels pair up; with markers that say nothing, the value scale decides."""
    frame = retailer_frame()
    frame.columns = [c.replace("mdsp_", "aa_").replace("mdip_", "bb_") for c in frame.columns]
    roles = detect_roles(frame, Overrides())
    assert roles.channels == [f"aa_{s}" for s in SUFFIXES]
    assert set(roles.exposures) == {f"bb_{s}" for s in SUFFIXES}
    assert "value scale" in by_column(roles)["aa_so"].reason


def test_robyn_text_events_column_is_an_event(tmp_path: Path) -> None:
    rows = 60
    rng = np.random.default_rng(2)
    labels = np.where(np.arange(rows) % 13 == 3, "event1", np.where(np.arange(rows) % 17 == 5, "event2", "na"))
    frame = pd.DataFrame({"DATE": pd.date_range("2015-11-23", periods=rows, freq="W-MON").strftime("%Y-%m-%d"),
                          "revenue": rng.uniform(2e6, 3e6, rows), "tv_S": rng.uniform(0, 3e4, rows),
                          "facebook_I": rng.uniform(1e6, 3e7, rows), "facebook_S": rng.uniform(0, 9e3, rows),
                          "search_clicks_P": rng.uniform(0, 1e4, rows), "search_S": rng.uniform(0, 5e3, rows),
                          "competitor_sales_B": rng.uniform(7e6, 9e6, rows), "events": labels,
                          "newsletter": rng.uniform(1e4, 2e4, rows)})
    frame.to_csv(tmp_path / "robyn.csv", index=False)
    out = discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(tmp_path / "robyn.csv")), Overrides(),
                   PrepareOptions())
    assert out.config.baseline.events_text_column == "events"
    assert out.config.data.channels == ["tv_S", "facebook_S", "search_S"]
    assert out.metadata.exposures == {"facebook_S": ["facebook_I"], "search_S": ["search_clicks_P"]}
    weekly = out.prepared.frame
    assert out.prepared.events == ["events=event1", "events=event2"]
    assert weekly["events=event1"].sum() == (labels == "event1").sum()
    assert {r.column: r.role for r in out.metadata.roles}["events"] == "event"

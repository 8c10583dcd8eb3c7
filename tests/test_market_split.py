"""Market-split test plans on a regional panel (analysis/test_plan.py, analysis/market_match.py): the design
names treated and control markets, its controls track the treated markets better than a random split, the
CSV has the documented columns, the report, page, deck and workbook name the markets, and a panel of two
markets says in one line that no split can be designed.

Known truth from the panel simulator (test seeds 9101–9199, apart from the benchmarks')."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pytest
from pptx import Presentation

from prism.agents import reporter
from prism.analysis import claims
from prism.analysis import test_plan as tp
from prism.analysis.compare import run_compare
from prism.analysis.facts import RoundFacts
from prism.analysis.market_match import control_fit
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.simulate_panel import MARKET_COLUMN, simulate_panel
from prism.data.sources import SourceSpec
from prism.errors import InputError
from prism.models.base import holdout_weeks
from prism.models.runner import run_models
from prism.report.build import render_deliverables
from prism.schemas import Config, Results
from prism.workspace import Workspace, read_model, write_json

K = 2  # simulated tests per design: enough to size a design, not to promise it (the bench does that)


def panel_round(root: Path, markets: int, seed: int, plan: bool = True) -> tuple[Workspace, str]:
    """A simulated panel discovered with no flags, ridge fitted (small bootstrap), compared, and (`plan`) the
    test plans of its first channel below `high`; returns the workspace and that channel."""
    sim = simulate_panel(n_markets=markets, weeks=104, n_channels=3, seed=seed, regional=0)
    root.mkdir(parents=True, exist_ok=True)
    sim.frame.to_csv(root / "panel.csv", index=False)
    ws = Workspace(root / "ws")
    discover(ws, SourceSpec("csv", path=str(root / "panel.csv")), Overrides(), PrepareOptions())
    write_json(ws.config, {**json.loads(ws.config.read_text()), "models": ["ridge"],
                           "ridge": {"bootstrap": 60, "search_budget": 8}})
    run_models(ws, round_no=1, parallel=False)
    res = run_compare(ws)
    channel = next(ch for ch in res.channels if res.confidence[ch].label != "high")
    if plan:
        tp.run_plans(ws, [channel], k=K, jobs=2)
    return ws, channel


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, str, pd.DataFrame]:
    ws, channel = panel_round(tmp_path_factory.mktemp("split"), markets=8, seed=9160)
    reporter.run(ws, 1)
    render_deliverables(ws, 1)
    return ws, channel, pd.read_csv(ws.result(tp.TEST_PLAN_FILE))


def _split_row(plans: pd.DataFrame) -> dict:
    rows = plans[plans["design"] == tp.MARKET_SPLIT].to_dict("records")
    assert len(rows) == 1
    return rows[0]


def test_the_plan_names_treated_and_control_markets_beside_the_national_design(planned) -> None:
    ws, channel, plans = planned
    assert list(plans.columns) == tp.COLUMNS
    assert list(tp.read_plans(ws, 1)["channel"]) == [channel, channel]  # read back through the schema
    national, split = plans[plans["design"] != tp.MARKET_SPLIT].iloc[0], _split_row(plans)
    treated, control = split["markets_treated"].split("; "), split["markets_control"].split("; ")
    markets = sorted(pd.read_csv(ws.root.parent / "panel.csv")[MARKET_COLUMN].unique())
    assert not set(treated) & set(control) and sorted(treated + control) == markets and len(control) >= 2
    assert all(m in split["description"] for m in treated + control)
    assert split["weeks"] in tp.WEEKS and split["spend_change_pct"] in tp.SPLIT_CHANGES
    assert 0 < split["control_fit_pct"] < 20
    assert split["kpi_forgone_low"] <= split["kpi_forgone"] <= split["kpi_forgone_high"]
    assert split["expected_halfwidth_pct"] > 0 and split["k"] == K
    if split["weeks"] == national["weeks"] and split["spend_change_pct"] == national["spend_change_pct"]:
        # the same test in part of the markets moves part of the spend and forgoes part of the KPI
        assert split["cost"] < national["cost"] and split["kpi_forgone"] < national["kpi_forgone"]


def test_controls_track_the_treated_markets_better_than_a_random_split(planned) -> None:
    ws, _, plans = planned
    frame = pd.read_csv(ws.root.parent / "panel.csv")
    wide = frame.pivot(index="date", columns=MARKET_COLUMN, values="revenue")
    y = wide.to_numpy()[: 104 - _holdout(ws)]  # the training weeks, as the design matched them
    markets = list(wide.columns)
    split = _split_row(plans)
    treated = [markets.index(m) for m in split["markets_treated"].split("; ")]
    control = [g for g in range(len(markets)) if g not in treated]
    design = control_fit(y, treated, control)[1]
    assert design == pytest.approx(split["control_fit_pct"] / 100, abs=5e-4)  # the CSV's figure is this fit's
    sizes = y.sum(axis=0) / y.sum()
    share = sizes[treated].sum()
    rng = np.random.default_rng(9160)
    groups = (list(rng.choice(len(markets), len(treated), replace=False)) for _ in range(2000))
    alike = [t for t in groups if 0.6 * share <= sizes[t].sum() <= 1.4 * share][:200]  # the same size and share
    random = [control_fit(y, t, [g for g in range(len(markets)) if g not in t])[1] for t in alike]
    assert len(random) >= 50 and design <= np.quantile(random, 0.1)  # matched: better than 9 in 10 random splits


def _holdout(ws: Workspace) -> int:
    return holdout_weeks(104, read_model(ws.config, Config))


def test_report_page_deck_and_workbook_name_the_markets_and_the_guard_accepts_them(planned) -> None:
    ws, channel, plans = planned
    split = _split_row(plans)
    treated, control = split["markets_treated"].split("; "), split["markets_control"].split("; ")
    text = ws.report_md.read_text()
    settle = text.split("## What would settle it")[1].split("\n## ")[0]
    line = next(ln for ln in settle.splitlines() if "in some markets" in ln)
    assert all(m in line for m in treated + control) and "±" in line
    assert re.search(r"it moves [\d,.]+[kmbn]? units of spend", line), line  # no currency given: plural units
    assert "synthetic control" in settle
    facts = RoundFacts.load(ws, 1)
    assert claims.check(text, facts, claims.book(ws, facts)) == []
    other = next(f.label for f in facts.ranked if f.channel != channel)
    moved = line.replace(facts.channel_facts[channel].label, other, 1)
    assert claims.check(moved, facts, claims.book(ws, facts))  # the split's figures are bound to their channel
    out = ws.root / "results"
    page = (out / "report.html").read_text()
    assert all(m in page for m in treated + control)
    deck = " ".join(shape.text_frame.text for slide in Presentation(out / "report.pptx").slides
                    for shape in slide.shapes if shape.has_text_frame)
    deck += " ".join(cell.text for slide in Presentation(out / "report.pptx").slides for shape in slide.shapes
                     if shape.has_table for row in shape.table.rows for cell in row.cells)
    assert all(m in deck for m in treated + control)
    sheet = openpyxl.load_workbook(out / "report.xlsx", read_only=True)["Test plans"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[0])
    written = [dict(zip(header, r)) for r in rows[1:]]
    assert [r["markets_treated"] for r in written if r["design"] == tp.MARKET_SPLIT] == [split["markets_treated"]]


def test_a_panel_of_two_markets_says_no_split_can_be_designed(tmp_path) -> None:
    ws, _ = panel_round(tmp_path, markets=2, seed=9161, plan=False)
    inp = tp.load_inputs(ws, read_model(ws.latest, Results))
    assert inp.panel is None and len(inp.world.data.channels) == 3  # national designs only
    reporter.run(ws, 1)
    settle = ws.report_md.read_text().split("## What would settle it")[1].split("\n## ")[0]
    said = [ln for ln in settle.splitlines() if "market split" in ln]
    assert len(said) == 1 and said[0].startswith("A market split cannot be designed") and "2 markets" in said[0]
    facts = RoundFacts.load(ws, 1)
    assert claims.check(said[0], facts, claims.book(ws, facts)) == []


def test_a_market_split_row_without_its_markets_is_bad_input_naming_the_row(planned, tmp_path) -> None:
    ws, _, plans = planned
    broken = plans.copy()
    broken.loc[broken["design"] == tp.MARKET_SPLIT, "markets_control"] = ""
    (tmp_path / "results").mkdir()
    broken.to_csv(tmp_path / "results" / tp.TEST_PLAN_FILE, index=False)
    row = int(np.flatnonzero(broken["design"] == tp.MARKET_SPLIT)[0]) + 2
    with pytest.raises(InputError, match=f"row {row} column 'markets_control': .*treated and control markets"):
        tp.read_plans(Workspace(tmp_path), 1)

"""A regional panel through the round: run (ridge's panel fit; a model without one skipped), results under the
national keys plus per-market ROIs, the draws file with its market dimension, compare, confidence and the
recoverability audit simulated from the panel fit.

tests/data/geo_panel_small.csv: 5 geos × 104 weeks of Google Meridian's simulated geo media data."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.agents import reporter
from prism.analysis.audit import run_audit
from prism.analysis.numbers import unknown_numbers
from prism.analysis.compare import run_compare
from prism.analysis.response import load_round
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.sources import SourceSpec
from prism.errors import InputError
from prism.models.draws import KeptDraws, MarketChannelDraws, NationalDraws, PanelDraws, read_draws, roi_draws
from prism.models.runner import run_models
from prism.schemas import Config, Results
from prism.workspace import Workspace, read_model, read_weekly, write_json
from tests.helpers.cli import Cli

GEO = Path(__file__).parent / "data" / "geo_panel_small.csv"


def panel_workspace(root: Path, **settings) -> Workspace:
    ws = Workspace(root)
    discover(ws, SourceSpec("csv", path=str(GEO)), Overrides(), PrepareOptions())
    cfg = {**json.loads(ws.config.read_text()), **settings}
    write_json(ws.config, cfg)
    return ws


@pytest.fixture(scope="module")
def ran(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, Results]:
    ws = panel_workspace(tmp_path_factory.mktemp("geo"), models=["ridge"],
                         ridge={"bootstrap": 200, "search_budget": 8})
    return ws, run_models(ws, round_no=1, parallel=False)


def test_discover_finds_the_geo_panel_with_no_flags(ran) -> None:
    ws, _ = ran
    cfg = json.loads(ws.config.read_text())
    assert cfg["data"]["market_column"] == "geo" and cfg["data"]["kpi"] == "conversions"


def test_a_panel_round_reports_national_keys_and_per_market_rois(ran) -> None:
    ws, res = ran
    assert res.markets == [f"Geo{i}" for i in range(5)]
    ridge = res.models["ridge"]
    assert ridge.status == "ok" and set(ridge.markets) == set(res.markets)
    panel = read_draws(ws.draws_path(1, "ridge"))
    assert isinstance(panel, PanelDraws)
    tr = panel.n_train
    contrib = panel.contributions(panel.spend)[:, :tr].sum(axis=(1, 2))
    roi = contrib / panel.spend[:tr].sum(axis=(0, 1))
    for c, ch in enumerate(res.channels):
        assert ridge.channels[ch].roi == pytest.approx(roi[:, c].mean(), rel=1e-9)
        geo2 = roi_draws(panel.market("Geo2"))[:, c]
        assert ridge.markets["Geo2"][ch].roi == pytest.approx(geo2.mean(), rel=1e-9)
    national = read_weekly(ws, read_model(ws.config, Config))  # the markets summed
    np.testing.assert_allclose(ridge.weekly.actual, national["conversions"])
    np.testing.assert_allclose(ridge.weekly.fitted, panel.predict().sum(axis=2).mean(axis=0))
    kept = load_round(ws)
    assert set(kept) == {"ridge"} and isinstance(kept["ridge"], NationalDraws)


def test_compare_confidence_and_the_audit_work_on_the_panel(ran) -> None:
    ws, _ = ran
    table = run_audit(ws, k=2, jobs=1)
    assert list(table["channel"]) == read_model(ws.latest, Results).channels
    assert table["recovery_error_pct"].notna().all()
    res = run_compare(ws)
    assert set(res.confidence) == set(res.channels) and set(res.combined) == set(res.channels)
    for ch in res.channels:
        ev = res.models["ridge"].channels[ch].evidence
        assert ev is not None and ev.contraction is not None and 0.0 <= ev.contraction <= 1.0


def test_plans_read_one_market_or_every_market_apart(ran) -> None:
    ws, res = ran
    one = load_round(ws, market="Geo2")["ridge"]
    assert isinstance(one, KeptDraws) and one.spend.shape == (104, 4)
    apart = load_round(ws, market="all")["ridge"]
    assert isinstance(apart, MarketChannelDraws) and len(apart.channels) == 20
    assert apart.channels[5] == "Channel1_spend @ Geo1"
    national = load_round(ws)["ridge"]
    for c in range(4):  # the national response is the markets' responses added, draw by draw
        markets = sum(apart.channel_contribution(g * 4 + c, apart.spend[:, g * 4 + c]) for g in range(5))
        np.testing.assert_allclose(markets, national.channel_contribution(c, national.spend[:, c]), rtol=1e-9)
    with pytest.raises(InputError, match="not a market of round 1"):
        load_round(ws, market="Mars")


def test_optimize_moves_budget_between_markets_and_keeps_the_national_plan_file(ran, capsys) -> None:
    ws, res = ran
    cli = Cli(capsys, ws.root)
    code, out, err = cli("optimize", "--market", "all", "--weeks", "8")  # nothing is `high`: every market held
    assert code == 0, err
    held = pd.read_csv(ws.result("optimization_all.csv"))
    assert (held.loc[held["channel"] != "total", "change_pct"].abs() <= 10.0 + 1e-6).all()
    every = ",".join(f"{ch} @ {m}" for m in res.markets for ch in res.channels)
    code, out, err = cli("optimize", "--market", "all", "--weeks", "8", "--unlock", every)  # as if tests confirmed them
    assert code == 0, err
    plan = pd.read_csv(ws.result("optimization_all.csv"))
    rows = plan[plan["channel"] != "total"]
    assert len(rows) == 20 and rows["channel"].str.contains(" @ Geo").all()
    moved = (rows["change_pct"].abs() > 0.1).any()  # budget moved between market-channels, or the plan says why not
    assert moved or "the current mix is kept" in " ".join(out.split())
    assert plan.loc[plan["channel"] == "total", "change_pct"].abs().max() < 0.01  # the same total budget
    assert not ws.result("optimization.csv").exists()
    code, out, _ = cli("ask", "what if we cut Channel0_spend by 20%?", "--market", "Geo1")
    assert code == 0 and out.startswith("Market Geo1:")
    cli.fails("scenario", "Channel0_spend=-20%", "--market", "Mars", says=["--market Mars", "Geo0"])


def test_the_report_reads_the_per_market_returns(ran) -> None:
    ws, _ = ran
    run_compare(ws)
    reporter.run(ws, 1)
    text = ws.report_md.read_text()
    section = text.split("## Return by market")[1].split("\n## ")[0]
    rows = [ln for ln in section.splitlines() if ln.startswith("| Geo")]
    assert len(rows) == 5 and "partial pooling" in section
    res = read_model(ws.latest, Results)
    geo = rows[0].split(" | ")[0].lstrip("| ")  # the largest market first
    assert geo == max(res.markets, key=lambda m: json.loads(ws.metadata.read_text())["profile"]["markets"][m]["size"])
    assert unknown_numbers(section, ws, 1) == []

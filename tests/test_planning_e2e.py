"""`prism optimize`, `scenario` and `ask` on a REAL `prism run` workspace: the models' own kept draws files
(rounds/R01_draws/{model}.nc), no monkeypatching. Ridge full is fast; the Bayesian run is slow-marked."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from prism.agents import reporter
from prism.analysis.checks import HEADINGS
from prism.analysis.numbers import unknown_numbers
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.planning.plan import PLAN_COLUMNS, SCENARIO_COLUMNS
from prism.workspace import Workspace
from tests.helpers.cli import Cli

BOUND_LOW, BOUND_HIGH = 0.5, 2.0  # --bounds tv_spend=0.5x:2x


def _run_workspace(root: Path, *run_args: str) -> Workspace:
    sim = simulate(weeks=104, n_channels=4, seed=3)
    sim.write(root / "data.csv")
    ws = Workspace(root)
    discover(ws, SourceSpec(source="csv", path=str(root / "data.csv")),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels, controls=sim.controls), PrepareOptions())
    return ws


def _cli_in(ws: Workspace, capsys) -> Cli:
    return Cli(capsys, ws.root)


@pytest.fixture(scope="module")
def ridge_ws(tmp_path_factory) -> Workspace:
    return _run_workspace(tmp_path_factory.mktemp("ridge_run"))


@pytest.fixture
def cli(ridge_ws, capsys) -> Cli:
    cli = _cli_in(ridge_ws, capsys)
    if not ridge_ws.draws_path(1, "ridge").exists():
        code, out, err = cli("run", "--models", "ridge")
        assert code == 0, out + err
    return cli


def _check_plan(ws: Workspace, budget: float | None = None) -> pd.DataFrame:
    plan = pd.read_csv(ws.result("optimization.csv"))
    assert list(plan.columns) == PLAN_COLUMNS and plan["channel"].iloc[-1] == "total"
    body = plan.iloc[:-1].set_index("channel")
    target = budget if budget is not None else body["current"].sum()
    assert body["recommended"].sum() == pytest.approx(target, rel=1e-3)
    assert plan["expected_kpi_change_low"].iloc[-1] <= plan["expected_kpi_change"].iloc[-1] \
        <= plan["expected_kpi_change_high"].iloc[-1]
    return body


def test_optimize_on_ridge_draws_writes_a_plan_within_budget_and_bounds(cli, ridge_ws):
    assert ridge_ws.draws_path(1, "ridge").exists()
    code, out, err = cli("optimize", "--budget", "400k", "--bounds", f"tv_spend={BOUND_LOW}x:{BOUND_HIGH}x",
                         "--max-change", "60%")
    assert code == 0, out + err
    body = _check_plan(ridge_ws, 400_000)
    scale = 400_000 / body["current"].sum()
    tv = body.loc["tv_spend"]
    assert BOUND_LOW * tv["current"] - 1e-6 <= tv["recommended"] <= BOUND_HIGH * tv["current"] + 1e-6
    for _, row in body.iterrows():  # --max-change 60 % of today's mix scaled to the budget
        assert abs(row["recommended"] / (row["current"] * scale) - 1) <= 0.60 + 1e-6
    assert "Budget plan" in out and "tv_spend" in out and "total" in out  # the rich table
    chart = ridge_ws.result("charts") / "budget_plan.png"
    assert chart.stat().st_size > 5_000 and chart.read_bytes()[:4] == b"\x89PNG"


def test_scenario_on_ridge_draws_gives_a_kpi_change_with_an_interval(cli, ridge_ws):
    code, out, err = cli("scenario", "tv=-20%")
    assert code == 0, out + err
    frame = pd.read_csv(ridge_ws.result("scenarios.csv"))
    assert list(frame.columns) == SCENARIO_COLUMNS
    cut = frame.set_index("description").loc["tv=-20%"]
    assert cut["expected_kpi_change_low"] < cut["expected_kpi_change"] < cut["expected_kpi_change_high"] < 0


def test_ask_what_if_answers_from_the_ridge_draws(cli, ridge_ws):
    code, out, err = cli("ask", "what if we cut social by 20%", "--json")
    assert code == 0, out + err
    answer = json.loads(out)
    text = json.dumps(answer)
    assert "social_spend" in text and "%" in text
    code, again, _ = cli("ask", "what if we cut social by 20%", "--json")
    assert json.loads(again) == answer  # read from the kept draws, not refitted or resampled


def test_ask_about_an_unknown_channel_lists_the_valid_ones(cli):
    code, out, err = cli("ask", "what if we cut tiktok by 20%")
    assert code == 0, out + err
    flat = " ".join(out.split())
    assert "tiktok" in flat.lower()
    for ch in ("tv_spend", "search_spend", "social_spend", "display_spend"):
        assert ch in flat or ch.replace("_spend", "") in flat.lower()


@pytest.mark.slow
def test_optimize_on_bayesian_quick_draws_refuses_plainly(tmp_path, capsys):
    """A quick pymc fit keeps one MAP draw: pooled with ridge's that is one draw per model, no plan."""
    ws = _run_workspace(tmp_path)
    cli = _cli_in(ws, capsys)
    code, out, err = cli("run", "--models", "ridge,pymc", "--quick")
    assert code == 0, out + err
    assert ws.draws_path(1, "pymc").exists()
    code, out, err = cli("optimize", "--model", "consensus")
    assert code == 2 and "quick results cannot be planned on" in err and len(err.strip().splitlines()) == 1
    assert not ws.result("optimization.csv").exists()


def _what_to_do(ws: Workspace) -> str:
    text = ws.report_md.read_text()
    start = text.index(HEADINGS["actions"])
    return text[start:text.index("\n## ", start + 1)]


def test_reporter_writes_what_to_do_from_the_plan_and_every_number_is_known(cli, ridge_ws):
    assert cli("compare")[0] == 0
    reporter.run(ridge_ws, 1)
    plan = pd.read_csv(ridge_ws.result("optimization.csv"))  # written by the reporter: consensus, today's budget
    total = plan.iloc[-1]
    section = _what_to_do(ridge_ws)
    assert f"{total['current']:,.0f}" in section and f"{total['expected_kpi_change']:,.0f}" in section
    assert total["recommended"] == pytest.approx(total["current"], rel=1e-3)
    assert unknown_numbers(ridge_ws.report_md.read_text(), ridge_ws, 1) == []


def test_reporter_without_readable_draws_reports_with_a_note(cli, ridge_ws, tmp_path):
    ws = Workspace(tmp_path / "copy")
    shutil.copytree(ridge_ws.root, ws.root)
    ws.draws_path(1, "ridge").unlink()
    reporter.run(ws, 1)
    assert "No budget plan this round" in _what_to_do(ws)


def test_what_to_do_names_new_spend_and_what_a_confirming_test_would_move():
    nan = float("nan")
    plan = pd.DataFrame({"channel": ["tv", "search", "social", "total"], "label": ["TV", "Search", "Social", "total"],
                         "current": [1_000.0, 500.0, 0.0, 1_500.0], "recommended": [1_150.0, 450.0, 100.0, 1_700.0],
                         "change_pct": [15.0, -10.0, nan, 13.3], "expected_kpi_change": [90.0, -20.0, 30.0, 100.0],
                         "expected_kpi_change_low": [40.0, -35.0, 5.0, 30.0],
                         "expected_kpi_change_high": [140.0, -8.0, 60.0, 170.0],
                         "confidence": ["high", "medium", "high", ""], "if_confirmed": [nan, 820.0, nan, nan]})
    lines = reporter._plan_lines(plan, "revenue")
    assert "- Start Social at 100: 30 revenue expected (5 to 60)." in lines  # was "Keep Social at 0"
    assert ("- Search stays close to today's spend until a test confirms its return; if a test confirmed it, "
            "the plan would move Search to 820.") in lines


def _kept_plan(if_confirmed: list[float]) -> pd.DataFrame:
    """A plan that moves nothing: every channel at today's spend, no KPI change."""
    nan = float("nan")
    return pd.DataFrame({"channel": ["tv", "search", "total"], "label": ["TV", "Search", "total"],
                         "current": [1_000.0, 500.0, 1_500.0], "recommended": [1_000.0, 500.0, 1_500.0],
                         "change_pct": [0.0, 0.0, 0.0], "expected_kpi_change": [0.0, 0.0, 0.0],
                         "expected_kpi_change_low": [0.0, 0.0, 0.0], "expected_kpi_change_high": [0.0, 0.0, 0.0],
                         "confidence": ["high", "low", ""], "if_confirmed": [nan, *if_confirmed, nan]})


def test_a_plan_that_moves_nothing_says_so_without_zero_lines():
    """Issue 21 item 9: "- Keep TV at 1,000: 0 revenue expected (0 to 0)." per channel said nothing."""
    text = "\n".join(reporter._plan_lines(_kept_plan([500.0]), "revenue"))
    assert "expected (0 to 0)" not in text and "0 revenue expected" not in text
    assert "keeps every channel at today's spend" in text and "1,500" in text


def test_a_confirming_test_that_would_move_nothing_is_not_called_a_move():
    """if_confirmed equal to the plan's own spend once read "if a test confirmed it, the plan would move
    Search to 500" — today's spend presented as the confirmed plan."""
    text = "\n".join(reporter._plan_lines(_kept_plan([500.0]), "revenue"))
    assert "would move" not in text
    moved = "\n".join(reporter._plan_lines(_kept_plan([640.0]), "revenue"))
    assert "if a test confirmed it, the plan would move Search to 640" in moved


def test_a_confirmed_plan_back_at_todays_spend_is_said_so():
    """The capped plan cuts Search to 450; confirmed, the plan would keep it at today's 500: "would move Search
    to 500" presented today's spend as a move (the bundled brand's report listed seven such channels)."""
    nan = float("nan")
    plan = pd.DataFrame({"channel": ["tv", "search", "social", "total"], "label": ["TV", "Search", "Social", "total"],
                         "current": [1_000.0, 500.0, 300.0, 1_800.0], "recommended": [1_050.0, 450.0, 300.0, 1_800.0],
                         "change_pct": [5.0, -10.0, 0.0, 0.0], "expected_kpi_change": [9.0, -2.0, 0.0, 7.0],
                         "expected_kpi_change_low": [4.0, -3.5, 0.0, 1.0],
                         "expected_kpi_change_high": [14.0, -0.8, 0.0, 12.0],
                         "confidence": ["high", "low", "low", ""], "if_confirmed": [nan, 500.0, 390.0, nan]})
    text = "\n".join(reporter._plan_lines(plan, "revenue"))
    assert "if tests confirmed them, the plan would move Social to 390 and keep Search at today's spend." in text

"""`prism optimize` and `prism scenario` end to end on a workspace (draws from the simulator's truth)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from prism.cli import main
from prism.planning.plan import PLAN_COLUMNS, SCENARIO_COLUMNS
from prism.workspace import Workspace, write_csv
from tests.helpers.planning import workspace_with_draws
from tests.helpers.report import build_workspace


@pytest.fixture(scope="module")
def base_ws(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("plan"), rounds=1)


@pytest.fixture
def ws(base_ws, tmp_path, monkeypatch) -> Workspace:
    ws = workspace_with_draws(base_ws, tmp_path / "w", monkeypatch, n_draws=200)
    write_csv(ws.result("roi_comparison.csv"), pd.DataFrame({
        "channel": ["tv_spend", "search_spend", "social_spend", "display_spend"],
        "agreement": ["high", "high", "low", "high"],
        "confidence": ["high", "high", "low", "medium"]}))
    return ws


def run(*args: str) -> int:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    return done.value.code


def test_optimize_writes_plan_scenarios_and_chart(ws, capsys):
    assert run("optimize", "--workdir", str(ws.root), "--budget", "200k", "--weeks", "8", "--bounds",
               "tv=0.5x:2x") == 0
    plan = pd.read_csv(ws.result("optimization.csv"))
    assert list(plan.columns) == PLAN_COLUMNS and plan["channel"].iloc[-1] == "total"
    body = plan.iloc[:-1]
    assert body["recommended"].sum() == pytest.approx(200_000, rel=1e-3)
    by = body.set_index("channel")
    # social (low) and display (medium) are held within ±10 % of today's mix scaled to the budget
    scale = 200_000 / body["current"].sum()
    for ch in ("social_spend", "display_spend"):
        assert abs(by.loc[ch, "recommended"] / (by.loc[ch, "current"] * scale) - 1) <= 0.10 + 1e-6
        assert by.loc[ch, "if_confirmed"] == by.loc[ch, "if_confirmed"]  # filled in
    assert 0.5 * by.loc["tv_spend", "current"] - 1e-6 <= by.loc["tv_spend", "recommended"] \
        <= 2 * by.loc["tv_spend", "current"] + 1e-6
    scen = pd.read_csv(ws.result("scenarios.csv"))
    assert list(scen.columns) == SCENARIO_COLUMNS
    assert list(scen["scenario"]) == ["base", "conservative", "aggressive", "optimum"]
    assert scen.set_index("scenario").loc["base", "expected_kpi_change"] == pytest.approx(0.0, abs=1e-6)
    assert ws.charts_dir.joinpath("budget_plan.png").stat().st_size > 10_000
    assert "Budget plan over 8 weeks" in capsys.readouterr().out


def test_flexible_budget_reports_the_implied_budget(ws, capsys):
    assert run("optimize", "--workdir", str(ws.root), "--target-mroi", "1.5", "--unlock", "social,display") == 0
    plan = pd.read_csv(ws.result("optimization.csv"))
    implied = plan["recommended"].iloc[-1]
    assert f"implied budget over 13 weeks: {implied:,.0f}" in capsys.readouterr().out


def test_scenario_command(ws, capsys):
    assert run("scenario", "social=-20%", "tv=+10%", "--workdir", str(ws.root)) == 0
    scen = pd.read_csv(ws.result("scenarios.csv")).set_index("scenario")
    asked = scen.loc["scenario"]
    assert asked["description"] == "social=-20% tv=+10%"
    assert asked["expected_kpi_change_low"] <= asked["expected_kpi_change"] <= asked["expected_kpi_change_high"]


@pytest.mark.parametrize("args, message", [
    (("optimize", "--bounds", "teevee=1:2"), "unknown channel 'teevee'"),
    (("optimize", "--budget", "lots"), "'lots' is not an amount"),
    (("optimize", "--objective", "max"), "choose one of mean, cvar"),
    (("optimize", "--model", "prophet"), "--model prophet"),
    (("scenario", "social=down"), "not a percentage"),
])
def test_bad_input_exits_2_with_one_line_and_writes_nothing(ws, capsys, args, message):
    assert run(*args, "--workdir", str(ws.root)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not ws.result("optimization.csv").exists() and not ws.result("scenarios.csv").exists()


def test_without_a_draws_reader_the_commands_exit_2(base_ws, tmp_path, capsys):
    shutil.copytree(base_ws.root, tmp_path / "w")
    assert run("optimize", "--workdir", str(tmp_path / "w")) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_quick_results_are_refused_plainly(base_ws, tmp_path, monkeypatch, capsys):
    """A quick run keeps one MAP draw for pymc, so the consensus pool holds one draw per model: no plan."""
    ws = workspace_with_draws(base_ws, tmp_path / "w", monkeypatch, n_draws=1)
    for command in (("optimize",), ("scenario", "tv=+10%")):
        assert run(*command, "--workdir", str(ws.root)) == 2
        err = capsys.readouterr().err.strip()
        assert "quick results cannot be planned on" in err and len(err.splitlines()) == 1
    assert not ws.result("optimization.csv").exists() and not ws.result("scenarios.csv").exists()


@pytest.mark.parametrize("model", ["ridge", "pymc"])
def test_one_models_plan_holds_the_channels_below_high_confidence(ws, model):
    """`--model ridge` cut a low-confidence channel by 100 % on a retailer's data while consensus held it."""
    assert run("optimize", "--model", model, "--workdir", str(ws.root)) == 0
    by = pd.read_csv(ws.result("optimization.csv")).iloc[:-1].set_index("channel")
    for ch in ("social_spend", "display_spend"):  # low and medium in roi_comparison.csv
        assert abs(by.loc[ch, "change_pct"]) <= 10 + 1e-6
        assert by.loc[ch, "confidence"] != "high" and by.loc[ch, "if_confirmed"] == by.loc[ch, "if_confirmed"]


def test_a_row_whose_spend_does_not_change_has_no_chance_of_gain(ws, capsys):
    assert run("scenario", "tv=+0%", "--workdir", str(ws.root)) == 0
    scen = pd.read_csv(ws.result("scenarios.csv")).set_index("scenario")
    assert pd.isna(scen.loc["base", "prob_gain"]) and pd.isna(scen.loc["scenario", "prob_gain"])
    moved = scen.drop(index=["base", "scenario"])
    unchanged = moved["expected_kpi_change"].abs() < 1e-6
    assert moved.loc[unchanged, "prob_gain"].isna().all() and moved.loc[~unchanged, "prob_gain"].notna().all()


HEAVY = ("pandas", "numpy", "pydantic", "xarray", "scipy", "httpx", "anthropic", "pymc", "pytensor", "jax",
         "matplotlib", "pptx", "openpyxl")


def test_cli_start_up_imports_no_heavy_module():
    """`prism ask` start-up (issue 13: < 1.5 s) rests on every command module importing its layer lazily."""
    code = f"import sys, prism.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          cwd=Path(__file__).resolve().parents[1])
    assert done.stdout.strip() == ""


def test_a_later_command_reuses_the_computed_responses(ws, capsys, monkeypatch):
    """`prism optimize` keeps its responses (.prism-cache/responses/): the same plan again, or a what-if at
    levels it computed, costs no response computation; new draws are a new key."""
    from prism.planning.horizon import Horizon

    assert run("optimize", "--workdir", str(ws.root)) == 0
    first = ws.result("optimization.csv").read_bytes()
    (kept,) = (ws.cache_dir / "responses").glob("*.npz")
    computed = []
    real = Horizon._totals
    monkeypatch.setattr(Horizon, "_totals", lambda self, c, levels: computed.append(len(levels)) or
                        real(self, c, levels))
    from prism.planning import outputs

    written = []
    real_write = outputs.write_bytes
    monkeypatch.setattr(outputs, "write_bytes", lambda path, data: written.append(path) or real_write(path, data))
    assert run("optimize", "--workdir", str(ws.root)) == 0
    assert ws.result("optimization.csv").read_bytes() == first
    assert computed == []  # every response the plan needs was kept, the idle ones folded in
    assert kept not in written and kept.exists()  # nothing new to keep, so not written again
    from tests.helpers.planning import from_simulation
    from prism.data.simulate import simulate

    other = {"ridge": from_simulation(simulate(weeks=120, n_channels=4, seed=3), 200, seed=9)}
    monkeypatch.setattr(outputs, "load_sources", lambda ws, round_no=None, market=None: other)
    assert run("scenario", "tv=+10%", "--workdir", str(ws.root)) == 0  # other draws: their own key
    assert len(list((ws.cache_dir / "responses").glob("*.npz"))) == 2 and kept.exists()

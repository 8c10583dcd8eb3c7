"""`prism refresh`, approval, history and the decision log on simulated data with known truth (ridge, real runs).

The approved model is fitted on the first 130 weeks; the refresh brings 13 more. Unchanged weeks must be
`stable` with no channel flagged; the same weeks with one channel's effect doubled must be `drift` naming that
channel (and at most one other); a failed blocking gate keeps the approved results current and exits 0.
Test seeds are apart from bench/refresh.py's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from rich.console import Console

from prism.agents import reporter
from prism.agents.proofreader import inconsistent, jargon
from prism.analysis.facts import RoundFacts
from prism.analysis import governance
from prism.analysis.checks import release_gates
from prism.analysis.numbers import unknown_numbers
from prism.analysis.refresh import FLAG_NONE, REFRESH_COLUMNS, verdict
from prism.analysis.since import HEADING
from prism.data.discover import PrepareOptions, discover, refresh_metadata
from prism.data.roles import Overrides
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.models.base import ModelData
from prism.models.draws import KeptDraws
from prism.models.runner import run_models
from prism.models.scales import channel_scale, kpi_scale
from prism.orchestration.refresh import run_refresh
from prism.schemas import Config, FixedScale, ForecastCheck, GateResult, Results, Verdict
from prism.workspace import Workspace, read_model, write_json
from tests.helpers.cli import Cli

SEED = 7  # bench/refresh.py uses 100 and up
OLD, NEW = 130, 13
QUIET = Console(quiet=True)


def _sim():
    return simulate(weeks=OLD + NEW, n_channels=4, seed=SEED)


@pytest.fixture(scope="module")
def approved(tmp_path_factory) -> Workspace:
    root = tmp_path_factory.mktemp("refresh")
    sim = _sim()
    sim.frame.iloc[:OLD].to_csv(root / "data.csv", index=False)
    ws = Workspace(root)
    discover(ws, SourceSpec(source="csv", path=str(root / "data.csv")),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels, controls=sim.controls), PrepareOptions())
    run_models(ws, models=["ridge"], quick=True, console=QUIET)  # quick: fewer resamples, same method
    governance.approve(ws, None, "tester", "baseline for the refresh tests")
    return ws


def _doubled(channel: str) -> pd.DataFrame:
    """All weeks, with `channel`'s true contribution added again in the new weeks (its effect doubled)."""
    sim = _sim()
    frame = sim.frame.copy()
    frame.loc[OLD:, sim.kpi] += sim.contributions[channel].iloc[OLD:].to_numpy()
    return frame


def _biggest_new_channel() -> str:
    sim = _sim()
    return str(sim.contributions.iloc[OLD:].sum().idxmax())


def _write(frame: pd.DataFrame, path: Path) -> str:
    frame.to_csv(path, index=False)
    return str(path)


def test_run_writes_a_manifest_and_approve_keeps_the_data(approved):
    m = governance.read_manifest(approved, 1)
    assert m.weeks == OLD and m.seeds == {"ridge": 42, "pymc": 42, "lightweight_mmm": 42}
    assert m.packages["scikit-learn"] != "not installed" and m.config["data"]["kpi"] == "revenue"
    assert approved.weekly_snapshot(1).exists()
    (entry,) = governance.read_log(approved)
    assert entry["kind"] == "approval" and entry["by"] == "tester" and entry["data_hash"] == m.data_hash


def test_unchanged_new_weeks_are_stable_and_scored(approved, copy_ws, tmp_path, capsys):
    ws = copy_ws(approved)
    new = _sim().frame.iloc[OLD:]  # a file with only the new weeks
    governance.decide(ws, "kept the plan", new["date"].iloc[2], new["date"].iloc[5], "cmo", None)
    report = run_refresh(ws, _write(new, tmp_path / "new.csv"), False, QUIET)
    assert report.verdict == Verdict.STABLE, report.model_dump_json(indent=1)
    table = pd.read_csv(ws.result("refresh.csv"))
    assert list(table.columns) == REFRESH_COLUMNS and (table["flag"] == FLAG_NONE).all()
    assert report.forecast.weeks == NEW and not report.suspects and report.current_round == 2
    assert read_model(ws.latest, Results).round == 2 and len(pd.read_parquet(ws.weekly)) == OLD + NEW
    # fixed scaling: the refit divided spend by the approved fit's scales, which config.json now keeps
    cfg = read_model(ws.config, Config)
    fixed = np.array([cfg.scales["ridge"].channels[ch] for ch in cfg.data.channels])
    refit = KeptDraws.from_netcdf(ws.draws_path(2, "ridge"))
    assert np.allclose(refit.scale, fixed[None, :])
    # warm start: the refit's carry-over search began at the approved fit's optimum (prism/models/warm.py)
    approved_fit = read_model(ws.round_results(1), Results).models["ridge"].diagnostics["reference_carry"]
    warm = read_model(ws.round_results(2), Results).models["ridge"].diagnostics["warm_start"]
    assert warm == {"round": 1, "start": {"carry": [approved_fit[ch] for ch in cfg.data.channels]}}
    # the refreshed source: the next discover rebuilds all weeks, not the approved file's
    assert cfg.data.path == "rounds/R02_weekly.parquet" and len(refresh_metadata(ws).prepared.frame) == OLD + NEW
    (outcome,) = [e for e in governance.read_log(ws) if e["kind"] == "outcome"]
    assert outcome["weeks"] == 4 and outcome["verdict"] == "within"
    # the loop's Critic and Reporter see the refresh; every figure of the section has a source
    check, = release_gates(ws, 2)
    assert "refresh verdict stable" in check.evidence
    # no blocking gate fails; a label at its threshold may still fall one step (tv_spend's width sits near
    # HIGH_WIDTH here), which the warn gate shows and the Critic must address: that is the gate working
    assert all(g.action == "warn" and g.name == "confidence_downgrades" for g in report.gates_failed), check.evidence
    reporter.run(ws, 2)
    text = ws.report_md.read_text()
    section = text[text.index(HEADING):text.index("## Return on spend")]
    assert "Verdict: stable" in section and "kept the plan" in section, section
    assert unknown_numbers(section, ws, 2) == []
    # round 2 can be approved in turn; history lists both with what reproduces them
    governance.approve(ws, 2, "cmo", "refreshed and stable")
    hist = governance.history(ws)
    assert hist["round"].tolist() == [1, 2] and hist["weeks"].tolist() == [OLD, OLD + NEW]
    code, out, _ = Cli(capsys, ws.root)("history")
    assert code == 0 and "Approved models" in out


def test_a_doubled_channel_is_drift_and_named(approved, copy_ws, tmp_path):
    ws = copy_ws(approved)
    channel = _biggest_new_channel()
    report = run_refresh(ws, _write(_doubled(channel), tmp_path / "all.csv"), False, QUIET)
    assert report.verdict == Verdict.DRIFT and report.forecast.missed
    assert channel in report.flagged and len(report.flagged) <= 2, report.model_dump_json(indent=1)
    assert report.suspects[0].name == channel and report.suspects[0].change_pct > 30
    assert read_model(ws.config, Config).data.path == str(tmp_path / "all.csv")  # a file with every week


def test_a_failed_blocking_gate_keeps_the_approved_results(approved, copy_ws, tmp_path, capsys):
    ws = copy_ws(approved)
    cfg = json.loads(ws.config.read_text())
    cfg["gates"] = {"forecast_coverage": {"action": "block", "limit": 0.9}}
    write_json(ws.config, cfg)
    kept = {p: p.read_bytes() for p in (ws.latest, ws.weekly, ws.config, ws.result("model_fit.csv"))}
    frame = _doubled(_biggest_new_channel())
    frame.loc[10, "revenue"] += 500.0  # restated weeks too: refused first, then accepted with --restate
    frame.loc[11, "tv_spend"] += 10.0
    path = _write(frame, tmp_path / "all.csv")
    cli = Cli(capsys, ws.root)
    cli.fails("refresh", "--path", path, says=["all.csv", "2 week(s)", f"{frame['date'][10]} (revenue)",
                                                f"{frame['date'][11]} (tv_spend)", "--restate"])
    assert not ws.result("refresh.json").exists()
    code, out, err = cli("refresh", "--path", path, "--restate")
    assert code == 0, out + err
    assert "verdict: blocked" in out and "forecast_coverage" in out
    assert all(p.read_bytes() == data for p, data in kept.items())
    report = json.loads(ws.result("refresh.json").read_text())
    assert report["verdict"] == "blocked" and report["current_round"] == 1
    assert [g["name"] for g in report["gates_failed"] if g["action"] == "block"] == ["forecast_coverage"]
    assert report["restated_weeks"] == list(frame["date"][10:12])
    assert ws.round_results(2).exists()  # the blocked refit is kept for inspection, not made current
    reporter.run(ws, 1)  # the report on the still-current round says why nothing changed, in plain words
    text = ws.report_md.read_text()
    assert "Verdict: blocked" in text and "Release gate forecast_coverage failed (blocking)" in text
    assert jargon(text) == [] and inconsistent(text, RoundFacts.load(ws, 1)) == []


def test_refresh_and_decide_refuse_bad_input(tmp_path, capsys, approved, copy_ws):
    cli = Cli(capsys, tmp_path / "empty")
    (tmp_path / "empty").mkdir()
    cli.fails("refresh", "--path", "x.csv", says=["no approved round", "prism approve"])
    ws = copy_ws(approved)
    cli = Cli(capsys, ws.root)
    cli.fails("decide", "--action", "a", "--start", "2024-13-01", "--end", "2024-01-02", says=["--start", "YYYY-MM-DD"])
    cli.fails("decide", "--action", "a", "--start", "2024-02-01", "--end", "2024-01-02", says=["before --start"])
    cli.fails("approve", "--reason", "x", "--round", "9", says=["R09_results.json", "file not found"])
    cli.fails("refresh", "--path", _write(_sim().frame.iloc[:OLD], tmp_path / "old.csv"), says=["no weeks after"])
    gap = _sim().frame.iloc[OLD + 1:]
    cli.fails("refresh", "--path", _write(gap, tmp_path / "gap.csv"), says=[gap["date"].iloc[0], "7 days"])


def test_fixed_scales_replace_the_computed_ones():
    cfg = Config.model_validate({"data": {"path": "d.csv", "date_column": "date", "kpi": "y", "channels": ["a", "b"]},
                                 "scales": {"pymc": {"kpi": 50.0, "channels": {"a": 3.0}}}})
    spend = np.array([[1.0, 2.0], [4.0, 0.0]])
    assert channel_scale(cfg, "pymc", spend).tolist() == [3.0, 2.0]  # b keeps its own (max) scale
    assert channel_scale(cfg, "lightweight_mmm", spend).tolist() == [2.5, 1.0]
    assert kpi_scale(cfg, "pymc", np.array([1.0, 9.0])) == 50.0 and kpi_scale(cfg, "lightweight_mmm", np.ones(2)) == 1.0
    with pytest.raises(ValueError, match="scales.pymc.channels names unknown channel"):
        cfg.model_validate({**cfg.model_dump(), "scales": {"pymc": FixedScale(channels={"zz": 1.0}).model_dump()}})


def _check(missed: bool) -> ForecastCheck:
    return ForecastCheck(weeks=13, start="a", end="b", coverage=0.9, mape=3.0, bias_pct=0.0, chi2_p=0.5,
                         missed=missed, actual_total=1.0, forecast_total=1.0, forecast_total_low=0.9,
                         forecast_total_high=1.1, models=["ridge"])


@pytest.mark.parametrize("action, passed, missed, flag, expected", [
    ("block", False, False, FLAG_NONE, Verdict.BLOCKED), ("warn", False, False, FLAG_NONE, Verdict.STABLE),
    ("warn", True, True, FLAG_NONE, Verdict.DRIFT), ("block", True, False, "moved", Verdict.DRIFT)])
def test_verdict_rules(action, passed, missed, flag, expected):
    gate = GateResult(name="g", action=action, passed=passed, limit=0.0, reason="r")
    assert verdict([gate], _check(missed), pd.DataFrame({"flag": [flag]})) == expected


@pytest.mark.slow
def test_pymc_refits_on_the_fixed_scales():
    """pymc-marketing max-scales inside its model: the fixed scales go into its scale data, and the draws'
    decomposition (which divides by Prism's scales) still matches pymc-marketing's own contributions."""
    from prism.models import pymc

    sim = simulate(weeks=80, n_channels=2, seed=SEED)
    base = {"data": {"path": "d.csv", "date_column": "date", "kpi": sim.kpi, "channels": sim.channels,
                     "controls": sim.controls}}
    fixed = {"kpi": 2.0 * float(sim.frame[sim.kpi].max()),
             "channels": {ch: 3.0 * float(sim.frame[ch].max()) for ch in sim.channels}}
    cfg = Config.model_validate({**base, "scales": {"pymc": fixed}})
    data = ModelData.from_frame(sim.frame.assign(date=pd.to_datetime(sim.frame["date"])), cfg)
    fitted = pymc.fit(data, cfg, quick=True)
    assert np.allclose(fitted.draws.scale, [fixed["channels"][ch] for ch in sim.channels])
    assert fitted.diagnostics["recompute_max_rel_error"] < 1e-6


@pytest.mark.parametrize("verdict_word, kept", [(Verdict.DRIFT, [3, 4]), (Verdict.BLOCKED, [1, 2, 3, 4])])
def test_the_tuner_compares_only_rounds_since_a_refresh(tmp_path, verdict_word, kept):
    from datetime import datetime, timezone

    from prism.agents.tuner import comparable
    from prism.schemas import RefreshReport, RoundRecord

    ws = Workspace(tmp_path)
    write_json(ws.result("refresh.json"), RefreshReport(
        verdict=verdict_word, approved_round=2, round=3, created_at=datetime.now(timezone.utc), new_weeks=["x"],
        forecast=_check(False), current_round=3 if verdict_word != Verdict.BLOCKED else 2))
    rounds = [RoundRecord(round=n, objective=10.0 - n) for n in (1, 2, 3, 4)]
    assert [r.round for r in comparable(ws, rounds)] == kept

"""Lift-test calibration on simulated data with known truth; experiments input validated like any input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from prism.analysis.checks import compute_checks
from prism.data.simulate import simulate
from prism.errors import InputError
from prism.knowledge import experiments as sources
from prism.models import experiments
from prism.models.base import ModelData, channel_summary
from prism.models.registry import load
from prism.schemas import Config, Results
from prism.workspace import read_model
from tests.helpers.cli import Cli
from tests.helpers.experiments import calibrated, experiment, sim_case
from tests.helpers.loop import crafted_results, make_ws

WINDOW = slice(40, 52)  # 12 weeks inside the training weeks
HEADER = "channel,start,end,spend,incremental_kpi,incremental_kpi_se\n"
SMALL_DRAWS = {"pymc": {"pymc": {"chains": 1, "draws": 300, "tune": 300}},
               "lightweight_mmm": {"lightweight_mmm": {"chains": 1, "samples": 300, "warmup": 300}}, "ridge": {}}


@pytest.fixture(scope="module")
def hidden():
    """A tiny (< 1 % of spend), always-on channel whose true ROI (3) is far from the others' (1)."""
    return simulate(weeks=156, n_channels=3, seed=11, flighting=["onoff", "wave", "steady"], tiny_channels=1,
                    noise=0.03, roi=[1.0, 1.0, 3.0])


def _roi_error(sim, model: str, data: ModelData, cfg: Config, quick: bool, ch: str) -> tuple[float, dict]:
    fitted = load(model).fit(data, cfg, quick=quick) if model == "ridge" else load(model).fit(data, cfg)
    truth = sim.true_roi(slice(0, data.n_train))[ch]
    roi = channel_summary(fitted, data)[ch].roi
    return abs(roi / truth - 1.0), experiments.report(data.lifts, fitted.draws, True)


def test_ridge_true_experiment_recovers_a_channel_the_data_cannot(hidden):
    data, cfg = sim_case(hidden, **SMALL_DRAWS["ridge"])
    before, _ = _roi_error(hidden, "ridge", data, cfg, True, "social_spend")
    after, rows = _roi_error(hidden, "ridge", calibrated(data, experiment(hidden, "social_spend", WINDOW)), cfg,
                             True, "social_spend")
    assert before > 0.4 and after < 0.15, (before, after)
    assert rows[0]["z"] < 1.0


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pymc", "lightweight_mmm"])
def test_bayesian_true_experiment_recovers_a_channel_the_data_cannot(hidden, model):
    data, cfg = sim_case(hidden, **SMALL_DRAWS[model])
    after, rows = _roi_error(hidden, model, calibrated(data, experiment(hidden, "social_spend", WINDOW)), cfg,
                             True, "social_spend")
    assert after < 0.15 and rows[0]["z"] < 1.0, (after, rows)


def test_critic_flags_a_test_the_model_could_not_follow(tmp_path):
    ws, sim = make_ws(tmp_path, weeks=104, n_channels=3)
    row = {"channel": "tv_spend", "start": "2021-03-01", "end": "2021-04-26", "incremental_kpi": 2000.0,
           "incremental_kpi_se": 200.0, "used": True, "model_kpi": 1000.0, "model_kpi_sd": 90.0, "z": 5.0}
    crafted_results(ws, sim, diagnostics={"ridge": {experiments.EXPERIMENTS_KEY: [row]}})
    check = {c.name: c for c in compute_checks(ws, 1, "")}["experiment agreement"]
    assert not check.passed and "5.0 se" in check.evidence
    crafted_results(ws, sim, diagnostics={"ridge": {experiments.EXPERIMENTS_KEY: [row | {"z": 0.4}]}})
    assert {c.name: c for c in compute_checks(ws, 1, "")}["experiment agreement"].passed


# ------------------------------------------------------------------------------------------- validation
@pytest.mark.parametrize("line, says", [
    ("radio_spend,2021-03-01,2021-03-29,1000,500,50", ["row 1", "'channel'", "radio_spend"]),
    ("tv_spend,2030-03-01,2030-03-29,1000,500,50", ["row 1", "'start'", "outside the data"]),
    ("tv_spend,2021-03-29,2021-03-01,1000,500,50", ["row 1", "'start'", "before it starts"]),
    ("tv_spend,2021-03-01,2021-03-29,1000,500,0", ["row 1", "'incremental_kpi_se'", "0"]),
    ("tv_spend,2021-03-01,2021-03-29,1000,500,-5", ["row 1", "'incremental_kpi_se'", "-5"]),
    ("tv_spend,2021-03-01,2021-03-29,1000,lots,50", ["row 1", "'incremental_kpi'", "lots"]),
    ("tv_spend,2021-03-02,2021-03-03,1000,500,50", ["row 1", "no week of the data"]),
])
def test_bad_experiment_rows_name_file_row_column_and_value(tmp_path: Path, hidden, line, says):
    data, _ = sim_case(hidden)
    path = tmp_path / "experiments.csv"
    path.write_text(HEADER + line + "\n")
    with pytest.raises(InputError) as err:
        experiments.lifts(sources.gather(path, tmp_path / "none.csv", None), data.channels, data.dates)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    assert all(s in message for s in says), message


def test_workspace_file_wins_over_the_knowledge_layer_and_windows_map_to_weeks(tmp_path: Path, hidden):
    data, _ = sim_case(hidden)
    path = tmp_path / experiments.WORKSPACE_FILE
    path.write_text(HEADER + "tv_spend,2021-03-01,2021-03-28,1000,500,50\n")
    (lift,) = experiments.lifts(sources.gather(None, path, None), data.channels, data.dates)
    assert lift.c == 0 and lift.weeks.sum() == 4 and data.dates[lift.weeks][0] == pd.Timestamp("2021-03-01")
    assert sources.gather(None, tmp_path / "absent.csv", None) == []


def test_run_with_a_bad_experiments_file_exits_2_before_fitting_and_keeps_the_workspace(tmp_path, capsys):
    ws, _ = make_ws(tmp_path / "ws", weeks=104, n_channels=3)
    bad = tmp_path / "tests.csv"
    bad.write_text(HEADER + "tv_spend,2021-03-01,2021-03-29,1000,500,-5\n")
    cli = Cli(capsys, ws.root)
    cli.fails("run", "--experiments", str(bad), says=[str(bad), "row 1", "'incremental_kpi_se'"])
    assert not (ws.root / experiments.WORKSPACE_FILE).exists() and not ws.round_results(1).exists()
    good = tmp_path / "good.csv"
    good.write_text(HEADER + "tv_spend,2021-03-01,2021-03-29,1000,500,50\n")
    assert len(sources.prepare(ws, good)) == 1
    assert (ws.root / experiments.WORKSPACE_FILE).read_text() == good.read_text()
    assert [e.channel for _, e in experiments.used(ws)] == ["tv_spend"]  # what the model workers fit on
    (ws.root / experiments.WORKSPACE_FILE).unlink()
    assert sources.prepare(ws, None) == () and experiments.used(ws) == []  # no tests: no stale calibration


def test_prism_run_fits_ridge_on_the_workspace_tests_and_records_them(tmp_path, capsys):
    ws, sim = make_ws(tmp_path / "ws", weeks=104, n_channels=3)
    truth = experiment(sim, "tv_spend", slice(20, 28))
    path = tmp_path / "tests.csv"
    path.write_text(HEADER + f"tv_spend,{truth.start},{truth.end},{truth.spend},{truth.incremental_kpi},"
                             f"{truth.incremental_kpi_se}\n")
    code, out, err = Cli(capsys, ws.root)("run", "--models", "ridge", "--quick", "--experiments", str(path))
    assert code == 0, out + err
    (row,) = read_model(ws.round_results(1), Results).models["ridge"].diagnostics[experiments.EXPERIMENTS_KEY]
    assert row["used"] and row["channel"] == "tv_spend" and row["z"] < 2.0
    assert row["incremental_kpi"] == pytest.approx(truth.incremental_kpi)

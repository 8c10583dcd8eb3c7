"""Kept draws: every ok model writes rounds/R{NN}_draws/{model}.nc, and the file alone gives latest.json's figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.analysis.response import load_round, plan_contributions
from prism.data.simulate import simulate
from prism.errors import InputError
from prism.models import ridge
from prism.models.base import ModelData
from prism.models.draws import (CURVE_MULTIPLIERS, KeptDraws, mroi, response_levels, roi_draws,
                                saturation_fraction)
from prism.models.runner import run_models
from prism.schemas import Config, Results
from prism.workspace import Workspace, read_model, write_json, write_weekly

MAX_FILE_BYTES = 20 * 1024 * 1024


def _workspace(root: Path, models: list[str], **settings) -> Workspace:
    sim = simulate(weeks=104, n_channels=3, seed=2)
    sim.write(root / "data.csv")
    write_json(root / "config.json", {"data": {"path": "data.csv", "date_column": "date", "kpi": sim.kpi,
                                                "channels": sim.channels, "controls": sim.controls},
                                       "models": models, **settings})
    ws = Workspace(root)
    write_weekly(ws, sim.frame.assign(date=pd.to_datetime(sim.frame["date"])))
    return ws


def _assert_file_gives_latest(ws: Workspace, res: Results) -> None:
    """Recompute ROI (mean, 90 % interval), contribution, mROI, saturation and curves from each .nc alone."""
    kept = load_round(ws)
    assert set(kept) == {n for n, m in res.models.items() if m.status == "ok"}
    for name, kd in kept.items():
        path = ws.draws_path(res.round, name)
        assert 0 < path.stat().st_size <= MAX_FILE_BYTES
        kd = KeptDraws.from_netcdf(path)  # the file alone: no config, no data
        tr = kd.n_train
        totals = kd.contributions(kd.spend)[:, :tr].sum(axis=1)
        roi = totals / kd.spend[:tr].sum(axis=0)
        sat = saturation_fraction(kd)
        for c, ch in enumerate(kd.channels):
            got = res.models[name].channels[ch]
            assert roi[:, c].mean() == pytest.approx(got.roi, rel=1e-9, abs=1e-12), (name, ch)
            assert np.quantile(roi[:, c], 0.05) == pytest.approx(got.roi_low, rel=1e-9, abs=1e-12)
            assert np.quantile(roi[:, c], 0.95) == pytest.approx(got.roi_high, rel=1e-9, abs=1e-12)
            assert totals[:, c].mean() == pytest.approx(got.contribution, rel=1e-9, abs=1e-9)
            assert mroi(kd, c) == pytest.approx(got.mroi, rel=1e-9, abs=1e-12)
            assert sat[c] * 100 == pytest.approx(got.saturation_pct, rel=1e-9)
            curve = res.models[name].curves[ch]
            np.testing.assert_allclose(response_levels(kd, c).mean(axis=0), curve.kpi, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(kd.predict().mean(axis=0), res.models[name].weekly.fitted, rtol=1e-9)


def test_ridge_run_writes_draws_that_give_latest_json(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, ["ridge", "pymc"], ridge={"bootstrap": 30, "search_budget": 10},
                    timeouts={"ridge": 300, "pymc": 1})
    res = run_models(ws, round_no=2)
    assert res.models["ridge"].status == "ok" and res.models["pymc"].status == "failed"
    assert ws.draws_path(2, "ridge").exists() and not ws.draws_path(2, "pymc").exists()
    assert KeptDraws.from_netcdf(ws.draws_path(2, "ridge")).n_draws == 30
    _assert_file_gives_latest(ws, read_model(ws.latest, Results))


def test_a_rerun_where_every_model_fails_keeps_the_draws_of_the_kept_results(tmp_path: Path) -> None:
    """Draws on disk always match the results on disk: a run that fails every model replaces neither."""
    ws = _workspace(tmp_path, ["ridge"], ridge={"bootstrap": 5, "search_budget": 5})
    run_models(ws, round_no=1)
    assert ws.draws_path(1, "ridge").exists()
    cfg = json.loads(ws.config.read_text())
    cfg["adstock"] = {"type": "weibull", "decay": 0.3}  # ridge refuses this config
    write_json(ws.config, cfg)
    before = ws.draws_path(1, "ridge").read_bytes()
    assert run_models(ws, round_no=1).models["ridge"].status == "failed"
    assert ws.draws_path(1, "ridge").read_bytes() == before and set(load_round(ws)) == {"ridge"}


def test_a_planning_read_of_unchanged_draws_comes_from_its_copy_and_a_rewrite_is_read_again(tmp_path: Path,
                                                                                          monkeypatch) -> None:
    """load_round pickles what it read (`prism ask` skips xarray and netCDF); a refit rewrites the file,
    so the next read sees the new draws, not the copy."""
    from prism.analysis import response

    ws = _workspace(tmp_path, ["ridge"], ridge={"bootstrap": 5, "search_budget": 5})
    run_models(ws, round_no=1)
    first = load_round(ws)["ridge"]
    files = []
    real = response.read_draws
    monkeypatch.setattr(response, "read_draws", lambda path: files.append(path) or real(path))
    again = load_round(ws)["ridge"]
    assert files == [] and np.array_equal(again.coef, first.coef) and again.dates.equals(first.dates)
    changed = first.select(np.arange(3))
    changed.to_netcdf(ws.draws_path(1, "ridge"))
    assert load_round(ws)["ridge"].n_draws == 3 and files == [ws.draws_path(1, "ridge")]


@pytest.mark.slow
def test_bayesian_quick_runs_write_draws_that_give_latest_json(tmp_path: Path) -> None:
    ws = _workspace(tmp_path, ["pymc", "lightweight_mmm"])
    res = run_models(ws, round_no=1, quick=True)
    assert all(m.status == "ok" for m in res.models.values()), {n: m.reason for n, m in res.models.items()}
    _assert_file_gives_latest(ws, res)


@pytest.fixture(scope="module")
def fitted_draws() -> KeptDraws:
    sim = simulate(weeks=80, n_channels=3, seed=4)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels, "controls": sim.controls},
                                 "ridge": {"bootstrap": 12, "search_budget": 5}})
    return ridge.fit(ModelData.from_frame(sim.frame, cfg), cfg).draws


def test_netcdf_round_trip_keeps_every_number(fitted_draws: KeptDraws, tmp_path: Path) -> None:
    path = tmp_path / "rounds" / "R01_draws" / "ridge.nc"
    fitted_draws.to_netcdf(path)
    back = KeptDraws.from_netcdf(path)
    assert (back.model, back.n_train, back.adstock_type, back.max_lag, back.normalize, back.saturation_type) == (
        "ridge", fitted_draws.n_train, "geometric", 8, False, "hill")
    for key in ("spend", "baseline", "coef", "scale", "gain"):
        np.testing.assert_array_equal(getattr(back, key), getattr(fitted_draws, key))
    for a, b in ((back.adstock_params, fitted_draws.adstock_params),
                 (back.saturation_params, fitted_draws.saturation_params)):
        assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    assert back.dates.equals(fitted_draws.dates) and back.channels == fitted_draws.channels
    plan = fitted_draws.spend * np.array([0.5, 1.0, 1.7])
    np.testing.assert_array_equal(back.contributions(plan), fitted_draws.contributions(plan))
    assert [p.name for p in path.parent.iterdir()] == ["ridge.nc"]  # no temp file left behind


def test_unreadable_draws_file_is_bad_input_naming_it(tmp_path: Path) -> None:
    bad = tmp_path / "pymc.nc"
    bad.write_text("not netcdf")
    with pytest.raises(InputError, match="pymc.nc: not a Prism draws file"):
        KeptDraws.from_netcdf(bad)
    with pytest.raises(InputError, match="missing.nc: file not found"):
        KeptDraws.from_netcdf(tmp_path / "missing.nc")


@pytest.mark.parametrize("adstock,saturation", [("geometric", "logistic"), ("delayed", "hill"),
                                                ("weibull", "logistic"), ("weibull", "hill")])
def test_ridge_draws_reproduce_the_fitted_design_for_every_transform(adstock: str, saturation: str) -> None:
    """The kept parameters give exactly the media columns ridge fitted its coefficients on."""
    sim = simulate(weeks=60, n_channels=3, seed=1)
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": sim.kpi,
                                          "channels": sim.channels},
                                 "adstock": {"type": adstock}, "saturation": {"type": saturation}})
    data = ModelData.from_frame(sim.frame, cfg)
    carry = np.array([2.5, 1.2, 3.0]) if adstock == "weibull" else np.array([0.6, 0.2, 0.4])
    transforms = [ridge.MediaTransform.from_training(cfg, data.spend, data.n_train, carry * k, np.array([0.8, 1.2, 2.0]),
                                                     np.array([1.5, 1.0, 2.5])) for k in (1.0, 0.9)]
    coefs = np.array([[10.0, 3.0, 4.0, 5.0], [12.0, 2.0, 6.0, 1.0]])
    kd = ridge.kept_draws(transforms, coefs, np.zeros((data.n_weeks, 0)), data)
    expected = np.stack([t(data.spend) * coefs[s, 1:] for s, t in enumerate(transforms)])
    np.testing.assert_allclose(kd.contributions(data.spend), expected, rtol=1e-12)
    np.testing.assert_allclose(kd.baseline, coefs[:, :1] * np.ones((1, data.n_weeks)))


def test_response_levels_and_plan_follow_the_curve(fitted_draws: KeptDraws) -> None:
    kd = fitted_draws
    levels = response_levels(kd, 0).mean(axis=0)
    assert levels[0] == pytest.approx(0.0, abs=1e-9) and np.all(np.diff(levels) >= -1e-9)
    i = int(np.argmin(np.abs(CURVE_MULTIPLIERS - 1.0)))
    assert levels[i] * kd.n_train == pytest.approx(kd.contributions(kd.spend)[:, : kd.n_train, 0].sum(axis=1).mean())
    assert roi_draws(kd).shape == (kd.n_draws, len(kd.channels))
    zero = plan_contributions(kd, np.zeros((6, len(kd.channels))))
    assert zero.shape == (kd.n_draws, 6, len(kd.channels))
    assert np.all(zero >= 0) and np.all(zero[:, -1] <= zero[:, 0] + 1e-12)  # only carry-over, fading
    with pytest.raises(InputError, match="spend plan has shape"):
        plan_contributions(kd, np.zeros((6, 2)))

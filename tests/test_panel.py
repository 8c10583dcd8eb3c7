"""Regional panels: the panel data contract, panel draws and how the runner treats models without a panel form."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from prism.data.discover import with_roles
from prism.data.simulate import simulate
from prism.errors import InputError
from prism.models import experiments, ridge, ridge_panel
from prism.models.base import Fitted
from prism.models.draws import KeptDraws, PanelDraws, read_draws, roi_draws
from prism.models.panel import NO_PANEL_FORM, PanelData, summarize_panel
from prism.models.worker import run_one
from prism.schemas import Config, Experiment

MARKETS = ("north", "south", "west")


def panel_frame(weeks: int = 60, n_channels: int = 2) -> tuple[pd.DataFrame, list[str], str]:
    """Three simulated markets of different sizes stacked as one long table with a `region` column."""
    parts = []
    for i, m in enumerate(MARKETS):
        sim = simulate(weeks=weeks, n_channels=n_channels, seed=40 + i)
        frame = sim.frame[["date", sim.kpi, *sim.channels]].copy()
        frame[[sim.kpi, *sim.channels]] *= (i + 1)
        parts.append(frame.assign(region=m))
    return pd.concat(parts, ignore_index=True), sim.channels, sim.kpi


def panel_config(channels: list[str], kpi: str, **settings) -> Config:
    return Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": kpi, "channels": channels,
                                           "market_column": "region"}, **settings})


def test_a_panel_config_refuses_a_refreshs_national_scales_and_discover_drops_them() -> None:
    """Fixed scales are one national divisor per channel; a panel's ridge would have put every market, however
    small, on it (its curves then far from saturating), while the Bayesian panels ignored them."""
    scales = {"ridge": {"channels": {"tv": 5.0}}}
    with pytest.raises(ValueError, match=r"scales \(ridge\).*market panel \('region'\).*remove them"):
        panel_config(["tv"], "revenue", scales=scales)
    national = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": "revenue",
                                               "channels": ["tv"]}, "scales": scales})
    cfg, changes = with_roles(national, national.data.model_copy(update={"market_column": "region"}),
                              national.baseline, "x.csv")
    assert cfg.scales == {} and cfg.data.market_column == "region"
    assert any(line.startswith("scales: dropped") for line in changes)


@pytest.fixture(scope="module")
def panel() -> tuple[PanelData, Config]:
    frame, channels, kpi = panel_frame()
    cfg = panel_config(channels, kpi, ridge={"bootstrap": 8, "search_budget": 4})
    return PanelData.from_frame(frame.sample(frac=1.0, random_state=0), cfg), cfg


def test_panel_data_is_weeks_by_markets_and_sums_to_the_national_series(panel) -> None:
    data, _ = panel
    assert data.markets == sorted(MARKETS) and data.y.shape == (60, 3) and data.spend.shape == (60, 3, 2)
    nat = data.national()
    np.testing.assert_allclose(nat.y, data.y.sum(axis=1))
    np.testing.assert_allclose(nat.spend, data.spend.sum(axis=1))
    south = data.market("south")
    np.testing.assert_allclose(south.y, data.y[:, 1])
    assert nat.n_test == data.n_test == south.n_test
    np.testing.assert_allclose(data.sizes, data.y[:data.n_train].sum(0) / data.y[:data.n_train].sum())
    assert data.sizes[2] > data.sizes[0]  # west is three times north


def test_a_market_missing_a_week_or_holding_two_rows_is_named(panel) -> None:
    _, cfg = panel
    frame, *_ = panel_frame()
    with pytest.raises(InputError, match="market 'south' has no row for week"):
        PanelData.from_frame(frame.drop(index=frame.index[frame.region == "south"][5]), cfg)
    with pytest.raises(InputError, match="market 'north' has two rows for week 20"):
        PanelData.from_frame(pd.concat([frame, frame.iloc[[3]]]), cfg)


@pytest.fixture(scope="module")
def panel_draws(panel) -> PanelDraws:
    """Per-market ridge fits with the same draw count stand in for a joint panel fit (the contract only)."""
    data, cfg = panel
    return PanelDraws(list(data.markets), [ridge.fit(data.market(m), cfg).draws for m in data.markets])


def test_panel_draws_sum_markets_and_round_trip_through_netcdf(panel_draws: PanelDraws, tmp_path: Path) -> None:
    spend = panel_draws.spend
    assert spend.shape == (60, 3, 2)
    per_market = panel_draws.contributions(spend)
    assert per_market.shape == (8, 60, 3, 2)
    national = panel_draws.national()
    np.testing.assert_allclose(national.contributions(national.spend), per_market.sum(axis=2))
    np.testing.assert_allclose(national.predict(), panel_draws.predict().sum(axis=2))
    path = tmp_path / "rounds" / "R01_draws" / "ridge.nc"
    panel_draws.to_netcdf(path)
    back = read_draws(path)
    assert isinstance(back, PanelDraws) and back.markets == panel_draws.markets
    np.testing.assert_array_equal(back.contributions(spend * 1.3), panel_draws.contributions(spend * 1.3))
    with pytest.raises(InputError, match="panel draws"):
        KeptDraws.from_netcdf(path)
    with pytest.raises(InputError, match="not in this panel"):
        panel_draws.market("east")


def test_national_roi_is_summed_contribution_over_summed_spend(panel, panel_draws: PanelDraws) -> None:
    data, _ = panel
    fitted = Fitted(engine="test", version="0", params={}, diagnostics={}, draws=None, panel_draws=panel_draws)
    res = summarize_panel(fitted, data, 1.0, quick=True)
    tr = data.n_train
    contrib = panel_draws.contributions(panel_draws.spend)[:, :tr].sum(axis=(1, 2))  # (S, C)
    roi = contrib / data.spend[:tr].sum(axis=(0, 1))
    for c, ch in enumerate(data.channels):
        assert res.channels[ch].roi == pytest.approx(roi[:, c].mean(), rel=1e-9)
        assert res.channels[ch].roi_low == pytest.approx(np.quantile(roi[:, c], 0.05), rel=1e-9)
        south = roi_draws(panel_draws.market("south"))[:, c]
        assert res.markets["south"][ch].roi == pytest.approx(south.mean(), rel=1e-9)
        assert res.markets["south"][ch].roi_high == pytest.approx(np.quantile(south, 0.95), rel=1e-9)
    assert set(res.markets) == set(MARKETS)


def test_a_model_without_a_panel_form_is_skipped_not_fitted_nationally(monkeypatch: pytest.MonkeyPatch) -> None:
    national_only = SimpleNamespace(ENGINE="national only", fit=lambda *a, **k: pytest.fail("fitted nationally"))
    for where in ("prism.models.worker.load", "prism.models.registry.load"):
        monkeypatch.setattr(where, lambda name: national_only)
    frame, channels, kpi = panel_frame()
    result, fitted = run_one("lightweight_mmm", frame, panel_config(channels, kpi), quick=True)
    assert (result.status, result.reason, fitted) == ("skipped", NO_PANEL_FORM, None)


# ------------------------------------------------------------------------------------------- ridge panel


def truth_panel(scales=(1.0, 2.0, 3.0, 0.001), weeks: int = 80) -> tuple[pd.DataFrame, list[str], str, np.ndarray]:
    """Markets simulated with the same channel ROIs (different spend, noise, size): the national truth is
    Σ contribution ÷ Σ spend over the training weeks."""
    parts, contrib, spend = [], 0.0, 0.0
    n_train = weeks - 8
    for i, k in enumerate(scales):
        sim = simulate(weeks=weeks, n_channels=2, seed=60 + i)
        frame = sim.frame[["date", sim.kpi, *sim.channels]].copy()
        frame[[sim.kpi, *sim.channels]] *= k
        parts.append(frame.assign(region=f"m{i}"))
        contrib = contrib + k * sim.contributions[sim.channels].iloc[:n_train].sum().to_numpy()
        spend = spend + k * sim.frame[sim.channels].iloc[:n_train].sum().to_numpy()
    return pd.concat(parts, ignore_index=True), sim.channels, sim.kpi, contrib / spend


@pytest.fixture(scope="module")
def ridge_panel_fit():
    frame, channels, kpi, truth = truth_panel()
    cfg = panel_config(channels, kpi, ridge={"bootstrap": 40, "search_budget": 10})
    data = PanelData.from_frame(frame, cfg)
    fitted = ridge_panel.fit_panel(data, cfg)
    return data, fitted, summarize_panel(fitted, data, 1.0, quick=False), truth


def test_ridge_panel_keeps_joint_draws_per_market_and_finds_the_national_roi(ridge_panel_fit) -> None:
    data, fitted, res, truth = ridge_panel_fit
    pd_ = fitted.panel_draws
    assert pd_.markets == data.markets and all(kd.n_draws == 40 for kd in pd_.draws)
    np.testing.assert_allclose(pd_.spend, data.spend)
    for c, ch in enumerate(data.channels):
        got = res.channels[ch]
        assert got.roi_low <= truth[c] <= got.roi_high, (ch, truth[c], got)
        assert abs(got.roi / truth[c] - 1.0) < 0.35, (ch, got.roi, truth[c])
    fit = pd_.predict()[:, : data.n_train].mean(axis=0)
    r2 = 1 - ((data.y[: data.n_train] - fit) ** 2).sum(0) / ((data.y[: data.n_train] - data.y[: data.n_train].mean(0)) ** 2).sum(0)
    assert (r2 > 0.5).all(), r2  # every market's own baseline and media fit its weeks, the tiny one too
    contraction = fitted.against_prior[0]
    assert contraction.shape == (2,) and (contraction > 0.5).all()
    assert res.diagnostics["markets"] == 4


def test_a_market_a_thousand_times_smaller_gets_its_own_finite_roi(ridge_panel_fit) -> None:
    data, _, res, truth = ridge_panel_fit
    tiny = res.markets["m3"]
    for c, ch in enumerate(data.channels):
        assert np.isfinite(tiny[ch].roi) and tiny[ch].roi_low <= tiny[ch].roi <= tiny[ch].roi_high
        assert 0.3 * truth[c] < tiny[ch].roi < 3.0 * truth[c]
        assert tiny[ch].spend == pytest.approx(data.spend[: data.n_train, 3, c].sum())


def test_a_market_without_spend_in_a_channel_has_no_roi_of_its_own() -> None:
    frame, channels, kpi, _ = truth_panel(scales=(1.0, 1.0, 1.0), weeks=60)
    frame.loc[frame.region == "m1", channels[1]] = 0.0
    cfg = panel_config(channels, kpi, ridge={"bootstrap": 10, "search_budget": 5})
    data = PanelData.from_frame(frame, cfg)
    res = summarize_panel(ridge_panel.fit_panel(data, cfg, quick=True), data, 1.0, quick=True)
    none = res.markets["m1"][channels[1]]
    assert (none.roi, none.roi_low, none.roi_high, none.contribution) == (None, None, None, 0.0)
    assert np.isfinite(res.channels[channels[1]].roi)
    # the round's results are written as JSON, which has no NaN: `prism run` failed on such a panel
    assert '"roi":null' in res.model_dump_json() and type(res).model_validate_json(res.model_dump_json()) == res


def test_a_national_lift_test_pulls_the_panel_fit_toward_it() -> None:
    frame, channels, kpi, truth = truth_panel(scales=(1.0, 2.0, 1.5), weeks=60)
    cfg = panel_config(channels, kpi, ridge={"bootstrap": 12, "search_budget": 5})
    data = PanelData.from_frame(frame, cfg)
    plain = summarize_panel(ridge_panel.fit_panel(data, cfg, quick=True), data, 1.0, quick=True)
    window = data.dates[10:22]
    spend = float(data.spend[10:22, :, 0].sum())
    test = Experiment(channel=channels[0], start=str(window[0].date()), end=str(window[-1].date()), spend=spend,
                      incremental_kpi=3.0 * truth[0] * spend, incremental_kpi_se=0.05 * truth[0] * spend)
    tested = replace(data, lifts=experiments.lifts([("test", test)], data.channels, data.dates))
    fitted = ridge_panel.fit_panel(tested, cfg, quick=True)
    calibrated = summarize_panel(fitted, tested, 1.0, quick=True)
    assert calibrated.channels[channels[0]].roi > 1.3 * plain.channels[channels[0]].roi
    implied = experiments.implied(fitted.draws, tested.lifts[0]).mean()
    naive = experiments.implied(ridge_panel.fit_panel(data, cfg, quick=True).draws, tested.lifts[0]).mean()
    assert abs(implied - test.incremental_kpi) < abs(naive - test.incremental_kpi)


def test_a_promotion_in_some_markets_stays_theirs() -> None:
    frame, channels, kpi = panel_frame()
    frame["promo"] = 0.0
    weeks = sorted(frame["date"].unique())[10:13]
    frame.loc[(frame.region == "south") & frame["date"].isin(weeks), "promo"] = 1.0
    frame["holiday"] = frame["date"].isin(weeks[:1]).astype(float)  # every market alike
    cfg = Config.model_validate({**panel_config(channels, kpi).model_dump(), "baseline": {"event_columns": ["promo", "holiday"]}})
    data = PanelData.from_frame(frame, cfg)
    assert data.control_names == ["promo"] and data.event_names == ["holiday"]
    g = data.markets.index("south")
    assert data.controls[10:13, g, 0].tolist() == [1.0, 1.0, 1.0] and data.controls[:, [0, 2], 0].sum() == 0
    assert data.national().controls[10, 0] == pytest.approx(1 / 3)  # the share of markets on promotion


def test_the_panel_ridge_solve_is_nnls_on_the_stacked_rows(panel) -> None:
    """`solve` works on aᵀa built block by block: the same non-negative coefficients and loss as NNLS on the
    stacked rows themselves (each market's profiled weeks on its own coefficients, a deviation row per market
    coefficient, a media-penalty row per national one, a weighted row per lift test), with every coefficient
    positive (a Cholesky solve), with some at zero (NNLS), and with a lift test."""
    from scipy.optimize import nnls

    data, cfg = panel
    problem = ridge_panel.build(data, cfg)
    n, G, C = data.n_train, data.n_markets, len(data.channels)
    u = problem.media(problem.national.transform(problem.national.prior_center()))[1]
    y, other = ridge_panel.scaled_y(problem)[:n], problem.other[:n]
    lift = ridge.LiftRows(np.r_[np.zeros(C), np.full(C, 0.1), np.zeros((G - 2) * C)][None], np.array([0.5]),
                          np.array([0.05]))
    cases = [(y, ridge.Penalty(3.0, 10.0), 1.0, None), (y - 40.0 * u[:n, :, 1], ridge.Penalty(3.0, 10.0), 1.0, None),
             (y, ridge.Penalty(0.01, 0.1), 100.0, lift)]
    fits = []
    for target, penalty, alpha_dev, tests in cases:
        fit = ridge_panel.solve(problem, u[:n], target, other, penalty, alpha_dev, tests)
        fits.append(fit)
        zm, ym = ridge_panel._profile(u[:n], target, other, penalty.base)[:2]
        a = np.zeros((n * G + G * C + C, C + G * C))
        for g in range(G):
            a[g * n:(g + 1) * n, C + g * C: C + (g + 1) * C] = zm[:, g]
        a[n * G + np.arange(G * C), C + np.arange(G * C)] = np.sqrt(alpha_dev)
        a[n * G + np.arange(G * C), np.tile(np.arange(C), G)] = -np.sqrt(alpha_dev)
        a[n * G + G * C + np.arange(C), np.arange(C)] = np.sqrt(penalty.media)
        b = np.concatenate([ym.T.ravel(), np.zeros(G * C), np.sqrt(penalty.media) * ridge_panel._pooled_level(zm, ym) * np.ones(C)])
        rows = nnls(a, b, maxiter=50 * a.shape[1])[0]
        if tests is not None:  # weighted by the weeks' residual sd over the test's se, as the solve weights it
            w = np.sqrt(np.mean((a[: n * G] @ rows - b[: n * G]) ** 2)) / tests.se
            a = np.vstack([a, np.hstack([np.zeros((1, C)), w[:, None] * tests.a])])
            b = np.concatenate([b, w * tests.kpi])
            rows = nnls(a, b, maxiter=50 * a.shape[1])[0]
        assert np.allclose(np.r_[fit.beta, fit.r.ravel()], rows, atol=1e-8)
        assert fit.loss == pytest.approx(float(np.sum((a @ rows - b) ** 2)), rel=1e-9)
    assert (fits[0].r > 0).all() and (fits[0].beta > 0).all()  # the Cholesky solve alone
    assert (fits[1].r[:, 1] == 0).all()  # NNLS


def test_the_clamped_active_set_is_nnls_optimum_without_nnls() -> None:
    """`_clamped` (the panel solve's path when some unconstrained coefficients are negative) returns NNLS's
    optimum on problems shaped like a panel's (strictly convex, a handful of negatives among ~100), and meets
    the optimality conditions itself: it is not a fallback to NNLS in disguise."""
    from scipy.linalg import cholesky, solve_triangular
    from scipy.optimize import nnls

    rng = np.random.default_rng(11)
    for _ in range(20):
        a = rng.normal(size=(150, 100))
        ata = a.T @ a + 5.0 * np.eye(100)
        atb = a.T @ (a @ rng.gamma(1.0, 1.0, 100) + 4.0 * rng.normal(size=150))
        free = np.linalg.solve(ata, atb)
        assert (free < 0).any()
        x = ridge_panel._clamped(ata, atb, free >= 0)
        r = cholesky(ata)
        assert x is not None and np.allclose(x, nnls(r, solve_triangular(r, atb, trans="T"))[0], atol=1e-9)
        grad = ata @ x - atb
        assert (x >= 0).all() and np.allclose(grad[x > 0], 0.0, atol=1e-8) and (grad[x == 0] >= -1e-8).all()


def test_the_panel_carry_over_is_searched_on_the_stacked_penalised_likelihood(panel) -> None:
    """The objective reads the stacked solve's loss, which is every market's profiled residual plus the
    baseline, deviation and media penalties; the search ends at least as good on it as the summed series'
    optimum it starts from, and elsewhere (it is the panel's optimum, not the summed series')."""
    data, cfg = panel
    problem = ridge_panel.build(data, cfg)
    nat, n = problem.national, data.n_train
    penalty, alpha_dev, shape = ridge.Penalty(3.0, 10.0), 1.0, ridge.REFERENCE_SHAPE
    u = problem.media(nat.transform(nat.prior_center(), shape))[1]
    y, other = ridge_panel.scaled_y(problem)[:n], problem.other[:n]
    fit = ridge_panel.solve(problem, u[:n], y, other, penalty, alpha_dev)
    resid = y - fit.baseline(other) - np.einsum("tgc,gc->tg", u[:n], fit.r)
    zm, ym = ridge_panel._profile(u[:n], y, other, penalty.base)[:2]
    centre = ridge_panel._pooled_level(zm, ym)
    expected = (float((resid ** 2).sum()) + penalty.base * float((fit.gamma ** 2).sum())
                + alpha_dev * float(((fit.r - fit.beta) ** 2).sum()) + penalty.media * float(((fit.beta - centre) ** 2).sum()))
    assert fit.loss == pytest.approx(expected, rel=1e-8)

    folds, budget = ridge.cv_folds(n), cfg.ridge.search_budget
    start = ridge.fit_transforms(nat, folds, budget)[1]
    theta, shapes, penalties, searched_at, _, _ = ridge_panel.search_carry(problem, folds, budget)
    at = lambda t: problem.objective(t, penalties.best, searched_at, shapes.best)  # noqa: E731
    assert at(theta) <= at(start) and not np.allclose(theta, start)
    fitted = ridge_panel.fit_panel(data, cfg)
    carry = np.array([fitted.params[ch][ridge.CARRY_NAME[cfg.adstock.type]] for ch in data.channels])
    assert np.allclose(carry[nat.free("carry")], theta)

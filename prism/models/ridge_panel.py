"""Ridge on a regional panel: each market's KPI on its own baseline, media coefficients pooled across markets.

The model, per market g (KPI divided by its own standard deviation, so a market 1000× larger weighs the
same as a small one and the penalties keep the national model's units):

    y_gt / sd_g = a_g + baseline_g(t) · γ_g + Σ_c r_gc · u_gtc + ε

- `u_gtc` is channel c's transformed spend in market g scaled so that its coefficient `r_gc` is the ROI
  relative to the market's KPI-per-spend ratio (Σ KPI ÷ Σ spend, the national ridge's unit): pooling
  relative ROIs says "a channel earns the same share of a market's KPI per share of its spend", which is
  free of market size and currency.
- Each market has its own intercept, trend, yearly seasonality and controls (`γ_g`, ridge-penalised like
  the national baseline) and shares the events and holidays' columns (its own coefficients on them).
- `r_gc = β_c + δ_gc`: a national coefficient `β_c` penalised towards the pooled ROI exactly as the
  national ridge penalises its coefficients, and market deviations `δ_gc` penalised towards 0 by
  `α_dev`, weighted over a grid by rolling-origin out-of-fold likelihood (as the national penalties are).
  A market with no spend in a channel has r_gc = β_c and no ROI of its own.
- Carry-over and curve shapes are shared by the markets (each market's half-saturation in units of its
  own mean adstocked spend). Curve shapes and penalties are chosen on the national series
  (`ridge.fit_transforms`); the carry-over is then searched again, from the national optimum, on the
  panel's own penalised likelihood over every market-week (`PanelProblem.objective`). On the eleven
  simulated panels of bench/panel_accuracy.py the summed series' carry-over left ridge 24.4 % off the
  national ROIs (median); searched on the panel, 22.2 %.
- Intervals: a moving-block bootstrap drawing the same blocks of weeks in every market (markets share
  shocks in the same week), each resample with its own carry-over, curves and penalties as the national
  ridge draws them. Draw s of every market comes from resample s, so national sums keep the correlation.

The positive media coefficients are solved exactly: each market's baseline is profiled out (ridge closed
form via an SVD, as `ridge._profiled`), leaving one stacked non-negative least-squares problem in the
C + G·C media coefficients (scipy's NNLS).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy

from prism.models import ridge
from prism.models.base import Fitted, thin
from prism.models.draws import KeptDraws, PanelDraws
from prism.models.evidence import ZERO_COEF
from prism.models.panel import PanelData
from prism.models.ridge import MediaTransform, Penalties, Penalty, ShapeWeights
from prism.models.transforms import adstock
from prism.schemas import Config

ENGINE = "Ridge regression on the market panel (market baselines, media pooled across markets), moving-block bootstrap"
DEV_ALPHA_GRID = tuple(10.0 ** np.linspace(-2.0, 3.0, 6))  # market deviations, relative ROI units; weighted by CV


@dataclass(frozen=True)
class PanelProblem:
    """The panel as the solver sees it: per market its KPI scale, KPI-per-spend unit and baseline columns."""

    data: PanelData
    cfg: Config
    national: ridge.Problem  # the summed series: transform search, penalties, carry-over prior
    y_sd: np.ndarray  # (G,) each market's KPI standard deviation over the training weeks
    roi_ref: np.ndarray  # (G,) Σ KPI ÷ Σ spend over the training weeks: the unit of relative ROI
    other: np.ndarray  # (T, G, q) each market's baseline columns (controls, events, trend, seasonality)

    @property
    def n_markets(self) -> int:
        return self.data.n_markets

    @property
    def n_channels(self) -> int:
        return len(self.data.channels)

    @property
    def spend_mean(self) -> np.ndarray:
        """(G, C) mean weekly training spend per market and channel."""
        return self.data.spend[: self.data.n_train].mean(axis=0)

    def transforms(self, tr: MediaTransform) -> list[MediaTransform]:
        """The shared carry-over and curves with each market's own spend scale."""
        n = self.data.n_train
        return [MediaTransform.from_training(self.cfg, self.data.spend[:, g], n, tr.carry, tr.half, tr.slope)
                for g in range(self.n_markets)]

    def media(self, trs: list[MediaTransform]) -> tuple[np.ndarray, np.ndarray]:
        """((T, G, C) columns u whose coefficients are relative ROIs, (G, C) KPI-unit coefficient per unit r).

        u_gtc = x_gtc · unit_gc / sd_g with unit_gc = roi_ref_g · spend_gc ÷ mean x_gc, so that a
        contribution r · unit · x summed over the training weeks ÷ the spend is r · roi_ref: r is the ROI
        relative to the market's KPI-per-spend ratio."""
        n = self.data.n_train
        x = np.stack([tr(self.data.spend[:, g]) for g, tr in enumerate(trs)], axis=1)
        x_mean = x[:n].mean(axis=0)
        unit = self.roi_ref[:, None] * self.spend_mean / np.where(x_mean > 0, x_mean, 1.0)
        unit = np.where(self.spend_mean > 0, unit, 0.0)
        return x * (unit / self.y_sd[:, None])[None], unit


    def lift_rows(self, trs: list[MediaTransform], unit: np.ndarray) -> ridge.LiftRows | None:
        """The national lift tests as rows on the (G·C) relative ROIs: a test's window lift is the sum over
        markets of each market's transformed spend lost in the window × its KPI-unit coefficient."""
        tests = self.data.lifts
        if not tests:
            return None
        a = np.zeros((len(tests), self.n_markets, self.n_channels))
        for k, t in enumerate(tests):
            for g, tr in enumerate(trs):
                spend = self.data.spend[:, g]
                a[k, g, t.c] = (tr(spend) - tr(t.zeroed(spend)))[t.weeks, t.c].sum() * unit[g, t.c]
        return ridge.LiftRows(a.reshape(len(tests), -1), np.array([t.kpi for t in tests]),
                              np.array([t.se for t in tests]))

    def objective(self, theta: np.ndarray, penalty: Penalty, alpha_dev: float,
                  shape: tuple[np.ndarray | float, np.ndarray | float]) -> float:
        """Negative penalised log-likelihood of the stacked fit on the training weeks, with the national
        series' weak priors on θ (`ridge.Problem.objective` over every market-week): carry-over that the
        markets' own weeks fit, not the summed series'."""
        nat, n = self.national, self.data.n_train
        trs = self.transforms(nat.transform(theta, shape))
        u, unit = self.media(trs)
        fit = solve(self, u[:n], scaled_y(self)[:n], self.other[:n], penalty, alpha_dev, self.lift_rows(trs, unit))
        rows = n * self.n_markets
        prior = 0.5 * np.sum(((theta - nat.prior_center()) / nat.prior_sd()) ** 2)
        return 0.5 * rows * math.log(max(fit.loss / rows, 1e-300)) + float(prior)


def build(data: PanelData, cfg: Config) -> PanelProblem:
    nat = ridge.build_problem(data.national(), cfg)
    n = data.n_train
    y_sd = data.y[:n].std(axis=0)
    y_sd = np.where(y_sd > 1e-12, y_sd, np.maximum(np.abs(data.y[:n]).mean(axis=0), 1.0))
    spend = data.spend[:n].mean(axis=0).sum(axis=1)
    roi_ref = np.abs(data.y[:n]).mean(axis=0) / np.where(spend > 0, spend, 1.0)
    shared = ridge.baseline_features(data.dates, n, data.events, cfg)  # events, trend, seasonality
    other = np.concatenate([data.controls, np.repeat(shared[:, None, :], data.n_markets, axis=1)], axis=2)
    return PanelProblem(data, cfg, nat, y_sd, roi_ref, other)


# ------------------------------------------------------------------------------------------------ solve


@dataclass(frozen=True)
class Solved:
    """One stacked solve: relative ROIs (G, C), national β (C), per-market intercept and baseline coefficients."""

    r: np.ndarray
    beta: np.ndarray
    intercept: np.ndarray  # (G,) in scaled KPI units
    gamma: np.ndarray  # (G, q) on the standardised baseline columns
    mu: np.ndarray  # (G, q) column means and sds used to standardise them
    sd: np.ndarray
    loss: float  # Σ_g ‖M_g^½ (y_g − u_g r_g)‖² + the media, deviation and lift rows' squares: the penalised objective

    def baseline(self, other: np.ndarray) -> np.ndarray:
        """(T, G) the baseline in scaled KPI units on every week."""
        return self.intercept[None] + np.einsum("tgq,gq->tg", (other - self.mu[None]) / self.sd[None], self.gamma)


def _profile(u: np.ndarray, y: np.ndarray, other: np.ndarray, alpha_base: float) -> tuple:
    """Per market: media columns and KPI with the ridge-penalised baseline profiled out (M^½ [u, y]),
    plus what recovering the baseline coefficients needs."""
    mu, sd = other.mean(axis=0), other.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z = (other - mu) / sd  # (n, G, q)
    um, ym = u - u.mean(axis=0), y - y.mean(axis=0)
    zm, yp, svds = [], [], []
    for g in range(y.shape[1]):
        uu, s, vt, shrink = ridge._ridge_half(z[:, g], alpha_base)
        both = np.column_stack([um[:, g], ym[:, g]])
        both = both - uu @ (shrink[:, None] * (uu.T @ both))
        zm.append(both[:, :-1])
        yp.append(both[:, -1])
        svds.append((uu, s, vt))
    return np.stack(zm, axis=1), np.stack(yp, axis=1), svds, mu, sd


def _pooled_level(zm: np.ndarray, ym: np.ndarray) -> float:
    """The pooled relative ROI of all media in all markets (the national ridge's centre)."""
    pooled = zm.sum(axis=2).ravel()
    spread = float(pooled @ pooled)
    return max(float(pooled @ ym.ravel()) / spread, 0.0) if spread > 0 else 0.0


def solve(problem: PanelProblem, u: np.ndarray, y: np.ndarray, other: np.ndarray, penalty: Penalty,
          alpha_dev: float, lift: ridge.LiftRows | None = None) -> Solved:
    """The stacked ridge on rows (weeks) of u (n, G, C), y (n, G) scaled, baseline columns (n, G, q); with
    `lift`, each lift test is one more row weighted by σ ÷ se (σ: the residual sd without the tests), so it
    counts as one more Gaussian likelihood term beside the weeks (as in the national ridge)."""
    n, G, C = u.shape
    zm, ym, svds, mu, sd = _profile(u, y, other, penalty.base)
    centre = np.full(C, _pooled_level(zm, ym))
    if penalty.centre is not None:  # an expected ROI (knowledge layer), in the national unit
        given = ~np.isnan(penalty.centre)
        centre[given] = penalty.centre[given] / float(np.average(problem.roi_ref, weights=problem.data.sizes))
    a = np.zeros((n * G + G * C + C, C + G * C))
    for g in range(G):
        a[g * n:(g + 1) * n, C + g * C: C + (g + 1) * C] = zm[:, g]
    dev = math.sqrt(alpha_dev)
    rows = n * G + np.arange(G * C)
    a[rows, C + np.arange(G * C)] = dev
    a[rows, np.tile(np.arange(C), G)] = -dev
    a[n * G + G * C + np.arange(C), np.arange(C)] = math.sqrt(penalty.media)
    b = np.concatenate([ym.T.ravel(), np.zeros(G * C), math.sqrt(penalty.media) * centre])
    coef = _least_squares(a, b, problem.cfg.ridge.positive)
    if lift is not None:
        sigma = math.sqrt(float(np.mean((a[: n * G] @ coef - b[: n * G]) ** 2)))
        w = sigma / lift.se
        a = np.vstack([a, np.hstack([np.zeros((len(w), C)), w[:, None] * lift.a])])
        b = np.concatenate([b, w * lift.kpi])
        coef = _least_squares(a, b, problem.cfg.ridge.positive)
    loss = float(np.sum((a @ coef - b) ** 2))
    beta, r = coef[:C], coef[C:].reshape(G, C)
    rest = (y - y.mean(axis=0)) - np.einsum("tgc,gc->tg", u - u.mean(axis=0), r)  # KPI left to the baseline
    gamma = np.stack([vt.T @ (s / (s ** 2 + penalty.base) * (uu.T @ rest[:, g])) for g, (uu, s, vt) in enumerate(svds)])
    intercept = y.mean(axis=0) - np.einsum("gc,gc->g", u.mean(axis=0), r)  # the baseline columns are centred
    return Solved(r, beta, intercept, gamma, mu, sd, loss)


def _least_squares(a: np.ndarray, b: np.ndarray, positive: bool) -> np.ndarray:
    """argmin ‖a x − b‖ (x ≥ 0 with `positive`).

    The stacked panel has a row per market-week and a column per coefficient (40 markets × 140 weeks ×
    5 channels: 5,800 × 205), and NNLS works on every row at each step (56–80 ms a solve, 85 % of a panel
    refit). With R the Cholesky factor of aᵀa, ‖a x − b‖² = ‖R x − R⁻ᵀ aᵀ b‖² + a constant, so NNLS on the
    square R gives the same x (within 4·10⁻¹⁵ on that panel, whose penalty rows keep aᵀa's condition number
    near 40) in 8–10 ms."""
    from scipy.linalg import LinAlgError, cholesky, solve_triangular  # here, as in ridge.py: importing stays light
    from scipy.optimize import nnls

    if not positive:
        return np.linalg.lstsq(a, b, rcond=None)[0]
    if a.shape[0] > a.shape[1]:
        try:
            r = cholesky(a.T @ a)
            a, b = r, solve_triangular(r, a.T @ b, trans="T")
        except LinAlgError:  # aᵀa singular (no penalty row on some column): NNLS on the rows themselves
            pass
    return nnls(a, b, maxiter=50 * a.shape[1])[0]


def scaled_y(problem: PanelProblem) -> np.ndarray:
    return problem.data.y / problem.y_sd[None]


def dev_weights(problem: PanelProblem, u: np.ndarray, penalty: Penalty, folds: list) -> np.ndarray:
    """(len(DEV_ALPHA_GRID),) each pooling strength weighted by its rolling-origin out-of-fold likelihood,
    exp(−m/2 · ln(MSE / best MSE)) over every market's held-out weeks, as the national penalties are."""
    y, other = scaled_y(problem), problem.other
    mse = []
    for alpha_dev in DEV_ALPHA_GRID:
        err = []
        for tr_idx, te_idx in folds:
            fit = solve(problem, u[tr_idx], y[tr_idx], other[tr_idx], penalty, alpha_dev)
            pred = fit.baseline(other[te_idx]) + np.einsum("tgc,gc->tg", u[te_idx], fit.r)
            err.append((y[te_idx] - pred).ravel())
        mse.append(float(np.mean(np.concatenate(err) ** 2)))
    held_out = sum(len(te) for _, te in folds) * problem.n_markets
    log_w = -0.5 * held_out * np.log(np.array(mse) / min(mse))
    w = np.exp(log_w - log_w.max())
    return w / w.sum()


def contraction(problem: PanelProblem, u: np.ndarray, penalty: Penalty, alpha_dev: float) -> np.ndarray:
    """(C,) 1 − posterior sd ÷ prior sd of each national coefficient β_c under the Gaussian reading of the
    penalties (prior precision α around the pool, markets' deviations with precision α_dev), the panel's
    counterpart of `ridge.pool_evidence`: near 0 where the markets leave β at the pool."""
    n = problem.data.n_train
    zm = _profile(u[:n], scaled_y(problem)[:n], problem.other[:n], penalty.base)[0]
    G, C = problem.n_markets, problem.n_channels
    h = np.zeros((C + G * C, C + G * C))
    h[:C, :C] = (penalty.media + G * alpha_dev) * np.eye(C)
    for g in range(G):
        s = slice(C + g * C, C + (g + 1) * C)
        h[s, s] = zm[:, g].T @ zm[:, g] + alpha_dev * np.eye(C)
        h[:C, s] = h[s, :C] = -alpha_dev * np.eye(C)
    var = np.diag(np.linalg.pinv(h))[:C]
    return np.clip(1.0 - np.sqrt(var * penalty.media), 0.0, 1.0)


def against_prior(problem: PanelProblem, u: np.ndarray, penalty: Penalty, alpha_dev: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """(contraction, shift) as `Fitted.against_prior` wants them. The panel's shift against the pool is not
    measured yet, so it is taken as 0: a panel channel is then prior-driven on its contraction alone (the
    stricter reading of the one rule, never the looser)."""
    return contraction(problem, u, penalty, alpha_dev), np.zeros(problem.n_channels)


# ---------------------------------------------------------------------------------------------- bootstrap


@dataclass
class Resample:
    """One bootstrap resample: its transform, solve and the KPI-unit coefficient per unit r."""

    transforms: list[MediaTransform]
    solved: Solved
    unit: np.ndarray  # (G, C)


def bootstrap(problem: PanelProblem, theta: np.ndarray, cov: np.ndarray, shapes: ShapeWeights,
              penalties: Penalties, devs: np.ndarray, resamples: int, block: int, seed: int) -> list[Resample]:
    """Per resample: carry-over, curves, penalties and pooling strength drawn as the national ridge draws
    them, and the same block-resampled weeks in every market."""
    rng = np.random.default_rng(seed)
    nat, n = problem.national, problem.data.n_train
    bounds = np.array(nat.bounds()).reshape(-1, 2)
    y = scaled_y(problem)
    dev_draws = ridge.stratified_draws(rng, devs[None, :], resamples)[:, 0]
    out = []
    for curves, penalty, d in zip(shapes.draws(rng, resamples), penalties.draws(rng, resamples), dev_draws):
        rows = ridge.block_indices(rng, n, block)
        draw = np.clip(rng.multivariate_normal(theta, cov), bounds[:, 0], bounds[:, 1]) if len(theta) else theta
        trs = problem.transforms(nat.transform(draw, shapes.pick(curves)))
        u, unit = problem.media(trs)
        lift = problem.lift_rows(trs, unit)
        if lift is not None:  # each test's own sampling error, as the weeks get theirs from the resampling
            lift = replace(lift, kpi=lift.kpi + rng.normal(0.0, lift.se))
        solved = solve(problem, u[rows], y[rows], problem.other[rows], penalty, DEV_ALPHA_GRID[d], lift)
        out.append(Resample(trs, solved, unit))
    return out


def panel_draws(problem: PanelProblem, fits: list[Resample]) -> PanelDraws:
    """The resamples as one KeptDraws per market (thinned alike, so draw s is resample s everywhere)."""
    keep = thin(np.arange(len(fits)))
    fits = [fits[i] for i in keep]
    data = problem.data
    first = fits[0].transforms[0]
    normalize = adstock(first.adstock_type, max_lag=first.max_lag).normalize
    markets = []
    for g in range(problem.n_markets):
        trs = [f.transforms[g] for f in fits]
        per_draw = lambda get: {k: np.stack([get(t)[k] for t in trs]) for k in get(trs[0])}  # noqa: E731
        markets.append(KeptDraws(
            model="ridge", channels=list(data.channels), dates=data.dates, spend=data.spend[:, g],
            n_train=data.n_train, baseline=np.stack([f.solved.baseline(problem.other)[:, g] for f in fits])
            * problem.y_sd[g], adstock_type=first.adstock_type, max_lag=first.max_lag, normalize=normalize,
            adstock_params=per_draw(MediaTransform.adstock_params), saturation_type=first.saturation_type,
            saturation_params=per_draw(MediaTransform.saturation_params),
            coef=np.stack([f.solved.r[g] * f.unit[g] for f in fits]), scale=np.stack([t.scale for t in trs]),
            gain=np.ones((len(fits), problem.n_channels))))
    return PanelDraws(list(data.markets), markets)


# ------------------------------------------------------------------------------------------------- fit


def fit_panel(data: PanelData, cfg: Config, quick: bool = False) -> Fitted:
    """Curve shapes and penalties from the summed series, carry-over from the panel's likelihood, pooling
    strength by CV across markets, then the stacked fit bootstrapped on blocks of weeks shared by all markets."""
    problem = build(data, cfg)
    nat = problem.national
    folds = ridge.cv_folds(data.n_train)
    budget = min(cfg.ridge.search_budget, ridge.QUICK_SEARCH) if quick else cfg.ridge.search_budget
    resamples = max(1, min(cfg.ridge.bootstrap, ridge.QUICK_BOOTSTRAP) if quick else cfg.ridge.bootstrap)
    block = cfg.ridge.block_length or ridge.default_block_length(data.n_train)
    _, national_theta, shapes, penalties, used, _ = ridge.fit_transforms(nat, folds, budget)
    u, _ = problem.media(problem.transforms(nat.transform(national_theta, shapes.best)))
    alpha_dev = DEV_ALPHA_GRID[int(dev_weights(problem, u[: data.n_train], penalties.best, folds).argmax())]
    objective = lambda t: problem.objective(t, penalties.best, alpha_dev, shapes.best)  # noqa: E731
    theta, more, converged = ridge.local_search(objective, national_theta, nat.bounds(), budget)
    u, _ = problem.media(problem.transforms(nat.transform(theta, shapes.best)))
    devs = dev_weights(problem, u[: data.n_train], penalties.best, folds)
    cov = ridge.laplace_cov(objective, theta, nat.bounds(), nat.prior_sd()) if len(theta) else np.zeros((0, 0))
    fits = bootstrap(problem, theta, cov, shapes, penalties, devs, resamples, block, cfg.seed)
    draws = panel_draws(problem, fits)
    alpha_dev = DEV_ALPHA_GRID[int(devs.argmax())]
    diagnostics = {
        "alpha": penalties.best.media, "alpha_baseline": penalties.best.base, "alpha_market": alpha_dev,
        "alpha_market_weights": {f"{a:g}": round(float(w), 3) for a, w in zip(DEV_ALPHA_GRID, devs)},
        "cv_mape": penalties.cv_mape, "cv_folds": len(folds), "markets": data.n_markets,
        "search_evaluations": used + more, "search_converged": converged, "search_dimensions": len(theta),
        "curve_weights": shapes.summary(data.channels), "bootstrap_resamples": resamples, "block_length": block,
        "positive_media": cfg.ridge.positive,
    }
    national_coef = np.stack([f.solved.beta for f in fits])
    return Fitted(engine=f"{ENGINE} ({cfg.adstock.type} adstock + {cfg.saturation.type} saturation)",
                  version=f"scipy {scipy.__version__}",
                  params=_params(problem, fits, theta), diagnostics=diagnostics, draws=None,
                  against_prior=against_prior(problem, u, penalties.best, alpha_dev),
                  at_zero=national_coef <= ZERO_COEF, panel_draws=draws)


def _params(problem: PanelProblem, fits: list[Resample], theta: np.ndarray) -> dict[str, dict[str, float]]:
    """Per channel: the shared carry-over, the national relative ROI and the markets' spread around it."""
    nat = problem.national
    carry = nat.fixed["carry"].copy()
    carry[nat.free("carry")] = theta
    r = np.stack([f.solved.r for f in fits])  # (S, G, C)
    beta = np.stack([f.solved.beta for f in fits])
    name = ridge.CARRY_NAME[problem.cfg.adstock.type]
    return {ch: {name: float(carry[c]), "relative_roi": float(beta[:, c].mean()),
                 "market_relative_roi_sd": float(r[:, :, c].mean(axis=0).std())}
            for c, ch in enumerate(problem.data.channels)}

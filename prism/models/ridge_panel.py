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
  national ROIs (median); searched on the panel, 21.9 %: better on 6 panels, worse on 5, among them 3 of
  the 4 longest (docs/concepts/panel-models.md).
- Intervals: a moving-block bootstrap drawing the same blocks of weeks in every market (markets share
  shocks in the same week), each resample with its own carry-over, curves and penalties as the national
  ridge draws them. Draw s of every market comes from resample s, so national sums keep the correlation.

The positive media coefficients are solved exactly: each market's baseline is profiled out (ridge closed
form via an SVD, as `ridge._profiled`), leaving one stacked non-negative least-squares problem in the
C + G·C media coefficients, solved from its normal matrix (built block by block, `normal_matrix`): a
Cholesky solve, or scipy's NNLS on the Cholesky factor when a coefficient would be negative.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import scipy

from prism.models import ridge
from prism.models.base import Fitted, ModelData, thin
from prism.models.draws import KeptDraws, PanelDraws
from prism.models.evidence import ZERO_COEF
from prism.models.panel import PanelData
from prism.models.ridge import MediaTransform, Penalties, Penalty, ShapeWeights
from prism.models.transforms import adstock
from prism.schemas import Config

ENGINE = "Ridge regression on the market panel (market baselines, media pooled across markets), moving-block bootstrap"
CLAMP_STEPS = 8  # active-set passes before NNLS (`_clamped`)
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
    bases: dict[float, tuple] = field(default_factory=dict, init=False, compare=False, repr=False)  # training_basis's

    def training_basis(self, alpha_base: float) -> tuple:
        """`baseline_basis` of the training weeks, kept per baseline penalty: a carry-over search solves on
        the same weeks dozens of times (40 SVDs a solve on 40 markets, 2 of its 11.5 ms)."""
        if alpha_base not in self.bases:
            self.bases[alpha_base] = baseline_basis(self.other[: self.data.n_train], alpha_base)
        return self.bases[alpha_base]

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

    def media(self, tr: MediaTransform) -> tuple[list[MediaTransform], np.ndarray, np.ndarray]:
        """(each market's transform, (T, G, C) columns u whose coefficients are relative ROIs, (G, C) KPI-unit
        coefficient per unit r) under `tr`'s shared carry-over and curves.

        A market's transform is `tr` with the market's own spend scale: its mean adstocked training spend.
        u_gtc = x_gtc · unit_gc / sd_g with unit_gc = roi_ref_g · spend_gc ÷ mean
        x_gc, so that a contribution r · unit · x summed over the training weeks ÷ the spend is r · roi_ref:
        r is the ROI relative to the market's KPI-per-spend ratio. Every market is adstocked once, in one pass
        over the (T, G·C) spend (a carry-over search does this hundreds of times)."""
        n, (T, G, C) = self.data.n_train, self.data.spend.shape
        stacked = _every_market(tr, G)
        adstocked = stacked.adstocked(self.data.spend.reshape(T, G * C))
        mean = adstocked[:n].mean(axis=0).reshape(G, C)
        scales = [np.where(m > 0, m, 1.0) for m in mean]  # a panel's config has no fixed scales (schemas.Config)
        x = stacked.saturate(adstocked / np.concatenate(scales)).reshape(T, G, C)
        x_mean = x[:n].mean(axis=0)
        unit = self.roi_ref[:, None] * self.spend_mean / np.where(x_mean > 0, x_mean, 1.0)
        unit = np.where(self.spend_mean > 0, unit, 0.0)
        return [replace(tr, scale=sc) for sc in scales], x * (unit / self.y_sd[:, None])[None], unit

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
        trs, u, unit = self.media(nat.transform(theta, shape))
        fit = solve(self, u[:n], scaled_y(self)[:n], self.other[:n], penalty, alpha_dev, self.lift_rows(trs, unit),
                    self.training_basis(penalty.base))
        rows = n * self.n_markets
        prior = 0.5 * np.sum(((theta - nat.prior_center()) / nat.prior_sd()) ** 2)
        return 0.5 * rows * math.log(max(fit.loss / rows, 1e-300)) + float(prior)


def _every_market(tr: MediaTransform, markets: int) -> MediaTransform:
    """`tr`'s carry-over and curves (shared by the markets) on the (T, G·C) spend of every market side by side."""
    tile = lambda v: np.tile(np.broadcast_to(v, tr.carry.shape), markets)  # noqa: E731
    return replace(tr, carry=tile(tr.carry), half=tile(tr.half), slope=tile(tr.slope), scale=tile(tr.scale))


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


def baseline_basis(other: np.ndarray, alpha_base: float) -> tuple:
    """(mu, sd, (U, s, Vᵀ, diag M^½) of every market, stacked on a leading market axis): the standardised baseline
    columns' SVDs, which do not depend on the media (an objective on fixed weeks keeps them,
    `PanelProblem.training_basis`). One batched SVD, not one call per market: a bootstrap resample or a CV fold
    needs all of them again (40 a solve on 40 markets)."""
    mu, sd = other.mean(axis=0), other.std(axis=0)
    sd = np.where(sd > 1e-12, sd, 1.0)
    u, s, vt = np.linalg.svd(((other - mu) / sd).transpose(1, 0, 2), full_matrices=False)  # (G, n, q) per market
    return mu, sd, (u, s, vt, 1.0 - np.sqrt(alpha_base / (s ** 2 + alpha_base)))


def _profile(u: np.ndarray, y: np.ndarray, other: np.ndarray, alpha_base: float, basis: tuple | None = None) -> tuple:
    """Per market: media columns and KPI with the ridge-penalised baseline profiled out (M^½ [u, y]),
    plus what recovering the baseline coefficients needs."""
    mu, sd, (uu, s, vt, shrink) = basis or baseline_basis(other, alpha_base)
    um, ym = u - u.mean(axis=0), y - y.mean(axis=0)
    both = np.concatenate([um, ym[:, :, None]], axis=2).transpose(1, 0, 2)  # (G, n, C + 1)
    both = both - uu @ (shrink[:, :, None] * (uu.transpose(0, 2, 1) @ both))
    return both[:, :, :-1].transpose(1, 0, 2), both[:, :, -1].T, (uu, s, vt), mu, sd


def _pooled_level(zm: np.ndarray, ym: np.ndarray) -> float:
    """The pooled relative ROI of all media in all markets (the national ridge's centre)."""
    pooled = zm.sum(axis=2).ravel()
    spread = float(pooled @ pooled)
    return max(float(pooled @ ym.ravel()) / spread, 0.0) if spread > 0 else 0.0


def solve(problem: PanelProblem, u: np.ndarray, y: np.ndarray, other: np.ndarray, penalty: Penalty,
          alpha_dev: float, lift: ridge.LiftRows | None = None, basis: tuple | None = None) -> Solved:
    """The stacked ridge on rows (weeks) of u (n, G, C), y (n, G) scaled, baseline columns (n, G, q); with
    `lift`, each lift test is one more row weighted by σ ÷ se (σ: the residual sd without the tests), so it
    counts as one more Gaussian likelihood term beside the weeks (as in the national ridge). `basis`: these
    rows' `baseline_basis` at penalty.base, when the caller keeps it."""
    n, G, C = u.shape
    zm, ym, svds, mu, sd = _profile(u, y, other, penalty.base, basis)
    centre = np.full(C, _pooled_level(zm, ym))
    if penalty.centre is not None:  # an expected ROI (knowledge layer), in the national unit
        given = ~np.isnan(penalty.centre)
        centre[given] = penalty.centre[given] / float(np.average(problem.roi_ref, weights=problem.data.sizes))
    ata = normal_matrix(zm, penalty.media, alpha_dev)
    atb = np.concatenate([penalty.media * centre, np.einsum("tgc,tg->gc", zm, ym).ravel()])
    coef = _least_squares(ata, atb, problem.cfg.ridge.positive)
    market_rss = lambda x: float(np.sum((ym - np.einsum("tgc,gc->tg", zm, x[C:].reshape(G, C))) ** 2))  # noqa: E731
    lift_rss = 0.0
    if lift is not None:
        w = math.sqrt(market_rss(coef) / (n * G)) / lift.se
        rows = np.hstack([np.zeros((len(w), C)), w[:, None] * lift.a])
        coef = _least_squares(ata + rows.T @ rows, atb + rows.T @ (w * lift.kpi), problem.cfg.ridge.positive)
        lift_rss = float(np.sum((rows @ coef - w * lift.kpi) ** 2))
    beta, r = coef[:C], coef[C:].reshape(G, C)
    loss = (market_rss(coef) + alpha_dev * float(np.sum((r - beta) ** 2))
            + penalty.media * float(np.sum((beta - centre) ** 2)) + lift_rss)
    rest = (y - y.mean(axis=0)) - np.einsum("tgc,gc->tg", u - u.mean(axis=0), r)  # KPI left to the baseline
    uu, s, vt = svds
    gamma = np.einsum("gik,gi->gk", vt, s / (s ** 2 + penalty.base) * np.einsum("gti,tg->gi", uu, rest))
    intercept = y.mean(axis=0) - np.einsum("gc,gc->g", u.mean(axis=0), r)  # the baseline columns are centred
    return Solved(r, beta, intercept, gamma, mu, sd, loss)


def normal_matrix(zm: np.ndarray, alpha_media: float, alpha_dev: float) -> np.ndarray:
    """aᵀa of the stacked rows on [β (C), r (G·C)]: each market's profiled weeks on its own C coefficients, a
    deviation row √α_dev (r_gc − β_c) per market coefficient and a media row √α β_c per national one.

    Built block by block, not from the rows: a market's weeks touch only its own columns, so aᵀa is the G
    blocks zm_gᵀ zm_g (+ α_dev) on the diagonal and the penalties' bands. From the rows (40 markets × 93
    weeks: 3,966 × 246) the product alone took 5 ms of a 21 ms panel objective."""
    n, G, C = zm.shape
    ata = np.zeros((C + G * C, C + G * C))
    ata[:C, :C] = (alpha_media + G * alpha_dev) * np.eye(C)
    blocks = np.einsum("tgc,tgd->gcd", zm, zm) + alpha_dev * np.eye(C)
    for g in range(G):
        own = slice(C + g * C, C + (g + 1) * C)
        ata[own, own] = blocks[g]
        ata[:C, own] = ata[own, :C] = -alpha_dev * np.eye(C)
    return ata


def _least_squares(ata: np.ndarray, atb: np.ndarray, positive: bool) -> np.ndarray:
    """argmin ‖a x − b‖ (x ≥ 0 with `positive`) from aᵀa and aᵀb.

    Every column has a penalty row (the media and deviation penalties are > 0; a zero one would make the
    Cholesky factorisation raise), so aᵀa is positive definite and the problem strictly convex: when the
    unconstrained solution has no negative coefficient it is the constrained one too. Otherwise the few
    negative ones are clamped (`_clamped`), and NNLS on the Cholesky factor R is the fallback: with it,
    ‖a x − b‖² = ‖R x − R⁻ᵀ aᵀ b‖² + a constant, the same x as on the rows (within 4·10⁻¹⁵ on a 40-market
    panel, whose penalty rows keep aᵀa's condition number near 40)."""
    from scipy.linalg import cholesky, solve_triangular  # here, as in ridge.py: importing stays light
    from scipy.optimize import nnls

    r = cholesky(ata)
    d = solve_triangular(r, atb, trans="T")
    x = solve_triangular(r, d)
    if not positive or (x >= 0).all():
        return x
    clamped = _clamped(ata, atb, x >= 0)
    return clamped if clamped is not None else nnls(r, d, maxiter=50 * len(x))[0]


def _clamped(ata: np.ndarray, atb: np.ndarray, free: np.ndarray) -> np.ndarray | None:
    """The non-negative optimum by an active set started where the unconstrained solution is ≥ 0: solve on the
    free coefficients, drop those that turn negative, add back a zero one whose gradient still pulls it up;
    returned only once the optimality (KKT) conditions hold, so it is the optimum NNLS finds, not an
    approximation (None after CLAMP_STEPS: NNLS then). A panel's negative coefficients are a few market
    deviations, so this is a solve or two on ~240 columns instead of NNLS's one column at a time (2 ms)."""
    from scipy.linalg import cho_factor, cho_solve

    tol = 1e-10 * float(np.abs(atb).max() or 1.0)
    free = free.copy()
    for _ in range(CLAMP_STEPS):
        idx = np.flatnonzero(free)
        part = cho_solve(cho_factor(ata[np.ix_(idx, idx)]), atb[idx]) if len(idx) else idx.astype(float)
        if (part < 0).any():
            free[idx[part < 0]] = False
            continue
        x = np.zeros_like(atb)
        x[idx] = part
        pull = ~free & (ata @ x - atb < -tol)  # a zero coefficient the objective would raise
        if not pull.any():
            return x
        free |= pull
    return None


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
    var = np.diag(np.linalg.pinv(normal_matrix(zm, penalty.media, alpha_dev)))[: problem.n_channels]
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
        trs, u, unit = problem.media(nat.transform(draw, shapes.pick(curves)))
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
    baselines = np.stack([f.solved.baseline(problem.other) for f in fits]) * problem.y_sd  # (S, T, G), once per draw
    markets = []
    for g in range(problem.n_markets):
        trs = [f.transforms[g] for f in fits]
        per_draw = lambda get: {k: np.stack([get(t)[k] for t in trs]) for k in get(trs[0])}  # noqa: E731
        markets.append(KeptDraws(
            model="ridge", channels=list(data.channels), dates=data.dates, spend=data.spend[:, g],
            n_train=data.n_train, baseline=baselines[:, :, g], adstock_type=first.adstock_type,
            max_lag=first.max_lag, normalize=normalize,
            adstock_params=per_draw(MediaTransform.adstock_params), saturation_type=first.saturation_type,
            saturation_params=per_draw(MediaTransform.saturation_params),
            coef=np.stack([f.solved.r[g] * f.unit[g] for f in fits]), scale=np.stack([t.scale for t in trs]),
            gain=np.ones((len(fits), problem.n_channels))))
    return PanelDraws(list(data.markets), markets)


# ------------------------------------------------------------------------------------------------- fit


def search_carry(problem: PanelProblem, folds: list, budget: int
                 ) -> tuple[np.ndarray, ShapeWeights, Penalties, float, int, bool]:
    """(θ, curve shapes, penalties, the pooling strength θ was searched at, evaluations, converged): shapes and
    penalties from the summed series (`ridge.fit_transforms`), then θ searched again from its optimum on the
    panel's own likelihood, at the pooling strength the markets' held-out weeks favour there."""
    nat, n = problem.national, problem.data.n_train
    _, start, shapes, penalties, used, summed_converged = ridge.fit_transforms(nat, folds, budget)
    u = problem.media(nat.transform(start, shapes.best))[1]
    alpha_dev = DEV_ALPHA_GRID[int(dev_weights(problem, u[:n], penalties.best, folds).argmax())]
    theta, more, converged = ridge.local_search(lambda t: problem.objective(t, penalties.best, alpha_dev, shapes.best),
                                                start, nat.bounds(), budget)
    return theta, shapes, penalties, alpha_dev, used + more, summed_converged and converged


def fit_panel(data: PanelData, cfg: Config, quick: bool = False) -> Fitted:
    """Curve shapes and penalties from the summed series, carry-over from the panel's likelihood, pooling
    strength by CV across markets, then the stacked fit bootstrapped on blocks of weeks shared by all markets."""
    problem = build(data, cfg)
    nat = problem.national
    folds = ridge.cv_folds(data.n_train)
    budget = min(cfg.ridge.search_budget, ridge.QUICK_SEARCH) if quick else cfg.ridge.search_budget
    resamples = max(1, min(cfg.ridge.bootstrap, ridge.QUICK_BOOTSTRAP) if quick else cfg.ridge.bootstrap)
    block = cfg.ridge.block_length or ridge.default_block_length(data.n_train)
    theta, shapes, penalties, _, evaluations, converged = search_carry(problem, folds, budget)
    u = problem.media(nat.transform(theta, shapes.best))[1]
    devs = dev_weights(problem, u[: data.n_train], penalties.best, folds)
    # The carry-over's draws take the summed series' curvature at θ, not the panel objective's: that one counts
    # every market-week as independent, while the markets share their weeks' shocks (the bootstrap resamples the
    # same weeks in all of them), so it would draw the carry-over about G times too narrow in variance.
    summed = lambda t: nat.objective(t, penalties.best, shapes.best)  # noqa: E731
    cov = ridge.laplace_cov(summed, theta, nat.bounds(), nat.prior_sd()) if len(theta) else np.zeros((0, 0))
    fits = bootstrap(problem, theta, cov, shapes, penalties, devs, resamples, block, cfg.seed)
    draws = panel_draws(problem, fits)
    alpha_dev = DEV_ALPHA_GRID[int(devs.argmax())]
    diagnostics = {
        "alpha": penalties.best.media, "alpha_baseline": penalties.best.base, "alpha_market": alpha_dev,
        "alpha_market_weights": {f"{a:g}": round(float(w), 3) for a, w in zip(DEV_ALPHA_GRID, devs)},
        "cv_mape": penalties.cv_mape, "cv_folds": len(folds), "markets": data.n_markets,
        "search_evaluations": evaluations, "search_converged": converged, "search_dimensions": len(theta),
        "curve_weights": shapes.summary(data.channels), "bootstrap_resamples": resamples, "block_length": block,
        "positive_media": cfg.ridge.positive,
    }
    national_coef = np.stack([f.solved.beta for f in fits])
    return Fitted(engine=f"{ENGINE} ({cfg.adstock.type} adstock + {cfg.saturation.type} saturation)",
                  version=f"scipy {scipy.__version__}",
                  params=_params(problem, fits, theta), diagnostics=diagnostics, draws=None,
                  against_prior=against_prior(problem, u, penalties.best, alpha_dev),
                  at_zero=national_coef <= ZERO_COEF, panel_draws=draws)


def quick_fit(data: ModelData | PanelData, cfg: Config) -> Fitted:
    """The fast estimator refitted in quick mode on either shape (the audit's, the test plans' and the lift
    tests' refits): the panel ridge on a panel, the national ridge on a national series."""
    return fit_panel(data, cfg, quick=True) if isinstance(data, PanelData) else ridge.fit(data, cfg, quick=True)


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

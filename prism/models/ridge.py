"""Ridge MMM: adstocked, saturated spend + controls + linear trend + yearly Fourier terms.

Why it is built this way (measured on the project's simulator, see the tests):
- ROI depends on how the response curve extrapolates to zero spend, which the weeks barely pin down:
  on the 208 × 5 simulator a concave curve with a low baseline and an S-shaped one with a high baseline
  fit within 1–2 % of each other while their ROIs differ 2×. Searching each channel's half-saturation
  and Hill slope by penalised likelihood (an earlier version) fitted noise in that direction and put
  the ROIs a median 28 % too high (44 % error after the bootstrap). So only the carry-over is searched
  by penalised likelihood (weak prior: decay ≈ 0.4); the curve is not chosen but averaged: each
  channel's candidate (half, slope) curves on a fixed grid are weighted by their out-of-fold likelihood
  under a log-normal prior around half 1 × mean adstocked spend, slope 1.5, and the bootstrap draws
  curves by those weights (`shape_weights`). Median error 44 % → about 21 %, unbiased.
- Two penalties, media and baseline (controls, trend, seasonality), are chosen together by
  rolling-origin cross-validation inside the training weeks, before and after the transform search, and
  that CV MAPE is the tuning objective; the locked holdout never steers anything. With one shared
  penalty, dozens of 0/1 dummy controls set the shrinkage of the media.
- Media coefficients are penalised in ROI relative to Σ KPI ÷ Σ spend, towards the pooled ROI of all
  media (fitted with the same baseline), not towards zero. Penalising plain ROI units (an earlier
  version) made the penalty depend on the currency: on a retailer's 209 weeks × 10 channels × 50
  controls with ROIs in the tens, CV's penalty put every channel at ≈ 0. Penalising ROI at all matters
  too: a channel with 1 % of spend can otherwise explain a KPI spike at an ROI of 50+.
- The ridge problem is solved exactly: the baseline coefficients have a closed form given the media
  ones (profiled out through an SVD), and scipy's NNLS solves the remaining media-only bounded problem.
  It returns the same coefficients as scikit-learn's `Ridge(positive=True)` on the same columns (a
  test checks this) orders of magnitude faster, which is what makes the search and the bootstrap take
  seconds with 50 controls.
- Intervals: a moving-block bootstrap of the training weeks for the coefficients, each resample with
  its own carry-over drawn from the Laplace approximation around the fitted optimum and its own curves
  drawn by their out-of-fold weights. Holding the transforms fixed ignores their (large) uncertainty and
  under-covers the true ROI.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Callable

import numpy as np
import pandas as pd
import scipy

from prism.errors import InputError
from prism.models.base import Fitted, ModelData, mape, thin
from prism.models.draws import KeptDraws
from prism.models.evidence import ZERO_COEF, contraction
from prism.models.scales import fixed_channel_scale
from prism.models.transforms import adstock, saturation
from prism.models.warm import REFERENCE_CARRY_KEY, RIDGE_CARRY, WARM_KEY, arrays as warm_arrays, note as warm_note
from prism.schemas import Config, WarmStart

CALIBRATES = True  # lift tests enter as weighted rows (LiftRows)
ENGINE = "Ridge regression (exact NNLS solve, equal to scikit-learn Ridge(positive=True)), moving-block bootstrap"

CARRY_NAME = {"geometric": "decay", "delayed": "decay", "weibull": "scale"}
DECAY_BOUNDS = (0.0, 0.9)
DECAY_PRIOR = (0.4, 0.25)  # mean, sd
INFORMED_DECAY_SD = 0.15  # around a decay benchmark: the spread of the Bayesian models' Beta prior (a + b = 10)
WEIBULL_SHAPE = 2.0  # peaked lag shape; the carry-over parameter is the Weibull scale in weeks
SHAPE_HALVES = (0.5, 0.7, 1.0, 1.4, 2.0, 2.8)  # × mean adstocked training spend
SHAPE_SLOPES = (1.0, 1.5, 2.0, 3.0)  # from concave to S-shaped
REFERENCE_SHAPE = (1.0, 1.5)  # (half, slope) at which the carry-over is searched
HALF_PRIOR_SD = math.log(2.0)  # log-normal prior of the curve candidates around REFERENCE_SHAPE
SLOPE_PRIOR_SD = math.log(1.6)
ALPHA_GRID = tuple(10.0 ** np.linspace(-2.0, 1.0, 7))  # media, relative ROI units (_roi_scale); averaged
# over by out-of-fold weight (choose_penalty), so the span is the prior on shrinkage. Up to 1: the best
# single penalty sat at 1 on 5 of 8 simulator seeds. Up to 100: retail-like coverage fell to 77 % and a
# collinear pair's intervals narrowed (strong shrinkage pins channels the data cannot split at the pooled
# ROI); unaveraged, CV once chose 1000 on the retail-like case and put every channel there
BASE_ALPHA_GRID = tuple(10.0 ** np.linspace(-3.0, 1.0, 5))  # baseline columns, standardised
LN3 = math.log(3.0)  # the logistic curve reaches half its maximum at ln(3) / lam
YEAR_DAYS = 365.25

CV_FOLDS = 4
CV_TEST_SHARE = 0.10
MIN_CV_TEST = 4
MIN_CV_TRAIN_SHARE = 0.5
FD_STEP = 1e-4
WARM_STEP = 0.05  # a warm-started search's first trial step in θ (local_search)
HESS_STEP = 1e-3

QUICK_BOOTSTRAP = 50
QUICK_SEARCH = 20


# ------------------------------------------------------------------------------------------ transforms


@dataclass(frozen=True)
class MediaTransform:
    """Adstock → divide by the mean adstocked training spend → saturation, per channel.

    After `prism refresh` the divisor is the approved fit's (config `scales.ridge`), not this fit's.

    `carry` is the decay (geometric, delayed) or the Weibull scale; `half` is in units of `scale`, the
    mean adstocked training spend, fixed once from the training weeks so that any spend matrix
    (counterfactuals, response curves) goes through the same curve.
    """

    adstock_type: str
    max_lag: int
    saturation_type: str
    carry: np.ndarray
    half: np.ndarray
    slope: np.ndarray
    scale: np.ndarray

    @classmethod
    def from_training(cls, cfg: Config, spend: np.ndarray, n_train: int, carry: np.ndarray,
                      half: np.ndarray, slope: np.ndarray) -> "MediaTransform":
        shell = cls(cfg.adstock.type, cfg.adstock.max_lag, cfg.saturation.type, carry, half, slope,
                    np.ones(spend.shape[1]))
        mean = shell.adstocked(spend)[:n_train].mean(axis=0)
        scale = np.where(mean > 0, mean, 1.0)
        return replace(shell, scale=fixed_channel_scale(cfg, "ridge", scale))

    def adstocked(self, spend: np.ndarray) -> np.ndarray:
        fn = adstock(self.adstock_type, max_lag=self.max_lag)
        if self.adstock_type == "weibull":
            return fn(spend, WEIBULL_SHAPE, self.carry)
        return fn(spend, self.carry)

    def saturate(self, x: np.ndarray) -> np.ndarray:
        """Saturation of adstocked spend already divided by `scale`."""
        if self.saturation_type == "logistic":
            return saturation("logistic")(x, LN3 / self.half)
        return saturation("hill")(x, self.half, self.slope)

    def __call__(self, spend: np.ndarray) -> np.ndarray:
        return self.saturate(self.adstocked(spend) / self.scale)

    def adstock_params(self) -> dict[str, np.ndarray]:
        """(C,) arguments of the adstock class by name, as `adstocked` passes them."""
        if self.adstock_type == "weibull":
            return {"shape": np.full(len(self.carry), WEIBULL_SHAPE), "scale": self.carry}
        if self.adstock_type == "delayed":
            return {"decay": self.carry, "theta": np.ones(len(self.carry))}  # DelayedAdstock's default peak
        return {"decay": self.carry}

    def saturation_params(self) -> dict[str, np.ndarray]:
        """(C,) arguments of the saturation class by name, as `saturate` passes them."""
        if self.saturation_type == "logistic":
            return {"lam": LN3 / self.half}
        return {"half": self.half, "slope": self.slope}


def carry_bounds(cfg: Config) -> tuple[float, float]:
    return (0.5, float(cfg.adstock.max_lag)) if cfg.adstock.type == "weibull" else DECAY_BOUNDS


def carry_prior(cfg: Config) -> tuple[float, float]:
    if cfg.adstock.type == "weibull":
        lo, hi = carry_bounds(cfg)
        return (lo + hi) / 2.0, (hi - lo) / 4.0
    return DECAY_PRIOR


def baseline_features(dates: pd.DatetimeIndex, n_train: int, controls: np.ndarray, cfg: Config) -> np.ndarray:
    """(T, q) non-media columns: controls (events appended to them), linear trend, yearly sin/cos pairs."""
    t_days = np.asarray((dates - dates[0]).days, dtype=float)
    cols = [controls]
    if cfg.trend:
        cols.append((t_days / (7.0 * n_train))[:, None])
    for k in range(1, cfg.fourier_order + 1):
        angle = 2.0 * np.pi * k * t_days / YEAR_DAYS
        cols.append(np.column_stack([np.sin(angle), np.cos(angle)]))
    return np.column_stack(cols)


# ----------------------------------------------------------------------------------------------- solver


def _roi_scale(x_mean: np.ndarray, y: np.ndarray, spend_mean: np.ndarray) -> np.ndarray:
    """Column scales that make a media coefficient (ROI ÷ the KPI-per-spend ratio) × sd(KPI).

    Dividing the ROI by Σ KPI ÷ Σ spend (the ROI at which media would explain the whole KPI) makes the
    penalty free of currency units: in plain ROI units the same alpha shrank data whose Σ KPI ÷ Σ spend
    is near 50 (ROIs in the tens) about 100× harder than the simulator's (near 5), and on a retailer's
    data CV's penalty zeroed every channel.
    """
    spend = np.where(spend_mean > 0, spend_mean, 1.0)
    return y.std() * np.maximum(x_mean, 1e-12) / (_roi_ref(y, spend_mean) * spend)


def _roi_ref(y: np.ndarray, spend_mean: np.ndarray) -> float:
    """Σ KPI ÷ Σ spend: the ROI at which media would explain the whole KPI (the unit of relative ROI)."""
    return max(float(np.mean(np.abs(y))), 1e-12) / np.where(spend_mean > 0, spend_mean, 1.0).sum()


def _ridge_half(z: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """SVD of the baseline columns and the diagonal of M^½, where r'Mr is the ridge residual of r on them.

    A search solves on the same baseline columns hundreds of times (only the media change), so the last
    few are kept, keyed by their bytes: the SVD was a fifth of a quick refit's national solves."""
    z = np.ascontiguousarray(z, dtype=float)  # the key's bytes are read back as float64
    return _ridge_half_of(z.tobytes(), z.shape, alpha)


@lru_cache(maxsize=32)
def _ridge_half_of(data: bytes, shape: tuple[int, ...], alpha: float) -> tuple[np.ndarray, ...]:
    u, s, vt = np.linalg.svd(np.frombuffer(data).reshape(shape), full_matrices=False)
    out = (u, s, vt, 1.0 - np.sqrt(alpha / (s ** 2 + alpha)))
    for a in out:
        a.flags.writeable = False  # shared by every caller of the same columns
    return out


@dataclass(frozen=True)
class LiftRows:
    """Lift tests as extra least-squares rows: `a` @ media coefficients ≈ `kpi`, each weighted by 1 / `se`."""

    a: np.ndarray  # (K, C) Σ over the window of transformed spend minus its counterfactual, per channel
    kpi: np.ndarray
    se: np.ndarray


def _with_lifts(zm: np.ndarray, ym: np.ndarray, bm: np.ndarray, lift: LiftRows, sd: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """[zm; lift rows], [ym; lift targets]: each test weighted by σ / se (σ: the residual sd without tests).

    Rows scaled so a test's squared error counts as (model − test)² / se² noise variances, i.e. the test
    enters as one more Gaussian likelihood term beside the weeks.
    """
    r = ym - zm @ bm
    w = math.sqrt(float(r @ r) / len(r)) / lift.se
    return np.vstack([zm, w[:, None] * lift.a / sd]), np.concatenate([ym, w * lift.kpi])


def _solve(x: np.ndarray, y: np.ndarray, alpha: float, n_positive: int, spend_mean: np.ndarray | None,
           alpha_base: float | None, roi_centre: np.ndarray | None = None, lift: LiftRows | None = None,
           media_mean: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """([intercept, coefs...], penalty) of the ridge problem `solve_ridge` describes (+ lift-test rows)."""
    alpha_base = alpha if alpha_base is None else alpha_base
    m = n_positive if spend_mean is None else len(spend_mean)
    z, yc, mu, sd, (u, s, vt), zm, ym = _profiled(x, y, m, alpha_base, spend_mean, media_mean)
    centre = _centre(zm, ym, y, spend_mean, roi_centre)
    bm = _media(zm, ym, alpha, centre, n_positive)
    extra = 0.0
    if lift is not None:
        za, ya = _with_lifts(zm, ym, bm, lift, sd[:m])
        bm = _media(za, ya, alpha, centre, n_positive)
        extra = float(np.sum((za[len(ym):] @ bm - ya[len(ym):]) ** 2))
    bb = vt.T @ (s / (s ** 2 + alpha_base) * (u.T @ (yc - z[:, :m] @ bm)))
    b = np.concatenate([bm, bb])
    beta = b / sd
    penalty = alpha * float(np.sum((bm - centre) ** 2)) + alpha_base * float(bb @ bb) + extra
    return np.concatenate([[y.mean() - mu @ beta], beta]), penalty


def _centre(zm: np.ndarray, ym: np.ndarray, y: np.ndarray, spend_mean: np.ndarray | None,
            roi_centre: np.ndarray | None) -> np.ndarray:
    """(m,) what the media penalty pulls each standardised coefficient towards: the pooled ROI of all media
    (with `spend_mean`; else 0), or a channel's expected ROI (knowledge layer) where `roi_centre` gives one."""
    pooled = zm.sum(axis=1)
    spread = float(pooled @ pooled)
    level = max(float(pooled @ ym) / spread, 0.0) if spend_mean is not None and spread > 0 else 0.0
    centre = np.full(zm.shape[1], level)
    if spend_mean is not None and roi_centre is not None:  # an expected ROI (knowledge layer) replaces the pool
        given = ~np.isnan(roi_centre)
        centre[given] = roi_centre[given] / _roi_ref(y, spend_mean) * y.std()
    return centre


def _profiled(x: np.ndarray, y: np.ndarray, m: int, alpha_base: float, spend_mean: np.ndarray | None,
              media_mean: np.ndarray | None = None) -> tuple:
    """(z, yc, mu, sd, svd, zm, ym): standardised columns (media in relative ROI units with `spend_mean`),
    and the media columns and KPI with the ridge-penalised baseline columns profiled out (M^½ [media, y])."""
    mu, sd = x.mean(axis=0), x.std(axis=0)
    if spend_mean is not None:
        sd[:m] = _roi_scale(mu[:m] if media_mean is None else media_mean, y, spend_mean)
    sd = np.where(sd > 1e-12, sd, 1.0)
    z, yc = (x - mu) / sd, y - y.mean()
    u, s, vt, shrink = _ridge_half(z[:, m:], alpha_base)
    both = np.column_stack([z[:, :m], yc])
    both = both - u @ (shrink[:, None] * (u.T @ both))
    return z, yc, mu, sd, (u, s, vt), both[:, :m], both[:, m]


def _media(zm: np.ndarray, ym: np.ndarray, alpha: float, centre: np.ndarray, n_positive: int) -> np.ndarray:
    """Standardised media coefficients: ridge towards `centre`, non-negative with `n_positive`.

    NNLS even where the ridge optimum has no negative coefficient, though a plain solve gives the same optimum
    up to rounding: the carry-over search's finite-difference steps turn rounding of 10⁻¹² into a different
    stopping point now and then. Tried, the shortcut moved ridge's ROIs on 8 of the 32 calibration datasets
    (one by 17 %) and one channel into `high` on a held-out half, so it was withdrawn to keep the shipped
    label's calibration reproducible (docs/concepts/panel-models.md, benchmarks)."""
    m = zm.shape[1]
    if n_positive:
        from scipy.optimize import nnls  # here, like `minimize`: importing ridge (audit, test plans, `prism ask`) stays light

        a = np.vstack([zm, math.sqrt(alpha) * np.eye(m)])
        return nnls(a, np.concatenate([ym, math.sqrt(alpha) * centre]), maxiter=50 * m)[0]
    return np.linalg.solve(zm.T @ zm + alpha * np.eye(m), zm.T @ ym + alpha * centre)


def solve_ridge(x: np.ndarray, y: np.ndarray, alpha: float, n_positive: int,
                spend_mean: np.ndarray | None = None, alpha_base: float | None = None,
                roi_centre: np.ndarray | None = None, lift: LiftRows | None = None,
                media_mean: np.ndarray | None = None) -> np.ndarray:
    """[intercept, coefs...] of ridge with an unpenalised intercept; the first `n_positive` coefs are ≥ 0.

    Columns are penalised on the standardised scale: the first `n_positive` (or, with `spend_mean`, the
    media columns, which come first) by `alpha`, the rest (baseline) by `alpha_base` (default `alpha`).
    With `spend_mean` (mean weekly training spend per channel) media are penalised in relative ROI
    units (`_roi_scale`) towards a common centre, the pooled ROI of all media fitted with the same
    baseline: a channel with little spend cannot absorb KPI spikes at ROIs of 50+, and a channel the
    data barely inform lands near what media earn on average instead of at zero. With `roi_centre`
    (expected ROI per channel, NaN = none; the knowledge layer's ranges) a channel is pulled towards its
    expected ROI instead of the pool. `media_mean` fixes the media columns' mean for that scale (a bootstrap
    passes the full training weeks' mean: a resample of weeks in which a flighted channel never spent
    would otherwise put its scale at zero and its coefficient, measured on all weeks, at millions).
    The baseline coefficients are profiled out exactly (ridge on them has a closed form, via an SVD), so
    NNLS sees only the media columns; the solution is that of scikit-learn's Ridge(positive=True) on the
    same columns with free coefficients as a ± pair (a test checks this).
    With `lift`, each lift test is one more weighted row on the media coefficients (`_with_lifts`).
    """
    return _solve(x, y, alpha, n_positive, spend_mean, alpha_base, roi_centre, lift, media_mean)[0]


def predict_rows(x: np.ndarray, coef: np.ndarray) -> np.ndarray:
    return coef[0] + x @ coef[1:]


def cv_folds(n_train: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Rolling-origin folds inside the training weeks: train on the weeks before, test on the next block."""
    test = max(MIN_CV_TEST, round(CV_TEST_SHARE * n_train))
    splits = min(CV_FOLDS, (n_train - math.ceil(MIN_CV_TRAIN_SHARE * n_train)) // test)
    if splits < 1:
        raise InputError(f"{n_train} training weeks are too few for rolling-origin cross-validation")
    weeks = np.arange(n_train)  # scikit-learn's TimeSeriesSplit(splits, test_size=test), without importing it
    return [(weeks[:start], weeks[start:start + test]) for start in range(n_train - splits * test, n_train, test)]


@dataclass(frozen=True)
class Penalty:
    """Ridge penalties: media (relative ROI units, towards the pooled ROI) and baseline columns."""

    media: float
    base: float
    centre: np.ndarray | None = None  # expected ROI per channel (NaN: the pooled ROI)


def cv_score(x: np.ndarray, y: np.ndarray, folds: list[tuple[np.ndarray, np.ndarray]], penalty: Penalty,
             n_positive: int, spend_mean: np.ndarray | None) -> tuple[float, float]:
    """(mean squared error, MAPE %) of the out-of-fold predictions."""
    actual, pred = [], []
    for tr_idx, te_idx in folds:
        coef = solve_ridge(x[tr_idx], y[tr_idx], penalty.media, n_positive, spend_mean, penalty.base,
                           penalty.centre)
        actual.append(y[te_idx])
        pred.append(predict_rows(x[te_idx], coef))
    a, p = np.concatenate(actual), np.concatenate(pred)
    return float(np.mean((a - p) ** 2)), mape(a, p)


# ---------------------------------------------------------------------------------------------- problem


@dataclass
class Problem:
    """The data, the fixed settings and the free carry-over parameters θ (curve shapes: `shapes`)."""

    cfg: Config
    data: ModelData
    other: np.ndarray
    fixed: dict[str, np.ndarray]  # carry / half / slope per channel, NaN = learned

    @property
    def n_channels(self) -> int:
        return len(self.data.channels)

    @property
    def n_positive(self) -> int:
        return self.n_channels if self.cfg.ridge.positive else 0

    @property
    def spend_mean(self) -> np.ndarray:
        """Mean weekly training spend per channel: media coefficients are penalised in ROI units."""
        return self.data.spend[: self.data.n_train].mean(axis=0)

    @property
    def roi_centre(self) -> np.ndarray:
        """Midpoint of each channel's expected ROI range (config or knowledge layer), NaN where none."""
        pri = self.cfg.roi_priors
        return np.array([(pri[ch].low + pri[ch].high) / 2.0 if ch in pri else np.nan for ch in self.data.channels])

    def carry_prior(self) -> tuple[np.ndarray, np.ndarray]:
        """(centre, sd) of each channel's carry-over prior: its decay benchmark where one is set, else the default."""
        centre, sd = carry_prior(self.cfg)
        bench = self.cfg.adstock.decay_priors if self.cfg.adstock.type != "weibull" else {}
        lo, hi = carry_bounds(self.cfg)
        mean = np.array([min(max(bench.get(ch, centre), lo), hi) for ch in self.data.channels])
        return mean, np.array([INFORMED_DECAY_SD if ch in bench else sd for ch in self.data.channels])

    def free(self, name: str) -> np.ndarray:
        return np.flatnonzero(np.isnan(self.fixed[name]))

    def bounds(self) -> list[tuple[float, float]]:
        return [carry_bounds(self.cfg)] * len(self.free("carry"))

    def prior_center(self) -> np.ndarray:
        return self.carry_prior()[0][self.free("carry")]

    def prior_sd(self) -> np.ndarray:
        return self.carry_prior()[1][self.free("carry")]

    def shapes(self) -> list[tuple[float, float]]:
        """Candidate (half, slope) curves shared by the channels whose half / slope the config leaves free."""
        halves = SHAPE_HALVES if len(self.free("half")) else (REFERENCE_SHAPE[0],)
        slopes = SHAPE_SLOPES if len(self.free("slope")) else (REFERENCE_SHAPE[1],)
        return [(h, s) for h in halves for s in slopes]

    def transform(self, theta: np.ndarray, shape: tuple[np.ndarray | float, np.ndarray | float] = REFERENCE_SHAPE
                  ) -> MediaTransform:
        """Carry-over θ of the free channels; (half, slope), per channel or shared, for the free curves."""
        carry = self.fixed["carry"].copy()
        carry[self.free("carry")] = theta
        half, slope = (np.where(np.isnan(self.fixed[k]), v, self.fixed[k]) for k, v in zip(("half", "slope"), shape))
        return MediaTransform.from_training(self.cfg, self.data.spend, self.data.n_train, carry, half, slope)

    def lift_rows(self, tr: MediaTransform) -> LiftRows | None:
        """The data's lift tests as rows on the media coefficients under transform `tr` (None without tests)."""
        tests = self.data.lifts
        if not tests:
            return None
        full = tr(self.data.spend)
        a = np.zeros((len(tests), self.n_channels))
        for k, t in enumerate(tests):
            a[k, t.c] = (full - tr(t.zeroed(self.data.spend)))[t.weeks, t.c].sum()
        return LiftRows(a, np.array([t.kpi for t in tests]), np.array([t.se for t in tests]))

    def design(self, tr: MediaTransform) -> np.ndarray:
        """(T, C + q) columns over all weeks; the media columns come first (they are the positive ones)."""
        return np.hstack([tr(self.data.spend), self.other])

    def objective(self, theta: np.ndarray, penalty: Penalty,
                  shape: tuple[np.ndarray | float, np.ndarray | float] = REFERENCE_SHAPE) -> float:
        """Negative penalised log-likelihood of a fit on the training weeks (weak priors on θ).

        The ridge penalty is the coefficients' Gaussian prior, so it enters with the residuals: transforms
        that need an ROI far from the pooled one, or baseline effects far from zero, cost likelihood.
        """
        n = self.data.n_train
        tr = self.transform(theta, shape)
        x, y = self.design(tr)[:n], self.data.y[:n]
        coef, pen = _solve(x, y, penalty.media, self.n_positive, self.spend_mean, penalty.base, penalty.centre,
                           self.lift_rows(tr))
        loss = (float(np.sum((y - predict_rows(x, coef)) ** 2)) + pen) / (n * float(np.mean(np.abs(y))) ** 2)
        prior = 0.5 * np.sum(((theta - self.prior_center()) / self.prior_sd()) ** 2)
        return 0.5 * n * math.log(max(loss, 1e-300)) + float(prior)


# ----------------------------------------------------------------------------------------------- search


def _fd_gradient(fn: Callable[[np.ndarray], float], theta: np.ndarray, f0: float,
                 bounds: list[tuple[float, float]]) -> np.ndarray:
    """Forward differences, stepping inwards at an upper bound."""
    grad = np.empty_like(theta)
    for i in range(len(theta)):
        step = FD_STEP if theta[i] + FD_STEP <= bounds[i][1] else -FD_STEP
        bumped = theta.copy()
        bumped[i] += step
        grad[i] = (fn(bumped) - f0) / step
    return grad


def local_search(fn: Callable[[np.ndarray], float], start: np.ndarray, bounds: list[tuple[float, float]],
                 budget: int, step: float = 1.0) -> tuple[np.ndarray, int, bool]:
    """L-BFGS-B from `start` with at most `budget` value-and-gradient evaluations.

    `step`: the length of L-BFGS-B's first trial step (it searches θ ÷ step). Its default unit step
    suits a start at the prior centre; from a warm start near the optimum it overshoots towards the
    bounds and backtracks: on seeds 7–14 of the simulator, 277 evaluations warm with unit steps, 258 with
    WARM_STEP, 308 cold (docs/concepts/refresh.md).
    Returns (best theta, evaluations used, converged)."""
    if budget < 1 or len(start) == 0:
        return start, 0, True

    def value_and_grad(u: np.ndarray) -> tuple[float, np.ndarray]:
        theta = u * step
        f0 = fn(theta)
        return f0, _fd_gradient(fn, theta, f0, bounds) * step

    from scipy.optimize import minimize  # scipy.optimize costs ~0.4 CPU s to import; only a fit needs it

    res = minimize(value_and_grad, start / step, jac=True, method="L-BFGS-B",
                   bounds=[(lo / step, hi / step) for lo, hi in bounds], options={"maxfun": budget, "maxiter": budget})
    return res.x * step, int(res.nfev), bool(res.success)


@dataclass(frozen=True)
class Penalties:
    """Candidate media × baseline penalty pairs, their out-of-fold weights and the best pair's CV MAPE %."""

    grid: list[Penalty]
    weights: np.ndarray  # (G,) sums to 1
    cv_mape: float

    @property
    def best(self) -> Penalty:
        return self.grid[int(self.weights.argmax())]

    def draws(self, rng: np.random.Generator, n: int) -> list[Penalty]:
        """n penalties in proportion to their weights (stratified, shuffled), one per bootstrap resample."""
        return [self.grid[i] for i in stratified_draws(rng, self.weights[None, :], n)[:, 0]]


def choose_penalty(x: np.ndarray, problem: Problem, folds: list[tuple[np.ndarray, np.ndarray]]) -> Penalties:
    """Every media × baseline penalty pair weighted by its rolling-origin out-of-fold Gaussian likelihood,
    exp(−m/2 · ln(MSE / best MSE)), as the curves are (`shape_weights`).

    Two penalties, so that dozens of dummy controls do not set the shrinkage of the media (or the
    reverse); `ridge.alpha` in the config fixes both. Why weights, not the best pair: the weeks barely
    tell the penalties apart (on the 208 × 5 simulator the best pair got 4–33 % of the weight) and the
    single best swung between the grid's ends from seed to seed; averaging over them in the bootstrap
    cut the median ROI error there from 21.3 % to 19.0 % and on the retail-like case from 46 % to 30 %
    (bench/ridge_accuracy.py).
    """
    y, k, fixed, centre = problem.data.y, problem.n_positive, problem.cfg.ridge.alpha, problem.roi_centre
    grid = ([Penalty(fixed, fixed, centre)] if fixed is not None
            else [Penalty(a, b, centre) for a in ALPHA_GRID for b in BASE_ALPHA_GRID])
    scores = np.array([cv_score(x, y, folds, p, k, problem.spend_mean) for p in grid])
    held_out = sum(len(te) for _, te in folds)
    log_w = -0.5 * held_out * np.log(scores[:, 0] / scores[:, 0].min())
    w = np.exp(log_w - log_w.max())
    return Penalties(grid, w / w.sum(), float(scores[int(scores[:, 0].argmin()), 1]))


def pool_evidence(problem: Problem, tr: MediaTransform, penalties: Penalties) -> tuple[np.ndarray, np.ndarray]:
    """(C,) contraction and (C,) shift of each channel's coefficient against the penalty's prior, averaged over
    the penalties by weight: evidence.py's definitions, in closed form for ridge.

    The media penalty α‖b − c‖² is a Gaussian prior around the centre c (the pooled ROI of all media, or an
    expected ROI) with sd σ ÷ √α, σ the residual sd (in the standardised units the solve uses); d = 1 ÷
    [(ZᵀZ)⁻¹]ⱼⱼ is the data's precision on channel j given the others and the baseline. So posterior sd ÷
    prior sd = √(α ÷ (d + α)) and the shift is |b̂ − c| √α ÷ σ. A tiny always-on channel scored a
    contraction of 0.00–0.02 on four simulations (its ROI is the pool's whatever the truth) and the
    channels the spend identified 0.5–0.97."""
    n, m = problem.data.n_train, problem.n_channels
    x, y = problem.design(tr)[:n], problem.data.y[:n]
    contracted, shift = np.zeros(m), np.zeros(m)
    for base in {p.base for p in penalties.grid}:  # the data's precision depends on the baseline penalty only
        zm, ym = _profiled(x, y, m, base, problem.spend_mean)[5:]
        data = 1.0 / np.maximum(np.diag(np.linalg.pinv(zm.T @ zm)), 1e-300)
        for penalty, weight in zip(penalties.grid, penalties.weights):
            if penalty.base != base:
                continue
            centre = _centre(zm, ym, y, problem.spend_mean, penalty.centre)
            bm = _media(zm, ym, penalty.media, centre, problem.n_positive)
            sigma = max(math.sqrt(float(np.mean((ym - zm @ bm) ** 2))), 1e-12)
            contracted += weight * contraction(np.sqrt(penalty.media / (data + penalty.media)), 1.0)
            shift += weight * np.abs(bm - centre) * math.sqrt(penalty.media) / sigma
    return contracted, shift


def laplace_cov(fn: Callable[[np.ndarray], float], theta: np.ndarray, bounds: list[tuple[float, float]],
                prior_sd: np.ndarray) -> np.ndarray:
    """Laplace covariance of θ at the optimum: (likelihood curvature made positive + prior precision)⁻¹.

    The likelihood part of the finite-difference Hessian can show flat or negative directions (a
    truncated search, kinks of the positivity constraint); clipping them at zero means no parameter is
    ever drawn wider than its prior.
    """
    f0 = fn(theta)
    g0 = _fd_gradient(fn, theta, f0, bounds)
    hess = np.empty((len(theta), len(theta)))
    for j in range(len(theta)):
        step = HESS_STEP if theta[j] + HESS_STEP <= bounds[j][1] else -HESS_STEP
        bumped = theta.copy()
        bumped[j] += step
        hess[:, j] = (_fd_gradient(fn, bumped, fn(bumped), bounds) - g0) / step
    precision = np.diag(1.0 / prior_sd ** 2)
    vals, vecs = np.linalg.eigh((hess + hess.T) / 2.0 - precision)
    return np.linalg.inv((vecs * np.maximum(vals, 0.0)) @ vecs.T + precision)


# -------------------------------------------------------------------------------------------- bootstrap


def block_indices(rng: np.random.Generator, n: int, block: int, size: int | None = None) -> np.ndarray:
    """Moving-block bootstrap rows of n weeks: random contiguous blocks of `block` weeks, concatenated to
    `size` rows (default n)."""
    size = n if size is None else size
    block = min(block, n)
    starts = rng.integers(0, n - block + 1, size=math.ceil(size / block))
    return (starts[:, None] + np.arange(block)[None, :]).ravel()[:size]


def default_block_length(n_train: int) -> int:
    return max(2, round(n_train ** (1.0 / 3.0)))


def block_length(cfg: Config, n_train: int) -> int:
    """Weeks per resampled block: config's `ridge.block_length`, else about the cube root of the training weeks."""
    return cfg.ridge.block_length or default_block_length(n_train)


def bootstrap(problem: Problem, theta: np.ndarray, cov: np.ndarray, shapes: ShapeWeights, penalties: Penalties,
              resamples: int, block: int, seed: int) -> tuple[list[MediaTransform], np.ndarray]:
    """Per resample: carry-over drawn around the optimum, curve shapes and penalties drawn by their
    out-of-fold weights, coefficients refitted on block-resampled weeks (and each lift test's result
    redrawn from its own standard error)."""
    rng = np.random.default_rng(seed)
    bounds = np.array(problem.bounds()).reshape(-1, 2)
    transforms, coefs = [], []
    for curves, penalty in zip(shapes.draws(rng, resamples), penalties.draws(rng, resamples)):
        rows = block_indices(rng, problem.data.n_train, block)
        draw = np.clip(rng.multivariate_normal(theta, cov), bounds[:, 0], bounds[:, 1]) if len(theta) else theta
        tr = problem.transform(draw, shapes.pick(curves))
        x, lift = problem.design(tr), problem.lift_rows(tr)
        if lift is not None:  # each test's own sampling error, as the weeks get theirs from the resampling
            lift = replace(lift, kpi=lift.kpi + rng.normal(0.0, lift.se))
        transforms.append(tr)
        coefs.append(solve_ridge(x[rows], problem.data.y[rows], penalty.media, problem.n_positive,
                                 problem.spend_mean, penalty.base, penalty.centre, lift,
                                 x[: problem.data.n_train, : problem.n_channels].mean(axis=0)))
    return transforms, np.array(coefs)


# ---------------------------------------------------------------------------------------------- fitted


def kept_draws(transforms: list[MediaTransform], coefs: np.ndarray, other: np.ndarray, data: ModelData) -> KeptDraws:
    """Bootstrap resamples as kept draws (at most MAX_SUMMARY_DRAWS, evenly thinned).

    coefs: (S, 1 + C + q) intercept, media, non-media per resample; other: (T, q) non-media columns.
    """
    keep = thin(np.arange(len(transforms)))
    transforms, coefs = [transforms[i] for i in keep], coefs[keep]
    c, first = len(data.channels), transforms[0]
    per_draw = lambda get: {k: np.stack([get(t)[k] for t in transforms]) for k in get(first)}  # noqa: E731
    adstock_fn = adstock(first.adstock_type, max_lag=first.max_lag)
    return KeptDraws(
        model="ridge", channels=list(data.channels), dates=data.dates, spend=data.spend, n_train=data.n_train,
        baseline=coefs[:, :1] + coefs[:, 1 + c:] @ other.T, adstock_type=first.adstock_type,
        max_lag=first.max_lag, normalize=adstock_fn.normalize, adstock_params=per_draw(MediaTransform.adstock_params),
        saturation_type=first.saturation_type, saturation_params=per_draw(MediaTransform.saturation_params),
        coef=coefs[:, 1:1 + c], scale=np.stack([t.scale for t in transforms]), gain=np.ones((len(transforms), c)),
    )


def event_contributions(coefs: np.ndarray, data: ModelData) -> np.ndarray:
    """(S, T, E) each event's part of the fit: its columns follow intercept, media and controls in the design."""
    start = 1 + len(data.channels) + data.controls.shape[1]
    return coefs[:, None, start:start + data.events.shape[1]] * data.events[None, :, :]


# ------------------------------------------------------------------------------------------------- fit


def _fixed(values: dict[str, float], default: float | None, channels: list[str]) -> np.ndarray:
    """Per-channel fixed value from config (channel entry, else global), NaN where the model learns it."""
    fill = np.nan if default is None else default
    return np.array([values.get(ch, fill) for ch in channels], dtype=float)


def build_problem(data: ModelData, cfg: Config) -> Problem:
    if cfg.adstock.type == "weibull" and (cfg.adstock.decay is not None or cfg.adstock.channel_decays):
        raise InputError("config.json: adstock.decay / channel_decays apply to geometric or delayed adstock; "
                         "the weibull adstock learns its scale")
    sat, chs = cfg.saturation, data.channels
    slope = _fixed(sat.channel_slope, sat.slope, chs)
    if sat.type == "logistic":  # the logistic curve has no slope parameter
        slope = np.ones(len(chs))
    fixed = {"carry": _fixed(cfg.adstock.channel_decays, cfg.adstock.decay, chs),
             "half": _fixed(sat.channel_half, sat.half, chs), "slope": slope}
    non_media = np.hstack([data.controls, data.events])  # events: penalised like controls, one coefficient each
    return Problem(cfg=cfg, data=data, other=baseline_features(data.dates, data.n_train, non_media, cfg),
                   fixed=fixed)


def _channel_params(problem: Problem, point: MediaTransform, coef: np.ndarray) -> dict[str, dict[str, float]]:
    name = CARRY_NAME[problem.cfg.adstock.type]
    out = {}
    for c, ch in enumerate(problem.data.channels):
        p = {name: float(point.carry[c]), "half": float(point.half[c]), "coef": float(coef[1 + c]),
             "half_adstocked_spend": float(point.half[c] * point.scale[c])}
        if problem.cfg.saturation.type == "hill":
            p["slope"] = float(point.slope[c])
        out[ch] = p
    return out


def _at_bounds(problem: Problem, theta: np.ndarray) -> list[str]:
    names = [f"{problem.data.channels[c]}:{CARRY_NAME[problem.cfg.adstock.type]}" for c in problem.free("carry")]
    return [n for n, v, (lo, hi) in zip(names, theta, problem.bounds()) if min(v - lo, hi - v) < 1e-3]


def engine_name(cfg: Config) -> str:
    return f"{ENGINE} ({cfg.adstock.type} adstock + {cfg.saturation.type} saturation)"


@dataclass(frozen=True)
class ShapeWeights:
    """Candidate (half, slope) curves and, per channel, their out-of-fold weights (each row sums to 1)."""

    shapes: list[tuple[float, float]]
    weights: np.ndarray  # (C, G)
    free: np.ndarray  # channels whose curve is averaged (the others keep the config's half and slope)

    def pick(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(half, slope) per channel, channel c on curve index[c]."""
        grid = np.array(self.shapes)
        return grid[index, 0], grid[index, 1]

    @property
    def best(self) -> tuple[np.ndarray, np.ndarray]:
        return self.pick(self.weights.argmax(axis=1))

    def draws(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """(n, C) curve indices, each channel's in proportion to its weights."""
        return stratified_draws(rng, self.weights, n)

    def summary(self, channels: list[str]) -> dict[str, dict[str, float]]:
        """{channel: {"half/slope": weight}} for the curves with at least 5 % of an averaged channel's weight."""
        return {channels[c]: {f"{h:g}/{s:g}": round(float(x), 3) for (h, s), x in zip(self.shapes, self.weights[c])
                              if x >= 0.05} for c in self.free}


def stratified_draws(rng: np.random.Generator, weights: np.ndarray, n: int) -> np.ndarray:
    """(n, K) indices, column k drawn in proportion to weights[k] (stratified, then shuffled): independent
    draws left the ROI mean a few % off the weighted average at 200 resamples."""
    u = (np.arange(n)[:, None] + rng.random((1, len(weights)))) / n
    index = np.minimum((u.T[:, :, None] > np.cumsum(weights, axis=1)[:, None, :]).sum(axis=2), weights.shape[1] - 1)
    return rng.permuted(index, axis=1).T


def lift_misfit(problem: Problem, tr: MediaTransform, penalty: Penalty) -> float:
    """Σ ((model − test) ÷ se)² over the lift tests under transform `tr`, fitted on the training weeks (0
    without tests): a test measures the response below the spend the weeks saw, i.e. the curve."""
    lift = problem.lift_rows(tr)
    if lift is None:
        return 0.0
    n = problem.data.n_train
    coef = solve_ridge(problem.design(tr)[:n], problem.data.y[:n], penalty.media, problem.n_positive,
                       problem.spend_mean, penalty.base, penalty.centre, lift)
    return float(np.sum(((lift.a @ coef[1:1 + problem.n_channels] - lift.kpi) / lift.se) ** 2))


def curve_log_prior(grid: np.ndarray) -> np.ndarray:
    """(G,) log prior of each (half, slope) candidate: log-normal around the reference curve."""
    z = np.log(grid / np.array(REFERENCE_SHAPE)) / np.array([HALF_PRIOR_SD, SLOPE_PRIOR_SD])
    return -0.5 * (z ** 2).sum(axis=1)


def shape_weights(problem: Problem, theta: np.ndarray, penalty: Penalty,
                  folds: list[tuple[np.ndarray, np.ndarray]]) -> ShapeWeights:
    """Each channel's candidate curves weighted by their out-of-fold Gaussian likelihood,
    exp(−m/2 · ln(MSE / best MSE)), times the lift tests' likelihood (`lift_misfit`) and the curve prior,
    with the other channels on the best curve shared by all.

    Why: the weeks barely tell a concave curve with a low baseline from an S-shaped one with a high
    baseline (in-sample error within 1–2 %), yet ROI differs by 2× between them; a per-channel curve
    search by penalised likelihood therefore fitted noise and overstated ROI (median +28 % on the
    208 × 5 simulator). Weighting the candidates by how well they predict held-out weeks carries that
    uncertainty into the bootstrap instead of betting on one curve; where the weeks cannot tell the
    curves apart, the weights stay close to the prior.
    """
    n, shapes = problem.data.n_train, problem.shapes()
    y, held_out, grid = problem.data.y[:n], sum(len(te) for _, te in folds), np.array(shapes)
    c, g = problem.n_channels, len(shapes)

    def misfit(index: np.ndarray) -> float:
        """−log likelihood (up to a constant) of the held-out weeks and the lift tests."""
        tr = problem.transform(theta, (grid[index, 0], grid[index, 1]))
        mse = cv_score(problem.design(tr)[:n], y, folds, penalty, problem.n_positive, problem.spend_mean)[0]
        return 0.5 * held_out * math.log(mse) + 0.5 * lift_misfit(problem, tr, penalty)

    shared = np.array([misfit(np.full(c, k)) for k in range(g)])
    best = int(shared.argmin())
    score = np.full((c, g), np.inf)
    score[:, best] = shared[best]  # a channel whose curve the config fixes stays on the shared best
    free = np.union1d(problem.free("half"), problem.free("slope"))
    for ch in free:
        score[ch] = [misfit(np.where(np.arange(c) == ch, k, best)) for k in range(g)]
    log_w = curve_log_prior(grid) - score
    w = np.exp(log_w - log_w.max(axis=1, keepdims=True))
    return ShapeWeights(shapes, w / w.sum(axis=1, keepdims=True), free)


def fit_transforms(problem: Problem, folds: list[tuple[np.ndarray, np.ndarray]], budget: int,
                   start: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, ShapeWeights, Penalties, int, bool]:
    """(θ on the reference curve, θ, shape weights, penalty weights, search evaluations, converged).

    The penalties are weighted out of fold at the prior-centre carry-over and the reference curve, θ is
    searched under the best, each channel's curve shapes are weighted out of fold at θ, θ is searched
    again under the best-weighted shapes and the penalties are weighted again there: transforms and
    shrinkage are settled together. `start`: a refresh's approved optimum of the first search
    (prism/models/warm.py), where that search starts with short steps; the penalties are still weighted
    at the prior centre and the second search starts where the first ended, so a warm refit solves the
    same problems as a cold one.
    """
    train = slice(0, problem.data.n_train)
    centre = problem.prior_center()
    penalty = choose_penalty(problem.design(problem.transform(centre))[train], problem, folds).best
    reference, used, converged = local_search(lambda t: problem.objective(t, penalty),
                                              centre if start is None else start, problem.bounds(), budget,
                                              1.0 if start is None else WARM_STEP)
    shapes = shape_weights(problem, reference, penalty, folds)
    theta, more, converged = local_search(lambda t: problem.objective(t, penalty, shapes.best), reference,
                                          problem.bounds(), budget)
    penalties = choose_penalty(problem.design(problem.transform(theta, shapes.best))[train], problem, folds)
    return reference, theta, shapes, penalties, used + more, converged


def warm_theta(problem: Problem, warm: WarmStart | None) -> np.ndarray | None:
    """The free channels' carry-over at the approved fit's first search optimum (inside the bounds), None
    without a warm start."""
    carry = warm_arrays(warm).get(RIDGE_CARRY)
    if carry is None:
        return None
    lo, hi = carry_bounds(problem.cfg)
    return np.clip(carry[problem.free("carry")], lo, hi)


def fit(data: ModelData, cfg: Config, quick: bool = False, warm: WarmStart | None = None) -> Fitted:
    """Fit transforms (penalised likelihood) and penalties (rolling-origin CV), bootstrap the intervals;
    `warm`: a refresh starts the carry-over search from the approved fit (prism/models/warm.py)."""
    problem = build_problem(data, cfg)
    folds = cv_folds(data.n_train)
    budget = min(cfg.ridge.search_budget, QUICK_SEARCH) if quick else cfg.ridge.search_budget
    resamples = min(cfg.ridge.bootstrap, QUICK_BOOTSTRAP) if quick else cfg.ridge.bootstrap
    block = block_length(cfg, data.n_train)
    start = warm_theta(problem, warm)
    reference, theta, shapes, penalties, used, converged = fit_transforms(problem, folds, budget, start)
    penalty, point = penalties.best, problem.transform(theta, shapes.best)
    x = problem.design(point)[: data.n_train]
    lift = problem.lift_rows(point)
    coef = solve_ridge(x, data.y[: data.n_train], penalty.media, problem.n_positive, problem.spend_mean, penalty.base,
                       penalty.centre, lift)
    if resamples:
        objective = lambda t: problem.objective(t, penalty, shapes.best)  # noqa: E731
        cov = laplace_cov(objective, theta, problem.bounds(), problem.prior_sd()) if len(theta) else np.zeros((0, 0))
        transforms, coefs = bootstrap(problem, theta, cov, shapes, penalties, resamples, block, cfg.seed)
    else:
        transforms, coefs = [point], coef[None, :]
    diagnostics = {
        "alpha": penalty.media, "alpha_baseline": penalty.base, "alpha_weight": round(float(penalties.weights.max()), 3),
        "cv_mape": penalties.cv_mape, "cv_folds": len(folds),
        "cv_scope": "penalties weighted out of fold, before and after the transform search on all training weeks",
        "search_evaluations": used,
        "search_converged": converged, "search_dimensions": len(theta),
        REFERENCE_CARRY_KEY: {problem.data.channels[c]: float(v) for c, v in zip(problem.free("carry"), reference)}, "curve_weights": shapes.summary(data.channels),
        "bootstrap_resamples": resamples,
        "block_length": block, "params_at_bounds": _at_bounds(problem, theta),
        "zero_coefficient_channels": [ch for i, ch in enumerate(data.channels) if coef[1 + i] <= 1e-12],
        "positive_media": cfg.ridge.positive,
    }
    if start is not None:
        diagnostics[WARM_KEY] = warm_note(warm, [RIDGE_CARRY])
    return Fitted(engine=engine_name(cfg), version=f"scipy {scipy.__version__}",
                  against_prior=pool_evidence(problem, point, penalties),
                  params=_channel_params(problem, point, coef), diagnostics=diagnostics,
                  draws=kept_draws(transforms, coefs, problem.other, data),
                  events=event_contributions(coefs, data),
                  at_zero=coefs[:, 1:1 + len(data.channels)] <= ZERO_COEF)


"""Adstock and saturation transforms, vectorised over channels, found by name in a registry.

Each transform is a small class with its defaults and one `__call__`. Arrays are (weeks, channels); a
parameter is a scalar or a (channels,) vector. These NumPy versions are the reference every model's
decomposition goes through, so ROI and contribution mean the same thing in all three models.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np


def _lag_weights_geometric(decay: np.ndarray, max_lag: int) -> np.ndarray:
    """(lags, channels) weights decay**l for l = 0..max_lag-1."""
    lags = np.arange(max_lag)[:, None]
    return np.power(np.atleast_1d(decay)[None, :], lags)


def convolve_lags(x: np.ndarray, weights: np.ndarray, normalize: bool) -> np.ndarray:
    """Causal convolution of each channel's series with its own lag weights.

    x: (T, C); weights: (L, C) with weights[0] applying to the current week.
    """
    x = np.asarray(x, dtype=float)
    if normalize:
        weights = weights / weights.sum(axis=0, keepdims=True)
    out = np.zeros_like(x)
    for lag in range(weights.shape[0]):
        if lag == 0:
            out += x * weights[0]
        elif lag < x.shape[0]:
            out[lag:] += x[:-lag] * weights[lag]
    return out


@dataclass(frozen=True)
class GeometricAdstock:
    """Spend carries over with a constant weekly decay: w_l = decay**l."""

    name: ClassVar[str] = "geometric"
    max_lag: int = 8
    normalize: bool = False

    def __call__(self, x: np.ndarray, decay: np.ndarray | float) -> np.ndarray:
        decay = np.broadcast_to(np.asarray(decay, dtype=float), (np.shape(x)[1],))
        if self.max_lag > RECURSIVE_FROM_LAG:
            return _geometric_recursive(np.asarray(x, dtype=float), decay, self.max_lag, self.normalize)
        return convolve_lags(x, _lag_weights_geometric(decay, self.max_lag), self.normalize)


RECURSIVE_FROM_LAG = 32  # longer geometric carry-over (lightweight_mmm: every week) runs as a recursion


def _geometric_recursive(x: np.ndarray, decay: np.ndarray, max_lag: int, normalize: bool) -> np.ndarray:
    """The same sums as `convolve_lags` with weights decay**l, l < max_lag, in one pass over the weeks:
    y_t = x_t + decay · y_{t−1} − decay**max_lag · x_{t−max_lag}. The loop runs over weeks, not lags × weeks,
    which is what a planner evaluating long carry-over hundreds of times needs."""
    out = np.empty_like(x)
    acc = np.zeros(x.shape[1:])
    drop = np.power(decay, max_lag)
    for t in range(x.shape[0]):
        acc = x[t] + decay * acc
        if t >= max_lag:
            acc = acc - drop * x[t - max_lag]
        out[t] = acc
    if normalize:
        out /= _lag_weights_geometric(decay, max_lag).sum(axis=0)
    return out


@dataclass(frozen=True)
class DelayedAdstock:
    """Carry-over whose peak comes `theta` weeks after the spend: w_l = decay**((l - theta)**2)."""

    name: ClassVar[str] = "delayed"
    max_lag: int = 8
    normalize: bool = True

    def __call__(self, x: np.ndarray, decay: np.ndarray | float, theta: np.ndarray | float = 1.0) -> np.ndarray:
        c = np.shape(x)[1]
        decay = np.broadcast_to(np.asarray(decay, dtype=float), (c,))
        theta = np.broadcast_to(np.asarray(theta, dtype=float), (c,))
        lags = np.arange(self.max_lag)[:, None]
        weights = np.power(decay[None, :], (lags - theta[None, :]) ** 2)
        return convolve_lags(x, weights, self.normalize)


@dataclass(frozen=True)
class WeibullAdstock:
    """Weibull-PDF lag weights (shape k, scale lam), flexible peak and tail as in Robyn."""

    name: ClassVar[str] = "weibull"
    max_lag: int = 8
    normalize: bool = True

    def __call__(self, x: np.ndarray, shape: np.ndarray | float, scale: np.ndarray | float = 2.0) -> np.ndarray:
        c = np.shape(x)[1]
        k = np.broadcast_to(np.asarray(shape, dtype=float), (c,))[None, :]
        lam = np.broadcast_to(np.asarray(scale, dtype=float), (c,))[None, :]
        lags = np.arange(1, self.max_lag + 1)[:, None].astype(float)
        log_pdf = np.log(k / lam) + (k - 1) * np.log(lags / lam) - (lags / lam) ** k
        return convolve_lags(x, np.exp(log_pdf), self.normalize)


@dataclass(frozen=True)
class HillSaturation:
    """x**s / (x**s + half**s): half the maximum effect at x = half."""

    name: ClassVar[str] = "hill"
    half: float = 1.0
    slope: float = 1.0

    def __call__(self, x: np.ndarray, half: np.ndarray | float | None = None,
                 slope: np.ndarray | float | None = None) -> np.ndarray:
        half = self.half if half is None else half
        slope = self.slope if slope is None else slope
        x = np.clip(np.asarray(x, dtype=float), 0.0, None)
        ratio = np.power(x / np.asarray(half, dtype=float), np.asarray(slope, dtype=float))
        return ratio / (1.0 + ratio)


@dataclass(frozen=True)
class LogisticSaturation:
    """(1 - exp(-lam x)) / (1 + exp(-lam x)), pymc-marketing's default curve."""

    name: ClassVar[str] = "logistic"
    lam: float = 1.0

    def __call__(self, x: np.ndarray, lam: np.ndarray | float | None = None) -> np.ndarray:
        lam = self.lam if lam is None else lam
        e = np.exp(-np.asarray(lam, dtype=float) * np.clip(np.asarray(x, dtype=float), 0.0, None))
        return (1.0 - e) / (1.0 + e)


ADSTOCKS = {cls.name: cls for cls in (GeometricAdstock, DelayedAdstock, WeibullAdstock)}
SATURATIONS = {cls.name: cls for cls in (HillSaturation, LogisticSaturation)}


def adstock(name: str, **kwargs):
    """An adstock transform by registry name."""
    try:
        return ADSTOCKS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown adstock '{name}'; known: {sorted(ADSTOCKS)}") from None


def saturation(name: str, **kwargs):
    """A saturation transform by registry name."""
    try:
        return SATURATIONS[name](**kwargs)
    except KeyError:
        raise ValueError(f"unknown saturation '{name}'; known: {sorted(SATURATIONS)}") from None


"""The KPI and spend divisors each model fits on, and the fixed ones a refresh carries over.

Every model divides spend (and the Bayesian ones the KPI) by a scale computed from the training weeks:
ridge by each channel's mean adstocked spend, pymc-marketing by the maximum, LightweightMMM by the mean.
New weeks change those figures, so a refit would move its half-saturation points and priors for no reason
but the rescaling (pymc-marketing asks for fixed scaling between refreshes for this reason). `prism
refresh` therefore writes the approved fit's scales into config.json `scales`, and each model takes a
fixed scale from there instead of computing its own (`channel_scale`, `kpi_scale`).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from prism.models.draws import KeptDraws
from prism.schemas import Config, FixedScale

Rule = Callable[[np.ndarray], np.ndarray]
CHANNEL_RULES: dict[str, Rule] = {"pymc": lambda spend: np.abs(spend).max(axis=0),
                                  "lightweight_mmm": lambda spend: spend.mean(axis=0)}
KPI_RULES: dict[str, Callable[[np.ndarray], float]] = {"pymc": lambda y: float(np.abs(y).max()),
                                                       "lightweight_mmm": lambda y: float(y.mean())}


def fixed_channel_scale(cfg: Config, model: str, computed: np.ndarray) -> np.ndarray:
    """(C,) the channels' divisors: config.json's fixed `scales.<model>` where set, else `computed`."""
    fixed = cfg.scales.get(model)
    if fixed is None:
        return computed
    return np.array([fixed.channels.get(ch, float(v)) for ch, v in zip(cfg.data.channels, computed)])


def channel_scale(cfg: Config, model: str, spend_train: np.ndarray) -> np.ndarray:
    """(C,) a Bayesian model's spend divisors from its training spend (1 where a channel has none), or the fixed ones."""
    computed = CHANNEL_RULES[model](spend_train)
    return fixed_channel_scale(cfg, model, np.where(computed > 0, computed, 1.0))


def kpi_scale(cfg: Config, model: str, y_train: np.ndarray) -> float:
    """A Bayesian model's KPI divisor from its training KPI, or the fixed one."""
    fixed = cfg.scales.get(model)
    return fixed.kpi if fixed is not None and fixed.kpi is not None else KPI_RULES[model](y_train)


def approved_scale(cfg: Config, kd: KeptDraws, y_train: np.ndarray) -> FixedScale:
    """The scales a fit used, read back from its kept draws (ridge's divisor varies with each resample's
    carry-over: its median is kept) and, for the Bayesian models, its training KPI."""
    divisor = np.median(kd.scale, axis=0)
    kpi = kpi_scale(cfg, kd.model, y_train) if kd.model in KPI_RULES else None
    return FixedScale(kpi=kpi, channels={ch: float(v) for ch, v in zip(kd.channels, divisor)})

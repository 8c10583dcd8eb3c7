"""Expected KPI over a planning horizon as a function of each channel's weekly spend, per draw.

The response of channel c to a weekly spend x is the KPI its spend over the next `weeks` weeks adds,
including the carry-over tail after the horizon ends, with the adstock warmed up by the most recent
weeks of actual spend: contribution(history, x × weeks, zeros) − contribution(history, zeros, zeros),
summed over every week. Subtracting the no-spend path removes the history's own carry-over, while the
saturation still sees it (a channel already running hot gains less from the same spend).

The carry-over length is read off the draws (an impulse's last non-zero week within the model's
`max_lag`, which for lightweight_mmm is every week of the data), so the warm-up and the tail are as long
as the model's adstock, as `KeptDraws` defines it (max_lag, normalisation, gain), and no longer.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from prism.errors import InputError
from prism.planning.source import ResponseSource

DEFAULT_WEEKS = 13
MAX_WEEKS = 104  # two years: memory grows with the horizon (100,000 weeks took 8.5 GB) and no curve was fitted that far
RECENT_WEEKS = 13  # "current" weekly spend = the mean of the last quarter's weeks
IMPULSE_TOL = 1e-9  # an impulse's effect below this share of its peak has died out
CEILING_MULTIPLE = 50.0  # saturation = response at x ÷ response at 50× the channel's usual spend
MROI_STEP = 0.01  # mROI from a 1 % step (the results' own bump)
INTERVAL = (5.0, 95.0)  # central 90 % interval, as everywhere in Prism


def check_weeks(weeks: int) -> None:
    """A planning horizon from 1 to `MAX_WEEKS` weeks; checked before any draws are read."""
    if not 1 <= weeks <= MAX_WEEKS:
        raise InputError(f"--weeks {weeks}: the planning horizon runs from 1 to at most {MAX_WEEKS} weeks")


class Horizon:
    """Per-draw horizon response of every channel of `source`; exact (no interpolation) and cached."""

    def __init__(self, source: ResponseSource, weeks: int = DEFAULT_WEEKS):
        check_weeks(weeks)
        self.source, self.weeks = source, int(weeks)
        self.spend = np.asarray(source.spend, dtype=float)
        self.channels = list(source.channels)
        self._cache: dict[tuple[int, float], np.ndarray] = {}
        self._given = 0  # responses an earlier process computed (`add_responses`)
        self._idle_totals: dict[int, np.ndarray] = {}

    @cached_property
    def current(self) -> np.ndarray:
        """(C,) current weekly spend: the mean of the most recent weeks."""
        return self.spend[-RECENT_WEEKS:].mean(axis=0)

    @cached_property
    def usual(self) -> np.ndarray:
        """(C,) a typical weekly spend (current, else the history's mean), the scale for steps and ceilings."""
        return np.where(self.current > 0, self.current, self.spend.mean(axis=0))

    @cached_property
    def carryover(self) -> list[int]:
        """Weeks after a week's spend that still carry its effect, per channel."""
        return [self._carryover(c) for c in range(len(self.channels))]

    def _carryover(self, c: int) -> int:
        pulse = np.zeros(max(int(self.source.max_lag), 1))
        pulse[0] = max(self.usual[c], 1.0)
        src = self.source
        effect = np.abs(src.channel_contribution(c, pulse) - src.channel_contribution(c, np.zeros_like(pulse)))
        peak = effect.max(axis=0)
        alive = np.nonzero(peak > IMPULSE_TOL * max(peak.max(), 1e-300))[0]
        return int(alive[-1]) if len(alive) else 0

    def _line(self, c: int) -> tuple[np.ndarray, np.ndarray, int]:
        """Channel c's column at zero spend (its recent history, then zeros), the horizon weeks as a unit step,
        and where the horizon starts: the column at weekly spend x is base + x · step."""
        lag = self.carryover[c]
        history = self.spend[len(self.spend) - lag:, c] if lag else np.zeros(0)
        base = np.concatenate([history, np.zeros(self.weeks + lag)])
        step = np.concatenate([np.zeros(lag), np.ones(self.weeks), np.zeros(lag)])
        return base, step, lag

    def _totals(self, c: int, levels: np.ndarray) -> np.ndarray:
        """(S, len(levels)) KPI from the horizon's first week on (the history weeks are the same at every level)."""
        base, step, start = self._line(c)
        return self.source.line_totals(c, base, step, np.asarray(levels, dtype=float), start)

    def _idle(self, c: int) -> np.ndarray:
        """(S,) channel c's KPI at zero spend (its history's carry-over), computed once and only for a channel
        that needs a new level: a question about one channel's new level used to compute every channel's."""
        if c not in self._idle_totals:
            self._idle_totals[c] = self._totals(c, np.zeros(1))[:, 0]
        return self._idle_totals[c]

    def kpi(self, c: int, weekly: float) -> np.ndarray:
        """(S,) KPI over the horizon and its carry-over tail from spending `weekly` a week on channel c."""
        return self.curve(c, np.array([weekly]))[:, 0]

    def curve(self, c: int, levels: np.ndarray) -> np.ndarray:
        """(S, len(levels)) response at each weekly spend level (levels not seen before computed together)."""
        keys = [(c, float(x)) for x in levels]
        new = sorted({x for _, x in keys if (c, x) not in self._cache})
        if new:
            for x, total in zip(new, self._totals(c, np.array(new)).T):
                self._cache[(c, x)] = total - self._idle(c)
        return np.stack([self._cache[k] for k in keys], axis=1)

    def responses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every response computed so far as (channel (N,), weekly spend (N,), KPI (N, S)), for a later
        process (`prism.planning.outputs.keep_responses`)."""
        keys = list(self._cache)
        values = np.stack([self._cache[k] for k in keys]) if keys else np.zeros((0, self.source.n_draws))
        return (np.array([c for c, _ in keys], dtype=int), np.array([x for _, x in keys], dtype=float), values)

    def add_responses(self, channels: np.ndarray, levels: np.ndarray, values: np.ndarray) -> None:
        """Responses an earlier process computed on the same draws and horizon (`responses`)."""
        for c, x, v in zip(channels, levels, values):
            self._cache.setdefault((int(c), float(x)), v)
        self._given = len(self._cache)

    @property
    def computed_here(self) -> bool:
        """Whether this process computed a response that `add_responses` did not give it."""
        return len(self._cache) > self._given

    def plan_kpi(self, weekly: np.ndarray) -> np.ndarray:
        """(S,) KPI of a whole weekly plan (channels add up: contributions are separable)."""
        return np.sum([self.kpi(c, x) for c, x in enumerate(weekly)], axis=0)

    def mroi(self, c: int, weekly: float) -> np.ndarray:
        """(S,) extra KPI per extra unit of horizon spend at `weekly` a week (slope of the response)."""
        step = MROI_STEP * max(weekly, self.usual[c], 1e-9)
        return (self.kpi(c, weekly + step) - self.kpi(c, weekly)) / (step * self.weeks)

    def saturation_pct(self, c: int, weekly: float) -> float:
        """Share of the channel's maximum horizon effect reached at `weekly` (mean over draws), in %."""
        ceiling = float(self.kpi(c, CEILING_MULTIPLE * max(weekly, self.usual[c])).mean())
        return float(self.kpi(c, weekly).mean() / ceiling * 100.0) if ceiling > 0 else float("nan")


def interval(draws: np.ndarray) -> tuple[float, float, float]:
    """(mean, low, high) of per-draw values: the central 90 % interval."""
    low, high = np.percentile(draws, INTERVAL)
    return float(np.mean(draws)), float(low), float(high)

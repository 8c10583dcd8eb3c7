"""Draws with known response curves: per-draw geometric adstock + Hill, as the simulator generates data.

Used where the truth must be known: the known-truth tests build one from `prism.data.simulate`'s true
parameters (plus draw noise), and `bench/planning.py` times the optimizer on one. It is a full
`ResponseSource`, not a stand-in for a fitted model: planning treats it exactly like kept draws.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from prism.data.simulate import MAX_LAG, Simulation
from prism.models.transforms import HillSaturation


@dataclass
class ParametricDraws:
    """(S, C) parameter draws: decay, half-saturation (in spend units), Hill slope and coefficient."""

    channels: list[str]
    spend: np.ndarray
    decay: np.ndarray
    half: np.ndarray
    slope: np.ndarray
    beta: np.ndarray
    max_lag: int = MAX_LAG

    @property
    def n_draws(self) -> int:
        return self.beta.shape[0]

    def channel_contribution(self, c: int, column: np.ndarray) -> np.ndarray:
        column = np.asarray(column, dtype=float)
        lags = np.arange(min(self.max_lag, len(column)))
        weights = self.decay[:, c, None] ** lags[None, :]  # (S, L)
        ad = np.zeros((self.n_draws, len(column)))
        for lag in lags:
            ad[:, lag:] += weights[:, lag, None] * column[None, : len(column) - lag]
        sat = HillSaturation()(ad, self.half[:, c, None], self.slope[:, c, None])
        return self.beta[:, c, None] * sat

    def contributions(self, spend: np.ndarray) -> np.ndarray:
        """(S, T, C) over a whole spend table (the simulator's definition, for checks)."""
        return np.stack([self.channel_contribution(c, spend[:, c]) for c in range(len(self.channels))], axis=2)


def from_simulation(sim: Simulation, n_draws: int = 200, noise: float = 0.1, seed: int = 0,
                    bias: dict[str, float] | None = None) -> ParametricDraws:
    """Draws around the simulator's TRUE parameters: lognormal noise of sd `noise` on each parameter,
    and an optional multiplicative bias on a channel's coefficient (a model that is wrong about it)."""
    rng = np.random.default_rng(seed)
    shape = (n_draws, len(sim.channels))

    def around(key: str) -> np.ndarray:
        truth = np.array([sim.params[c][key] for c in sim.channels])
        return truth[None, :] * rng.lognormal(0.0, noise, size=shape)

    beta = around("beta") * np.array([(bias or {}).get(c, 1.0) for c in sim.channels])[None, :]
    decay = np.clip(around("decay"), 0.0, 0.95)
    return ParametricDraws(channels=list(sim.channels), spend=sim.frame[sim.channels].to_numpy(dtype=float),
                           decay=decay, half=around("half"), slope=around("slope"), beta=beta)


def truth(sim: Simulation) -> ParametricDraws:
    """The simulator's true process as a one-draw source."""
    return from_simulation(sim, n_draws=1, noise=0.0)

"""Kept draws with known response curves for the planning tests: `KeptDraws` (geometric adstock + Hill)
built from the simulator's true parameters, or from parameters a test chooses, plus draw noise.

They are real `KeptDraws` (the one contribution implementation), so planning reads them exactly as it
reads a `prism run`'s draws files.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from prism.data.simulate import MAX_LAG, Simulation, simulate
from prism.models.draws import KeptDraws
from prism.planning import outputs
from prism.planning.source import MIN_PLAN_DRAWS
from prism.workspace import Workspace

WEEKS_OF_HISTORY = 30
MAX_DECAY = 0.95


def kept_draws(channels: list[str], spend: np.ndarray, beta: np.ndarray, half: np.ndarray, slope: np.ndarray,
               decay: np.ndarray, max_lag: int = MAX_LAG, model: str = "simulated") -> KeptDraws:
    """(S, C) per-draw parameters in spend units as `KeptDraws`: scale and gain 1, no baseline."""
    spend = np.asarray(spend, dtype=float)
    ones = np.ones_like(beta, dtype=float)
    return KeptDraws(model=model, channels=list(channels),
                     dates=pd.date_range("2024-01-01", periods=len(spend), freq="W-MON"), spend=spend,
                     n_train=len(spend), baseline=np.zeros((len(beta), len(spend))), adstock_type="geometric",
                     max_lag=max_lag, normalize=False, adstock_params={"decay": np.clip(decay, 0.0, MAX_DECAY)},
                     saturation_type="hill", saturation_params={"half": half * ones, "slope": slope * ones},
                     coef=beta * ones, scale=ones, gain=ones)


def from_simulation(sim: Simulation, n_draws: int = 200, noise: float = 0.1, seed: int = 0,
                    bias: dict[str, float] | None = None) -> KeptDraws:
    """Draws around the simulator's TRUE parameters: lognormal noise of sd `noise` on each parameter,
    and an optional multiplicative bias on a channel's coefficient (a model that is wrong about it)."""
    rng = np.random.default_rng(seed)
    shape = (n_draws, len(sim.channels))

    def around(key: str) -> np.ndarray:
        truth_ = np.array([sim.params[c][key] for c in sim.channels])
        return truth_[None, :] * rng.lognormal(0.0, noise, size=shape)

    beta = around("beta") * np.array([(bias or {}).get(c, 1.0) for c in sim.channels])[None, :]
    return kept_draws(sim.channels, sim.frame[sim.channels].to_numpy(dtype=float), beta=beta,
                      decay=around("decay"), half=around("half"), slope=around("slope"))


def truth(sim: Simulation) -> KeptDraws:
    """The simulator's true process as a one-draw source."""
    return from_simulation(sim, n_draws=1, noise=0.0)


def curves(channels: list[str], beta, half, slope, decay, current, draws: int = MIN_PLAN_DRAWS, noise: float = 0.05,
           seed: int = 0) -> KeptDraws:
    """A source whose every week of history spent `current` per channel; parameters per channel,
    each draw scaled by lognormal noise (so the draws disagree a little, as a posterior does)."""
    rng = np.random.default_rng(seed)
    n = len(channels)

    def per_draw(v) -> np.ndarray:
        return np.asarray(v, dtype=float)[None, :] * rng.lognormal(0.0, noise, size=(draws, n))

    spend = np.tile(np.asarray(current, dtype=float), (WEEKS_OF_HISTORY, 1))
    return kept_draws(channels, spend, beta=per_draw(beta), half=per_draw(half), decay=per_draw(decay),
                      slope=np.tile(np.asarray(slope, float), (draws, 1)), max_lag=6)


def permuted(src: KeptDraws, order: list[int]) -> KeptDraws:
    """The same source with its channels in another order (columns moved with them)."""
    return kept_draws([src.channels[i] for i in order], src.spend[:, order], beta=src.coef[:, order],
                      decay=src.adstock_params["decay"][:, order], half=src.saturation_params["half"][:, order],
                      slope=src.saturation_params["slope"][:, order], max_lag=src.max_lag)


def workspace_with_draws(base: Workspace, to: Path, monkeypatch, n_draws: int = 150) -> Workspace:
    """A copy of the report fixture's workspace whose kept draws (two models) sit around its data's truth."""
    shutil.copytree(base.root, to)
    sim = simulate(weeks=120, n_channels=4, seed=3)  # build_workspace's data
    draws = {"ridge": from_simulation(sim, n_draws, seed=1), "pymc": from_simulation(sim, n_draws, seed=2)}
    monkeypatch.setattr(outputs, "load_sources", lambda ws, round_no=None, market=None: draws)
    return Workspace(to)

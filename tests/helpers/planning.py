"""Small sources with known response curves for the planning tests: per-draw geometric adstock + Hill."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from prism.data.simulate import simulate
from prism.planning import outputs
from prism.planning.synthetic import ParametricDraws, from_simulation
from prism.workspace import Workspace

WEEKS_OF_HISTORY = 30


def curves(channels: list[str], beta, half, slope, decay, current, draws: int = 40, noise: float = 0.05,
           seed: int = 0) -> ParametricDraws:
    """A source whose every week of history spent `current` per channel; parameters per channel,
    each draw scaled by lognormal noise (so the draws disagree a little, as a posterior does)."""
    rng = np.random.default_rng(seed)
    n = len(channels)

    def per_draw(v) -> np.ndarray:
        return np.asarray(v, dtype=float)[None, :] * rng.lognormal(0.0, noise, size=(draws, n))

    spend = np.tile(np.asarray(current, dtype=float), (WEEKS_OF_HISTORY, 1))
    return ParametricDraws(channels=list(channels), spend=spend, decay=np.clip(per_draw(decay), 0, 0.95),
                           half=per_draw(half), slope=np.tile(np.asarray(slope, float), (draws, 1)),
                           beta=per_draw(beta), max_lag=6)


def permuted(src: ParametricDraws, order: list[int]) -> ParametricDraws:
    """The same source with its channels in another order (columns moved with them)."""
    return ParametricDraws(channels=[src.channels[i] for i in order], spend=src.spend[:, order],
                           decay=src.decay[:, order], half=src.half[:, order], slope=src.slope[:, order],
                           beta=src.beta[:, order], max_lag=src.max_lag)


def workspace_with_draws(base: Workspace, to: Path, monkeypatch, n_draws: int = 150) -> Workspace:
    """A copy of the report fixture's workspace whose kept draws (two models) sit around its data's truth."""
    shutil.copytree(base.root, to)
    sim = simulate(weeks=120, n_channels=4, seed=3)  # build_workspace's data
    draws = {"ridge": from_simulation(sim, n_draws, seed=1), "pymc": from_simulation(sim, n_draws, seed=2)}
    monkeypatch.setattr(outputs, "load_sources", lambda ws, round_no=None: draws)
    return Workspace(to)

"""What planning needs from a fitted model's kept draws, and the pool of several models' draws.

Planning never refits: it recomputes a channel's contribution for any spend column from the draws the
run kept (`prism.models.draws.KeptDraws` satisfies `ResponseSource`). Contributions are separable by
channel in all three models, so one channel's response depends only on its own spend column.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np

from prism.analysis.response import POOLED_DRAWS, pooled_rows
from prism.errors import InputError, TooFewDraws

MIN_PLAN_DRAWS = 200  # fewer pooled draws cannot bound a plan's 90 % interval (a quick MAP fit keeps one)
CONSENSUS = "consensus"


@runtime_checkable
class ResponseSource(Protocol):
    """Kept draws of one fitted model, as planning reads them."""

    channels: list[str]
    spend: np.ndarray  # (T, C) spend the model was fitted on, oldest week first
    max_lag: int  # weeks the adstock reaches back (lightweight_mmm: every week of the data)

    @property
    def n_draws(self) -> int: ...

    def channel_contribution(self, c: int, column: np.ndarray) -> np.ndarray:
        """(S, len(column)) KPI from channel `c` for its weekly spend `column`."""
        ...

    def line_totals(self, c: int, base: np.ndarray, step: np.ndarray, levels: np.ndarray, start: int = 0) -> np.ndarray:
        """(S, len(levels)) KPI from channel `c` over weeks `start:` for each column base + x · step."""
        ...


@dataclass
class Pool:
    """Several models' draws as one source: each model thinned to the same count (once, with its `select`,
    so no response is computed for draws the pool drops), so each weighs the same.

    `slices` says which rows of a contribution belong to which model (for the every-model-mean rule).
    """

    sources: dict[str, ResponseSource]
    total: int = POOLED_DRAWS
    channels: list[str] = field(init=False)
    spend: np.ndarray = field(init=False)
    max_lag: int = field(init=False)
    slices: dict[str, slice] = field(init=False)

    def __post_init__(self) -> None:
        first = next(iter(self.sources.values()))
        self.channels, self.spend = list(first.channels), np.asarray(first.spend, dtype=float)
        self.max_lag = max(int(src.max_lag) for src in self.sources.values())
        self.slices, start = {}, 0
        thinned, rows = {}, pooled_rows({name: src.n_draws for name, src in self.sources.items()}, self.total)
        for name, src in self.sources.items():
            if list(src.channels) != self.channels or np.shape(src.spend) != self.spend.shape:
                raise InputError(f"kept draws of {name}: channels {list(src.channels)} differ from "
                                 f"{self.channels}; every model of a round must share the channel order")
            keep = rows[name]
            thinned[name] = src if len(keep) == src.n_draws else src.select(keep)  # thinned once, not per response
            self.slices[name] = slice(start, start + len(keep))
            start += len(keep)
        self.sources = thinned

    @property
    def n_draws(self) -> int:
        return sum(src.n_draws for src in self.sources.values())

    def channel_contribution(self, c: int, column: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(src.channel_contribution(c, column)) for src in self.sources.values()],
                              axis=0)

    def line_totals(self, c: int, base: np.ndarray, step: np.ndarray, levels: np.ndarray, start: int = 0) -> np.ndarray:
        return np.concatenate([src.line_totals(c, base, step, levels, start) for src in self.sources.values()],
                              axis=0)


def pool(sources: dict[str, ResponseSource], total_draws: int = POOLED_DRAWS) -> Pool:
    """Pool the models that ran, up to `total_draws` split equally between them (never more per model
    than the smallest model has, so each model weighs the same: analysis.response.pooled_rows)."""
    if not sources:
        raise InputError("no model with kept draws: run `prism run` first")
    return Pool(sources, total_draws)


def plannable(src: Pool) -> Pool:
    """The pool, when it holds enough draws to plan on; else refuse plainly: a quick run keeps one MAP draw
    for pymc (so a consensus pool keeps one draw per model) and 50 bootstrap resamples for ridge."""
    if src.n_draws < MIN_PLAN_DRAWS:
        kept = ", ".join(f"{name} {n.n_draws}" for name, n in src.sources.items())
        raise TooFewDraws(f"too few draws to plan on: {src.n_draws} pooled (kept: {kept}), at least {MIN_PLAN_DRAWS} "
                         f"needed; quick results cannot be planned on: rerun `prism run` without --quick")
    return src


def select(sources: dict[str, ResponseSource], model: str) -> dict[str, ResponseSource]:
    """The models `--model` asks for: all of them for consensus, else the one named."""
    if model == CONSENSUS:
        return sources
    if model not in sources:
        raise InputError(f"--model {model}: no kept draws for it in this round; available: "
                         f"{', '.join([CONSENSUS, *sources]) if sources else 'none (run `prism run`)'}")
    return {model: sources[model]}


def load_sources(ws, round_no: int | None = None, market: str | None = None) -> dict[str, ResponseSource]:
    """The round's kept draws of every model that ran (the analysis layer reads the netCDF files); a panel's
    national, one market's (`market`), or every market's channels apart (`market="all"`)."""
    from prism.analysis.response import load_round  # lazy: netCDF/xarray only when draws are read

    return dict(load_round(ws, round_no, market))

"""`prism portfolio optimize`: one budget across every entity's channels, from each entity's kept draws.

Each entity is opened as `prism optimize` opens it (its models' draws pooled, its confidence labels), and
the entities' horizons are joined into one (`PortfolioHorizon`): a channel of the joint horizon is one
entity's channel, and draw i of the total pairs draw i of every entity (the entities were fitted apart, so
their draws are independent and any pairing samples the total). The single-workspace planner then solves it
with its own rules: channels below `high` confidence stay within ±10 % of today's mix, and the plan moves
money only as far as it raises the portfolio's KPI in 90 % of the draws. The KPI is summed across entities,
so they must report it in the same unit (one source file's KPI column does).
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
import pandas as pd

from prism.errors import InputError
from prism.planning.horizon import DEFAULT_WEEKS, Horizon
from prism.planning.outputs import CSV_DECIMALS, open_planner
from prism.planning.plan import TOTAL, Plan, Planner
from prism.workspace import PortfolioFiles, read_csv

SEP = " | "  # "Acme | tv": one entity's channel, as the joint plan names it
PLAN_COLUMNS = ["entity", "channel", "current", "recommended", "change_pct", "expected_kpi_change",
                "expected_kpi_change_low", "expected_kpi_change_high", "confidence", "if_confirmed"]


class PortfolioHorizon:
    """Several entities' horizons as one: channel k is (entity, channel), each entity thinned to the same
    number of draws (evenly spaced rows of its pool, so each of its models keeps its share)."""

    def __init__(self, horizons: dict[str, Horizon]):
        self.parts = horizons
        self.weeks = next(iter(horizons.values())).weeks  # open_portfolio builds every entity's for the same weeks
        self.n_draws = min(h.source.n_draws for h in horizons.values())
        self.rows = {e: np.round(np.linspace(0, h.source.n_draws - 1, self.n_draws)).astype(int)
                     for e, h in horizons.items()}
        self.index = [(e, c) for e, h in horizons.items() for c in range(len(h.channels))]
        self.channels = [f"{e}{SEP}{h.channels[c]}" for e, c in self.index for h in [horizons[e]]]

    @cached_property
    def current(self) -> np.ndarray:
        return np.concatenate([h.current for h in self.parts.values()])

    @cached_property
    def usual(self) -> np.ndarray:
        return np.concatenate([h.usual for h in self.parts.values()])

    def curve(self, k: int, levels: np.ndarray) -> np.ndarray:
        e, c = self.index[k]
        return self.parts[e].curve(c, levels)[self.rows[e]]

    def kpi(self, k: int, weekly: float) -> np.ndarray:
        return self.curve(k, np.array([weekly]))[:, 0]

    def plan_kpi(self, weekly: np.ndarray) -> np.ndarray:
        return np.sum([self.kpi(k, x) for k, x in enumerate(weekly)], axis=0)


def open_portfolio(files: PortfolioFiles, weeks: int = DEFAULT_WEEKS) -> tuple[Planner, list[str]]:
    """A planner over every entity with plannable draws, and one note per entity left out (and why)."""
    mapping = read_csv(files.entities, required=("entity", "folder", "status"))
    horizons, confidence, labels, notes = {}, {}, {}, []
    for entity, folder, status in zip(mapping["entity"].astype(str), mapping["folder"].astype(str),
                                      mapping["status"].astype(str)):
        if status not in ("ok", "skipped"):
            notes.append(f"{entity}: left out ({status}: no results)")
            continue
        try:
            planner = open_planner(files.entity(folder), weeks=weeks)
        except InputError as exc:  # no kept draws, too few (a quick run): that entity is not planned
            notes.append(f"{entity}: left out ({exc})")
            continue
        horizons[entity] = planner.h
        for ch in planner.channels:
            confidence[f"{entity}{SEP}{ch}"] = (planner.confidence or {}).get(ch, "")
            labels[f"{entity}{SEP}{ch}"] = f"{entity}{SEP}{planner.labels.get(ch, ch)}"
    if len(horizons) < 2:
        raise InputError(f"{files.entities}: {len(horizons)} entit{'y has' if len(horizons) == 1 else 'ies have'} "
                         f"kept draws to plan on; a portfolio budget needs two (run `prism portfolio` without --quick)")
    return Planner.over(PortfolioHorizon(horizons), confidence, labels), notes


def plan_frame(plan: Plan) -> pd.DataFrame:
    """portfolio/optimization.csv: the plan's rows with the entity and channel apart, then the total."""
    frame = plan.frame()
    split = frame["channel"].str.split(SEP, n=1, regex=False)
    frame.insert(0, "entity", [parts[0] if len(parts) == 2 else "" for parts in split])
    frame["channel"] = [parts[1] if len(parts) == 2 else TOTAL for parts in split]
    return frame[PLAN_COLUMNS].round(CSV_DECIMALS)

"""Response from kept draws: a round's `KeptDraws` per model, and the quantities any spend plan needs.

The definitions (ROI, mROI, response levels, saturation) live once, in `prism.models.draws`: the models'
shared summary (`base.summarize`) computes `latest.json` with them and the models layer cannot import
this one. This module re-exposes them for the layers above (planning, reports, agents) and adds what only
they need: loading a round's draws files, and the response of a future spend plan over a horizon, with
the carry-over of the spend the model was fitted on.
"""

from __future__ import annotations

import numpy as np

from prism.errors import InputError
from prism.models.draws import (CURVE_MULTIPLIERS, MROI_BUMP, KeptDraws, mroi, read_national, response_levels,
                                roi_draws, saturation_fraction)
from prism.schemas import Results
from prism.workspace import Workspace, read_model

__all__ = ["CURVE_MULTIPLIERS", "MROI_BUMP", "KeptDraws", "load_round", "mroi", "plan_contributions",
           "response_levels", "roi_draws", "saturation_fraction"]


def load_round(ws: Workspace, round: int | None = None) -> dict[str, KeptDraws]:  # noqa: A002 (the contract's name)
    """The kept draws of every model that ran ok in `round` (default: the round of results/latest.json); a
    panel's read as one national model (its markets summed, `NationalDraws`)."""
    if round is None:
        if not ws.latest.exists():
            raise InputError(f"{ws.latest}: file not found (run `prism run` first)")
        round = read_model(ws.latest, Results).round
    path = ws.round_results(round)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `prism run --round {round}` first)")
    res = read_model(path, Results)
    return {name: read_national(ws.draws_path(round, name))
            for name, m in res.models.items() if m.status == "ok"}


def plan_contributions(kd: KeptDraws, plan: np.ndarray) -> np.ndarray:
    """(S, H, C) media contribution in the H weeks of a future (H, C) spend plan that follows the fitted weeks.

    The fitted weeks' spend goes in first so that its carry-over reaches the plan's first weeks, as it would.
    """
    plan = np.asarray(plan, dtype=float)
    if plan.ndim != 2 or plan.shape[1] != len(kd.channels):
        raise InputError(f"spend plan has shape {plan.shape}; expected (weeks, {len(kd.channels)}) for {kd.channels}")
    return kd.contributions(np.vstack([kd.spend, plan]))[:, len(kd.spend):, :]

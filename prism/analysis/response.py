"""Response from kept draws: a round's `KeptDraws` per model, and the quantities any spend plan needs.

The definitions (ROI, mROI, response levels, saturation) live once, in `prism.models.draws`: the models'
shared summary (`base.summarize`) computes `latest.json` with them and the models layer cannot import
this one. This module re-exposes them for the layers above (planning, reports, agents) and adds what only
they need: loading a round's draws files, and the response of a future spend plan over a horizon, with
the carry-over of the spend the model was fitted on.
"""

from __future__ import annotations

import inspect
import pickle
from pathlib import Path

import numpy as np

from prism.errors import InputError
from prism.models import draws
from prism.models.draws import (CURVE_MULTIPLIERS, MROI_BUMP, KeptDraws, MarketChannelDraws, NationalDraws,
                                PanelDraws, mroi, read_draws, response_levels, roi_draws, saturation_fraction)
from prism.schemas import ALL_MARKETS, Results
from prism.workspace import Workspace, digest, keep_newest, read_model, write_bytes

__all__ = ["CURVE_MULTIPLIERS", "MROI_BUMP", "POOLED_DRAWS", "KeptDraws", "load_round", "mroi", "plan_contributions",
           "pooled_roi", "pooled_rows", "response_levels", "roi_draws", "saturation_fraction"]

POOLED_DRAWS = 1000  # draws in a pool of several models' draws, split equally between the models that ran
DRAWS_COPIES = "draws"  # .prism-cache/draws/{key}.pkl: a draws file as read, for the next command
KEPT_COPIES = 12  # copies kept (the newest): three models × a few rounds


def pooled_rows(n_draws: dict[str, int], total: int = POOLED_DRAWS) -> dict[str, np.ndarray]:
    """Which draws of each model a pool keeps: up to `total` split equally between the models, never more per
    model than the smallest has, evenly spaced, so every model weighs the same (planning's pool and the
    reports' likely range pool the same way)."""
    per_model = max(1, min(total // len(n_draws), min(n_draws.values())))
    return {name: np.linspace(0, n - 1, min(per_model, n)).round().astype(int) for name, n in n_draws.items()}


def pooled_roi(sources: dict[str, KeptDraws]) -> np.ndarray:
    """(S, C) ROI draws of the models pooled with equal weight: the likely range is their central 90 %."""
    rows = pooled_rows({name: kd.n_draws for name, kd in sources.items()})
    return np.vstack([roi_draws(kd.select(rows[name])) for name, kd in sources.items()])


def load_round(ws: Workspace, round: int | None = None, market: str | None = None  # noqa: A002 (the contract's name)
               ) -> dict[str, "KeptDraws | NationalDraws | MarketChannelDraws"]:
    """The kept draws of every model that ran ok in `round` (default: the round of results/latest.json).

    A panel's are read as one national model (its markets summed, `NationalDraws`), or with `market` as
    that market's own draws, or with `market="all"` as every (market, channel) pair (`MarketChannelDraws`).
    """
    if round is None:
        if not ws.latest.exists():
            raise InputError(f"{ws.latest}: file not found (run `prism run` first)")
        round = read_model(ws.latest, Results).round
    path = ws.round_results(round)
    if not path.exists():
        raise InputError(f"{path}: file not found (run `prism run --round {round}` first)")
    res = read_model(path, Results)
    if market is not None and not res.markets:
        raise InputError(f"--market {market}: round {round} was fitted on one national series (no markets)")
    if market is not None and market != ALL_MARKETS and market not in res.markets:
        raise InputError(f"--market {market}: not a market of round {round}; markets are "
                         f"{', '.join(res.markets)} (or 'all')")
    return {name: _view(_read(ws, ws.draws_path(round, name)), market)
            for name, m in res.models.items() if m.status == "ok"}


def _read(ws: Workspace, path: Path) -> "KeptDraws | PanelDraws":
    """A round's draws file, from the copy the last command that read it pickled when the file is unchanged.

    Reading netCDF costs a planning command about 0.25 s (xarray and h5py imports, then the file); the
    pickled copy loads in milliseconds, so `prism ask` answers within its 1 s. The key holds the file's
    identity (path, inode, size, modification time) and the code of the draws classes it unpickles into;
    the inode also means a copy that came with a workspace from elsewhere is never read, only the ones this
    machine wrote for these very files."""
    try:
        st = Path(path).stat()
    except OSError:
        return read_draws(path)  # missing: read_draws names the file
    key = digest(str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns, inspect.getsource(draws))
    copy = ws.cache_dir / DRAWS_COPIES / f"{key}.pkl"
    try:
        found = pickle.loads(copy.read_bytes())
        copy.touch()
        return found
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError):
        found = read_draws(path)
    try:  # a copy is only a shortcut: a workspace the reader cannot write is still read
        write_bytes(copy, pickle.dumps(found, protocol=pickle.HIGHEST_PROTOCOL))
        keep_newest(copy.parent, "*.pkl", KEPT_COPIES)
    except OSError:
        pass
    return found


def _view(found: "KeptDraws | PanelDraws", market: str | None):
    if not isinstance(found, PanelDraws):
        return found
    if market is None:
        return found.national()
    return found.market_channels() if market == ALL_MARKETS else found.market(market)


def plan_contributions(kd: KeptDraws, plan: np.ndarray) -> np.ndarray:
    """(S, H, C) media contribution in the H weeks of a future (H, C) spend plan that follows the fitted weeks.

    The fitted weeks' spend goes in first so that its carry-over reaches the plan's first weeks, as it would.
    """
    plan = np.asarray(plan, dtype=float)
    if plan.ndim != 2 or plan.shape[1] != len(kd.channels):
        raise InputError(f"spend plan has shape {plan.shape}; expected (weeks, {len(kd.channels)}) for {kd.channels}")
    return kd.contributions(np.vstack([kd.spend, plan]))[:, len(kd.spend):, :]

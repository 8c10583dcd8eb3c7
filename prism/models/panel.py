"""Regional panels: the same weekly table per market (region, DMA, state, country) as arrays.

A panel fit sees each market's KPI and spend; cross-market variation is what pins channels down that one
national series leaves undecided. `PanelData` is the panel form of `ModelData`: weeks × markets (× channels),
events and holidays shared by every market (they come from the calendar), the same locked holdout block
for every market. `national()` sums the markets away (what `--aggregate` fits); `market(g)` is one market
alone. A model that fits panels exposes `fit_panel(data: PanelData, cfg, quick) -> Fitted` whose
`panel_draws` holds one `KeptDraws` per market (`draws.PanelDraws`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from prism.data.events import data_event_columns, event_design
from prism.errors import InputError
from prism.models.base import Fitted, ModelData, WeekSplit, holdout_weeks, summarize
from prism.models.draws import PanelDraws, roi_draws, train_totals, training_spend
from prism.schemas import Config, MarketChannel, ModelResult


@dataclass(frozen=True)
class PanelData(WeekSplit):
    """Weeks (T) × markets (G): `y` (T, G), `spend` (T, G, C), `controls` (T, G, K); `events` (T, E) shared."""

    dates: pd.DatetimeIndex
    markets: list[str]
    y: np.ndarray
    spend: np.ndarray
    controls: np.ndarray
    channels: list[str]
    control_names: list[str]
    n_test: int
    events: np.ndarray
    event_names: list[str]
    lifts: tuple = ()  # national lift tests (experiments.Lift), as ModelData carries them

    @property
    def n_markets(self) -> int:
        return len(self.markets)

    @property
    def sizes(self) -> np.ndarray:
        """(G,) each market's share of the KPI over the training weeks (its size, summing to 1)."""
        totals = self.y[self.train].sum(axis=0)
        whole = totals.sum()
        return totals / whole if whole else np.full(self.n_markets, 1.0 / self.n_markets)

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, cfg: Config) -> "PanelData":
        """Build from prepare's long weekly table: one row per market and week (date, market, KPI, channels,
        controls, events). Every market must cover every week (prepare fills or drops the others)."""
        d = cfg.data
        if not d.market_column or d.market_column not in frame.columns:
            raise InputError(f"weekly table: no market column '{d.market_column}' (config.json data.market_column); "
                             f"run `prism discover` to rebuild it")
        frame = frame.assign(**{d.market_column: frame[d.market_column].astype(str),
                                d.date_column: pd.to_datetime(frame[d.date_column])})
        dates = pd.DatetimeIndex(sorted(frame[d.date_column].unique()))
        markets = sorted(frame[d.market_column].unique())
        grid = frame.set_index([d.date_column, d.market_column]).sort_index()
        if grid.index.has_duplicates:
            when, where = grid.index[grid.index.duplicated()][0]
            raise InputError(f"weekly table: market '{where}' has two rows for week {pd.Timestamp(when).date()}")
        full = pd.MultiIndex.from_product([dates, markets], names=grid.index.names)
        if len(grid) != len(full):
            missing = full.difference(grid.index)[0]
            raise InputError(f"weekly table: market '{missing[1]}' has no row for week {pd.Timestamp(missing[0]).date()}; "
                             f"run `prism discover` (with --fill-gaps to keep such markets)")
        grid = grid.reindex(full)
        cube = lambda cols: grid[cols].to_numpy(dtype=float).reshape(len(dates), len(markets), len(cols))  # noqa: E731
        local = _market_events(grid, cfg)
        shared = grid.drop(columns=local).groupby(level=0).max(numeric_only=True).reset_index()
        event_names, events = event_design(shared, dates, cfg.baseline)
        controls = [*d.controls, *local]
        return cls(dates=dates, markets=markets, y=cube([d.kpi])[:, :, 0], spend=cube(list(d.channels)),
                   controls=cube(controls), channels=list(d.channels), control_names=controls,
                   n_test=holdout_weeks(len(dates), cfg), events=events, event_names=event_names)

    def _model_data(self, y: np.ndarray, spend: np.ndarray, controls: np.ndarray) -> ModelData:
        return ModelData(dates=self.dates, y=y, spend=spend, controls=controls, channels=list(self.channels),
                         control_names=list(self.control_names), n_test=self.n_test, events=self.events,
                         event_names=list(self.event_names), lifts=self.lifts)

    def national(self) -> ModelData:
        """The markets summed away: KPI and spend summed, controls averaged (as `--aggregate` prepares them)."""
        return self._model_data(self.y.sum(axis=1), self.spend.sum(axis=1), self.controls.mean(axis=1))

    def market(self, g: int | str) -> ModelData:
        """Market `g` (its position or its name) alone."""
        i = self.markets.index(g) if isinstance(g, str) else int(g)
        return self._model_data(self.y[:, i], self.spend[:, i, :], self.controls[:, i, :])


def _market_events(grid: pd.DataFrame, cfg: Config) -> list[str]:
    """The data's event columns that differ between markets in some week (a regional promotion): each market
    keeps its own, as a control, instead of every market getting the event of any one. Holidays and the
    configured event weeks come from the calendar and stay shared."""
    columns = data_event_columns(list(grid.columns), cfg.baseline)
    return [c for c in columns if (grid[c].groupby(level=0).nunique() > 1).any()]


def market_results(panel: PanelDraws) -> dict[str, dict[str, MarketChannel]]:
    """Each market's own ROI per channel over the training weeks, with its 90 % interval."""
    out: dict[str, dict[str, MarketChannel]] = {}
    for market, kd in zip(panel.markets, panel.draws):
        spend = training_spend(kd)
        roi = roi_draws(kd)
        out[market] = {}
        for c, ch in enumerate(kd.channels):
            total = float(train_totals(kd, c, kd.spend[:, c]).mean())
            band = np.quantile(roi[:, c], [0.05, 0.95]) if spend[c] > 0 else (None, None)
            out[market][ch] = MarketChannel(roi=float(roi[:, c].mean()) if spend[c] > 0 else None,
                                            roi_low=_float(band[0]), roi_high=_float(band[1]),
                                            contribution=total, spend=float(spend[c]))
    return out


def _float(value) -> float | None:
    return None if value is None else float(value)


def summarize_panel(fitted: Fitted, data: PanelData, seconds: float, quick: bool) -> ModelResult:
    """A panel fit's results: the national figures under the national keys (contributions summed over
    markets ÷ spend summed over markets, draw by draw), plus each market's own ROI under `markets`."""
    if fitted.panel_draws is None:
        raise ValueError(f"{fitted.engine}: a panel fit without panel draws")
    result = summarize(fitted, data.national(), seconds, quick)
    result.markets = market_results(fitted.panel_draws)
    return result


NO_PANEL_FORM = "no panel form yet"


def is_panel(cfg: Config) -> bool:
    """Whether config.json names a market column (the weekly table then holds one row per market and week)."""
    return bool(cfg.data.market_column)


def model_data(frame: pd.DataFrame, cfg: Config) -> "ModelData | PanelData":
    """The weekly table as the models read it: a `PanelData` when config.json names a market column and the
    table holds two markets or more (a panel of one market is that market's national series)."""
    if not is_panel(cfg):
        return ModelData.from_frame(frame, cfg)
    panel = PanelData.from_frame(frame, cfg)
    return panel if panel.n_markets > 1 else panel.national()

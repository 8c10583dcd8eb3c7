"""The portfolio view: every entity's channels in one table, and what holds across entities.

`portfolio.csv` is read entity by entity from the workspaces (each entity's `results/latest.json`, the
combined ROI and range compare wrote), so hundreds of entities never sit in memory at once. Across
entities a channel's ROI is weighted by confidence: a `high` entity counts fully, a `medium` one half, a
`low` one not at all (the report acts on high confidence only, so a low ROI must not move the portfolio's
figure). An outlier is an entity whose ROI for a channel lies far from the other entities' (more than
`OUTLIER_MADS` robust deviations from their median) with a 90 % range that excludes that median.
"""

from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from prism.schemas import Config, Results
from prism.workspace import PortfolioFiles, atomic_target, read_csv, read_model, write_csv

TABLE_COLUMNS = ["entity", "channel", "roi", "roi_low", "roi_high", "confidence"]
ENTITY_COLUMNS = ["entity", "folder", "status", "weeks", "kpi", "currency"]
CHANNEL_COLUMNS = ["channel", "entities", "high", "medium", "low", "weighted_roi", "roi_min", "roi_max"]
OUTLIER_COLUMNS = ["entity", "channel", "roi", "roi_low", "roi_high", "portfolio_median"]
WEIGHT = {"high": 1.0, "medium": 0.5, "low": 0.0}
OUTLIER_MADS = 3.0
MIN_FOR_OUTLIERS = 3  # entities with the channel before one can stand out
ENOUGH_WEEKS = 104  # two years: fewer cannot separate a channel from the season it runs in
MAD_SCALE = 1.4826  # MAD → standard deviation under normal errors


def write_table(files: PortfolioFiles, status: pd.DataFrame, mapping: pd.DataFrame) -> int:
    """portfolio.csv and entities.csv from the entities with results; returns the rows written."""
    rows, entities = 0, []
    states = dict(zip(status["entity"].astype(str), status["status"].astype(str)))
    with atomic_target(files.table) as tmp, tmp.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(TABLE_COLUMNS)
        for entity, folder in zip(mapping["entity"].astype(str), mapping["folder"].astype(str)):
            ws = files.entity(folder)
            state = states.get(entity, "")
            res = read_model(ws.latest, Results) if state in ("ok", "skipped") and ws.latest.exists() else None
            currency = read_model(ws.config, Config).data.currency if res and ws.config.exists() else None
            entities.append({"entity": entity, "folder": folder, "status": state, "weeks": res.weeks if res else None,
                             "kpi": res.kpi if res else None, "currency": currency})
            for ch, c in (res.combined if res else {}).items():
                writer.writerow([entity, ch, c.roi, c.roi_low, c.roi_high, c.confidence])
                rows += 1
    write_csv(files.entities, pd.DataFrame(entities, columns=ENTITY_COLUMNS))
    return rows


def read_table(files: PortfolioFiles) -> pd.DataFrame:
    return read_csv(files.table, required=tuple(TABLE_COLUMNS))


def channel_summary(table: pd.DataFrame) -> pd.DataFrame:
    """One row per channel: how many entities have it, at which confidence, and its ROI weighted by confidence
    (NaN where no entity measured it above `low`), best first."""
    rows = []
    for ch, part in table.groupby("channel", sort=False):
        w = part["confidence"].map(WEIGHT).fillna(0.0).to_numpy()
        roi = part["roi"].to_numpy(dtype=float)
        rows.append({"channel": ch, "entities": len(part),
                     **{label: int((part["confidence"] == label).sum()) for label in ("high", "medium", "low")},
                     "weighted_roi": float(w @ roi / w.sum()) if w.sum() > 0 else np.nan,
                     "roi_min": float(roi.min()), "roi_max": float(roi.max())})
    out = pd.DataFrame(rows, columns=CHANNEL_COLUMNS)
    return out.sort_values("weighted_roi", ascending=False, na_position="last").reset_index(drop=True)


def outliers(table: pd.DataFrame) -> pd.DataFrame:
    """Entity-channel ROIs far from the other entities' for that channel, their range excluding the median."""
    found = []
    for ch, part in table.groupby("channel", sort=False):
        if len(part) < MIN_FOR_OUTLIERS:
            continue
        roi = part["roi"].to_numpy(dtype=float)
        for i, row in enumerate(part.itertuples()):
            others = np.delete(roi, i)
            median = float(np.median(others))
            spread = MAD_SCALE * float(np.median(np.abs(others - median)))
            far = abs(row.roi - median) > OUTLIER_MADS * max(spread, 1e-9 * max(abs(median), 1.0))
            if far and not row.roi_low <= median <= row.roi_high:
                found.append({"entity": row.entity, "channel": ch, "roi": row.roi, "roi_low": row.roi_low,
                              "roi_high": row.roi_high, "portfolio_median": median})
    return pd.DataFrame(found, columns=OUTLIER_COLUMNS)


def thin_entities(entities: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Entities with too little data to act on: failed, under two years of weeks, or no channel above `low`."""
    measured = set(table.loc[table["confidence"].isin(["high", "medium"]), "entity"].astype(str))
    rows = []
    for r in entities.itertuples():
        if r.status == "failed":
            why = "it failed (status.csv says why)"
        elif pd.notna(r.weeks) and r.weeks < ENOUGH_WEEKS:
            why = f"{int(r.weeks)} weeks of data, under the {ENOUGH_WEEKS} (two years) that separate a channel from the season"
        elif str(r.entity) not in measured:
            why = "no channel measured above low confidence"
        else:
            continue
        rows.append({"entity": r.entity, "why": why})
    return pd.DataFrame(rows, columns=["entity", "why"])

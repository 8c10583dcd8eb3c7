"""Regional panels in discover: a market column becomes the panel by default, and a panel's bad input
(missing market-weeks, duplicated rows, one-row markets, hundreds of markets, 1000× scales) is said in one line."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides
from prism.data.sources import SourceSpec
from prism.models.base import ModelData
from prism.models.panel import PanelData, model_data
from prism.schemas import Config
from prism.workspace import Workspace, read_model, read_weekly
from tests.helpers.cli import Cli, weekly_frame

REGIONS = ("north", "south", "west")


def regional(weeks: int = 60, regions=REGIONS, scale: dict[str, float] | None = None) -> pd.DataFrame:
    """Markets of different sizes (region i is i + 1 times the first) in one long table."""
    parts = []
    for i, r in enumerate(regions):
        frame = weekly_frame(weeks=weeks, seed=10 + i)
        k = (scale or {}).get(r, i + 1.0)
        frame[["tv_spend", "search_spend", "revenue"]] *= k
        parts.append(frame.assign(region=r))
    return pd.concat(parts, ignore_index=True)


def found(tmp_path: Path, frame: pd.DataFrame, options: PrepareOptions | None = None, **over):
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "panel.csv"
    frame.to_csv(path, index=False)
    return discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(path)), Overrides(**over),
                    options or PrepareOptions())


def test_a_market_column_becomes_the_panel_and_the_weekly_table_keeps_it(tmp_path: Path) -> None:
    frame = regional()
    out = found(tmp_path, frame)
    d = out.config.data
    assert (d.market_column, d.entity_column, d.aggregate_entities) == ("region", None, False)
    ws = Workspace(tmp_path / "ws")
    cfg = read_model(ws.config, Config)
    long = read_weekly(ws, cfg, markets=True)
    assert len(long) == 180 and set(long["region"]) == set(REGIONS)
    national = read_weekly(ws, cfg)  # what every national reader sees: the markets summed
    assert len(national) == 60 and "region" not in national.columns
    assert national["revenue"].sum() == pytest.approx(frame["revenue"].sum())
    assert national["price"].mean() == pytest.approx(frame["price"].mean())
    markets = out.metadata.profile.markets
    assert {m: p.weeks for m, p in markets.items()} == {r: 60 for r in REGIONS}
    assert sum(p.size for p in markets.values()) == pytest.approx(1.0, abs=1e-5)
    assert markets["west"].size > markets["south"].size > markets["north"].size
    assert out.metadata.profile.weeks == 60
    data = model_data(long, cfg)
    assert isinstance(data, PanelData) and data.markets == sorted(REGIONS)


def test_aggregate_and_entity_still_sum_or_pick_the_markets(tmp_path: Path) -> None:
    frame = regional()
    summed = found(tmp_path / "a", frame, PrepareOptions(aggregate_entities=True))
    assert summed.config.data.market_column is None and len(summed.prepared.frame) == 60
    one = found(tmp_path / "b", frame, PrepareOptions(entity="south"))
    assert (one.config.data.market_column, one.config.data.entity) == (None, "south")


def test_a_dictionary_can_mark_a_market_column_the_name_does_not(tmp_path: Path) -> None:
    frame = regional().rename(columns={"region": "bottler"})
    (tmp_path / "data_dictionary.csv").write_text("column,role\nbottler,market\n")
    out = found(tmp_path, frame)
    assert out.config.data.market_column == "bottler"


def test_markets_lacking_weeks_are_dropped_or_filled_in_one_line(tmp_path: Path) -> None:
    frame = regional()
    frame = frame.drop(index=frame.index[(frame.region == "west")][[10, 11]])
    dropped = found(tmp_path / "a", frame)
    assert sorted(dropped.prepared.frame["region"].unique()) == ["north", "south"]
    lines = [w for w in dropped.metadata.warnings if "'west'" in w or "west" in w]
    assert len(lines) == 1 and "dropped" in lines[0] and "--fill-gaps" in lines[0]
    filled = found(tmp_path / "b", frame, PrepareOptions(fill_gaps=True))
    weekly = filled.prepared.frame
    west = weekly[weekly.region == "west"].set_index("date")
    assert len(weekly) == 180 and west["tv_spend"].eq(0).sum() == 2 and west["revenue"].notna().all()
    assert filled.metadata.profile.markets["west"].weeks == 58
    assert any("2 missing week(s) filled" in w and "(market(s) west)" in w for w in filled.metadata.warnings)


def test_a_market_with_one_row_is_dropped_and_a_channel_missing_in_a_market_is_named(tmp_path: Path) -> None:
    frame = regional()
    frame.loc[frame.region == "south", "search_spend"] = 0.0
    frame = pd.concat([frame, weekly_frame(weeks=1).assign(region="east")], ignore_index=True)
    out = found(tmp_path, frame)
    assert "east" not in set(out.prepared.frame["region"])
    assert any("market(s) east dropped: fewer than" in w for w in out.metadata.warnings)
    assert any("channel 'search_spend' has no spend in market(s) south" in w for w in out.metadata.warnings)
    assert out.config.data.channels == ["tv_spend", "search_spend"]


def test_a_panel_of_one_market_is_fitted_as_the_national_series(tmp_path: Path) -> None:
    frame = weekly_frame().assign(region="north")
    out = found(tmp_path, frame, entity_column="region")
    ws = Workspace(tmp_path / "ws")
    cfg = read_model(ws.config, Config)
    assert cfg.data.market_column == "region"
    data = model_data(read_weekly(ws, cfg, markets=True), cfg)
    assert isinstance(data, ModelData) and len(data.y) == 60
    np.testing.assert_allclose(data.y, frame["revenue"].to_numpy())


def test_market_kpi_scales_a_thousand_times_apart_are_named(tmp_path: Path) -> None:
    out = found(tmp_path, regional(scale={"north": 1.0, "south": 5.0, "west": 4000.0}))
    assert any("differ by" in w and "'west' against 'north'" in w for w in out.metadata.warnings)


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture, tmp_path: Path) -> Cli:
    return Cli(capsys, tmp_path / "ws")


def test_a_duplicated_market_week_is_exit_2_naming_market_and_week(cli: Cli, tmp_path: Path) -> None:
    frame = regional()
    frame = pd.concat([frame, frame[frame.region == "south"].iloc[[4]]], ignore_index=True)
    frame.to_csv(tmp_path / "dup.csv", index=False)
    cli.fails("discover", "--path", str(tmp_path / "dup.csv"), says=["market 'south'", "duplicate date 2022-01-31"])
    assert not {"config.json", "weekly.parquet"} & cli.workspace_files()


def test_hundreds_of_markets_are_counted_with_a_way_out(cli: Cli, tmp_path: Path) -> None:
    base = weekly_frame(weeks=30)
    frame = pd.concat([base.assign(dma=f"d{i:03d}") for i in range(150)], ignore_index=True)
    frame.to_csv(tmp_path / "dmas.csv", index=False)
    cli.fails("discover", "--path", str(tmp_path / "dmas.csv"), says=["'dma'", "150 markets", "--aggregate"])
    assert cli("discover", "--path", str(tmp_path / "dmas.csv"), "--aggregate")[0] == 0
    assert json.loads((cli.ws / "config.json").read_text())["data"]["market_column"] is None


def test_a_control_constant_within_each_market_is_not_a_control(tmp_path: Path) -> None:
    """Meridian's geo files carry each geo's population on every row: the market intercepts absorb it, so as a
    guessed control it only made the panel fit singular. Named by the user, it stays."""
    frame = regional().assign(population=lambda f: f["region"].map({"north": 1e6, "south": 2e6, "west": 3e6}))
    out = found(tmp_path / "guess", frame)
    assert "population" not in out.config.data.controls and "price" in out.config.data.controls
    role = {r.column: r for r in out.metadata.roles}["population"]
    assert role.role == "ignored" and "constant within each market" in role.reason
    given = found(tmp_path / "given", frame, controls=["price", "population"])
    assert "population" in given.config.data.controls

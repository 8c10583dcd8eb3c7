"""Role detection on real and simulated data, weekly aggregation numbers, entities, gaps, the data dictionary,
and the config.json-once / metadata.json-every-run contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.cli import main
from prism.data.discover import PrepareOptions, discover, refresh_metadata
from prism.data.prepare import frame_hash
from prism.data.roles import Overrides
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.schemas import Config, Metadata
from prism.workspace import Workspace, read_model, read_weekly, write_json

CONJURA = Path(__file__).resolve().parents[1] / "prism" / "sample_data" / "conjura_apparel_brand_weekly.csv"
CONJURA_CHANNELS = ["google_search", "google_shopping", "google_pmax", "google_display", "google_video",
                    "meta_facebook", "meta_instagram", "meta_other"]


def run(*args: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 0


def metadata(ws: Path) -> Metadata:
    return read_model(ws / "metadata.json", Metadata)


def test_conjura_roles_without_overrides(tmp_path: Path) -> None:
    run("discover", "--source", "csv", "--path", str(CONJURA), "--workdir", str(tmp_path))
    cfg = read_model(tmp_path / "config.json", Config)
    meta = metadata(tmp_path)
    assert cfg.data.date_column == "date" and cfg.data.kpi == "revenue"
    assert cfg.data.channels == CONJURA_CHANNELS and cfg.data.controls == []
    assert cfg.models == ["ridge", "pymc", "lightweight_mmm"]
    assert meta.kpi == "revenue"
    assert set(meta.kpi_alternatives) == {"first_orders", "all_orders", "all_revenue"}
    roles = {r.column: r for r in meta.roles}
    assert {c: roles[c].role for c in ("first_orders", "all_orders", "all_revenue")} == dict.fromkeys(
        ("first_orders", "all_orders", "all_revenue"), "kpi_alternative")
    assert roles["revenue"].confidence >= 0.9 and all(roles[c].confidence >= 0.8 for c in CONJURA_CHANNELS)
    p = meta.profile
    assert (p.rows, p.weeks, p.start, p.end, p.frequency) == (132, 132, "2021-11-22", "2024-05-27", "weekly")
    raw = pd.read_csv(CONJURA)
    assert p.columns["revenue"].total == pytest.approx(raw["revenue"].sum())
    assert p.columns["google_shopping"].zero_share == pytest.approx((raw["google_shopping"] == 0).mean())
    assert p.columns["meta_facebook"].corr_kpi == pytest.approx(raw["meta_facebook"].corr(raw["revenue"]), abs=1e-6)
    assert set(p.correlations) == set(CONJURA_CHANNELS)
    assert any("google_shopping" in w and "zero spend" in w for w in meta.warnings)
    assert meta.data_hash == frame_hash(read_weekly(Workspace(tmp_path), cfg))


def test_simulator_roles_without_overrides(tmp_path: Path) -> None:
    sim = simulate(weeks=104, n_channels=6, n_controls=2, seed=5)
    sim.write(tmp_path / "sim.csv")
    run("discover", "--path", str(tmp_path / "sim.csv"), "--workdir", str(tmp_path / "ws"))
    data = read_model(tmp_path / "ws" / "config.json", Config).data
    assert (data.date_column, data.kpi) == ("date", sim.kpi)
    assert data.channels == sim.channels and data.controls == sim.controls


def test_config_written_once_metadata_every_run(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    run("discover", "--path", str(CONJURA), "--workdir", str(ws))
    before = (ws / "config.json").read_bytes()
    first = metadata(ws).generated_at
    run("discover", "--path", str(CONJURA), "--workdir", str(ws))
    run("discover", "--no-overwrite-config", "--workdir", str(ws))
    assert (ws / "config.json").read_bytes() == before
    meta = metadata(ws)
    assert meta.kpi == "revenue" and meta.generated_at > first


def test_kpi_override_and_alternatives(tmp_path: Path) -> None:
    run("discover", "--path", str(CONJURA), "--kpi", "all_revenue", "--workdir", str(tmp_path))
    meta = metadata(tmp_path)
    assert meta.kpi == "all_revenue" and "revenue" in meta.kpi_alternatives
    assert read_model(tmp_path / "config.json", Config).data.channels == CONJURA_CHANNELS


def test_refresh_metadata_keeps_config_and_knowledge(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    discover(ws, SourceSpec("csv", path=str(CONJURA)), Overrides(), PrepareOptions())
    raw = json.loads(ws.metadata.read_text())
    raw["knowledge"]["business_context"] = {"currency": "EUR"}
    write_json(ws.metadata, raw)
    before = ws.config.read_bytes()
    meta = refresh_metadata(ws).metadata
    assert ws.config.read_bytes() == before
    assert meta.knowledge.business_context.currency == "EUR"
    assert metadata(tmp_path).knowledge.business_context.currency == "EUR"


def daily_frame(days: int = 200, start: str = "2023-01-04") -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({"day": pd.date_range(start, periods=days, freq="D").strftime("%Y-%m-%d"),
                         "tv_spend": rng.uniform(0, 100, days).round(2), "search_spend": rng.uniform(0, 50, days).round(2),
                         "temperature": rng.normal(15, 5, days).round(1), "sales": rng.uniform(500, 900, days).round(2)})


def test_daily_data_summed_into_monday_weeks(tmp_path: Path) -> None:
    daily = daily_frame()  # starts on a Wednesday: the first, partial week is dropped
    daily.to_csv(tmp_path / "daily.csv", index=False)
    run("prepare", "--path", str(tmp_path / "daily.csv"), "--out", "w.csv", "--workdir", str(tmp_path))
    weekly = pd.read_csv(tmp_path / "w.csv", parse_dates=["day"])
    days = pd.to_datetime(daily["day"])
    assert (weekly["day"].dt.day_of_week == 0).all() and weekly["day"].iloc[0] == pd.Timestamp("2023-01-09")
    week2 = daily[(days >= "2023-01-16") & (days < "2023-01-23")]
    row = weekly[weekly["day"] == "2023-01-16"].iloc[0]
    assert row["sales"] == pytest.approx(week2["sales"].sum())
    assert row["tv_spend"] == pytest.approx(week2["tv_spend"].sum())
    assert row["temperature"] == pytest.approx(week2["temperature"].mean())  # controls are averaged
    full_weeks = (days >= "2023-01-09") & (days < weekly["day"].iloc[-1] + pd.Timedelta(days=7))
    assert weekly["sales"].sum() == pytest.approx(daily.loc[full_weeks, "sales"].sum())
    assert len(weekly) == 27  # 2023-01-09 … 2023-07-10; the partial last week (to Saturday 07-22) is dropped


def test_week_anchor_sunday(tmp_path: Path) -> None:
    daily_frame().to_csv(tmp_path / "daily.csv", index=False)
    ws = Workspace(tmp_path / "ws")
    out = discover(ws, SourceSpec("csv", path=str(tmp_path / "daily.csv")), Overrides(),
                   PrepareOptions(week_anchor="SUN"))
    assert out.config.data.week_anchor == "SUN"
    assert (out.prepared.frame["day"].dt.day_of_week == 6).all()
    assert out.metadata.profile.frequency == "daily"


def test_transactions_summed_into_weeks(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    n = 5000
    stamps = pd.Timestamp("2023-01-02") + pd.to_timedelta(rng.uniform(0, 26 * 7, n), unit="D")
    frame = pd.DataFrame({"order_time": stamps.strftime("%Y-%m-%d %H:%M:%S"), "order_id": [f"o{i}" for i in range(n)],
                          "revenue": rng.uniform(10, 200, n).round(2), "meta_spend": rng.uniform(0, 5, n).round(2),
                          "google_spend": rng.uniform(0, 3, n).round(2)})
    frame.to_csv(tmp_path / "tx.csv", index=False)
    out = discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(tmp_path / "tx.csv")), Overrides(),
                   PrepareOptions())
    weekly = out.prepared.frame
    assert out.prepared.frequency == "transaction" and len(weekly) == 26
    assert out.config.data.channels == ["meta_spend", "google_spend"]
    assert weekly["revenue"].sum() == pytest.approx(frame["revenue"].sum())
    first = frame[pd.to_datetime(frame["order_time"]) < "2023-01-09"]
    assert weekly["revenue"].iloc[0] == pytest.approx(first["revenue"].sum())


def multi_entity(tmp_path: Path) -> tuple[Path, pd.DataFrame]:
    frames = [simulate(weeks=60, n_channels=3, n_controls=0, seed=s).frame.assign(region=r)
              for s, r in enumerate(("north", "south", "west"))]
    data = pd.concat(frames, ignore_index=True)
    data.to_csv(tmp_path / "regions.csv", index=False)
    return tmp_path / "regions.csv", data


def test_one_entity_or_all(tmp_path: Path) -> None:
    path, data = multi_entity(tmp_path)
    one = discover(Workspace(tmp_path / "a"), SourceSpec("csv", path=str(path)), Overrides(),
                   PrepareOptions(entity="south"))
    assert one.config.data.entity_column == "region" and one.config.data.entity == "south"
    assert one.metadata.profile.entities == ["north", "south", "west"]
    south = data[data["region"] == "south"]
    assert one.prepared.frame["tv_spend"].sum() == pytest.approx(south["tv_spend"].sum())
    both = discover(Workspace(tmp_path / "b"), SourceSpec("csv", path=str(path)), Overrides(),
                    PrepareOptions(aggregate_entities=True))
    assert both.config.data.aggregate_entities and len(both.prepared.frame) == 60
    assert both.prepared.frame["revenue"].sum() == pytest.approx(data["revenue"].sum())
    assert both.metadata.profile.model_extra["aggregated_entities"] is True


def test_gaps_reported_and_filled_only_when_asked(tmp_path: Path) -> None:
    frame = simulate(weeks=70, n_channels=2, seed=2).frame.drop(index=[30, 31]).reset_index(drop=True)
    frame.to_csv(tmp_path / "gaps.csv", index=False)
    spec = SourceSpec("csv", path=str(tmp_path / "gaps.csv"))
    plain = discover(Workspace(tmp_path / "a"), spec, Overrides(), PrepareOptions())
    assert len(plain.prepared.frame) == 68 and len(plain.metadata.profile.gaps) == 2
    assert any("--fill-gaps" in w for w in plain.metadata.warnings)
    filled = discover(Workspace(tmp_path / "b"), spec, Overrides(), PrepareOptions(fill_gaps=True))
    weekly = filled.prepared.frame.set_index("date")
    gap_weeks = pd.to_datetime(filled.metadata.profile.gaps)
    assert len(weekly) == 70 and (weekly.loc[gap_weeks, ["tv_spend", "search_spend"]] == 0).all().all()
    assert weekly.loc[gap_weeks, "revenue"].notna().all()


def test_data_dictionary_labels_and_roles(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "data_dictionary.csv").write_text(
        "column,label,role,unit,description,expected_roi_min,expected_roi_max\n"
        "revenue,New-customer revenue,kpi,EUR,Revenue from first orders,,\n"
        "meta_facebook,Facebook ads,channel,EUR,Paid social on Facebook,0.5,3\n"
        "google_search,Google non-brand search,channel,EUR,,1,4\n"
        "first_orders,First orders,,,,,\n")
    run("discover", "--path", str(CONJURA), "--workdir", str(ws))
    meta = metadata(ws)
    cfg = read_model(ws / "config.json", Config)
    assert cfg.data.channels == ["google_search", "meta_facebook"]  # the dictionary's roles win over detection
    assert cfg.data.dictionary == str(ws / "data_dictionary.csv")
    assert meta.labels["meta_facebook"] == "Facebook ads" and meta.label("google_search") == "Google non-brand search"
    assert meta.label("google_video") == "Google Video"
    field = meta.knowledge.fields["meta_facebook"]
    assert (field.unit, field.expected_roi_min, field.expected_roi_max) == ("EUR", 0.5, 3.0)
    assert meta.knowledge.source == f"local: {ws / 'data_dictionary.csv'}"


def test_aggregating_uneven_entities_warns(tmp_path: Path) -> None:
    path, data = multi_entity(tmp_path)
    data = data[~((data["region"] == "west") & (pd.to_datetime(data["date"]) < "2021-03-01"))]
    data.to_csv(path, index=False)
    out = discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(path)), Overrides(),
                   PrepareOptions(aggregate_entities=True))
    assert any("entity 'west' covers only 2021-03-01" in w for w in out.metadata.warnings)
    assert not any("'north'" in w or "'south'" in w for w in out.metadata.warnings)


def test_seed_style_script_in_a_subprocess(tmp_path: Path) -> None:
    """`python discover.py …` from the repository root: exit 0, then exit 2 with one line for bad input."""
    import subprocess
    import sys

    root = CONJURA.parents[2]
    ok = subprocess.run([sys.executable, "discover.py", "--path", str(CONJURA), "--workdir", str(tmp_path)],
                        cwd=root, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert read_model(tmp_path / "config.json", Config).data.kpi == "revenue"
    bad = subprocess.run([sys.executable, "prepare.py", "--path", str(tmp_path / "missing.csv")],
                         cwd=root, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0 and "missing.csv: file not found" in bad.stderr


def test_daily_week_with_missing_days_is_reported(tmp_path: Path) -> None:
    daily = daily_frame(start="2023-01-02")
    daily = daily[~daily["day"].isin(["2023-02-07", "2023-02-08"])]
    daily.to_csv(tmp_path / "daily.csv", index=False)
    out = discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(tmp_path / "daily.csv")), Overrides(),
                   PrepareOptions())
    assert any("1 week(s) with missing days" in w and "2023-02-06" in w for w in out.metadata.warnings)
    week = out.prepared.frame.set_index("day").loc["2023-02-06", "sales"]
    assert week == pytest.approx(daily[daily["day"].between("2023-02-06", "2023-02-12")]["sales"].sum())


def test_role_rules_on_mixed_column_names() -> None:
    """Exposure metrics, ratios, calendar columns and competitor data never become channels; outcomes never
    become channels or controls; a 0/1 holiday column is an event; without spend-like names, non-negative
    series are the channels."""
    from prism.data.roles import detect_roles

    rng = np.random.default_rng(4)
    n = 60
    frame = pd.DataFrame({
        "DATE": pd.date_range("2020-01-06", periods=n, freq="W-MON").strftime("%Y-%m-%d"),
        "tv_S": rng.uniform(0, 9, n), "facebook_I": rng.uniform(0, 9, n), "search_clicks_P": rng.uniform(0, 9, n),
        "competitor_sales_B": rng.uniform(0, 9, n), "revenue_per_order": rng.uniform(0, 9, n),
        "newsletter": rng.uniform(0, 9, n), "t": np.arange(n), "holiday": rng.integers(0, 2, n),
        "orders": rng.integers(5, 50, n), "revenue": rng.uniform(100, 900, n), "currency": "EUR"})
    roles = detect_roles(frame, Overrides())
    assert (roles.date, roles.kpi, roles.kpi_alternatives) == ("DATE", "revenue", ["orders"])
    assert roles.channels == ["tv_S"] and roles.entity_column is None
    assert roles.controls == ["competitor_sales_B", "newsletter"] and roles.events == ["holiday"]
    by_col = {r.column: r.role for r in roles.table}
    assert {by_col[c] for c in ("facebook_I", "search_clicks_P", "revenue_per_order", "t", "currency")} == {"ignored"}
    unnamed = detect_roles(frame[["DATE", "revenue"]].assign(x1=rng.uniform(0, 5, n), x2=rng.uniform(0, 5, n)),
                           Overrides())
    assert unnamed.channels == ["x1", "x2"]
    assert {r.column: r.confidence for r in unnamed.table}["x1"] < 0.6

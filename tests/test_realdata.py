"""Real-world wide files: spend vs exposure twins, holiday/season dummies as events, calendar columns ignored,
glob overrides, re-discover with role flags, the dictionary's role values, and events in the baseline."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.cli import main
from prism.data.discover import PrepareOptions, discover
from prism.data.roles import Overrides, detect_roles
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.errors import InputError
from prism.schemas import Config, Metadata
from prism.workspace import Workspace, read_model

SUFFIXES = ("dm", "inst", "nsp", "auddig", "audtr", "vidtr", "viddig", "so", "on", "sem")
HOLIDAYS = ("Black Friday", "Christmas Day", "Christmas Eve", "Columbus Day", "Cyber Monday", "Day after Christmas",
            "Easter", "Father's Day", "Green Monday", "July 4th", "Labor Day", "MLK", "Memorial Day", "Mother's Day",
            "NYE", "New Year's Day", "Pre Thanksgiving", "Presidents Day", "Prime Day", "Thanksgiving")
SEASONS = [f"seas_prd_{i}" for i in range(1, 7)] + [f"seas_week_{w}" for w in range(40, 49)]
CALENDAR = ("yr_nbr", "qtr_nbr", "prd", "wk_nbr", "wk_in_yr_nbr")
CONTROLS = ("me_ics_all", "me_gas_dpg", "st_ct", "mrkdn_valadd_edw", "mrkdn_pdm")


def retailer_frame(weeks: int = 104, seed: int = 0) -> pd.DataFrame:
    """Built like the retailer's file: spend `mdsp_*` and impressions `mdip_*` per channel, holiday and season
    dummies, markdown/macro controls and calendar columns."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2016-01-03", periods=weeks, freq="W-SUN")
    frame = pd.DataFrame({"wk_strt_dt": dates.strftime("%Y-%m-%d"), "yr_nbr": dates.year,
                          "qtr_nbr": dates.quarter, "prd": dates.month, "wk_nbr": np.arange(1, weeks + 1),
                          "wk_in_yr_nbr": dates.isocalendar().week.to_numpy()})
    for i, s in enumerate(SUFFIXES):
        spend = rng.uniform(0, 1, weeks) * 10_000 * (1 + i)
        frame[f"mdip_{s}"] = np.round(spend * rng.uniform(40, 60, weeks))
        frame[f"mdsp_{s}"] = spend.round(2)
    frame["me_ics_all"] = rng.normal(95, 3, weeks).round(1)
    frame["me_gas_dpg"] = rng.normal(2.5, 0.2, weeks).round(3)
    frame["st_ct"] = rng.integers(90, 95, weeks)
    frame["mrkdn_valadd_edw"] = rng.uniform(0, 5e5, weeks).round(0)
    frame["mrkdn_pdm"] = rng.uniform(0, 3e5, weeks).round(0)
    for k, name in enumerate(HOLIDAYS):
        frame[f"hldy_{name}"] = (np.arange(weeks) % 52 == (k * 5) % 52).astype(int)
    for k, name in enumerate(SEASONS):
        frame[name] = (np.arange(weeks) % 52 // 4 == k % 13).astype(int)
    frame["sales"] = rng.uniform(5e7, 9e7, weeks).round(0)
    return frame


def by_column(roles) -> dict:
    return {r.column: r for r in roles.table}


def test_retailer_file_gets_exactly_its_spend_channels() -> None:
    frame = retailer_frame()
    roles = detect_roles(frame, Overrides(), source="retailer.csv")
    assert (roles.date, roles.kpi) == ("wk_strt_dt", "sales")
    assert roles.channels == [f"mdsp_{s}" for s in SUFFIXES]
    assert roles.exposures == {f"mdip_{s}": f"mdsp_{s}" for s in SUFFIXES}
    assert roles.controls == list(CONTROLS)
    assert roles.events == [f"hldy_{h}" for h in HOLIDAYS] + SEASONS
    table = by_column(roles)
    assert {table[c].role for c in CALENDAR} == {"ignored"}
    assert all("calendar" in table[c].reason for c in CALENDAR)
    assert table["mdip_vidtr"].role == "exposure" and table["mdip_vidtr"].paired_with == "mdsp_vidtr"
    assert "prefix 'mdsp_'" in table["mdsp_vidtr"].reason and table["mdsp_vidtr"].confidence >= 0.9
    assert table["hldy_New Year's Day"].role == "event" and table["hldy_Mother's Day"].role == "event"
    assert all(r.reason and 0 < r.confidence <= 1 for r in roles.table)


def test_pairing_is_learnt_not_the_literal_prefixes() -> None:
    """Any two prefixes shared by several channels pair up; with markers that say nothing, the value scale decides."""
    frame = retailer_frame()
    frame.columns = [c.replace("mdsp_", "aa_").replace("mdip_", "bb_") for c in frame.columns]
    roles = detect_roles(frame, Overrides())
    assert roles.channels == [f"aa_{s}" for s in SUFFIXES]
    assert set(roles.exposures) == {f"bb_{s}" for s in SUFFIXES}
    assert "value scale" in by_column(roles)["aa_so"].reason


def test_robyn_text_events_column_is_an_event(tmp_path: Path) -> None:
    rows = 60
    rng = np.random.default_rng(2)
    labels = np.where(np.arange(rows) % 13 == 3, "event1", np.where(np.arange(rows) % 17 == 5, "event2", "na"))
    frame = pd.DataFrame({"DATE": pd.date_range("2015-11-23", periods=rows, freq="W-MON").strftime("%Y-%m-%d"),
                          "revenue": rng.uniform(2e6, 3e6, rows), "tv_S": rng.uniform(0, 3e4, rows),
                          "facebook_I": rng.uniform(1e6, 3e7, rows), "facebook_S": rng.uniform(0, 9e3, rows),
                          "search_clicks_P": rng.uniform(0, 1e4, rows), "search_S": rng.uniform(0, 5e3, rows),
                          "competitor_sales_B": rng.uniform(7e6, 9e6, rows), "events": labels,
                          "newsletter": rng.uniform(1e4, 2e4, rows)})
    frame.to_csv(tmp_path / "robyn.csv", index=False)
    out = discover(Workspace(tmp_path / "ws"), SourceSpec("csv", path=str(tmp_path / "robyn.csv")), Overrides(),
                   PrepareOptions())
    assert out.config.baseline.events_text_column == "events"
    assert out.config.data.channels == ["tv_S", "facebook_S", "search_S"]
    assert out.metadata.exposures == {"facebook_S": ["facebook_I"], "search_S": ["search_clicks_P"]}
    weekly = out.prepared.frame
    assert out.prepared.events == ["events=event1", "events=event2"]
    assert weekly["events=event1"].sum() == (labels == "event1").sum()
    assert {r.column: r.role for r in out.metadata.roles}["events"] == "event"


# Robyn's public demo data (facebookexperimental/Robyn, dt_simulated_weekly, MIT licence), kept in tests/data
ROBYN = Path(__file__).resolve().parent / "data" / "robyn_dt_simulated_weekly.csv"


def test_robyn_public_file_keeps_its_events_column() -> None:
    roles = detect_roles(pd.read_csv(ROBYN), Overrides(), source=ROBYN.name)
    assert roles.events_text == "events" and roles.channels == ["tv_S", "ooh_S", "print_S", "search_S", "facebook_S"]
    assert roles.exposures == {"facebook_I": "facebook_S", "search_clicks_P": "search_S"}


# ------------------------------------------------------------------------------------------ overrides


def cli(capsys: pytest.CaptureFixture, *args: str) -> tuple[int, str, str]:
    """`prism …` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code), out, err


def write_retailer(tmp_path: Path) -> Path:
    path = tmp_path / "retailer.csv"
    retailer_frame().to_csv(path, index=False)
    return path


def test_glob_overrides_and_a_pattern_that_matches_nothing(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, ws = write_retailer(tmp_path), tmp_path / "ws"
    code, _, err = cli(capsys, "discover", "--path", str(path), "--channels", "mdsp_*", "--controls", "me_*,mrkdn_pdm",
                       "--ignore", "st_ct,mrkdn_valadd_edw", "--workdir", str(ws))
    assert code == 0, err
    cfg = read_model(ws / "config.json", Config)
    assert cfg.data.channels == [f"mdsp_{s}" for s in SUFFIXES]
    assert cfg.data.controls == ["me_ics_all", "me_gas_dpg", "mrkdn_pdm"]
    roles = {r.column: r for r in read_model(ws / "metadata.json", Metadata).roles}
    assert roles["st_ct"].role == "ignored" and "--ignore" in roles["st_ct"].reason
    assert roles["mdip_so"].paired_with == "mdsp_so"
    code, _, err = cli(capsys, "discover", "--path", str(path), "--channels", "tv_*", "--workdir", str(tmp_path / "b"))
    assert code == 2 and "--channels pattern 'tv_*' matches no column" in err and "\n" not in err.strip()
    assert not (tmp_path / "b" / "config.json").exists()
    code, _, err = cli(capsys, "discover", "--path", str(path), "--channels", "mdsp_*", "--ignore", "mdsp_so",
                       "--workdir", str(tmp_path / "c"))
    assert code == 2 and "mdsp_so" in err and "cannot be both channel and ignored" in err


def test_rediscover_with_role_flags_reapplies_roles(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path, ws = write_retailer(tmp_path), tmp_path / "ws"
    assert cli(capsys, "discover", "--path", str(path), "--workdir", str(ws))[0] == 0
    raw = json.loads((ws / "config.json").read_text())
    raw["fourier_order"] = 3
    raw["adstock"]["channel_decays"] = {"mdsp_sem": 0.2, "mdsp_so": 0.5}
    (ws / "config.json").write_text(json.dumps(raw))
    code, out, err = cli(capsys, "discover", "--ignore", "mdsp_sem,hldy_Prime Day", "--controls", "me_*",
                         "--workdir", str(ws))
    assert code == 0, err
    cfg = read_model(ws / "config.json", Config)
    assert "mdsp_sem" not in cfg.data.channels and len(cfg.data.channels) == 9
    assert cfg.data.controls == ["me_ics_all", "me_gas_dpg"]
    assert "hldy_Prime Day" not in cfg.baseline.event_columns and "hldy_Easter" in cfg.baseline.event_columns
    assert cfg.fourier_order == 3 and cfg.adstock.channel_decays == {"mdsp_so": 0.5}
    said = " ".join(out.split())
    for change in ("channels removed: mdsp_sem", "controls removed: st_ct", "events removed: hldy_Prime Day",
                   "dropped the setting for 'mdsp_sem'"):
        assert change in said
    code, _, err = cli(capsys, "discover", "--no-overwrite-config", "--ignore", "st_ct", "--workdir", str(ws))
    assert code == 2 and "--no-overwrite-config" in err and "--ignore" in err


def test_dictionary_role_values(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = write_retailer(tmp_path)
    dic = tmp_path / "dict.csv"
    dic.write_text("column,role\nmdsp_so,channel\nmdsp_on,spend\nhldy_Easter,holiday\nme_ics_all,control\n"
                   "mdip_so,exposure\n")
    ws = tmp_path / "ws"
    assert cli(capsys, "discover", "--path", str(path), "--dictionary", str(dic), "--workdir", str(ws))[0] == 0
    cfg = read_model(ws / "config.json", Config)
    assert cfg.data.channels == ["mdsp_so", "mdsp_on"] and cfg.data.controls == ["me_ics_all"]
    assert cfg.baseline.event_columns == ["hldy_Easter"]
    roles = {r.column: r for r in read_model(ws / "metadata.json", Metadata).roles}
    assert (roles["mdip_so"].role, roles["mdip_so"].paired_with) == ("exposure", "mdsp_so")
    dic.write_text("column,role\nmdsp_so,channel\nhldy_Easter,festivity\n")
    code, _, err = cli(capsys, "discover", "--path", str(path), "--dictionary", str(dic), "--workdir",
                       str(tmp_path / "b"))
    assert code == 2 and f"{dic}: row 2 column 'role': unknown role 'festivity'" in err


# --------------------------------------------------------------------------------------- events design


def sim_config(sim, **baseline) -> Config:
    return Config.model_validate({"data": {"path": "sim.csv", "date_column": "date", "kpi": sim.kpi,
                                           "channels": sim.channels, "controls": sim.controls},
                                  "baseline": baseline})


def test_event_design_holidays_window_text_and_named_weeks() -> None:
    from prism.models.base import ModelData

    sim = simulate(weeks=104, n_channels=2, seed=3)  # Mondays from 2021-01-04
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]), **{"events=sale": 0.0})
    frame.loc[[10, 60], "events=sale"] = 1.0
    cfg = sim_config(sim, holidays="us", holiday_window=[1, 0], events_text_column="events",
                     event_weeks={"promo": ["2021-05-27", "2022-05-26"]})
    data = ModelData.from_frame(frame, cfg)
    cols = dict(zip(data.event_names, data.events.T))
    xmas = data.dates.get_loc(pd.Timestamp("2021-12-20"))  # the week holding 2021-12-25
    assert np.flatnonzero(cols["holiday: Christmas Day"]).tolist() == [xmas - 1, xmas, xmas + 51, xmas + 52]
    assert np.flatnonzero(cols["promo"]).tolist() == [20, 72]  # the weeks of 2021-05-24 and 2022-05-23
    assert np.flatnonzero(cols["events=sale"]).tolist() == [10, 60]
    assert "holiday: Independence Day" in cols and cfg.baseline.holidays == "US"
    bad = sim_config(sim, event_weeks={"promo": ["2030-01-01"]})
    with pytest.raises(InputError, match="baseline.event_weeks.promo: 2030-01-01 is outside the data"):
        ModelData.from_frame(frame, bad)


@pytest.mark.parametrize("baseline, says", [
    ({"holidays": "XX"}, "unknown holiday country 'XX'"),
    ({"holiday_window": [0, 9]}, "holiday_window weeks must be within 0..4"),
    ({"event_weeks": {"promo": ["May 3"]}}, "'May 3' is not a YYYY-MM-DD date"),
    ({"event_columns": ["tv_spend"]}, "already the date, KPI, a channel or a control"),
    ({"event_weeks": {"control_1": ["2021-03-01"]}}, "['control_1'] are already the date, KPI, a channel or a control"),
    ({"holidays": "US", "typo": 1}, "baseline.typo"),
])
def test_baseline_section_is_validated(tmp_path: Path, baseline: dict, says: str) -> None:
    sim = simulate(weeks=60, n_channels=2, seed=0)
    cfg = sim_config(sim).model_dump()
    cfg["baseline"].update(baseline)
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(InputError, match=re.escape(says)):
        read_model(tmp_path / "config.json", Config)


def promo_sim(seed: int = 1, weeks: int = 156, n_promo: int = 10, lift_share: float = 0.3):
    """The simulator plus KPI spikes in promo weeks that coincide with the first channel's heaviest spend."""
    sim = simulate(weeks=weeks, n_channels=5, seed=seed)
    frame = sim.frame.assign(date=pd.to_datetime(sim.frame["date"]))
    heavy = np.sort(np.argsort(-frame[sim.channels[0]].to_numpy()[: weeks - 16])[:n_promo])
    lift = lift_share * frame[sim.kpi].mean()
    frame.loc[heavy, sim.kpi] += lift
    return sim, frame, [str(frame["date"][i].date()) for i in heavy], lift * n_promo


def test_promo_weeks_as_events_cut_the_ridge_roi_error() -> None:
    """Spikes in promo weeks that no column explains are taken by the channel that spent most then; named as
    events they get their own coefficient and the ROI error against the simulator's truth falls."""
    from prism.models import ridge
    from prism.models.base import ModelData, summarize

    sim, frame, promo, injected = promo_sim()
    errors, results = {}, {}
    for name, cfg in (("without", sim_config(sim)), ("with", sim_config(sim, event_weeks={"promo": promo}))):
        data = ModelData.from_frame(frame, cfg)
        res = summarize(ridge.fit(data, cfg, quick=True), data, 0.0, quick=True)
        truth = sim.true_roi(slice(0, data.n_train))
        errors[name] = float(np.mean([abs(res.channels[c].roi / truth[c] - 1) for c in sim.channels]))
        results[name] = res
    # mean over the channels (a median of five hid which channels moved); measured 20.8 % → 16.2 % (the
    # channel that took the spikes, TV: −36 % → −22 %)
    assert errors["with"] < 0.85 * errors["without"] and errors["with"] <= 0.2, errors
    with_events = results["with"]
    assert with_events.events["promo"].weeks == len(promo)
    assert with_events.events["promo"].contribution == pytest.approx(injected, rel=0.25)
    weekly = with_events.weekly
    total = np.add(weekly.baseline, weekly.events) + np.sum(list(weekly.contributions.values()), axis=0)
    assert np.allclose(total, weekly.fitted)  # events sit apart from media and from the rest of the baseline
    assert results["without"].events == {} and results["without"].weekly.events == []


@pytest.mark.slow
@pytest.mark.parametrize("model", ["pymc", "lightweight_mmm"])
def test_bayesian_models_take_events_into_the_baseline(model: str) -> None:
    from prism.models.base import ModelData, summarize
    from prism.models.registry import load

    sim, frame, promo, injected = promo_sim(weeks=120)
    cfg = sim_config(sim, event_weeks={"promo": promo})
    cfg.pymc.draws = cfg.pymc.tune = 200
    cfg.lightweight_mmm.samples = cfg.lightweight_mmm.warmup = 200
    data = ModelData.from_frame(frame, cfg)
    res = summarize(load(model).fit(data, cfg, quick=False), data, 0.0, quick=False)
    assert res.events["promo"].contribution == pytest.approx(injected, rel=0.35)
    weekly = res.weekly
    total = np.add(weekly.baseline, weekly.events) + np.sum(list(weekly.contributions.values()), axis=0)
    assert np.allclose(total, weekly.fitted)


def test_two_markers_without_opposite_letters_need_the_value_scale() -> None:
    """`display` holds the letters `sp`, but display and video columns of equal scale are two channels, not a pair."""
    rng = np.random.default_rng(5)
    n = 60
    frame = pd.DataFrame({"date": pd.date_range("2022-01-03", periods=n, freq="W-MON").strftime("%Y-%m-%d"),
                          **{f"{m}_{r}": rng.uniform(0, 5e3, n) for m in ("display", "video") for r in ("eu", "us")},
                          "revenue": rng.uniform(1e5, 2e5, n)})
    roles = detect_roles(frame, Overrides())
    assert roles.channels == ["display_eu", "display_us", "video_eu", "video_us"] and roles.exposures == {}

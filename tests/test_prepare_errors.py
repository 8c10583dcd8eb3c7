"""Bad input through the real CLI: exit 2, one line naming the file/column/row/value, no traceback, and
nothing written or lost (no half-written output, an existing config.json kept byte for byte)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.cli import main
from tests.helpers.cli import Cli, weekly_frame
from prism.schemas import Metadata


@pytest.fixture()
def csv_file(tmp_path: Path):
    def write(frame: pd.DataFrame, name: str = "data.csv", **kw) -> Path:
        path = tmp_path / name
        frame.to_csv(path, index=False, **kw)
        return path
    return write


def discover_fails(cli: Cli, path: Path, *extra: str, says: list[str]) -> str:
    msg = cli.fails("discover", "--path", str(path), *extra, says=says)
    assert not {"config.json", "metadata.json"} & cli.workspace_files()
    return msg


# ----------------------------------------------------------------------------------------- files


def test_missing_file(cli: Cli, tmp_path: Path) -> None:
    discover_fails(cli, tmp_path / "nope.csv", says=["nope.csv", "file not found"])


def test_empty_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "empty.csv"
    path.write_text("")
    discover_fails(cli, path, says=["empty.csv", "empty"])


def test_header_only(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "header.csv"
    path.write_text("date,tv_spend,revenue\n")
    discover_fails(cli, path, says=["header.csv", "no data rows"])


def test_undetectable_delimiter(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "colon.csv"
    frame = weekly_frame()
    path.write_text("\n".join(":".join(map(str, r)) for r in [frame.columns, *frame.to_numpy()]))
    discover_fails(cli, path, says=["colon.csv", "delimiter could not be detected"])


def test_not_a_parquet_file(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "fake.parquet"
    path.write_text("date,revenue\n2022-01-03,1\n")
    discover_fails(cli, path, says=["fake.parquet", "not a readable Parquet file"])


def test_excel_without_matching_sheet(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "book.xlsx"
    weekly_frame().to_excel(path, sheet_name="weekly", index=False)
    discover_fails(cli, path, "--sheet", "Sheet9", says=["book.xlsx", "no sheet named 'Sheet9'", "weekly"])


def test_unknown_extension_needs_source(cli: Cli, tmp_path: Path) -> None:
    path = tmp_path / "data.dat"
    path.write_text("x")
    discover_fails(cli, path, says=["data.dat", "--source"])


# ------------------------------------------------------------------------------------------ dates


def test_unparseable_date_names_row_and_value(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[6, "date"] = "not-a-date"
    path = csv_file(frame)
    discover_fails(cli, path, "--date", "date", says=["data.csv", "'date'", "row 7", "'not-a-date'"])


def test_duplicate_date(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[10, "date"] = frame.loc[9, "date"]
    discover_fails(cli, csv_file(frame), says=["duplicate date", frame.loc[9, "date"], "rows 10, 11"])


def test_duplicate_date_per_entity(cli: Cli, csv_file) -> None:
    a, b = weekly_frame().assign(region="north"), weekly_frame(seed=2).assign(region="south")
    b.loc[5, "date"] = b.loc[4, "date"]
    path = csv_file(pd.concat([a, b], ignore_index=True))
    discover_fails(cli, path, "--aggregate", says=["duplicate date", "entity 'south'", "rows 65, 66"])


def test_monthly_data_refused(cli: Cli, csv_file) -> None:
    frame = weekly_frame(40)
    frame["date"] = pd.date_range("2020-01-01", periods=40, freq="MS").strftime("%Y-%m-%d")
    discover_fails(cli, csv_file(frame), says=["days apart", "weekly, daily or transaction"])


def test_off_grid_weekly_date(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[20, "date"] = "2022-05-25"  # a Wednesday among Mondays
    discover_fails(cli, csv_file(frame), says=["2022-05-25", "not a whole number of weeks"])


# ---------------------------------------------------------------------------------------- columns


def test_kpi_override_names_missing_column(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame()), "--kpi", "sales", says=["--kpi", "'sales'", "revenue"])


def test_no_kpi_column_recognised(cli: Cli, csv_file) -> None:
    frame = weekly_frame().rename(columns={"revenue": "amount"})
    discover_fails(cli, csv_file(frame), says=["no KPI column recognised", "--kpi"])


def test_kpi_missing_from_data_named_in_config(cli: Cli, csv_file, tmp_path: Path) -> None:
    path = csv_file(weekly_frame())
    assert cli("discover", "--path", str(path))[0] == 0
    pd.read_csv(path).rename(columns={"revenue": "rev_total"}).to_csv(path, index=False)
    msg = cli.fails("prepare", "--out", "weekly.csv", says=["column 'revenue'", "data.kpi", "not found"])
    assert "rev_total" in msg and not (cli.ws / "weekly.csv").exists()


def test_unknown_channel_in_channels(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame()), "--channels", "tv_spend,radio_spend",
                   says=["--channels", "'radio_spend'", "not in the data"])


def test_channel_and_control_at_once(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame()), "--channels", "tv_spend", "--controls", "tv_spend",
                   says=["tv_spend", "both channel and control"])


def test_non_numeric_spend(cli: Cli, csv_file) -> None:
    frame = weekly_frame().astype({"search_spend": object})
    frame.loc[12, "search_spend"] = "12k"
    discover_fails(cli, csv_file(frame), says=["'search_spend'", "row 13", "'12k'", "not a number"])


def test_negative_spend_names_rows(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[[3, 8], "tv_spend"] = [-5.0, -1.0]
    discover_fails(cli, csv_file(frame), says=["'tv_spend'", "negative spend", "rows 4, 9"])


def test_kpi_missing_beyond_ten_percent(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[0:9, "revenue"] = np.nan
    discover_fails(cli, csv_file(frame), says=["'revenue'", "missing in 17% of rows", "rows 1, 2"])


def test_constant_kpi(cli: Cli, csv_file) -> None:
    frame = weekly_frame().assign(revenue=1000.0)
    discover_fails(cli, csv_file(frame), says=["'revenue'", "constant", "1000"])


def test_all_channels_zero(cli: Cli, csv_file) -> None:
    frame = weekly_frame().assign(tv_spend=0.0, search_spend=0.0)
    discover_fails(cli, csv_file(frame), says=["every channel", "zero spend"])


# ------------------------------------------------------------------------------------------ weeks


def test_fewer_than_20_weeks(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame(15)), says=["only 15 weeks", "at least 24"])


def test_fewer_than_52_weeks_is_a_warning_in_metadata(cli: Cli, csv_file) -> None:
    code, _, _ = cli("discover", "--path", str(csv_file(weekly_frame(30))))
    assert code == 0
    meta = Metadata.model_validate_json((cli.ws / "metadata.json").read_text())
    assert meta.profile.weeks == 30
    assert any("only 30 weeks" in w for w in meta.warnings)
    assert any("only 30 weeks" in w for w in meta.profile.warnings)


def test_all_zero_channel_dropped_with_warning(cli: Cli, csv_file) -> None:
    frame = weekly_frame().assign(radio_spend=0.0)
    assert cli("discover", "--path", str(csv_file(frame)))[0] == 0
    cfg = json.loads((cli.ws / "config.json").read_text())
    meta = json.loads((cli.ws / "metadata.json").read_text())
    assert cfg["data"]["channels"] == ["tv_spend", "search_spend"]
    assert meta["profile"]["dropped_channels"] == ["radio_spend"]
    assert any("'radio_spend' has zero spend in every week and was dropped" in w for w in meta["warnings"])
    assert {r["column"]: r["role"] for r in meta["roles"]}["radio_spend"] == "ignored"


# -------------------------------------------------------------------------------------- encodings


def test_semicolon_and_tab_delimiters_detected(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    for sep, name in ((";", "semi.csv"), ("\t", "tab.tsv")):
        (cli.ws / "config.json").unlink(missing_ok=True)
        assert cli("discover", "--path", str(csv_file(frame, name, sep=sep)))[0] == 0
        data = json.loads((cli.ws / "config.json").read_text())["data"]
        assert (data["kpi"], data["channels"], data["controls"]) == ("revenue", ["tv_spend", "search_spend"], ["price"])
        notes = json.loads((cli.ws / "metadata.json").read_text())["dataset"]["notes"]
        assert any(f"delimiter detected as {sep!r}" in n for n in notes)


def test_latin1_file_detected(cli: Cli, csv_file) -> None:
    frame = pd.concat([weekly_frame().assign(marché="Côte-d'Or"), weekly_frame(seed=3).assign(marché="Genève")])
    path = csv_file(frame, "latin.csv", encoding="latin-1")
    assert cli("discover", "--path", str(path), "--entity", "Genève")[0] == 0
    meta = json.loads((cli.ws / "metadata.json").read_text())
    assert meta["profile"]["entities"] == ["Côte-d'Or", "Genève"]
    assert any("not UTF-8" in n for n in meta["dataset"]["notes"])


# --------------------------------------------------------------------------------------- entities


def test_several_entities_need_a_choice(cli: Cli, csv_file) -> None:
    frame = pd.concat([weekly_frame().assign(brand=b) for b in ("acme", "globex", "initech")])
    discover_fails(cli, csv_file(frame), says=["'brand'", "3 entities", "acme, globex, initech", "--entity", "--aggregate"])


def test_unknown_entity_value(cli: Cli, csv_file) -> None:
    frame = pd.concat([weekly_frame().assign(brand=b) for b in ("acme", "globex")])
    discover_fails(cli, csv_file(frame), "--entity", "umbrella", says=["entity 'umbrella'", "acme, globex"])


def test_entity_and_aggregate_exclude_each_other(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame()), "--entity", "x", "--aggregate", says=["--entity", "--aggregate"])


def test_bad_week_anchor(cli: Cli, csv_file) -> None:
    discover_fails(cli, csv_file(weekly_frame()), "--week-anchor", "XYZ", says=["--week-anchor", "XYZ"])


# -------------------------------------------------------------------------------- sql and extras


def test_missing_sqlite_file(cli: Cli, tmp_path: Path) -> None:
    cli.fails("discover", "--url", f"sqlite:///{tmp_path / 'gone.db'}", "--query", "select 1",
              says=["gone.db", "database file not found"])
    assert not (tmp_path / "gone.db").exists()


def test_bad_sql_query_is_named(cli: Cli, tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        weekly_frame().to_sql("weekly", con, index=False)
    cli.fails("discover", "--url", f"sqlite:///{db}", "--query", "select * from weekley",
              says=["select * from weekley", "failed", "no such table"])


@pytest.mark.parametrize("source,extra", [("bigquery", "bigquery"), ("gsheet", "gsheet")])
def test_missing_extra_names_pip_install(cli: Cli, monkeypatch: pytest.MonkeyPatch, source: str, extra: str) -> None:
    for mod in ("google.cloud.bigquery", "google.cloud", "gspread"):
        monkeypatch.setitem(sys.modules, mod, None)
    args = ["--query", "select 1"] if source == "bigquery" else ["--path", "1AbCdEf"]
    cli.fails("discover", "--source", source, *args, says=[f"pip install 'prism-mmm[{extra}]'"])


# ----------------------------------------------------------------------- config.json and outputs


def test_bad_config_key_names_key_and_keeps_file(cli: Cli, csv_file) -> None:
    assert cli("discover", "--path", str(csv_file(weekly_frame())))[0] == 0
    cfg = json.loads((cli.ws / "config.json").read_text())
    cfg["adstock"]["max_lag"] = 400
    (cli.ws / "config.json").write_text(json.dumps(cfg))
    before = (cli.ws / "config.json").read_bytes()
    cli.fails("discover", says=["config.json", "adstock.max_lag"])
    cli.fails("prepare", says=["config.json", "adstock.max_lag"])
    assert (cli.ws / "config.json").read_bytes() == before


def test_unknown_config_key_and_broken_json(cli: Cli, csv_file) -> None:
    assert cli("discover", "--path", str(csv_file(weekly_frame())))[0] == 0
    cfg = json.loads((cli.ws / "config.json").read_text())
    cfg["data"]["kpii"] = "revenue"
    (cli.ws / "config.json").write_text(json.dumps(cfg))
    cli.fails("discover", says=["data.kpii"])
    (cli.ws / "config.json").write_text("{not json")
    cli.fails("discover", "--no-overwrite-config", says=["config.json", "invalid JSON", "line 1"])
    assert (cli.ws / "config.json").read_text() == "{not json"


def test_failed_refresh_keeps_config_and_metadata(cli: Cli, csv_file) -> None:
    path = csv_file(weekly_frame())
    assert cli("discover", "--path", str(path))[0] == 0
    before = {n: (cli.ws / n).read_bytes() for n in ("config.json", "metadata.json")}
    frame = weekly_frame()
    frame.loc[2, "tv_spend"] = -1
    frame.to_csv(path, index=False)
    cli.fails("discover", "--no-overwrite-config", says=["'tv_spend'", "negative spend", "row"])
    assert {n: (cli.ws / n).read_bytes() for n in before} == before
    assert not [p for p in cli.ws.iterdir() if p.name.endswith(".tmp")]


def test_failed_prepare_keeps_existing_output(cli: Cli, csv_file) -> None:
    cli.ws.mkdir()
    (cli.ws / "weekly.csv").write_text("old")
    frame = weekly_frame()
    frame.loc[1, "date"] = "31/31/2022"
    cli.fails("prepare", "--path", str(csv_file(frame)), "--out", "weekly.csv", says=["'31/31/2022'", "row 2"])
    assert (cli.ws / "weekly.csv").read_text() == "old"


def test_prepare_out_needs_csv_or_parquet(cli: Cli, csv_file) -> None:
    cli.fails("prepare", "--path", str(csv_file(weekly_frame())), "--out", "weekly.xlsx", says=["--out", ".parquet"])


def test_dictionary_with_unknown_role(cli: Cli, csv_file, tmp_path: Path) -> None:
    dic = tmp_path / "dict.csv"
    dic.write_text("column,label,role,unit,description\nrevenue,Revenue,kpi,EUR,x\ntv_spend,TV,broadcast,EUR,y\n")
    discover_fails(cli, csv_file(weekly_frame()), "--dictionary", str(dic),
                   says=["dict.csv", "row 2", "unknown role 'broadcast'"])


def test_few_missing_values_are_repaired_and_reported(cli: Cli, csv_file) -> None:
    frame = weekly_frame()
    frame.loc[[5, 6], "revenue"] = np.nan  # 3 % of rows: under the 10 % limit
    frame.loc[9, "tv_spend"] = np.nan
    assert cli("discover", "--path", str(csv_file(frame)))[0] == 0
    warnings = json.loads((cli.ws / "metadata.json").read_text())["warnings"]
    assert any("'revenue' missing in 2 week(s)" in w and "interpolated" in w for w in warnings)
    assert any("'tv_spend': 1 empty value(s) read as zero spend" in w for w in warnings)
    code, _, _ = cli("prepare", "--out", "w.csv")
    weekly = pd.read_csv(cli.ws / "w.csv")
    assert code == 0 and weekly.loc[9, "tv_spend"] == 0
    expected = frame.loc[4, "revenue"] + (frame.loc[7, "revenue"] - frame.loc[4, "revenue"]) / 3
    assert weekly.loc[5, "revenue"] == pytest.approx(expected)

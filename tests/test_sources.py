"""The same simulated data as CSV, Parquet, Excel, JSON, a DuckDB file and a SQLite file gives the same
config.json data section (apart from where it came from) and the same weekly table."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from prism.cli import main
from prism.data.prepare import frame_hash, prepare_config
from prism.data.simulate import simulate
from prism.schemas import Config
from prism.workspace import Workspace, read_model, read_weekly

LOCATION_KEYS = {"source", "path", "url", "query", "sheet"}


@pytest.fixture(scope="module")
def sim_frame() -> pd.DataFrame:
    return simulate(weeks=80, n_channels=4, n_controls=1, seed=3).frame


def _write_all(frame: pd.DataFrame, folder: Path) -> dict[str, list[str]]:
    """Each format on disk, and the discover arguments that read it."""
    typed = frame.assign(date=pd.to_datetime(frame["date"]))
    frame.to_csv(folder / "d.csv", index=False)
    typed.to_parquet(folder / "d.parquet", index=False)
    with pd.ExcelWriter(folder / "d.xlsx") as book:
        pd.DataFrame({"note": ["read me"]}).to_excel(book, sheet_name="notes", index=False)
        typed.to_excel(book, sheet_name="weekly", index=False)
    frame.to_json(folder / "d.json", orient="records")
    with sqlite3.connect(folder / "d.db") as con:
        frame.to_sql("weekly", con, index=False)
    with duckdb.connect(str(folder / "d.duckdb")) as con:
        con.register("frame", typed)
        con.execute("CREATE TABLE weekly AS SELECT * FROM frame")
    query = "SELECT * FROM weekly ORDER BY date"
    return {
        "csv": ["--path", str(folder / "d.csv")],
        "parquet": ["--path", str(folder / "d.parquet")],
        "excel": ["--path", str(folder / "d.xlsx"), "--sheet", "weekly"],
        "json": ["--path", str(folder / "d.json")],
        "sqlite": ["--url", f"sqlite:///{folder / 'd.db'}", "--query", query],
        "duckdb": ["--url", f"duckdb:///{folder / 'd.duckdb'}", "--query", query],
    }


def _discover(args: list[str], ws: Path) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["discover", *args, "--workdir", str(ws)])
    assert exc.value.code == 0


def test_every_source_gives_the_same_data_section(sim_frame: pd.DataFrame, tmp_path: Path) -> None:
    sources = _write_all(sim_frame, tmp_path)
    sections, hashes = {}, {}
    for name, args in sources.items():
        ws = tmp_path / f"ws_{name}"
        _discover(args, ws)
        cfg = read_model(ws / "config.json", Config)
        sections[name] = {k: v for k, v in cfg.data.model_dump().items() if k not in LOCATION_KEYS}
        hashes[name] = json.loads((ws / "metadata.json").read_text())["data_hash"]
        assert frame_hash(read_weekly(Workspace(ws), cfg)) == hashes[name]  # the persisted table is the hashed one
    reference = sections["csv"]
    assert reference["kpi"] == "revenue" and reference["channels"] == ["tv_spend", "search_spend", "social_spend",
                                                                         "display_spend"]
    assert reference["controls"] == ["control_1"]
    for name, section in sections.items():
        assert section == reference, name
    assert len(set(hashes.values())) == 1, hashes


def test_source_and_location_recorded(sim_frame: pd.DataFrame, tmp_path: Path) -> None:
    sources = _write_all(sim_frame, tmp_path)
    _discover(sources["excel"], tmp_path / "x")
    _discover(sources["duckdb"], tmp_path / "q")
    excel = json.loads((tmp_path / "x" / "config.json").read_text())["data"]
    duck = json.loads((tmp_path / "q" / "config.json").read_text())["data"]
    assert (excel["source"], excel["sheet"], excel["path"]) == ("excel", "weekly", str(tmp_path / "d.xlsx"))
    assert duck["source"] == "sql" and duck["url"] == f"duckdb:///{tmp_path / 'd.duckdb'}"
    assert duck["query"].startswith("SELECT")


def test_relative_path_resolves_against_workspace(sim_frame: pd.DataFrame, tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    sim_frame.to_csv(tmp_path / "data" / "w.csv", index=False)
    cfg = Config.model_validate({"data": {"source": "csv", "path": "data/w.csv", "date_column": "date",
                                          "kpi": "revenue", "channels": ["tv_spend", "search_spend"]}})
    weekly = prepare_config(cfg, tmp_path)[1].frame
    assert list(weekly.columns) == ["date", "revenue", "tv_spend", "search_spend"]
    assert len(weekly) == 80 and weekly["tv_spend"].sum() == pytest.approx(sim_frame["tv_spend"].sum())


def test_sql_url_reads_password_from_environment(sim_frame: pd.DataFrame, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    with sqlite3.connect(tmp_path / "env.db") as con:
        sim_frame.to_sql("weekly", con, index=False)
    monkeypatch.setenv("PRISM_TEST_DB", str(tmp_path / "env.db"))
    cfg = Config.model_validate({"data": {"source": "sql", "url": "sqlite:///${PRISM_TEST_DB}",
                                          "query": "select * from weekly", "date_column": "date",
                                          "kpi": "revenue", "channels": ["tv_spend"]}})
    assert len(prepare_config(cfg, tmp_path)[1].frame) == 80


class _SheetError(Exception):
    pass


def _fake_gspread(frame: pd.DataFrame, seen: dict) -> object:
    """A stand-in for gspread's documented surface (service_account → open_by_key → worksheet → records)."""
    import types

    sheet = types.SimpleNamespace(title="weekly", get_all_records=lambda: frame.to_dict("records"))
    book = types.SimpleNamespace(worksheets=lambda: [types.SimpleNamespace(title="notes"), sheet],
                                 worksheet=lambda title: sheet, sheet1=None)

    def open_by_key(key: str) -> object:
        seen["key"] = key
        return book

    def service_account(filename: str | None = None) -> object:
        seen["keyfile"] = filename
        return types.SimpleNamespace(open_by_key=open_by_key, open_by_url=None)

    return types.SimpleNamespace(service_account=service_account,
                                 exceptions=types.SimpleNamespace(GSpreadException=_SheetError))


def test_gsheet_source_through_the_gspread_api(sim_frame: pd.DataFrame, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}
    monkeypatch.setitem(sys.modules, "gspread", _fake_gspread(sim_frame, seen))
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "key.json"))
    _discover(["--source", "gsheet", "--path", "1AbC", "--sheet", "weekly"], tmp_path / "g")
    _discover(_write_all(sim_frame, tmp_path)["csv"], tmp_path / "c")
    sheet, csv = (read_model(tmp_path / w / "config.json", Config).data for w in ("g", "c"))
    assert seen == {"key": "1AbC", "keyfile": str(tmp_path / "key.json")}
    assert (sheet.source, sheet.path, sheet.sheet) == ("gsheet", "1AbC", "weekly")
    assert sheet.model_dump(exclude=LOCATION_KEYS) == csv.model_dump(exclude=LOCATION_KEYS)


def test_bigquery_source_through_the_client_api(sim_frame: pd.DataFrame, tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    seen: dict = {}

    def client(project: str | None = None) -> object:
        seen["project"] = project
        return types.SimpleNamespace(query=lambda sql: seen.update(sql=sql) or types.SimpleNamespace(
            to_dataframe=lambda: sim_frame.copy()))

    bigquery = types.SimpleNamespace(Client=client)
    modules = {"google": types.SimpleNamespace(), "google.cloud": types.SimpleNamespace(bigquery=bigquery),
               "google.cloud.bigquery": bigquery, "db_dtypes": types.SimpleNamespace(),
               "google.auth": types.SimpleNamespace(),
               "google.auth.exceptions": types.SimpleNamespace(DefaultCredentialsError=_SheetError)}
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    query = "SELECT * FROM shop.mmm_weekly"
    _discover(["--source", "bigquery", "--query", query, "--project", "my-proj"], tmp_path / "bq")
    data = read_model(tmp_path / "bq" / "config.json", Config).data
    assert seen == {"project": "my-proj", "sql": query}
    assert (data.source, data.query, data.project, data.kpi) == ("bigquery", query, "my-proj", "revenue")
    assert data.channels == ["tv_spend", "search_spend", "social_spend", "display_spend"]

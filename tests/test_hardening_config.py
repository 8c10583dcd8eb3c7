"""Hardening, settings and files (issue 14 classes 4, 5, 8): every config value range-checked naming key and
value, user-fixable input answered with exit 2 and one line (never "internal error"), and no injection:
formulas neutralised, data paths confined to the workspace, variables kept unexpanded in files."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

import openpyxl
import pandas as pd
import pytest

from tests.helpers.cli import Cli, weekly_frame

from prism.workspace import neutralise_formulas


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture()
def discovered(cli: Cli) -> Cli:
    """A workspace discovered from a valid weekly CSV inside it."""
    cli.ws.mkdir()
    weekly_frame(60).to_csv(cli.ws / "data.csv", index=False)
    code, out, err = cli("discover", "--path", str(cli.ws / "data.csv"))
    assert code == 0, out + err
    return cli


def _edit_config(ws: Path, edit) -> None:
    cfg = json.loads((ws / "config.json").read_text())
    edit(cfg)
    (ws / "config.json").write_text(json.dumps(cfg))


# ------------------------------------------------------------------------- class 4: config ranges


def _set(path: str, value):
    def edit(cfg: dict) -> None:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value(cfg) if callable(value) else value
    return edit


BAD_VALUES = [
    ("saturation.channel_half", {"tv_spend": -5}, ["saturation.channel_half.tv_spend", "greater than 0", "-5"]),
    ("saturation.channel_slope", {"tv_spend": 0}, ["saturation.channel_slope.tv_spend", "greater than 0", "got 0"]),
    ("adstock.channel_decays", {"tv_spend": 2}, ["adstock.channel_decays.tv_spend", "0.95", "got 2"]),
    ("seed", -1, ["key 'seed'", "greater than or equal to 0", "got -1"]),
    ("timeouts", {"ridge": -1}, ["timeouts.ridge", "greater than or equal to 1", "got -1"]),
    ("ridge.alpha", float("inf"), ["ridge.alpha", "finite number", "got inf"]),
    ("roi_priors", {"tv_spend": {"low": 3, "high": 1}}, ["roi_priors.tv_spend", "low (3) is above high (1)"]),
    ("data.channels", lambda cfg: cfg["data"]["channels"] + ["revenue"],
     ["key 'data'", "the KPI 'revenue' cannot also be a channel or control"]),
    ("data.channels", lambda cfg: cfg["data"]["channels"] + ["tv_spend"], ["data.channels lists ['tv_spend']"]),
]


@pytest.mark.parametrize("key, value, says", BAD_VALUES, ids=[f"{k}-{i}" for i, (k, _, _) in enumerate(BAD_VALUES)])
def test_config_values_out_of_range_are_refused_naming_key_and_value(discovered: Cli, key: str, value,
                                                                     says: list[str]) -> None:
    _edit_config(discovered.ws, _set(key, value))
    before = _snapshot(discovered.ws)
    discovered.fails("run", says=["config.json", *says])
    assert _snapshot(discovered.ws) == before


# ---------------------------------------------------------------- class 5: user-fixable, not internal


def test_config_that_is_not_utf8_is_bad_input(discovered: Cli) -> None:
    (discovered.ws / "config.json").write_bytes(b'{"data": "\xff\xfe"}')
    before = _snapshot(discovered.ws)
    discovered.fails("run", says=["config.json: not UTF-8 text (byte 10)"])
    assert _snapshot(discovered.ws) == before


def test_state_that_is_not_utf8_is_bad_input(discovered: Cli) -> None:
    (discovered.ws / "state.json").write_bytes(b'{"round": "\xe9"}')
    discovered.fails("status", says=["state.json: not UTF-8 text"])


def test_config_json_that_is_a_folder_is_bad_input(cli: Cli) -> None:
    (cli.ws / "config.json").mkdir(parents=True)
    cli.fails("run", says=["config.json: is a folder, not a file"])


def test_sql_url_with_a_port_that_is_not_a_number(cli: Cli) -> None:
    cli.fails("discover", "--url", "postgresql://user:secret@db.example:abc/shop", "--query", "select 1",
              says=["data.url", "is not a SQLAlchemy URL", "'abc'"])
    assert not cli.ws.exists() or not (cli.ws / "config.json").exists()


def test_out_where_nothing_can_be_written(discovered: Cli) -> None:
    (discovered.ws / "blocker").write_text("a file, not a folder")
    before = _snapshot(discovered.ws)
    discovered.fails("prepare", "--out", str(discovered.ws / "blocker" / "weekly.csv"),
                     says=["blocker/weekly.csv: cannot write here"])
    assert _snapshot(discovered.ws) == before


@pytest.mark.skipif(not Path("/sys/kernel").is_dir(), reason="needs a read-only folder (sysfs)")
def test_read_only_workspace_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    """sysfs refuses new files even to root: a workspace where nothing can be written."""
    weekly_frame(60).to_csv(tmp_path / "data.csv", index=False)
    cli.ws = Path("/sys/kernel")
    cli.fails("discover", "--path", str(tmp_path / "data.csv"), says=["/sys/kernel/", "cannot write here"])


def test_list_typed_parquet_column_is_bad_input(cli: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60).assign(tags=[["a", "b"]] * 60)
    frame.to_parquet(tmp_path / "data.parquet")
    cli.fails("discover", "--path", str(tmp_path / "data.parquet"),
              says=["column 'tags' holds lists or records (first in data row 1)"])


def test_rich_markup_in_channel_names_prints_as_written(cli: Cli, tmp_path: Path) -> None:
    """`search[/]_x` closed a Rich tag that was never opened: exit 1 after config.json was written."""
    frame = weekly_frame(60).rename(columns={"search_spend": "search[/]_spend", "tv_spend": "[bold]tv_spend"})
    frame.to_csv(tmp_path / "data.csv", index=False)
    code, out, err = cli("discover", "--path", str(tmp_path / "data.csv"))
    assert code == 0, out + err
    assert "search[/]_spend" in out and "[bold]tv_spend" in out
    assert json.loads((cli.ws / "config.json").read_text())["data"]["channels"] == ["[bold]tv_spend",
                                                                                   "search[/]_spend"]


# --------------------------------------------------------------------------------- class 8: security


@pytest.mark.parametrize("name", ["=HYPERLINK(\"http://x\")", "+tv", "-tv", "@SUM(A1)", "\tsearch", "\rradio"])
def test_formula_like_names_are_neutralised_in_csv_and_xlsx(name: str) -> None:
    frame = pd.DataFrame({"channel": [name, "tv"], "roi": [1.5, -2.0], name: [1, 2]})
    safe = neutralise_formulas(frame)
    assert list(safe["channel"]) == [f"'{name}", "tv"] and list(safe.columns)[2] == f"'{name}"
    assert list(safe["roi"]) == [1.5, -2.0]  # numbers are never touched
    buf = io.BytesIO()
    safe.to_excel(buf, index=False)
    sheet = openpyxl.load_workbook(io.BytesIO(buf.getvalue())).active
    assert all(cell.data_type != "f" for row in sheet.iter_rows() for cell in row)


def test_prepared_csv_neutralises_formula_channel_names(discovered: Cli, tmp_path: Path) -> None:
    frame = weekly_frame(60).rename(columns={"tv_spend": "=tv_spend", "search_spend": "@search"})
    frame.to_csv(tmp_path / "raw.csv", index=False)
    code, out, err = discovered("prepare", "--path", str(tmp_path / "raw.csv"), "--kpi", "revenue",
                                "--channels", "=tv_spend,@search", "--out", "weekly.csv")
    assert code == 0, out + err
    header = (discovered.ws / "weekly.csv").read_text().splitlines()[0]
    assert header == "date,revenue,'=tv_spend,'@search,price"


def test_hand_edited_data_path_outside_the_workspace_is_refused(discovered: Cli) -> None:
    _edit_config(discovered.ws, _set("data.path", "../../../../../../etc/passwd"))
    before = _snapshot(discovered.ws)
    message = discovered.fails("discover", says=["data.path '../../../../../../etc/passwd' is outside the workspace",
                                            "prism discover --path FILE"])
    assert "root:" not in message
    assert _snapshot(discovered.ws) == before


def test_data_path_named_on_the_command_line_may_be_outside(cli: Cli, tmp_path: Path) -> None:
    weekly_frame(60).to_csv(tmp_path / "elsewhere.csv", index=False)
    weekly_frame(60, seed=2).to_csv(tmp_path / "other.csv", index=False)
    code, out, err = cli("discover", "--path", str(tmp_path / "elsewhere.csv"))
    assert code == 0, out + err
    code, out, err = cli("discover")  # a later round re-profiles the approved file
    assert code == 0, out + err
    _edit_config(cli.ws, _set("data.path", str(tmp_path / "other.csv")))  # never named on the command line
    cli.fails("prepare", says=["other.csv' is outside the workspace"])


def test_unset_variable_in_a_sql_url_is_named(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PRISM_DB_URL", raising=False)
    cli.fails("discover", "--url", "${PRISM_DB_URL}", "--query", "select 1",
              says=["data.url: environment variable PRISM_DB_URL is not set"])


@pytest.mark.parametrize("reference", ["$PRISM_TEST_DB", "${PRISM_TEST_DB}"])
def test_variable_references_stay_unexpanded_in_config(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       reference: str) -> None:
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as con:
        weekly_frame(60).to_sql("weekly", con, index=False)
    monkeypatch.setenv("PRISM_TEST_DB", str(db))
    code, out, err = cli("discover", "--url", f"sqlite:///{reference}", "--query", "select * from weekly")
    assert code == 0, out + err
    written = (cli.ws / "config.json").read_text() + (cli.ws / "metadata.json").read_text()
    assert reference in written and str(db) not in written


def test_a_dollar_in_a_password_is_not_taken_for_an_unset_variable(cli: Cli, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ecret", raising=False)
    message = cli.fails("discover", "--url", "postgresql://user:s$ecret@db.example:5432/shop", "--query", "select 1",
                        says=["postgresql://user:***@db.example:5432/shop"])
    assert "not set" not in message and "s$ecret" not in message

"""weekly.parquet: discover writes the clean table once, every later stage reads it, a data change shows only
through a new discover (which says so), and an old workspace without it gets a one-line error."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine

from prism.cli import main
from prism.data.discover import PrepareOptions, discover, refresh_metadata
from prism.data.prepare import frame_hash
from prism.data.roles import Overrides
from prism.data.simulate import simulate
from prism.data.sources import SourceSpec
from prism.errors import InputError
from prism.schemas import Config, Metadata
from prism.workspace import Workspace, read_model, read_weekly, write_json

PRISM = [sys.executable, "-m", "prism"]
TABLE = "prism_test_weekly"


def _csv_workspace(root: Path) -> tuple[Workspace, Path]:
    sim = simulate(weeks=80, n_channels=3, seed=5)
    csv = root / "data.csv"
    sim.write(csv)
    ws = Workspace(root)
    discover(ws, SourceSpec(source="csv", path=str(csv)),
             Overrides(date="date", kpi=sim.kpi, channels=sim.channels, controls=sim.controls), PrepareOptions())
    return ws, csv


def test_discover_writes_the_table_and_refresh_reports_a_change(tmp_path: Path) -> None:
    ws, csv = _csv_workspace(tmp_path)
    cfg, meta = read_model(ws.config, Config), read_model(ws.metadata, Metadata)
    assert frame_hash(read_weekly(ws, cfg)) == meta.data_hash
    assert refresh_metadata(ws).change_note is None  # same data: nothing to say

    raw = pd.read_csv(csv)
    raw.loc[10, cfg.data.kpi] *= 1.5
    raw.to_csv(csv, index=False)
    assert read_weekly(ws, cfg)[cfg.data.kpi].iloc[10] != raw.loc[10, cfg.data.kpi]  # stages keep the old table
    proc = subprocess.run([*PRISM, "discover", "-w", str(ws.root)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    new = read_model(ws.metadata, Metadata).data_hash
    assert new != meta.data_hash
    assert f"the weekly table changed since the last discover (data or roles): data_hash {meta.data_hash} → {new}" in " ".join(proc.stdout.split())
    assert read_weekly(ws, cfg)[cfg.data.kpi].iloc[10] == pytest.approx(raw.loc[10, cfg.data.kpi])
    assert frame_hash(read_weekly(ws, cfg)) == new


def test_prepare_in_a_workspace_refreshes_the_table(tmp_path: Path) -> None:
    ws, csv = _csv_workspace(tmp_path)
    ws.weekly.unlink()
    with pytest.raises(SystemExit) as exc:
        main(["prepare", "-w", str(ws.root), "--out", "export.csv"])
    assert exc.value.code == 0
    cfg = read_model(ws.config, Config)
    assert frame_hash(read_weekly(ws, cfg)) == read_model(ws.metadata, Metadata).data_hash
    assert len(pd.read_csv(ws.root / "export.csv")) == len(read_weekly(ws, cfg))


def test_workspace_without_weekly_table_is_a_one_line_error(tmp_path: Path) -> None:
    ws, _ = _csv_workspace(tmp_path)
    ws.weekly.unlink()
    proc = subprocess.run([*PRISM, "run", "-w", str(ws.root), "--quick"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert "weekly.parquet: file not found" in err and "prism discover" in err


def test_config_naming_a_column_the_table_lacks_asks_for_discover(tmp_path: Path) -> None:
    ws, _ = _csv_workspace(tmp_path)
    cfg = read_model(ws.config, Config)
    edited = cfg.model_copy(update={"data": cfg.data.model_copy(update={"controls": ["footfall"]})})
    with pytest.raises(InputError, match=r"weekly.parquet: no column\(s\) \['footfall'\].*prism discover"):
        read_weekly(ws, edited)


@pytest.fixture
def count_queries():
    """Executions of the test table's query, counted at the SQLAlchemy engine level (Prism untouched)."""
    seen: list[str] = []

    def listener(conn, cursor, statement, parameters, context, executemany):
        if TABLE in statement:
            seen.append(statement)

    event.listen(Engine, "before_cursor_execute", listener)
    yield seen
    event.remove(Engine, "before_cursor_execute", listener)


def _cli(*args: str) -> None:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    assert exc.value.code == 0, args


def test_sql_source_is_queried_once_per_discover(tmp_path: Path, count_queries: list[str]) -> None:
    """discover, then a whole loop round (its own discover + Explorer, run, compare, Analyst, Critic, Reporter,
    Proofreader), then stages by hand: the query runs once per discover and never in another stage."""
    sim = simulate(weeks=104, n_channels=3, seed=2)
    with duckdb.connect(str(tmp_path / "shop.duckdb")) as con:
        con.register("frame", sim.frame.assign(date=pd.to_datetime(sim.frame["date"])))
        con.execute(f"CREATE TABLE {TABLE} AS SELECT * FROM frame")
    ws = Workspace(tmp_path / "ws")
    _cli("discover", "--url", f"duckdb:///{tmp_path / 'shop.duckdb'}", "--query", f"SELECT * FROM {TABLE}",
         "--kpi", sim.kpi, "--channels", ",".join(sim.channels), "-w", str(ws.root))
    assert len(count_queries) == 1
    cfg = json.loads(ws.config.read_text())
    cfg["models"], cfg["ridge"]["bootstrap"] = ["ridge"], 20
    write_json(ws.config, cfg)

    _cli("loop", "-w", str(ws.root), "--rounds", "1", "--quick", "--no-render")
    assert ws.report_md.exists() and ws.draws_path(1, "ridge").exists()
    assert len(count_queries) == 2  # the first discover and the round's discover stage
    for stage in (("run", "--quick"), ("compare",), ("explore",), ("analyze",), ("report",)):
        _cli(*stage, "-w", str(ws.root))
    assert len(count_queries) == 2

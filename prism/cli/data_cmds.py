"""data commands: `prism prepare` (raw source → clean weekly table) and `prism discover` (roles → config.json,
profile → metadata.json)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import app, console, WorkdirOpt
from prism.cli.knowledge_cmds import report_pull
from prism.data.discover import Discovery, PrepareOptions, discover, prepare_source
from prism.data.prepare import Prepared, prepare_config
from prism.data.roles import Overrides
from prism.data.sources import SourceSpec, infer_source
from prism.errors import InputError
from prism.knowledge.sync import pull as pull_knowledge
from prism.schemas import Config
from prism.workspace import Workspace, read_model, write_bytes, write_csv

SourceOpt = typer.Option(None, "--source", help="csv, parquet, excel, json, sql, bigquery or gsheet "
                                                "(default: from the file extension, or sql with --url).")
PathOpt = typer.Option(None, "--path", help="Data file, or the Google Sheet key/URL.")
QueryOpt = typer.Option(None, "--query", help="SQL query (sql, bigquery).")
UrlOpt = typer.Option(None, "--url", help="SQLAlchemy URL (sql), e.g. duckdb:///shop.duckdb; ${VAR} is expanded.")
SheetOpt = typer.Option(None, "--sheet", help="Excel sheet or Google worksheet (default: the first).")
ProjectOpt = typer.Option(None, "--project", help="BigQuery project (default: from the environment).")
DateOpt = typer.Option(None, "--date", help="Date column (default: detected).")
KpiOpt = typer.Option(None, "--kpi", help="KPI column (default: detected, revenue-like first).")
ChannelsOpt = typer.Option(None, "--channels", help="Comma-separated spend columns (default: detected).")
ControlsOpt = typer.Option(None, "--controls", help="Comma-separated control columns (default: detected).")
EntityColOpt = typer.Option(None, "--entity-column", help="Column naming the brand/region/market (default: detected).")
EntityOpt = typer.Option(None, "--entity", help="Model this one entity.")
AggregateOpt = typer.Option(False, "--aggregate", help="Sum all entities into one series.")
AnchorOpt = typer.Option("MON", "--week-anchor", help="Weekday weeks start on when daily rows are summed.")
FillGapsOpt = typer.Option(False, "--fill-gaps", help="Fill missing weeks with zero spend (interpolated KPI).")


def _spec(source: str | None, path: str | None, query: str | None, url: str | None, sheet: str | None,
          project: str | None) -> SourceSpec | None:
    if not any((path, query, url)):
        return None
    return SourceSpec(source=source or infer_source(path, url), path=path, query=query, url=url, sheet=sheet,
                      project=project)


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _overrides(date: str | None, kpi: str | None, channels: str | None, controls: str | None,
               entity_column: str | None) -> Overrides:
    """The role overrides given on the command line (comma-separated lists split)."""
    return Overrides(date=date, kpi=kpi, channels=_split(channels), controls=_split(controls),
                     entity_column=entity_column)


def _options(entity: str | None, aggregate: bool, anchor: str, fill_gaps: bool) -> PrepareOptions:
    anchor = anchor.upper()[:3]
    if anchor not in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"):
        raise InputError(f"--week-anchor '{anchor}' is not a weekday (MON … SUN)")
    if entity is not None and aggregate:
        raise InputError("--entity and --aggregate exclude each other: model one entity or sum them all")
    return PrepareOptions(entity=entity, aggregate_entities=aggregate, week_anchor=anchor, fill_gaps=fill_gaps)


@app.command("prepare")
def prepare_cmd(
    source: Optional[str] = SourceOpt, path: Optional[str] = PathOpt, query: Optional[str] = QueryOpt,
    url: Optional[str] = UrlOpt, sheet: Optional[str] = SheetOpt, project: Optional[str] = ProjectOpt,
    date: Optional[str] = DateOpt, kpi: Optional[str] = KpiOpt, channels: Optional[str] = ChannelsOpt,
    controls: Optional[str] = ControlsOpt, entity_column: Optional[str] = EntityColOpt,
    entity: Optional[str] = EntityOpt, aggregate: bool = AggregateOpt, week_anchor: str = AnchorOpt,
    fill_gaps: bool = FillGapsOpt,
    out: Path = typer.Option(Path("weekly.csv"), "--out", "-o",
                             help="Clean weekly table (.csv or .parquet), relative to the workspace."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Load a source into one clean weekly table (date, KPI, channels, controls) and write it to --out.

    Without --path/--url the workspace's config.json says what to load.
    """
    ws = Workspace(workdir)
    spec = _spec(source, path, query, url, sheet, project)
    target = out if out.is_absolute() else ws.root / out
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--out {out}: use a .csv or .parquet file name")
    with console.status("Loading and preparing the data…"):
        if spec is None:
            if not ws.config.exists():
                raise InputError(f"{ws.config} not found: pass --path FILE (or run `prism discover` first)")
            _, prepared = prepare_config(read_model(ws.config, Config), ws.root)
        else:
            overrides = _overrides(date, kpi, channels, controls, entity_column)
            options = _options(entity, aggregate, week_anchor, fill_gaps)
            prepared = prepare_source(spec, overrides, options)[3]
    _write_table(target, prepared)
    console.print(_summary(prepared, f"Prepared {target}", prepared.warnings))


def _write_table(target: Path, prepared: Prepared) -> None:
    frame = prepared.frame
    if target.suffix.lower() == ".parquet":
        write_bytes(target, frame.to_parquet(index=False))
    else:
        write_csv(target, frame.assign(**{frame.columns[0]: frame.iloc[:, 0].dt.strftime("%Y-%m-%d")}))


@app.command("discover")
def discover_cmd(
    source: Optional[str] = SourceOpt, path: Optional[str] = PathOpt, query: Optional[str] = QueryOpt,
    url: Optional[str] = UrlOpt, sheet: Optional[str] = SheetOpt, project: Optional[str] = ProjectOpt,
    date: Optional[str] = DateOpt, kpi: Optional[str] = KpiOpt, channels: Optional[str] = ChannelsOpt,
    controls: Optional[str] = ControlsOpt, entity_column: Optional[str] = EntityColOpt,
    entity: Optional[str] = EntityOpt, aggregate: bool = AggregateOpt, week_anchor: str = AnchorOpt,
    fill_gaps: bool = FillGapsOpt,
    dictionary: Optional[str] = typer.Option(None, "--dictionary", help="data_dictionary.csv (column,label,role,"
                                             "unit,description); default: found in the workspace or beside the data."),
    no_overwrite_config: bool = typer.Option(False, "--no-overwrite-config",
                                             help="Keep config.json and refresh metadata.json only (an existing "
                                                  "config.json is always kept; the flag says so explicitly)."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Detect date, KPI, channels and controls; write config.json (once) and metadata.json (every run)."""
    ws = Workspace(workdir)
    spec = _spec(source, path, query, url, sheet, project)
    overrides = _overrides(date, kpi, channels, controls, entity_column)
    with console.status("Profiling the data…"):
        result = discover(ws, spec, overrides, _options(entity, aggregate, week_anchor, fill_gaps), dictionary)
    with console.status("Pulling the knowledge layer…"):
        pulled = pull_knowledge(ws)
    _report_discovery(ws, result, spec, no_overwrite_config)
    report_pull(pulled)


def _report_discovery(ws: Workspace, result: Discovery, spec: SourceSpec | None, no_overwrite: bool) -> None:
    roles = Table(title="Column roles", show_lines=False)
    for col in ("column", "role", "confidence", "reason"):
        roles.add_column(col)
    for r in result.metadata.roles:
        roles.add_row(escape(r.column), r.role, f"{r.confidence:.2f}", escape(r.reason))
    console.print(roles)
    console.print(_summary(result.prepared, "Weekly table", result.metadata.warnings))
    if result.config_written:
        console.print(f"[green]wrote[/] {ws.config} and {ws.metadata}")
    else:
        why = " (--no-overwrite-config)" if no_overwrite else ""
        note = "; the --path/--url given was not used (delete config.json to re-discover)" if spec else ""
        console.print(f"[green]kept[/] {ws.config}{why}{note}; [green]refreshed[/] {ws.metadata}")


def _summary(prepared: Prepared, title: str, warnings: list[str]) -> Table:
    frame = prepared.frame
    dates = frame.iloc[:, 0]
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("weeks", f"{len(frame)} ({dates.iloc[0].date()} → {dates.iloc[-1].date()})")
    table.add_row("source rows", str(prepared.rows))
    table.add_row("frequency", prepared.frequency)
    table.add_row("entities", escape(", ".join(prepared.entities)) or "—")
    table.add_row("KPI", str(frame.columns[1]))
    table.add_row("channels", f"{len(prepared.channels)}: {', '.join(prepared.channels)}")
    table.add_row("dropped channels", ", ".join(prepared.dropped_channels) or "—")
    table.add_row("gaps", f"{len(prepared.gaps)} missing week(s)" if prepared.gaps else "—")
    table.add_row("warnings", escape("\n".join(warnings)) or "—")
    return table

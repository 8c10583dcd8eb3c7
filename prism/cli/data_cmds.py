"""data commands: `prism prepare` (raw source → clean weekly table) and `prism discover` (roles → config.json,
profile → metadata.json)."""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import app, console, WorkdirOpt
from prism.cli.knowledge_cmds import report_pull
from prism.errors import InputError
from prism.workspace import Workspace, check_writable, write_bytes, write_csv

if TYPE_CHECKING:  # the data layer (pandas, loaders) loads when a command runs, not at `prism` start-up
    from prism.data.discover import Discovery, PrepareOptions
    from prism.data.prepare import Prepared
    from prism.data.roles import Overrides
    from prism.data.sources import SourceSpec

PATTERN_HELP = "names or glob patterns, comma-separated; quote patterns: 'mdsp_*'"


def _opt(default: Any, *names: str, help: str) -> Any:
    """A dataclass field whose typer option is declared in its metadata (typer itself has no option groups)."""
    return field(default=default, metadata={"option": typer.Option(default, *names, help=help)})


@dataclass(frozen=True)
class SourceArgs:
    """The source, role and preparation options `prepare` and `discover` share, declared once."""

    source: Optional[str] = _opt(None, "--source", help="csv, parquet, excel, json, sql, bigquery or gsheet "
                                                        "(default: from the file extension, or sql with --url).")
    path: Optional[str] = _opt(None, "--path", help="Data file, or the Google Sheet key/URL.")
    query: Optional[str] = _opt(None, "--query", help="SQL query (sql, bigquery).")
    url: Optional[str] = _opt(None, "--url", help="SQLAlchemy URL (sql), e.g. duckdb:///shop.duckdb; ${VAR} is expanded.")
    sheet: Optional[str] = _opt(None, "--sheet", help="Excel sheet or Google worksheet (default: the first).")
    project: Optional[str] = _opt(None, "--project", help="BigQuery project (default: from the environment).")
    date: Optional[str] = _opt(None, "--date", help="Date column (default: detected).")
    kpi: Optional[str] = _opt(None, "--kpi", help="KPI column (default: detected, revenue-like first).")
    channels: Optional[str] = _opt(None, "--channels", help=f"Spend columns ({PATTERN_HELP}; default: detected).")
    controls: Optional[str] = _opt(None, "--controls", help=f"Control columns ({PATTERN_HELP}; default: detected).")
    events: Optional[str] = _opt(None, "--events", help=f"Event/holiday dummies or one text events column for the "
                                                        f"baseline ({PATTERN_HELP}; default: detected).")
    ignore: Optional[str] = _opt(None, "--ignore", help=f"Columns never used ({PATTERN_HELP}).")
    entity_column: Optional[str] = _opt(None, "--entity-column",
                                        help="Column naming the brand/region/market (default: detected).")
    entity: Optional[str] = _opt(None, "--entity", help="Model this one entity.")
    aggregate: bool = _opt(False, "--aggregate", help="Sum all entities into one series.")
    week_anchor: str = _opt("MON", "--week-anchor", help="Weekday weeks start on when daily rows are summed.")
    fill_gaps: bool = _opt(False, "--fill-gaps", help="Fill missing weeks with zero spend (interpolated KPI).")

    def spec(self) -> SourceSpec | None:
        return _spec(self.source, self.path, self.query, self.url, self.sheet, self.project)

    def overrides(self) -> Overrides:
        return _overrides(self.date, self.kpi, self.channels, self.controls, self.entity_column, self.events,
                          self.ignore)

    def options(self) -> PrepareOptions:
        return _options(self.entity, self.aggregate, self.week_anchor, self.fill_gaps)


def with_source_args(command: Callable[..., None]) -> Callable[..., None]:
    """Give `command` SourceArgs's options on the command line, handed to it as its `args` parameter."""
    shared = [inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.metadata["option"],
                                annotation=f.type) for f in fields(SourceArgs)]
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
           for p in inspect.signature(command).parameters.values() if p.name != "args"]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        args = SourceArgs(**{f.name: kwargs.pop(f.name) for f in fields(SourceArgs)})
        command(args=args, **kwargs)

    wrapper.__signature__ = inspect.Signature([*shared, *own])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {**{f.name: f.type for f in fields(SourceArgs)},
                               **{k: v for k, v in command.__annotations__.items() if k != "args"}}
    return wrapper


def _spec(source: str | None, path: str | None, query: str | None, url: str | None, sheet: str | None,
          project: str | None) -> SourceSpec | None:
    from prism.data.sources import SourceSpec, infer_source

    if not any((path, query, url)):
        return None
    return SourceSpec(source=source or infer_source(path, url), path=path, query=query, url=url, sheet=sheet,
                      project=project)


def _split(text: str | None) -> list[str] | None:
    return None if text is None else [c.strip() for c in text.split(",") if c.strip()]


def _overrides(date: str | None, kpi: str | None, channels: str | None, controls: str | None,
               entity_column: str | None, events: str | None = None, ignore: str | None = None) -> Overrides:
    """The role overrides given on the command line (comma-separated lists split; patterns expand later)."""
    from prism.data.roles import Overrides

    return Overrides(date=date, kpi=kpi, channels=_split(channels), controls=_split(controls),
                     entity_column=entity_column, events=_split(events), ignore=_split(ignore))


def _options(entity: str | None, aggregate: bool, anchor: str, fill_gaps: bool) -> PrepareOptions:
    from prism.data.discover import PrepareOptions

    anchor = anchor.upper()[:3]
    if anchor not in ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN"):
        raise InputError(f"--week-anchor '{anchor}' is not a weekday (MON … SUN)")
    if entity is not None and aggregate:
        raise InputError("--entity and --aggregate exclude each other: model one entity or sum them all")
    return PrepareOptions(entity=entity, aggregate_entities=aggregate, week_anchor=anchor, fill_gaps=fill_gaps)


@app.command("prepare")
@with_source_args
def prepare_cmd(
    args: SourceArgs,
    out: Path = typer.Option(Path("weekly.csv"), "--out", "-o",
                             help="Clean weekly table (.csv or .parquet), relative to the workspace."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Load a source into one clean weekly table (date, KPI, channels, controls) and write it to --out.

    Without --path/--url the workspace's config.json says what to load, and the workspace's weekly.parquet
    and metadata.json are refreshed from it too (as `prism discover` does).
    """
    from prism.data.discover import prepare_source, refresh_metadata

    ws = Workspace(workdir)
    spec = args.spec()
    target = out if out.is_absolute() else ws.root / out
    if target.suffix.lower() not in (".csv", ".parquet"):
        raise InputError(f"--out {out}: use a .csv or .parquet file name")
    check_writable(target)  # before the refresh below rewrites anything in the workspace
    refreshed = None
    with console.status("Loading and preparing the data…"):
        if spec is None:
            if not ws.config.exists():
                raise InputError(f"{ws.config} not found: pass --path FILE (or run `prism discover` first)")
            refreshed = refresh_metadata(ws)
            prepared = refreshed.prepared
        else:
            prepared = prepare_source(spec, args.overrides(), args.options())[-1]
    _write_table(target, prepared)
    console.print(_summary(prepared, escape(f"Prepared {target}"), prepared.warnings))
    if refreshed is not None:
        _report_refresh(ws, refreshed)


def _write_table(target: Path, prepared: Prepared) -> None:
    frame = prepared.frame
    if target.suffix.lower() == ".parquet":
        write_bytes(target, frame.to_parquet(index=False))
    else:
        write_csv(target, frame.assign(**{frame.columns[0]: frame.iloc[:, 0].dt.strftime("%Y-%m-%d")}))


@app.command("discover")
@with_source_args
def discover_cmd(
    args: SourceArgs,
    dictionary: Optional[str] = typer.Option(None, "--dictionary", help="data_dictionary.csv (column,label,role,"
                                             "unit,description); default: found in the workspace or beside the data."),
    no_overwrite_config: bool = typer.Option(False, "--no-overwrite-config",
                                             help="Keep config.json and refresh metadata.json only (an existing "
                                                  "config.json is always kept; the flag says so explicitly)."),
    currency: Optional[str] = typer.Option(None, "--currency", metavar="CODE",
                                           help="ISO 4217 code the spend and KPI are in (e.g. EUR): reports say "
                                                "'per EUR'; default: the knowledge layer's, else 'per unit'."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Detect date, KPI, channels, controls and events; write config.json (once) and metadata.json (every run).

    In a workspace that has config.json, role flags (--channels, --controls, --events, --ignore, --kpi, …)
    re-apply the roles: config.json's data section is rewritten, model settings are kept.
    """
    from prism.data.discover import discover
    from prism.knowledge.sync import pull as pull_knowledge

    ws = Workspace(workdir)
    spec = args.spec()
    overrides = args.overrides()
    if no_overwrite_config and overrides.given():
        raise InputError(f"--no-overwrite-config keeps config.json, so it cannot re-apply "
                         f"{', '.join('--' + o.replace('_', '-') for o in overrides.given())}; drop one or the other")
    with console.status("Profiling the data…"):
        result = discover(ws, spec, overrides, args.options(), dictionary)
    if currency is not None:
        from prism.data.discover import set_currency

        result.config = set_currency(ws, currency)
    with console.status("Pulling the knowledge layer…"):
        pulled = pull_knowledge(ws)
    _report_discovery(ws, result, spec, no_overwrite_config)
    report_pull(pulled)


def _report_discovery(ws: Workspace, result: Discovery, spec: SourceSpec | None, no_overwrite: bool) -> None:
    roles = Table(title="Column roles", show_lines=False)
    for col in ("column", "role", "confidence", "reason"):
        roles.add_column(col)
    for r in result.metadata.roles:
        role = f"{r.role} of {r.paired_with}" if r.paired_with else r.role
        roles.add_row(escape(r.column), escape(role), f"{r.confidence:.2f}", escape(r.reason))
    console.print(roles)
    _report_labels_and_drops(result)
    console.print(_summary(result.prepared, "Weekly table", result.metadata.warnings))
    for change in result.changes:
        console.print(f"[yellow]changed[/] {escape(change)}")
    if result.config_written:
        console.print(f"[green]wrote[/] {escape(str(ws.config))}, {ws.weekly.name} and {ws.metadata.name}")
    else:
        why = " (--no-overwrite-config)" if no_overwrite else ""
        note = ("; the --path/--url given was not used (role flags such as --channels re-apply roles; delete "
                "config.json to re-discover)") if spec else ""
        console.print(f"[green]kept[/] {escape(str(ws.config))}{why}{note}")
    _report_refresh(ws, result)


def _report_labels_and_drops(result: Discovery) -> None:
    """The labels every report will use and the columns left out, for the user to confirm at discover."""
    meta = result.metadata
    channels = [r.column for r in meta.roles if r.role == "channel"]
    console.print("labels (confirm with the user): " + ", ".join(f"{c} → {meta.label(c)}" for c in channels),
                  highlight=False, markup=False, soft_wrap=True)
    for r in meta.roles:
        if r.role == "ignored":
            console.print(f"not modelled: {r.column} ({r.reason})", highlight=False, markup=False, soft_wrap=True)


def _report_refresh(ws: Workspace, result: Discovery) -> None:
    """Say what was (re)written and whether the data changed since the last discover."""
    if not result.config_written:
        console.print(f"[green]refreshed[/] {escape(str(ws.weekly))} and {ws.metadata.name} (data_hash {result.metadata.data_hash})")
    if result.change_note:
        console.print(f"[yellow]{escape(result.change_note)}[/]", soft_wrap=True)


def _summary(prepared: Prepared, title: str, warnings: list[str]) -> Table:
    frame = prepared.frame
    dates = frame.iloc[:, 0]
    table = Table(title=title, show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    table.add_row("weeks", f"{prepared.weeks} ({dates.min().date()} → {dates.max().date()})")
    table.add_row("source rows", str(prepared.rows))
    table.add_row("frequency", prepared.frequency)
    if prepared.market_column:
        table.add_row("markets", escape(f"{len(prepared.entities)} in '{prepared.market_column}', modelled as a "
                                        f"panel: {', '.join(prepared.entities)}"))
    else:
        table.add_row("entities", escape(", ".join(prepared.entities)) or "—")
    table.add_row("KPI", escape(prepared.kpi))
    table.add_row("channels", escape(f"{len(prepared.channels)}: {', '.join(prepared.channels)}"))
    table.add_row("events", escape(f"{len(prepared.events)}: {', '.join(prepared.events)}") if prepared.events else "—")
    table.add_row("dropped channels", escape(", ".join(prepared.dropped_channels)) or "—")
    table.add_row("gaps", f"{len(prepared.gaps)} missing week(s)" if prepared.gaps else "—")
    table.add_row("warnings", escape("\n".join(warnings)) or "—")
    return table

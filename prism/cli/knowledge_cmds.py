"""knowledge commands: `prism knowledge init-notion | pull | export | show`."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import app, console, err_console, WorkdirOpt
from prism.errors import InputError
from prism.workspace import Workspace, read_model, write_json

if TYPE_CHECKING:  # the knowledge layer (pandas, httpx) loads when a command runs, not at `prism` start-up
    from prism.knowledge.sync import Pulled
    from prism.schemas import Knowledge

knowledge_app = typer.Typer(help="Knowledge layer: field definitions, business context, known issues and "
                                 "experiments from Notion or knowledge/ files, kept in metadata.json.",
                            no_args_is_help=True)
app.add_typer(knowledge_app, name="knowledge")
SOURCES = ("notion", "local", "none")


def report_pull(pulled: Pulled) -> None:
    """One line on where the knowledge came from, or the one warning when Notion could not be read."""
    k = pulled.knowledge
    if pulled.warning:
        err_console.print(f"[yellow]warning:[/] {escape(pulled.warning)}", soft_wrap=True)
    elif k.source:
        console.print(f"knowledge: {len(k.fields)} field(s), {len(k.known_issues)} known issue(s), "
                      f"{len(k.experiments)} experiment(s) from {escape(k.source)}", soft_wrap=True)
    for note in k.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)


@knowledge_app.command("pull")
def pull_cmd(
    source: Optional[str] = typer.Option(None, "--source", help="notion, local or none (default: config.json "
                                                                 "knowledge.source)."),
    database: Optional[list[str]] = typer.Option(None, "--database", help="TABLE=ID-or-title for this pull, e.g. "
                                                 "fields=1f2e…; tables: fields, context, issues, experiments."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Refresh metadata.json's knowledge layer now; a failed Notion pull keeps the last good knowledge (exit 2)."""
    from prism.knowledge import sync

    if source is not None and source not in SOURCES:
        raise InputError(f"--source: {source!r} is not one of {', '.join(SOURCES)}")
    ws = Workspace(workdir)
    pulled = sync.pull(ws, source, _databases(database or []))
    report_pull(pulled)
    if pulled.warning:
        raise typer.Exit(2)
    console.print(f"[green]updated[/] {ws.metadata}")


def _databases(pairs: list[str]) -> dict[str, str]:
    from prism.knowledge.tables import TABLES

    keys = {t.key for t in TABLES}
    out = {}
    for pair in pairs:
        key, sep, ref = pair.partition("=")
        if not sep or key.strip() not in keys or not ref.strip():
            raise InputError(f"--database {pair!r}: use TABLE=ID-or-title with TABLE one of {', '.join(sorted(keys))}")
        out[key.strip()] = ref.strip()
    return out


@knowledge_app.command("init-notion")
def init_notion_cmd(
    parent_page: str = typer.Option(..., "--parent-page", help="id of the Notion page (shared with the "
                                                                "integration) to create the four databases under."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Create the four Notion databases under a page, fill Field Definitions, point config.json at them."""
    from prism.knowledge import notion, sync
    from prism.knowledge.tables import TABLES
    from prism.schemas import Config, Metadata

    ws = Workspace(workdir)
    cfg = read_model(ws.config, Config)
    meta = read_model(ws.metadata, Metadata)
    try:
        ids = notion.create_databases(parent_page, sync.modelled_fields(meta, cfg))
    except notion.NotionUnavailable as exc:
        raise InputError(str(exc)) from None
    write_json(ws.config, cfg.model_copy(update={"knowledge": cfg.knowledge.model_copy(
        update={"source": "notion", "databases": ids})}))
    for table in TABLES:
        console.print(f"created '{table.title}': {ids[table.key]}")
    console.print(f"[green]updated[/] {ws.config} (knowledge.source = notion); fill the databases in Notion, then "
                  f"run [bold]prism knowledge pull[/]")


@knowledge_app.command("export")
def export_cmd(force: bool = typer.Option(False, "--force", help="Overwrite existing files in knowledge/."),
               workdir: Path = WorkdirOpt) -> None:
    """Write knowledge/fields.csv, context.yaml, issues.csv, experiments.csv from metadata.json."""
    from prism.knowledge import local
    from prism.schemas import Metadata

    ws = Workspace(workdir)
    for path in local.export(ws, read_model(ws.metadata, Metadata).knowledge, force):
        console.print(f"[green]wrote[/] {path}")


@knowledge_app.command("show")
def show_cmd(workdir: Path = WorkdirOpt) -> None:
    """Print the knowledge layer metadata.json holds: where from, fields, context, issues, experiments."""
    from prism.schemas import Metadata

    k = read_model(Workspace(workdir).metadata, Metadata).knowledge
    when = k.pulled_at.isoformat(timespec="minutes") if k.pulled_at else "never pulled"
    console.print(f"source: {escape(k.source or 'none')} ({when})", soft_wrap=True)
    for table in _tables(k):
        console.print(table)
    for note in k.notes:
        console.print(f"[dim]note: {escape(note)}[/]", soft_wrap=True)


def _tables(k: Knowledge) -> list[Table]:
    def table(title: str, columns: list[str], rows: list[list[object]]) -> Table:
        t = Table(title=title)
        for c in columns:
            t.add_column(c)
        for r in rows:
            t.add_row(*[escape("" if v is None else str(v)) for v in r])
        return t

    fields = [[f.column, f.label, f.role, f.unit, f.expected_roi_min, f.expected_roi_max, f.adstock_decay]
              for f in k.fields.values()]
    context = [[key, value] for key, value in k.business_context.model_dump(exclude_none=True).items()]
    issues = [[i.issue, i.column, i.start, i.end, i.severity, i.action] for i in k.known_issues]
    experiments = [[e.channel, e.start, e.end, e.spend, e.incremental_kpi, e.incremental_kpi_se] for e in k.experiments]
    return [table("Field definitions", ["column", "label", "role", "unit", "ROI min", "ROI max", "decay"], fields),
            table("Business context", ["key", "value"], context),
            table("Known issues", ["issue", "column", "start", "end", "severity", "action"], issues),
            table("Experiments", ["channel", "start", "end", "spend", "incremental KPI", "SE"], experiments)]

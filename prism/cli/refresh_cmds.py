"""governance commands: `prism refresh`, `prism approve`, `prism history` and `prism decide`."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import WorkdirOpt, app, console


def _who() -> str:
    """The login name, asked when the command runs (a default in the signature would be the docs builder's)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in some containers
        return ""


@app.command()
def refresh(
    path: Optional[str] = typer.Option(None, "--path", help="New data: every week, or only the new ones "
                                       "(default: config.json's source again, e.g. its SQL query)."),
    restate: bool = typer.Option(False, "--restate", help="Accept changed values in weeks already modelled."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Add new weeks to the approved model: forecast check, refit with fixed scaling, stability, release gates."""
    from prism.orchestration.refresh import run_refresh
    from prism.workspace import Workspace

    report = run_refresh(Workspace(workdir), path, restate)
    f = report.forecast
    console.print(f"{len(report.new_weeks)} new week(s) {f.start} to {f.end}"
                  + (f", {len(report.restated_weeks)} restated" if report.restated_weeks else ""))
    console.print(f"forecast check (round {report.approved_round}'s draws): {f.coverage:.0%} of weeks inside the 90% "
                  f"interval, MAPE {f.mape:.1f}%, bias {f.bias_pct:+.1f}%" + (" — missed" if f.missed else ""))
    for g in report.gates_failed:
        console.print(f"[{'red' if g.action == 'block' else 'yellow'}]gate {g.name} failed ({g.action})[/]: "
                      f"{escape(g.reason)}")
    if report.suspects:
        console.print("suspects: " + ", ".join(f"{escape(s.name)} (z {s.z:.1f})" for s in report.suspects))
    console.print(f"verdict: [bold]{report.verdict}[/]; current results: round {report.current_round}; "
                  f"see results/refresh.csv and results/refresh.json")


@app.command()
def approve(
    by: str = typer.Option("", "--by", help="Who approves (default: the login name)."),
    reason: str = typer.Option(..., "--reason", help="Why this model is fit to act on."),
    round_no: Optional[int] = typer.Option(None, "--round", min=1, help="Round to approve (default: the latest)."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Mark a round as the approved model (who, when, why); `prism refresh` starts from it."""
    from prism.analysis.governance import approve as approve_round
    from prism.workspace import Workspace

    entry = approve_round(Workspace(workdir), round_no, by or _who(), reason)
    console.print(f"round {entry['round']} approved by {escape(entry['by'])} ({entry['id']} in decisions.jsonl)")


@app.command()
def history(workdir: Path = WorkdirOpt) -> None:
    """The approved models, with their data and config hashes, package versions and seeds."""
    from prism.analysis.governance import history as approved_history
    from prism.workspace import Workspace

    frame = approved_history(Workspace(workdir))
    if frame.empty:
        console.print("no approved model yet (`prism approve --reason WHY`)")
        return
    table = Table(title="Approved models")
    for col in frame.columns:
        table.add_column(col)
    for row in frame.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    console.print(table)


@app.command()
def decide(
    action: str = typer.Option(..., "--action", help="What was done, e.g. 'moved 20% of tv to search'."),
    start: str = typer.Option(..., "--start", help="First day the action ran (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--end", help="Last day the action ran (YYYY-MM-DD)."),
    by: str = typer.Option("", "--by", help="Who decided (default: the login name)."),
    recommendation: Optional[str] = typer.Option(None, "--recommendation",
                                                 help="The recommendation acted on (default: the latest)."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Record what was done; a later refresh scores it against the approved model's forecast."""
    from prism.analysis.governance import decide as record_action
    from prism.workspace import Workspace

    entry = record_action(Workspace(workdir), action, start, end, by or _who(), recommendation)
    console.print(f"recorded {entry['id']}: {escape(entry['action'])} ({entry['start']} to {entry['end']})")

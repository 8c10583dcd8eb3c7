"""portfolio commands: `prism portfolio` (one workspace per entity, fitted on Ray) and `prism portfolio optimize`."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import WorkdirOpt, app, console
from prism.cli.data_cmds import SourceArgs, with_source_args
from prism.cli.planning_cmds import WeeksOpt, plan_table
from prism.errors import InputError

if TYPE_CHECKING:  # the orchestration layer loads when a command runs, not at `prism` start-up
    from prism.orchestration.entity import Outcome, RoundOptions

portfolio_app = typer.Typer(help="Many brands, markets or product lines side by side: one workspace per entity, "
                                 "fitted on Ray, one portfolio view and a shared budget.",
                            invoke_without_command=True, no_args_is_help=False)
app.add_typer(portfolio_app, name="portfolio")

STATUS_STYLE = {"ok": "green", "skipped": "cyan", "failed": "red"}


@portfolio_app.callback()
@with_source_args
def portfolio_cmd(
    args: SourceArgs,
    ctx: typer.Context,
    settings: Optional[Path] = typer.Option(None, "--settings", help="JSON file of config.json sections (all but "
                                            "`data`), e.g. {\"models\": [\"ridge\"], \"ridge\": {\"bootstrap\": 100}}, "
                                            "applied to every entity's config.json."),
    loop: bool = typer.Option(False, "--loop", help="Run the whole agent loop per entity (default: one round of "
                                                    "run, compare and audit)."),
    rounds: int = typer.Option(4, "--rounds", "-n", min=1, help="With --loop: rounds per entity."),
    quick: bool = typer.Option(False, "--quick", help="Quick model settings; no audit or test plans."),
    k: int = typer.Option(20, "--k", min=2, help="Audit: synthetic KPI series to refit, per entity."),
    plan_k: Optional[int] = typer.Option(None, "--plan-k", min=2, help="Simulated tests per test design (default 10)."),
    dictionary: Optional[str] = typer.Option(None, "--dictionary", help="data_dictionary.csv for every entity."),
    address: Optional[str] = typer.Option(None, "--address", help="Join this Ray cluster (HOST:PORT of `ray start "
                                          "--head`, or auto); default: a local Ray on this machine's cores."),
    cpus: Optional[int] = typer.Option(None, "--cpus", min=1, help="CPUs of the local Ray (default: all cores)."),
    workdir: Path = WorkdirOpt,
) -> None:
    """Fit every entity of --entity-column in its own workspace (entities/<name>/), as Ray tasks; write
    status.csv as each ends, then portfolio/portfolio.csv and the portfolio report."""
    if ctx.invoked_subcommand is not None:
        return
    from prism.orchestration.portfolio import run_portfolio

    options = _round_options(args, settings, loop, rounds, quick, k, plan_k, dictionary)
    root = workdir.resolve()
    run = run_portfolio(root, args.entity_column, options, address, cpus, console)
    if run.single is not None:
        o = run.outcomes[0]
        console.print(escape(f"'{args.entity_column}' holds one value ('{run.single}'): modelled as one workspace in "
                             f"{root}, not a portfolio; {o.status}" + (f": {o.reason}" if o.reason else "")),
                      highlight=False, soft_wrap=True)
        raise typer.Exit(0 if o.status != "failed" else 1)
    console.print(_status_table(run.outcomes))
    _write_outputs(root)
    if all(o.status == "failed" for o in run.outcomes):
        raise typer.Exit(1)


def _round_options(args: SourceArgs, settings: Path | None, loop: bool, rounds: int, quick: bool, k: int,
                   plan_k: int | None, dictionary: str | None) -> RoundOptions:
    from prism.data.discover import absolute_spec
    from prism.orchestration.entity import RoundOptions

    if not args.entity_column:
        raise InputError("--entity-column COLUMN is required: it names the brand, market or product line of each row")
    if args.entity is not None or args.aggregate:
        raise InputError("--entity and --aggregate model one series; a portfolio models every entity apart: drop them")
    spec = args.spec()
    if spec is None:
        raise InputError("pass --path FILE (or --url/--query): the source holding every entity")
    prep = asdict(args.options())
    prep.pop("entity")
    dic = str(Path(dictionary).resolve()) if dictionary and "://" not in dictionary else dictionary
    return RoundOptions(spec=asdict(absolute_spec(spec, Path.cwd())), overrides=asdict(args.overrides()), prepare=prep,
                        settings=_settings(settings), loop=loop, rounds=rounds, quick=quick, k=k, plan_k=plan_k,
                        dictionary=dic)


def _settings(path: Path | None) -> dict[str, Any]:
    """The settings file's sections, checked against the config schema before any entity starts."""
    if path is None:
        return {}
    from prism.schemas import Config
    from prism.workspace import read_json

    data = read_json(path)
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected a JSON object of config.json sections")
    if "data" in data:
        raise InputError(f"{path}: 'data' is set per entity by discover; remove it from the settings")
    unknown = sorted(set(data) - set(Config.model_fields))
    if unknown:
        raise InputError(f"{path}: unknown config section(s) {', '.join(unknown)}; known: "
                         f"{', '.join(f for f in Config.model_fields if f != 'data')}")
    return data


def _status_table(outcomes: list[Outcome]) -> Table:
    table = Table(title="Entities")
    for col in ("entity", "status", "seconds", "reason"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for o in sorted(outcomes, key=lambda o: o.entity):
        table.add_row(escape(o.entity), f"[{STATUS_STYLE.get(o.status, 'white')}]{o.status}", f"{o.seconds:.1f}",
                      escape(o.reason))
    return table


def _write_outputs(root: Path) -> None:
    """portfolio.csv and the report: written after every run, from the entities' workspaces."""
    from prism.analysis.portfolio import write_table
    from prism.orchestration.portfolio import read_status
    from prism.report.portfolio import write_report
    from prism.workspace import PortfolioFiles, read_csv

    files = PortfolioFiles(root)
    rows = write_table(files, read_status(files), read_csv(files.entities, required=("entity", "folder")))
    view = write_report(files)
    for line in view.answer():
        console.print(escape(line), highlight=False, soft_wrap=True)
    console.print(f"wrote {escape(str(files.status))}; portfolio.csv ({rows} rows), entities.csv, channels.csv and "
                  f"report.md, report.html, report.pptx in {escape(str(files.out_dir))}", highlight=False)


@portfolio_app.command("optimize")
def optimize_cmd(
    budget: Optional[str] = typer.Option(None, "--budget", help="Total spend over the horizon across every entity, "
                                                                "e.g. 2m or 1.1x (default: current spend)."),
    weeks: int = WeeksOpt,
    unlock: list[str] = typer.Option([], "--unlock", help="Let an 'ENTITY | channel' below high confidence move "
                                                          "beyond ±10 % (repeatable)."),
    workdir: Path = WorkdirOpt,
) -> None:
    """One budget across every entity's channels from their kept draws; write portfolio/optimization.csv. Money
    moves only where confidence allows: as in `prism optimize`, channels below high confidence stay within ±10 %."""
    from prism.planning import constraints as K
    from prism.planning.plan import PlanRequest
    from prism.planning.portfolio import open_portfolio, plan_frame
    from prism.workspace import PortfolioFiles, write_csv

    files = PortfolioFiles(workdir)
    if not files.entities.exists():
        raise InputError(f"{files.entities}: file not found (run `prism portfolio --path FILE --entity-column COLUMN`)")
    planner, notes = open_portfolio(files, weeks)
    total = float(planner.current.sum())
    req = PlanRequest(weeks=weeks, budget=K.parse_amount(budget, total, "--budget") if budget else None, unlock=unlock)
    plan = planner.optimize(req)
    write_csv(files.optimization, plan_frame(plan))
    console.print(plan_table(plan.frame(), f"Portfolio budget over {weeks} weeks (budget from {plan.budget_set_by})"))
    for note in [*notes, *plan.notes]:
        console.print(f"• {escape(note)}", highlight=False, soft_wrap=True)
    console.print(f"wrote {escape(str(files.optimization))}", highlight=False)

"""The typer app and options every command shares; commands register themselves in sibling modules."""

from pathlib import Path

import typer
from rich.console import Console

app = typer.Typer(
    name="prism",
    help="Prism: agentic Marketing Mix Modeling. Three models, six agents, one honest report.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)

WorkdirOpt = typer.Option(Path("."), "--workdir", "-w", help="Workspace folder (default: current directory).")
ExperimentsOpt = typer.Option(None, "--experiments", help="Lift-test results CSV (channel,start,end,spend,"
                              "incremental_kpi,incremental_kpi_se); copied into the workspace's experiments.csv.")

"""loop commands: the round loop, single agent stages, the deterministic guards, status and the demo."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path
from typing import Optional

import typer
from rich.table import Table
from rich.markup import escape

from prism.cli.app import ExperimentsOpt, WorkdirOpt, app, console
from prism.errors import InputError
from prism.workspace import Workspace

AgentsOpt = typer.Option("rules", "--agents", help="rules (offline, default), claude, or mixed (config.json 'agents').")
ModelOpt = typer.Option(None, "--model", help="Claude model for --agents claude/mixed (else PRISM_CLAUDE_MODEL).")
RecordOpt = typer.Option(False, "--record-only",
                         help="The agent's file was written by someone else (a Claude session): record the stage.")
DEMO_DATA = "conjura_apparel_brand_weekly.csv"
DEMO_KPI = "revenue"


def _stage(workdir: Path, stage: str, agents: str, model: str | None, record_only: bool) -> None:
    from prism.orchestration.loop import run_stage

    status = run_stage(Workspace(workdir), stage, agents=agents, model=model, record_only=record_only,
                       console=console)
    console.print(escape(status), highlight=False)


@app.command()
def explore(workdir: Path = WorkdirOpt, agents: str = AgentsOpt, model: str = ModelOpt,
            record_only: bool = RecordOpt) -> None:
    """Explorer: EDA and readiness score → rounds/R01_data_exploration.md."""
    _stage(workdir, "explore", agents, model, record_only)


@app.command()
def tune(workdir: Path = WorkdirOpt, agents: str = AgentsOpt, model: str = ModelOpt,
         validate: str = typer.Option(None, "--validate", metavar="KEY=VALUE",
                                      help="Only check a proposed change (one key, in bounds, not reverted)."),
         set_: str = typer.Option(None, "--set", metavar="KEY=VALUE",
                                  help="Apply this change (validated) as the round's Tuner decision."),
         rule: str = typer.Option("set by hand", "--rule", help="With --set: the rule that fired (tuning note)."),
         evidence: str = typer.Option("given with --set", "--evidence", help="With --set: the evidence.")) -> None:
    """Tuner: one config change for the current round (or NO_CHANGE) → rounds/R{NN}_tuning.md."""
    ws = Workspace(workdir)
    if validate:
        from prism.agents.tuner import validate_change

        change = validate_change(ws, *_key_value(validate))
        console.print(escape(f"valid: {change.describe}"), highlight=False)
        return
    if set_:
        from prism.orchestration.loop import set_change

        console.print(escape(set_change(ws, *_key_value(set_), rule, evidence)), highlight=False)
        return
    _stage(workdir, "tune", agents, model, False)


def _key_value(text: str) -> tuple[str, str]:
    if "=" not in text:
        raise InputError(f"expected KEY=VALUE, got '{text}'")
    key, value = text.split("=", 1)
    return key.strip(), value.strip()


@app.command()
def analyze(workdir: Path = WorkdirOpt, agents: str = AgentsOpt, model: str = ModelOpt,
            revision: bool = typer.Option(False, "--revision", help="Answer the Critic's REVISE reason."),
            record_only: bool = RecordOpt) -> None:
    """Analyst: business narrative under 400 words → rounds/R{NN}_analysis.md."""
    _stage(workdir, "revise" if revision else "analyze", agents, model, record_only)


@app.command()
def critique(workdir: Path = WorkdirOpt, agents: str = AgentsOpt, model: str = ModelOpt,
             check: bool = typer.Option(False, "--check", help="Guard: recompute the checks against the review."),
             final: bool = typer.Option(False, "--final", help="The review after the Analyst's revision."),
             record_only: bool = RecordOpt) -> None:
    """Critic: six checks + health gates → rounds/R{NN}_review.md, APPROVED or REVISE."""
    if check:
        from prism.orchestration.guards import check_review

        _guard(check_review(Workspace(workdir)))
        return
    _stage(workdir, "recritique" if final else "critique", agents, model, record_only)


@app.command()
def proofread(workdir: Path = WorkdirOpt, agents: str = AgentsOpt, model: str = ModelOpt,
              check: bool = typer.Option(False, "--check", help="Guard: numbers, jargon, channels, caveats of report.md."),
              record_only: bool = RecordOpt) -> None:
    """Proofreader: check report.md against the results, correct numbers → rounds/R{NN}_proofread.md."""
    if check:
        from prism.orchestration.guards import check_report

        _guard(check_report(Workspace(workdir)))
        return
    _stage(workdir, "proofread", agents, model, record_only)


def _guard(problems: list[str]) -> None:
    if problems:
        for p in problems:
            console.print(f"[red]✗[/] {escape(p)}", highlight=False)
        raise typer.Exit(1)
    console.print("[green]✓[/] guard passed")


@app.command()
def loop(workdir: Path = WorkdirOpt,
         rounds: int = typer.Option(4, "--rounds", "-n", help="Run until this many rounds are done."),
         agents: str = AgentsOpt, model: str = ModelOpt,
         checkpoints: bool = typer.Option(False, "--checkpoints", help="Pause for approve / edit / stop."),
         auto_approve: bool = typer.Option(False, "--auto-approve", help="Pass checkpoints, recording no one approved."),
         quick: bool = typer.Option(False, "--quick", help="Quick model settings (MAP / fewer draws)."),
         step: bool = typer.Option(False, "--step", help="Run only the current stage, then stop."),
         render: bool = typer.Option(True, "--render/--no-render",
                                     help="Render charts, deck, page and workbook after each round's proofread."),
         experiments_path: Optional[Path] = ExperimentsOpt,
         record_only: bool = RecordOpt) -> None:
    """Run (or resume) the round loop: Explorer/Tuner → models → compare → Analyst → Critic → Reporter → Proofreader."""
    from prism.knowledge import experiments
    from prism.orchestration.loop import run_loop

    if not record_only:
        experiments.prepare(Workspace(workdir), experiments_path)

    if record_only:
        from prism.workspace import load_state

        _stage(workdir, load_state(Workspace(workdir)).stage, agents, model, True)
        return
    run_loop(Workspace(workdir), rounds, agents=agents, model=model, checkpoints=checkpoints,
             auto_approve=auto_approve, quick=quick, console=console, steps=1 if step else None, render=render)


@app.command()
def status(workdir: Path = WorkdirOpt) -> None:
    """Where the loop is: round table, current stage, best round, agent token and cost use."""
    from prism.orchestration.loop import round_table
    from prism.workspace import load_state

    ws = Workspace(workdir)
    if not ws.state.exists():
        raise InputError(f"{ws.state}: file not found (no loop has run in this workspace)")
    state = load_state(ws)
    console.print(round_table(state))
    best = f"round {state.best_round} (objective {state.best_objective:.2f}%)" if state.best_round else "none yet"
    console.print(f"round {state.round}, stage [bold]{state.stage}[/]; best {best}", highlight=False)
    if state.stopped_reason:
        console.print(escape(f"stopped: {state.stopped_reason}"), highlight=False)
    console.print(_agent_usage(state))


def _agent_usage(state) -> Table:
    t = Table(title="Agent calls")
    for col in ("round", "agent", "impl", "seconds", "input tokens", "output tokens", "cost $"):
        t.add_column(col)
    for r in state.rounds:
        for a in r.agents:
            t.add_row(str(r.round), a.agent, a.impl, f"{a.seconds:.1f}", str(a.input_tokens), str(a.output_tokens),
                      f"{a.cost_usd:.4f}")
    return t


@app.command()
def demo(workdir: Path = typer.Option(Path("prism-demo"), "--workdir", "-w", help="Fresh demo workspace."),
         rounds: int = typer.Option(4, "--rounds", "-n", help="Rounds to run (the loop may stop earlier)."),
         quick: bool = typer.Option(False, "--quick", help="Quick model settings (MAP / fewer draws).")) -> None:
    """Copy the bundled brand data into a fresh workspace, discover it and run the loop offline."""
    from prism.orchestration.loop import run_loop

    ws = Workspace(workdir)
    if ws.state.exists():
        console.print(f"{ws.root} already holds a loop: resuming it")
    else:
        ws.root.mkdir(parents=True, exist_ok=True)
        src = resources.files("prism").joinpath("sample_data", DEMO_DATA)
        with resources.as_file(src) as path:
            shutil.copyfile(path, ws.root / DEMO_DATA)
        _discover_demo(ws)
    run_loop(ws, rounds, quick=quick, console=console)
    console.print(f"report: {ws.report_md}")


def _discover_demo(ws: Workspace) -> None:
    from prism.data.discover import PrepareOptions, discover
    from prism.data.roles import Overrides
    from prism.data.sources import SourceSpec

    spec = SourceSpec(source="csv", path=str(ws.root / DEMO_DATA))
    discover(ws, spec, Overrides(kpi=DEMO_KPI, origin="by prism demo"), PrepareOptions())

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
    """One stage; `--record-only` (a session's file): guard, record, then Prism's stages up to the next turn."""
    from prism.cli.session_cmds import after_session_command
    from prism.orchestration.loop import run_stage

    ws = Workspace(workdir)
    status = run_stage(ws, stage, agents=agents, model=model, record_only=record_only, console=console)
    console.print(escape(status), highlight=False)
    if record_only and stage in ("analyze", "revise"):
        from prism.agents.analyst import MAX_WORDS, word_count
        from prism.workspace import load_state

        words = word_count(ws.analysis(load_state(ws).round).read_text(encoding="utf-8"))
        console.print(f"{words} words (limit: under {MAX_WORDS}, counted like `wc -w`)", highlight=False)
    if record_only:
        after_session_command(ws)


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
         evidence: str = typer.Option("given with --set", "--evidence", help="With --set: the evidence."),
         candidates: bool = typer.Option(False, "--candidates",
                                         help="The changes Prism allows this round, ranked, with rule and evidence."),
         record_only: bool = RecordOpt) -> None:
    """Tuner: one config change for the current round (or NO_CHANGE) → rounds/R{NN}_tuning.md."""
    ws = Workspace(workdir)
    if candidates:
        _candidates(ws)
        return
    if validate:
        from prism.agents.tuner import validate_change

        change = validate_change(ws, *_key_value(validate))
        console.print(escape(f"valid: {change.describe}"), highlight=False)
        return
    if set_:
        from prism.orchestration.loop import set_change

        from prism.cli.session_cmds import after_session_command

        console.print(escape(set_change(ws, *_key_value(set_), rule, evidence)), highlight=False)
        after_session_command(ws)
        return
    _stage(workdir, "tune", agents, model, record_only)


def _candidates(ws: Workspace) -> None:
    """The rule-based Tuner's candidates for the current round, in its rule order (first = its choice)."""
    import json

    from prism.agents.tuner import candidate_changes
    from prism.workspace import load_state

    n = max(load_state(ws).round, 2)
    cands = candidate_changes(ws, n)
    console.print(f"Candidate changes for round {n}, best first (evidence from round {n - 1}):", highlight=False)
    for i, c in enumerate(cands, 1):
        console.print(escape(f"{i}. {c.key}={json.dumps(c.new, sort_keys=True)}   ({c.describe})\n"
                             f"   rule: {c.rule}\n   evidence: {c.evidence}"), highlight=False, soft_wrap=True)
    if not cands:
        console.print("no untried change is left: write the tuning file ending with NO_CHANGE")


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
    """Critic: ten checks → rounds/R{NN}_review.md, APPROVED or REVISE (after the revision: APPROVED or REJECTED)."""
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
         page: bool = typer.Option(False, "--page", help="With --checkpoints: wait for an answer on `prism serve`'s "
                                   "page even without a terminal (a terminal can answer too)."),
         quick: bool = typer.Option(False, "--quick", help="Quick model settings (MAP / fewer draws)."),
         step: bool = typer.Option(False, "--step", help="Run the current stage and Prism's own stages up to the "
                                   "next agent's turn (its computed part written), then say what is next."),
         render: bool = typer.Option(True, "--render/--no-render",
                                     help="Render charts, deck, page and workbook after each round's proofread."),
         experiments_path: Optional[Path] = ExperimentsOpt,
         record_only: bool = RecordOpt) -> None:
    """Run (or resume) the round loop: Explorer/Tuner → models → compare → Analyst → Critic → Reporter → Proofreader."""
    from prism.knowledge import experiments
    from prism.orchestration.loop import check_start, run_loop

    if not record_only:
        check_start(Workspace(workdir), rounds, agents)
        experiments.prepare(Workspace(workdir), experiments_path)

    if record_only:
        from prism.workspace import load_state

        _stage(workdir, load_state(Workspace(workdir)).stage, agents, model, True)
        return
    ws = Workspace(workdir)
    run_loop(ws, rounds, agents=agents, model=model, checkpoints=checkpoints,
             auto_approve=auto_approve, quick=quick, console=console, steps=1 if step else None, render=render,
             page=page)
    if step:
        from prism.cli.session_cmds import after_session_command

        after_session_command(ws)


@app.command()
def status(workdir: Path = WorkdirOpt) -> None:
    """Where the loop is: round table, current stage, best round, agent token and cost use."""
    from prism.orchestration.loop import round_table
    from prism.workspace import load_state

    ws = Workspace(workdir)
    if not ws.state.exists():
        if not ws.config.exists():
            raise InputError(f"{ws.config}: file not found (run `prism discover --path <data> --kpi <column>` first)")
        console.print("ready: discover done, next: `prism loop --step --rounds N` (or `prism next`)")
        return
    state = load_state(ws)
    console.print(round_table(state))
    best = f"round {state.best_round} (objective {state.best_objective:.2f}%)" if state.best_round else "none yet"
    console.print(f"round {state.round}, stage [bold]{state.stage}[/]; best {best}", highlight=False)
    if state.stopped_reason:
        console.print(escape(f"stopped: {state.stopped_reason}"), highlight=False)
    best_report = ws.round_file(state.best_round or 0, "report")
    if state.deliverable_round:
        console.print(f"deliverable: round {state.deliverable_round} — results/report.md (and .pptx, .html, .xlsx) "
                      f"and config.json are that round's", highlight=False)
    elif best_report.exists():
        console.print(f"best round's report (after the Proofreader): {best_report.relative_to(ws.root)}",
                      highlight=False)
    console.print(_agent_usage(state))


def _agent_usage(state) -> Table:
    t = Table(title="Agent calls")
    for col in ("round", "agent", "written by", "seconds", "input tokens", "output tokens", "cost $"):
        t.add_column(col)
    for r in state.rounds:
        for a in r.agents:
            t.add_row(str(r.round), a.agent, a.by or a.impl, f"{a.seconds:.1f}", str(a.input_tokens), str(a.output_tokens),
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

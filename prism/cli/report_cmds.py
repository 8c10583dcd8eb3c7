"""report commands: `prism report` (Reporter + deliverables) and `prism compare-rounds A B`."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table
from rich.markup import escape

from prism.cli.app import WorkdirOpt, app, console
from prism.cli.loop_cmds import AgentsOpt, ModelOpt, RecordOpt
from prism.workspace import Workspace

RoundOpt = typer.Option(None, "--round", min=1,
                        help="Render a past round from rounds/R{NN}_results.json and rounds/R{NN}_report.md "
                             "(into results/R{NN}/); the Reporter does not run.")
RenderOnlyOpt = typer.Option(False, "--render-only", help="Do not run the Reporter; render from report.md as it is.")


@app.command()
def report(workdir: Path = WorkdirOpt, round_no: int | None = RoundOpt, render_only: bool = RenderOnlyOpt,
           agents: str = AgentsOpt, model: str = ModelOpt, record_only: bool = RecordOpt) -> None:
    """Reporter → results/report.md for the current round, then charts, report.pptx, .html and .xlsx."""
    from prism.report.build import output_dir, render
    from prism.report.inputs import load_inputs

    ws = Workspace(workdir)
    if round_no is None and not render_only and _loop_ended_before_models(ws):
        console.print("note: the loop ended on the Tuner's NO_CHANGE; rendering the last report as written")
        render_only = True
    if round_no is None and not render_only:
        from prism.orchestration.loop import run_stage

        with console.status("Reporter: writing results/report.md"):
            status = run_stage(ws, "report", agents=agents, model=model, record_only=record_only, console=console)
        console.print(escape(status), highlight=False)
        if record_only:  # a session's report: the deliverables are rendered after the Proofreader
            from prism.cli.session_cmds import after_session_command

            after_session_command(ws)
            return
    with console.status("Rendering charts, deck, page and workbook"):
        inputs = load_inputs(ws, round_no)
        paths = render(inputs)
    for note in inputs.notes:
        console.print(f"[yellow]note:[/] {escape(note)}", highlight=False)
    table = Table(title=f"Round {inputs.round} deliverables in {output_dir(inputs)}")
    table.add_column("file")
    table.add_column("size", justify="right")
    for p in paths:
        table.add_row(str(p.relative_to(ws.root)) if p.is_relative_to(ws.root) else str(p),
                      f"{p.stat().st_size / 1024:,.0f} KB")
    console.print(table)


def _loop_ended_before_models(ws: Workspace) -> bool:
    """True when the finished loop's last round stopped on the Tuner's NO_CHANGE before its models ran, so there
    is nothing new to report (a hand-set `round` with no such record is not taken for one)."""
    from prism.workspace import load_state

    if not ws.state.exists():
        return False
    state = load_state(ws)
    tuner = next((r.verdicts.get("tuner") for r in state.rounds if r.round == state.round), None)
    return state.stage == "done" and tuner == "NO_CHANGE" and not ws.round_results(state.round).exists()


@app.command("compare-rounds")
def compare_rounds_cmd(a: int = typer.Argument(..., min=1, help="Earlier round."),
                       b: int = typer.Argument(..., min=1, help="Later round."),
                       workdir: Path = WorkdirOpt) -> None:
    """What changed between two rounds and how each channel's ROI and agreement moved."""
    from prism.report import fmt
    from prism.report.rounds import compare_rounds
    from prism.schemas import Metadata
    from prism.workspace import read_model

    ws = Workspace(workdir)
    cmp = compare_rounds(ws, a, b)
    meta = read_model(ws.metadata, Metadata) if ws.metadata.exists() else None
    label = meta.label if meta else (lambda c: c)
    for r, change in cmp.changes:
        console.print(escape(f"change recorded for round {r}: {change}"), highlight=False)
    for key, before, after in cmp.config_diff:
        console.print(escape(f"config: {key}: {before} → {after}"), highlight=False)
    console.print(f"tuning objective: {fmt.pct(cmp.objective_a, 2)} → {fmt.pct(cmp.objective_b, 2)}", highlight=False)
    table = Table(title=f"Round {a} → round {b}")
    for col, justify in (("channel", "left"), (f"ROI R{a}", "right"), (f"ROI R{b}", "right"),
                         ("agreement", "left"), ("flag", "left")):
        table.add_column(col, justify=justify)
    for m in cmp.channels:
        flag = f"[red]outside R{a} interval ({', '.join(m.outside)})[/]" if m.flagged else ""
        table.add_row(escape(label(m.channel)), fmt.roi(m.roi_a), fmt.roi(m.roi_b), f"{m.agreement_a} → {m.agreement_b}", flag)
    console.print(table)
    fit = Table(title="Held-out error by model")
    for col in ("model", f"R{a}", f"R{b}"):
        fit.add_column(col, justify="left" if col == "model" else "right")
    for model, (ta, tb) in cmp.test_mape.items():
        fit.add_row(model, fmt.pct(ta), fmt.pct(tb))
    console.print(fit)

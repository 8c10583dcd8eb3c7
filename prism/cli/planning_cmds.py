"""planning commands: `prism optimize` (budget plan), `prism scenario` (what-if), `prism ask` and `prism chat`.

Heavy modules (numpy, the planner, matplotlib) are imported inside the commands so `prism ask` starts fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import WorkdirOpt, app, console

WeeksOpt = typer.Option(13, "--weeks", min=1, help="Planning horizon in weeks (carry-over after it counts).")
ModelOpt = typer.Option("consensus", "--model", help="consensus (pool every model that ran) or one model's name.")
RoundOpt = typer.Option(None, "--round", min=1, help="Round whose draws to use (default: the latest).")
MarketOpt = typer.Option(None, "--market", help="Regional panels: plan one market, or 'all' to move budget between "
                                                "markets (each market's channels apart); default: national.")


def _num(value: float | None, fmt: str = ",.0f") -> str:
    return "–" if value is None or value != value else format(value, fmt)  # value != value: NaN from a CSV


def _pct(value: float | None) -> str:
    return _num(value, "+.1f") + ("%" if value is not None and value == value else "")


def _chance(value: float | None) -> str:
    """P(gain) as printed; "–" for a row whose spend does not change (no gain to have a chance of)."""
    return "–" if value is None or value != value else f"{value:.0%}"


def plan_table(frame, title: str) -> Table:
    """optimization.csv as printed: spend, change and the KPI change with its 90 % interval."""
    table = Table(title=title)
    for col in ("channel", "current", "recommended", "change", "KPI change (90% interval)", "if confirmed"):
        table.add_column(col, justify="left" if col == "channel" else "right", no_wrap=col == "channel")
    for _, r in frame.iterrows():
        kpi = (f"{_num(r['expected_kpi_change'])} [dim]({_num(r['expected_kpi_change_low'])} to "
               f"{_num(r['expected_kpi_change_high'])})")
        table.add_row(escape(str(r["channel"])), _num(r["current"]), _num(r["recommended"]), _pct(r["change_pct"]), kpi,
                      _num(r.get("if_confirmed")))
    return table


def scenario_table(frame) -> Table:
    table = Table(title="Scenarios (KPI change against current spend, 90% interval)")
    for col in ("scenario", "spend", "change", "KPI change", "interval", "P(gain)"):
        table.add_column(col, justify="left" if col == "scenario" else "right")
    for _, r in frame.iterrows():
        table.add_row(r["scenario"], _num(r["spend"]), _pct(r["change_pct"]), _num(r["expected_kpi_change"]),
                      f"{_num(r['expected_kpi_change_low'])} to {_num(r['expected_kpi_change_high'])}",
                      _chance(r["prob_gain"]))
    return table


def _planner(workdir: Path, model: str, weeks: int, round_no: int | None, market: str | None = None):
    """The workspace and a planner over its round's kept draws (national, one market's, or all markets')."""
    from prism.planning.outputs import open_planner
    from prism.workspace import Workspace

    ws = Workspace(workdir)
    return ws, open_planner(ws, model, weeks, round_no, market)


@app.command("optimize")
def optimize_cmd(
    budget: Optional[str] = typer.Option(None, "--budget", help="Total spend over the horizon, e.g. 500k or 1.2x "
                                                                "(default: current weekly spend × weeks)."),
    weeks: int = WeeksOpt,
    bounds: list[str] = typer.Option([], "--bounds", help="channel=min:max over the horizon: tv=0.5x:1.5x, "
                                                          "tv=20k:50k, tv=:2x (repeat or comma-separate)."),
    max_change: Optional[str] = typer.Option(None, "--max-change", help="Every channel within ±this of current, "
                                                                        "e.g. 30%."),
    lock: list[str] = typer.Option([], "--lock", help="Keep this channel at its current spend (repeatable)."),
    unlock: list[str] = typer.Option([], "--unlock", help="Let a channel below high confidence move beyond ±10 % "
                                                     "(to half–twice today's share unless --max-change/--bounds)."),
    target_mroi: Optional[float] = typer.Option(None, "--target-mroi", help="Flexible budget: spend while one more "
                                                                            "unit returns at least this."),
    target_roi: Optional[float] = typer.Option(None, "--target-roi", help="Flexible budget: the largest budget "
                                                                          "whose plan returns at least this ROI."),
    objective: str = typer.Option("mean", "--objective", help="mean, or cvar (mean of the worst 10 % of draws)."),
    model: str = ModelOpt,
    round_no: Optional[int] = RoundOpt,
    market: Optional[str] = MarketOpt,
    workdir: Path = WorkdirOpt,
) -> None:
    """Recommend a budget split from the kept draws; write results/optimization.csv, scenarios.csv and the chart
    (a market's plan: optimization_<market>.csv and scenarios_<market>.csv)."""
    from prism.planning import constraints as K
    from prism.planning.outputs import keep_responses, plan_files
    from prism.planning.plan import PlanRequest
    from prism.report.plan_chart import CHART_NAME, budget_plan_png
    from prism.workspace import write_together

    PlanRequest(target_mroi=target_mroi, target_roi=target_roi).target()  # refused before any draw is read
    ws, planner = _planner(workdir, model, weeks, round_no, market)
    total = float(planner.current.sum())
    req = PlanRequest(weeks=weeks, budget=K.parse_amount(budget, total, "--budget") if budget else None,
                      bounds=bounds, max_change=K.parse_percent(max_change, "--max-change") if max_change else None,
                      locks=lock, unlock=unlock, target_mroi=target_mroi, target_roi=target_roi,
                      objective=objective, model=model)
    plan = planner.optimize(req)
    files = plan_files(ws, plan, planner.scenarios(req, optimum=plan), market)
    written = [path.name for path in files]
    if market is None:  # the national chart the report shows
        files[ws.charts_dir / f"{CHART_NAME}.png"] = budget_plan_png(plan.frame(), planner.labels)
        written.append(f"charts/{CHART_NAME}.png")
    write_together(files)  # this run's outputs, or (on any failure above) the last run's
    keep_responses(ws, planner)
    where = "" if market is None else f", market {market}"
    console.print(plan_table(plan.frame(), f"Budget plan over {weeks} weeks ({model}{where}, objective {objective}; "
                                           f"budget from {plan.budget_set_by})"))
    if plan.budget_set_by.startswith("--target"):
        console.print(f"implied budget over {weeks} weeks: {plan.budget:,.0f}", highlight=False)
    for note in plan.notes:
        console.print(f"• {escape(note)}", highlight=False)
    console.print("wrote " + ", ".join(f"results/{name}" for name in written))


@app.command("scenario")
def scenario_cmd(
    moves: list[str] = typer.Argument(..., help="Changes to current spend: tv=-20% search=+10% (or tv=0.8x)."),
    weeks: int = WeeksOpt,
    model: str = ModelOpt,
    round_no: Optional[int] = RoundOpt,
    market: Optional[str] = MarketOpt,
    workdir: Path = WorkdirOpt,
) -> None:
    """KPI change of a what-if spend change with its 90 % interval; write results/scenarios.csv (a market's:
    scenarios_<market>.csv)."""
    from prism.planning.outputs import keep_responses, plan_files
    from prism.planning.plan import PlanRequest
    from prism.workspace import write_together

    ws, planner = _planner(workdir, model, weeks, round_no, market)
    frame = planner.scenarios(PlanRequest(weeks=weeks, model=model), moves)
    files = plan_files(ws, None, frame, market)
    write_together(files)
    keep_responses(ws, planner)
    name = next(iter(files)).name
    console.print(scenario_table(frame))
    console.print(f"wrote results/{name}")


@app.command("ask")
def ask_cmd(
    question: str = typer.Argument(..., help='A question in plain English, e.g. "What if we cut Facebook by 20%?"'),
    as_json: bool = typer.Option(False, "--json", help="Print the answer as JSON (intent, text, facts)."),
    market: Optional[str] = MarketOpt,
    workdir: Path = WorkdirOpt,
) -> None:
    """Answer a question from the latest results and draws (no refit); Claude phrases it when a key is set."""
    from prism.llm.ask_session import answer_question
    from prism.workspace import Workspace

    answer = answer_question(Workspace(workdir), question, market)
    if as_json:
        console.print_json(answer.to_json())
    else:
        console.print(escape(answer.text), highlight=False)


@app.command("chat")
def chat_cmd(workdir: Path = WorkdirOpt) -> None:
    """Ask questions one after another (empty line or 'quit' ends); the history is kept in the workspace."""
    from prism.llm.ask_session import Chat
    from prism.workspace import Workspace

    chat = Chat(Workspace(workdir))
    console.print("Ask about ROI, saturation, scenarios, drivers, budget or trust; empty line ends.")
    while True:
        try:
            question = console.input("[bold]> [/]").strip()
        except EOFError:
            break
        if question.lower() in ("", "quit", "exit"):
            break
        console.print(escape(chat.ask(question).text), highlight=False)

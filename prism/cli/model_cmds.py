"""model commands: `prism run` (fit the models, each in its own process) and `prism compare` (agreement)."""

from __future__ import annotations

import math
from pathlib import Path
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator, Optional

import typer
from rich.markup import escape
from rich.table import Table

from prism.cli.app import ExperimentsOpt, WorkdirOpt, app, console, err_console
from prism.workspace import Workspace

if TYPE_CHECKING:
    import pandas as pd

    from prism.schemas import ChannelResult, Results

LABEL_STYLE = {"high": "green", "medium": "yellow", "low": "red", "n/a": "dim"}


def _num(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _roi_cell(c: ChannelResult) -> str:
    flag = f" [yellow]{c.evidence.flag}" if c.evidence and c.evidence.flag else ""
    return f"{_num(c.roi)} [dim]({_num(c.roi_low)}–{_num(c.roi_high)}){flag}"


def roi_table(res: Results) -> Table:
    """ROI with its 90 % range per model that ran, one row per channel."""
    ok = res.ok_models()
    table = Table(title=f"ROI by model, round {res.round}" + (" (quick)" if res.quick else ""))
    table.add_column("channel", no_wrap=True)
    for name in ok:
        table.add_column(name, justify="right")
    for ch in res.channels:
        cells = [_roi_cell(m.channels[ch]) if ch in m.channels else "–" for m in ok.values()]
        table.add_row(escape(ch), *cells)
    return table


def fit_table(res: Results) -> Table:
    """Fit metrics per model; a reason column only when some model did not run."""
    with_reason = any(m.status != "ok" for m in res.models.values())
    table = Table(title="Fit (test = locked final weeks; CV = rolling origin inside training)")
    columns = ("model", "status", "R²", "MAPE train %", "MAPE test %", "CV MAPE %", "seconds")
    for col in columns + (("reason",) if with_reason else ()):
        table.add_column(col, justify="left" if col in ("model", "status", "reason") else "right",
                         no_wrap=col in ("model", "status"))
    for name, m in res.models.items():
        f = m.fit
        status = f"[{'green' if m.status == 'ok' else 'red'}]{m.status}"
        cells = [name, status, _num(f.r2 if f else None, 3), _num(f.mape_train if f else None),
                 _num(f.mape_test if f else None), _num(f.cv_mape if f else None), _num(m.seconds, 1)]
        table.add_row(*cells, *((escape(m.reason or ""),) if with_reason else ()))
    return table


def agreement_table(res: Results) -> Table:
    from prism.schemas import MODEL_NAMES

    table = Table(title=f"Model agreement on ROI, round {res.round}")
    table.add_column("channel")
    for name in MODEL_NAMES:
        table.add_column(name, justify="right")
    for col in ("mean", "CV %", "agreement", "models"):
        table.add_column(col, justify="left" if col == "agreement" else "right")
    ok = res.ok_models()
    for ch in res.channels:
        a = res.agreement[ch]
        rois = [_num(ok[m].channels[ch].roi) if m in ok and ch in ok[m].channels else "–" for m in MODEL_NAMES]
        style = LABEL_STYLE[a.label]
        table.add_row(escape(ch), *rois, _num(a.mean_roi), _num(a.cv, 1), f"[{style}]{a.label}", str(a.n_models))
    return table


def agreement_notes(res: Results) -> list[str]:
    """One line per channel whose label rests on fewer than two models, a sign clash or disjoint intervals."""
    return [f"{ch}: {a.note}" for ch, a in res.agreement.items()
            if a.label == "n/a" or a.sign_disagree or not a.intervals_overlap]


@app.command("run")
def run_cmd(
    round_no: Optional[int] = typer.Option(None, "--round", help="Round number (default: state.json's, else 1)."),
    models: Optional[str] = typer.Option(None, "--models", help="Comma-separated subset, e.g. ridge,pymc."),
    quick: bool = typer.Option(False, "--quick", help="Fast settings (MAP / fewer draws), marked as quick."),
    experiments_path: Optional[Path] = ExperimentsOpt,
    workdir=WorkdirOpt,
) -> None:
    """Fit the configured models, each in its own process with its timeout; write the round's results."""
    from prism.knowledge import experiments
    from prism.models.runner import failed_run_path, run_models

    chosen = [m.strip() for m in models.split(",") if m.strip()] if models else None
    ws = Workspace(workdir)
    experiments.prepare(ws, experiments_path)
    res = run_models(ws, round_no, chosen, quick, console=err_console)
    console.print(fit_table(res))
    if not res.ok_models():
        err_console.print(f"[bold red]no model ran[/] (reasons in the fit table); earlier results kept, this attempt "
                          f"logged in {escape(str(failed_run_path(ws, res.round)))}", highlight=False, soft_wrap=True)
        raise typer.Exit(1)
    console.print(roi_table(res))
    objective = "–" if res.objective is None else f"{res.objective:.2f} %"
    console.print(f"objective (CV MAPE inside training weeks): {objective}; "
                  f"wrote rounds/R{res.round:02d}_results.json, results/latest.json, results/model_fit.csv")


@app.command("compare")
def compare_cmd(
    round_no: Optional[int] = typer.Option(None, "--round", help="Round to compare (default: latest results)."),
    workdir=WorkdirOpt,
) -> None:
    """Agreement per channel across the models that ran; write the ROI and contribution comparison tables."""
    from prism.analysis.compare import run_compare

    res = run_compare(Workspace(workdir), round_no)
    console.print(agreement_table(res))
    for line in agreement_notes(res):
        console.print(escape(line), highlight=False)
    console.print("wrote results/roi_comparison.csv, results/contribution_comparison.csv")


def plan_table(plans: pd.DataFrame, title: str) -> Table:
    """One row per channel: the test, its length, the spend it moves, the KPI it forgoes and its precision."""
    from prism.analysis.test_plan import UNDECIDED
    from prism.schemas import NO_TEST

    out = Table(title=title)
    for col in ("channel", "confidence", "test", "weeks", "spend moved", "KPI forgone (90 % range)",
                "± % of ROI promised"):
        out.add_column(col, justify="right" if col in ("weeks", "spend moved") else "left")
    for r in plans.itertuples():
        settles = "" if bool(r.achievable) else " [red](best achievable; does not settle it)"
        forgone = (f"{_num(r.kpi_forgone, 0)} [dim]({_num(r.kpi_forgone_low, 0)} to {_num(r.kpi_forgone_high, 0)})"
                   if r.design != NO_TEST else "–")
        out.add_row(escape(r.channel), r.confidence, escape(r.description), str(r.weeks), _num(r.cost, 0), forgone,
                    ("–" if r.design == NO_TEST else UNDECIDED if math.isinf(r.expected_halfwidth_pct)
                     else f"±{r.expected_halfwidth_pct:.0f} %") + settles)
    return out


@app.command("audit")
def audit_cmd(
    k: int = typer.Option(20, "--k", min=2, help="Synthetic KPI series to refit."),
    plan_k: Optional[int] = typer.Option(None, "--plan-k", min=2, help="Simulated tests per test design (default 10)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Parallel processes (default: 2 for the "
                                       "audit, up to 4 for the test plans, at most one per core)."),
    workdir=WorkdirOpt,
) -> None:
    """Recoverability audit: could this spend reveal each channel's ROI? Writes results/audit.csv, then the
    smallest test that would settle each channel below high confidence: results/test_plan.csv."""
    from prism.analysis.audit import run_audit
    from prism.analysis.compare import run_compare
    from prism.analysis.test_plan import run_plans

    ws = Workspace(workdir)
    with refits_shown("audit: refits on synthetic series"):
        table = run_audit(ws, k, jobs)
    run_compare(ws)  # the confidence label reads the verdict
    out = Table(title=f"Recoverability audit ({k} synthetic series, source {table['model'].iloc[0]})")
    for col in ("channel", "recovery error %", "bias %", "90 % coverage", "verdict"):
        out.add_column(col, justify="left" if col in ("channel", "verdict") else "right")
    for r in table.itertuples():
        out.add_row(escape(r.channel), f"{r.recovery_error_pct:.1f}", f"{r.bias_pct:.1f}", f"{r.coverage:.0%}",
                    r.verdict)
    console.print(out)
    console.print("wrote results/audit.csv; results/roi_comparison.csv's confidence now reads it")
    with refits_shown("test plans: simulated tests"):
        plans = run_plans(ws, None, plan_k, jobs)
    _print_plans(ws, plans, "Test plans: what would settle each channel")


@app.command("plan-test")
def plan_test_cmd(
    channel: str = typer.Argument(..., help="The channel (a spend column of the data)."),
    k: Optional[int] = typer.Option(None, "--k", min=2, help="Simulated tests per design (default 10)."),
    jobs: Optional[int] = typer.Option(None, "--jobs", min=1, help="Parallel processes (default: up to 4, at most "
                                                                   "one per core)."),
    workdir=WorkdirOpt,
) -> None:
    """The smallest test that would bring CHANNEL's 90 % interval within ±30 % of its ROI (simulated on
    this data); updates its row of results/test_plan.csv."""
    from prism.analysis.test_plan import run_plans

    ws = Workspace(workdir)
    with refits_shown(f"test plan for {channel}: simulated tests"):
        plans = run_plans(ws, [channel], k, jobs)
    if plans.empty:
        console.print(f"{escape(channel)} has high confidence: no test needed", highlight=False)
        return
    _print_plans(ws, plans, f"Test plan for {channel}")


@contextmanager
def refits_shown(label: str) -> Iterator[None]:
    """A bar of the refits run inside the block, with time left (the loop shows the same)."""
    from prism.orchestration.progress import loop_progress, refit_bar

    with loop_progress(console) as progress, refit_bar(progress, label):
        yield


def _print_plans(ws: Workspace, plans: pd.DataFrame, title: str) -> None:
    from prism.analysis.test_plan import geo_note
    from prism.schemas import Metadata
    from prism.workspace import read_model

    if not plans.empty:
        console.print(plan_table(plans, title))
    console.print(geo_note(read_model(ws.metadata, Metadata) if ws.metadata.exists() else None), highlight=False)
    console.print("wrote results/test_plan.csv")

"""The eight report charts, drawn from the round's results (never refitted) as slide-size PNGs.

Charts that show one picture of the business (contribution over time, decomposition, efficiency) use
the average of the models that ran, so no single model is singled out; the triangulation and fit
charts show every model side by side.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from prism.planning.plan import TOTAL, confirmed_moves
from prism.report import style
from prism.report.fmt import compact
from prism.report.style import COMPACT, figure as _figure, png_bytes, wrap as _wrap
from prism.report.inputs import ReportInputs
from prism.report.rounds import CONFIDENCE_LEVELS, round_series
from prism.report.tables import channel_order, confidence_label, roi_table
from prism.schemas import ModelResult, ResponseCurve
from prism.workspace import write_bytes

MAX_CURVE_COLUMNS = 4
BAND_CUT = 1.8  # a response-curve band reaching past this multiple of the highest curve is cut there
EVENTS_LABEL = "Events and holidays"


def _models_with_weekly(inp: ReportInputs) -> dict[str, ModelResult]:
    return {k: m for k, m in inp.results.ok_models().items() if m.weekly is not None}


def _dates(inp: ReportInputs) -> pd.DatetimeIndex | None:
    models = _models_with_weekly(inp)
    if not models:
        return None
    return pd.DatetimeIndex(pd.to_datetime(next(iter(models.values())).weekly.dates))


def mean_weekly(inp: ReportInputs) -> pd.DataFrame | None:
    """Weekly actual, baseline and channel contributions averaged over the models that ran."""
    models = _models_with_weekly(inp)
    if not models:
        return None
    frames = []
    for m in models.values():
        w = m.weekly
        frames.append(pd.DataFrame({"actual": w.actual, "fitted": w.fitted, "baseline": w.baseline,
                                    "events": w.events or [0.0] * len(w.actual),
                                    **{ch: w.contributions[ch] for ch in inp.results.channels}}))
    mean = sum(frames) / len(frames)
    mean.index = _dates(inp)
    return mean


def _channel_colors(inp: ReportInputs) -> dict[str, str]:
    return {ch: style.channel_color(i) for i, ch in enumerate(inp.results.channels)}


def _holdout(ax, dates: pd.DatetimeIndex, train_weeks: int) -> None:
    if train_weeks < len(dates):
        ax.axvspan(dates[train_weeks], dates[-1], color=style.HOLDOUT, alpha=0.6, lw=0, zorder=0,
                   label="held-out weeks")


# ------------------------------------------------------------------------------------------- charts


def kpi_and_spend(inp: ReportInputs) -> Figure | None:
    """1. The KPI over time on top of the weekly media spend, stacked by channel."""
    if inp.spend is None:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    spend = inp.spend
    colors = _channel_colors(inp)
    ax.stackplot(spend.index, *[spend[ch] for ch in inp.results.channels], colors=list(colors.values()),
                 labels=[inp.label(ch) for ch in inp.results.channels], alpha=0.85, lw=0)
    ax.set_ylabel(f"Weekly media spend ({inp.spend_unit})")
    ax.yaxis.set_major_formatter(COMPACT)
    ax2 = ax.twinx()
    ax2.plot(inp.kpi_series.index, inp.kpi_series.values, color=style.INK, lw=2.2, label=inp.kpi_label)
    ax2.set_ylabel(f"Weekly {inp.kpi_label.lower()}")
    ax2.yaxis.set_major_formatter(COMPACT)
    ax2.grid(False)
    ax2.spines["right"].set_visible(True)
    ax2.set_ylim(bottom=0)
    handles = ax.get_legend_handles_labels()[0] + ax2.get_legend_handles_labels()[0]
    labels = ax.get_legend_handles_labels()[1] + ax2.get_legend_handles_labels()[1]
    fig.legend(handles, labels, loc="outside right upper")
    return fig


def contribution_over_time(inp: ReportInputs) -> Figure | None:
    """2. Weekly contribution by channel on top of the baseline (stacked area)."""
    weekly = mean_weekly(inp)
    if weekly is None:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    colors = _channel_colors(inp)
    chans = inp.results.channels
    events = [weekly["events"].clip(lower=0)] if weekly["events"].any() else []
    ax.stackplot(weekly.index, weekly["baseline"].clip(lower=0), *events, *[weekly[ch].clip(lower=0) for ch in chans],
                 colors=[style.BASELINE] + [style.EVENTS] * len(events) + [colors[c] for c in chans],
                 labels=["Baseline (non-media)"] + [EVENTS_LABEL] * len(events) + [inp.label(c) for c in chans],
                 alpha=0.9, lw=0)
    ax.plot(weekly.index, weekly["actual"], color=style.INK, lw=1.6, label=f"Actual {inp.kpi_label.lower()}")
    ax.yaxis.set_major_formatter(COMPACT)
    ax.set_ylabel(f"Weekly {inp.kpi_label.lower()}")
    fig.legend(loc="outside right upper")
    return fig


def roi_by_channel(inp: ReportInputs) -> Figure | None:
    """3. ROI of each channel by each model with its 90 % interval: the triangulation picture."""
    table = roi_table(inp)
    if table.empty:
        return None
    order = channel_order(inp)
    models = list(dict.fromkeys(table["model"]))
    fig = _figure((12.0, max(4.5, 1.0 + 0.75 * len(order))))
    ax = fig.add_subplot()
    step = 0.7 / max(1, len(models))
    for j, model in enumerate(models):
        part = table[table["model"] == model].set_index("channel")
        ys = [len(order) - 1 - order.index(ch) - (j - (len(models) - 1) / 2) * step for ch in part.index]
        color = style.model_color(model)
        # interval and point drawn apart: a skewed bootstrap can put the mean outside its own 90 % interval
        ax.hlines(ys, part["roi_low"], part["roi_high"], color=color, lw=2.5)
        ax.plot(part["roi"], ys, "o", ms=9, color=color, label=style.model_name(model))
    ax.set_yticks(range(len(order)), [_wrap(inp.label(ch)) for ch in reversed(order)])
    ax.axvline(1.0, color=style.MUTED, lw=1, ls="--", zorder=0)
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel(f"{inp.kpi_label} per {inp.spend_unit} of spend (ROI), 90% interval")
    for i, ch in enumerate(reversed(order)):
        label = confidence_label(inp, ch).label
        ax.annotate(f"{label} confidence", xy=(1.0, i), xycoords=("axes fraction", "data"), xytext=(8, 0),
                    textcoords="offset points", va="center", fontsize=style.FONT_SIZE - 2, weight="bold",
                    color=style.AGREEMENT_COLORS.get(label, style.MUTED))
    ax.legend(loc="lower right")
    return fig


def response_curves(inp: ReportInputs) -> Figure | None:
    """4. Response curves per channel with the current average spend and each curve's interval band."""
    models = {k: m for k, m in inp.results.ok_models().items() if m.curves}
    if not models:
        return None
    chans = channel_order(inp)
    cols = min(MAX_CURVE_COLUMNS, len(chans))
    rows = math.ceil(len(chans) / cols)
    fig = _figure((12.0, 1.0 + 3.0 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
    for ax, ch in zip(axes, chans):
        _curve_panel(ax, inp.label(ch), [(m, r.curves[ch]) for m, r in models.items() if ch in r.curves])
    for ax in axes[len(chans):]:
        ax.set_visible(False)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles + [axes[0].lines[-1]], labels + ["current average spend"], loc="outside lower center",
               ncols=len(labels) + 1)
    return fig


def _curve_panel(ax, title: str, curves: list[tuple[str, ResponseCurve]]) -> None:
    """One channel's curves; a band far above every curve is cut so the curves stay readable."""
    for model, curve in curves:
        color = style.model_color(model)
        ax.fill_between(curve.spend, curve.kpi_low, curve.kpi_high, color=color, alpha=0.15, lw=0)
        ax.plot(curve.spend, curve.kpi, color=color, lw=2, label=style.model_name(model))
    if curves:
        ax.axvline(curves[0][1].current_spend, color=style.INK, lw=1.2, ls="--")
        top = max(max(c.kpi) for _, c in curves)
        if top > 0 and max(max(c.kpi_high) for _, c in curves) > BAND_CUT * top:
            ax.set_ylim(0, BAND_CUT * top)
    ax.set_title(_wrap(title, 28), fontsize=style.FONT_SIZE, loc="left")
    ax.xaxis.set_major_formatter(COMPACT)
    ax.yaxis.set_major_formatter(COMPACT)
    ax.tick_params(labelsize=style.FONT_SIZE - 3)


def spend_vs_contribution(inp: ReportInputs) -> Figure | None:
    """5. Each channel's share of media spend next to its share of media-driven KPI (efficiency)."""
    table = roi_table(inp)
    models = inp.results.ok_models()
    if table.empty:
        return None
    chans = channel_order(inp)
    spend = np.array([np.mean([m.channels[c].spend for m in models.values()]) for c in chans])
    contrib = np.array([np.mean([m.channels[c].contribution for m in models.values()]) for c in chans])
    spend_share = spend / spend.sum() * 100 if spend.sum() else spend
    contrib_share = contrib / contrib.sum() * 100 if contrib.sum() else contrib
    fig = _figure((12.0, max(4.5, 1.0 + 0.7 * len(chans))))
    ax = fig.add_subplot()
    y = np.arange(len(chans))[::-1]
    ax.barh(y + 0.2, spend_share, height=0.38, color=style.BASELINE, label="share of media spend")
    ax.barh(y - 0.2, contrib_share, height=0.38, color=style.ACCENT, label="share of media-driven " +
            inp.kpi_label.lower())
    for yy, s, c in zip(y, spend_share, contrib_share):
        ax.text(s, yy + 0.2, f" {s:.0f}%", va="center", fontsize=style.FONT_SIZE - 3, color=style.MUTED)
        ax.text(c, yy - 0.2, f" {c:.0f}%", va="center", fontsize=style.FONT_SIZE - 3, color=style.ACCENT)
    ax.set_yticks(y, [_wrap(inp.label(c)) for c in chans])
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)
    ax.set_xlabel("% of total")
    ax.legend(loc="lower right")
    return fig


def kpi_decomposition(inp: ReportInputs) -> Figure | None:
    """6. The training-window KPI split into baseline and each channel (waterfall), models averaged."""
    weekly = mean_weekly(inp)
    if weekly is None:
        return None
    train = weekly.iloc[: inp.results.train_weeks]
    chans = channel_order(inp)
    parts = [("Baseline (non-media)", float(train["baseline"].sum()), style.BASELINE)]
    if train["events"].any():
        parts.append((EVENTS_LABEL, float(train["events"].sum()), style.EVENTS))
    colors = _channel_colors(inp)
    parts += [(inp.label(c), float(train[c].sum()), colors[c]) for c in chans]
    parts.append(("Not explained", float(train["actual"].sum() - train["fitted"].sum()), style.GRID))
    total = float(train["actual"].sum())
    fig = _figure((12.0, max(4.5, 1.2 + 0.55 * (len(parts) + 1))))
    ax = fig.add_subplot()
    left = 0.0
    labels = []
    for i, (name, value, color) in enumerate(parts):
        ax.barh(i, value, left=left if value >= 0 else left + value, color=color, height=0.7)
        ax.text(max(left, left + value), i, f" {value / total * 100:.1f}%", va="center",
                fontsize=style.FONT_SIZE - 2)
        left += value
        labels.append(_wrap(name, 30))
    ax.barh(len(parts), total, color=style.INK, height=0.7)
    ax.text(total, len(parts), " 100%", va="center", fontsize=style.FONT_SIZE - 2)
    labels.append(f"Total {inp.kpi_label.lower()}")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlim(0, max(total, left) * 1.08)
    ax.invert_yaxis()
    ax.xaxis.set_major_formatter(COMPACT)
    ax.grid(axis="x")
    ax.grid(axis="y", visible=False)
    return fig


def model_fit(inp: ReportInputs) -> Figure | None:
    """7. Actual against fitted for each model, with the held-out weeks shaded."""
    models = _models_with_weekly(inp)
    if not models:
        return None
    fig = _figure((12.0, 1.2 + 2.4 * len(models)))
    axes = fig.subplots(len(models), 1, sharex=True, squeeze=False).ravel()
    for ax, (model, result) in zip(axes, models.items()):
        w = result.weekly
        dates = pd.DatetimeIndex(pd.to_datetime(w.dates))
        _holdout(ax, dates, w.train_weeks)
        color = style.model_color(model)
        if w.fitted_low and w.fitted_high:
            ax.fill_between(dates, w.fitted_low, w.fitted_high, color=color, alpha=0.18, lw=0)
        ax.plot(dates, w.actual, color=style.INK, lw=1.4, label="actual")
        ax.plot(dates, w.fitted, color=color, lw=2, label="fitted")
        fit = result.fit
        note = f"R² {fit.r2:.2f}, holdout error {fit.mape_test:.1f}%" if fit and fit.mape_test is not None else ""
        ax.set_title(f"{style.model_name(model)}   {note}", fontsize=style.FONT_SIZE, loc="left")
        ax.yaxis.set_major_formatter(COMPACT)
        ax.legend(loc="upper left", ncols=3)
    return fig


def round_history(inp: ReportInputs) -> Figure | None:
    """8. Tuning objective and the channels' confidence by round."""
    series = round_series(inp.ws, upto=inp.round)
    if series.empty:
        return None
    fig = _figure()
    ax1, ax2 = fig.subplots(1, 2)
    obj = series.dropna(subset=["objective"])
    ax1.plot(obj["round"], obj["objective"], marker="o", ms=9, lw=2.2, color=style.ACCENT)
    for r, v in zip(obj["round"], obj["objective"]):
        ax1.annotate(f"{v:.1f}%", (r, v), xytext=(0, 12), textcoords="offset points", ha="center",
                     fontsize=style.FONT_SIZE - 2)
    top = float(obj["objective"].max()) if len(obj) else 1.0
    ax1.set_ylim(0, top * 1.3)
    ax1.set_title("Cross-validated error, % (lower is better)", fontsize=style.FONT_SIZE)
    bottom = np.zeros(len(series))
    for label in CONFIDENCE_LEVELS:
        counts = series[label].to_numpy(dtype=float)
        ax2.bar(series["round"], counts, bottom=bottom, color=style.AGREEMENT_COLORS[label], label=label, width=0.6)
        bottom += counts
    ax2.set_ylim(0, len(inp.results.channels) * 1.25)
    ax2.yaxis.get_major_locator().set_params(integer=True)
    ax2.set_title("Channels by confidence", fontsize=style.FONT_SIZE)
    ax2.legend(loc="upper center", ncols=3)
    for ax in (ax1, ax2):
        ax.set_xticks(series["round"])
        ax.set_xlabel("round")
        ax.set_xlim(series["round"].min() - 0.6, series["round"].max() + 0.6)
    return fig


CHARTS: dict[str, Callable[[ReportInputs], Figure | None]] = {
    "kpi_and_spend": kpi_and_spend,
    "contribution_over_time": contribution_over_time,
    "roi_by_channel": roi_by_channel,
    "response_curves": response_curves,
    "spend_vs_contribution": spend_vs_contribution,
    "kpi_decomposition": kpi_decomposition,
    "model_fit": model_fit,
    "round_history": round_history,
}


def chart_titles(inp: ReportInputs) -> dict[str, str]:
    """Captions for the charts (the PNGs carry none, so the slide or page heading can say it once)."""
    kpi = inp.kpi_label.lower()
    n = len(_models_with_weekly(inp))
    models = f"average of {n} model{'s' * (n != 1)}"
    return {
        "kpi_and_spend": f"{inp.kpi_label} and media spend by week",
        "contribution_over_time": f"Where weekly {kpi} comes from ({models})",
        "roi_by_channel": "Return on spend by channel and model, with each model's 90% interval",
        "response_curves": f"Weekly {kpi} from weekly spend; shaded: 90% interval; dashed: current average spend",
        "spend_vs_contribution": "Share of media spend vs share of media-driven " + kpi + f" ({models})",
        "kpi_decomposition": f"What made up {kpi} over the modelled weeks ({models})",
        "model_fit": "Actual vs fitted by model; shaded: weeks the models never saw",
        "round_history": "How the rounds went: tuning objective and confidence by round",
        "budget_plan": _plan_caption(inp),
    }


CAPTION_MOVES = 3  # the plan caption names at most this many "if a test confirmed it" moves


def _plan_caption(inp: ReportInputs) -> str:
    """The plan's caption: what the chart shows and, when the plan has its total row, what it adds in all."""
    kpi = inp.kpi_label.lower()
    text = f"Current vs recommended spend per channel, and the {kpi} each move is expected to bring (90% interval)"
    opt = inp.optimization
    total = opt[opt["channel"] == TOTAL] if opt is not None and "channel" in opt else None
    if total is None or total.empty:
        held = _confirmed(inp)
        return f"{text}.{held}" if held else text
    t = total.iloc[0]
    return (f"{text}. In all: {compact(t['expected_kpi_change'])} {kpi} "
            f"({compact(t['expected_kpi_change_low'])} to {compact(t['expected_kpi_change_high'])}) "
            f"for {compact(t['recommended'])} of spend, against {compact(t['current'])} today.{_confirmed(inp)}")


def _confirmed(inp: ReportInputs) -> str:
    """' … if tests confirmed them, the plan would move X to N': what the ±10 % confidence cap holds back,
    the `CAPTION_MOVES` largest differences only (eight channels ran the caption into the slide's footer)."""
    opt = inp.optimization
    if opt is None or "if_confirmed" not in opt:
        return ""
    held = opt[opt["if_confirmed"].notna()]
    if held.empty:
        return ""
    one = len(held) == 1
    who = f"{inp.label(str(held['channel'].iloc[0]))} is" if one else f"{len(held)} channels are"
    text = f" {who} held near today's spend for want of high confidence"
    changed = confirmed_moves(held)
    if changed.empty:
        return text + "."
    gap = (changed["if_confirmed"] - changed["recommended"]).abs()
    top = changed.loc[gap.nlargest(CAPTION_MOVES).index]
    moves = ", ".join(f"{inp.label(str(r['channel']))} to {compact(r['if_confirmed'])}" for _, r in top.iterrows())
    more = " (the largest; the rest in the workbook's Budget plan sheet)" if len(top) < len(changed) else ""
    return f"{text}; if {'a test confirmed it' if one else 'tests confirmed them'}, the plan would move {moves}{more}."


def render_charts(inp: ReportInputs, out_dir: Path) -> dict[str, Path]:
    """Draw every chart the results support and write them as `<name>.png`; returns name -> path."""
    written: dict[str, Path] = {}
    for name, draw in CHARTS.items():
        with style.chart_style():
            fig = draw(inp)
        if fig is None:
            continue
        path = out_dir / f"{name}.png"
        write_bytes(path, png_bytes(fig))
        written[name] = path
    return written

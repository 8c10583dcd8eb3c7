"""report.html: one self-contained page (styles, script and charts inline; no external reference).

The page shows the Reporter's text as written, every chart, a sortable ROI table with ranges, the fit
table, the round history and what moved since the previous round, so it can be mailed or opened offline.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

import pandas as pd

from prism.analysis.test_plan import TARGET_HALFWIDTH, promise_words
from prism.report import fmt, style
from prism.report.charts import chart_titles
from prism.report.inputs import ReportInputs
from prism.report.plan_chart import CHART_NAME as PLAN_CHART
from prism.report.rounds import RoundComparison, compare_rounds, previous_round
from prism.report.tables import (fit_table, lift_test_table, optimization_display, round_history, roi_table,
                                 test_plan_display)

CSS = f"""
:root {{ --ink: {style.INK}; --muted: {style.MUTED}; --grid: {style.GRID}; --accent: {style.ACCENT}; }}
* {{ box-sizing: border-box; }}
body {{ font-family: "DejaVu Sans", "Segoe UI", Helvetica, Arial, sans-serif; color: var(--ink); margin: 0;
       background: #F5F7FA; line-height: 1.5; }}
header {{ background: var(--accent); color: #fff; padding: 28px 48px; }}
header h1 {{ margin: 0 0 6px; font-size: 30px; }}
header p {{ margin: 0; opacity: .9; }}
nav {{ background: #fff; border-bottom: 1px solid var(--grid); padding: 10px 48px; position: sticky; top: 0; }}
nav a {{ color: var(--accent); margin-right: 18px; text-decoration: none; font-weight: 600; font-size: 14px; }}
main {{ max-width: 1180px; margin: 0 auto; padding: 24px 48px 64px; }}
section {{ background: #fff; border: 1px solid var(--grid); border-radius: 8px; padding: 20px 28px; margin: 22px 0; }}
h2 {{ margin-top: 0; font-size: 22px; }}
.report > h1:first-child {{ display: none; }} .report h1 {{ font-size: 24px; }} .report h2 {{ font-size: 19px; margin-top: 22px; }}
table {{ border-collapse: collapse; width: 100%; margin: 10px 0 18px; font-size: 14px; }}
th, td {{ border-bottom: 1px solid var(--grid); padding: 6px 10px; text-align: left; vertical-align: top; }}
th {{ background: var(--accent); color: #fff; font-weight: 600; }}
td.num, th.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr:nth-child(even) td {{ background: #F7F9FB; }}
table.sortable th {{ cursor: pointer; user-select: none; }}
table.sortable th::after {{ content: " \\2195"; opacity: .5; }}
figure {{ margin: 18px 0 28px; }} figure img {{ width: 100%; height: auto; border: 1px solid var(--grid); }}
figcaption {{ color: var(--muted); font-size: 14px; margin-top: 4px; }}
td:has(.badge) {{ white-space: nowrap; }}
.badge {{ display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff; font-size: 12px;
          font-weight: 600; }}
{"".join(f".agree-{k.replace('/', '')} {{ background: {v}; }} " for k, v in style.AGREEMENT_COLORS.items())}
.flag {{ color: {style.AGREEMENT_COLORS["low"]}; font-weight: 600; }}
.muted {{ color: var(--muted); }}
footer {{ color: var(--muted); font-size: 12px; text-align: center; padding: 16px; }}
"""

SORT_JS = """
document.querySelectorAll('table.sortable').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0], rows = Array.from(body.rows);
      var asc = th.dataset.dir !== 'asc'; th.dataset.dir = asc ? 'asc' : 'desc';
      rows.sort(function (a, b) {
        var x = a.cells[col].dataset.sort || a.cells[col].textContent;
        var y = b.cells[col].dataset.sort || b.cells[col].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var cmp = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
        return asc ? cmp : -cmp;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def _badge(label: str) -> str:
    return f'<span class="badge agree-{escape(label.replace("/", ""))}">{escape(label)}</span>'


def html_table(header: list[str], rows: list[list[tuple[str, str | None]]], numeric: set[int] = frozenset(),
               sortable: bool = False) -> str:
    """An HTML table; each cell is (html, sort key or None); columns in `numeric` align right."""
    cls = ' class="sortable"' if sortable else ""
    head = "".join(f'<th{" class=num" if i in numeric else ""}>{escape(h)}</th>' for i, h in enumerate(header))
    body = []
    for row in rows:
        cells = []
        for i, (html_, key) in enumerate(row):
            attrs = (' class="num"' if i in numeric else "") + (f' data-sort="{escape(key)}"' if key else "")
            cells.append(f"<td{attrs}>{html_}</td>")
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table{cls}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def num_cell(text: str, value: float | None) -> tuple[str, str | None]:
    return escape(text), (repr(float(value)) if value is not None and not pd.isna(value) else None)


def text_cell(text: str) -> tuple[str, str | None]:
    return escape(str(text)), None


def _roi_section(inp: ReportInputs) -> str:
    table = roi_table(inp)
    if table.empty:
        return "<p>No model produced estimates this round.</p>"
    rows = [[text_cell(r.label), text_cell(r.model_name), num_cell(fmt.roi(r.roi), r.roi),
             num_cell(fmt.roi(r.roi_low), r.roi_low),
             num_cell(fmt.roi(r.roi_high), r.roi_high), (_badge(r.confidence), r.confidence),
             num_cell(fmt.pct(r.cv_pct, 0), r.cv_pct), text_cell(r.evidence)] for r in table.itertuples()]
    return (f"<p>Return per {escape(inp.spend_unit)} of spend for each channel and model, with the model's 90% "
            "interval. Prior-driven: the data did not move that model's estimate away from its starting assumption. "
            "Click a column heading to sort.</p>"
            + html_table(["Channel", "Model", "ROI", "Low", "High", "Confidence", "Spread across models", "Evidence"],
                         rows, {2, 3, 4, 6}, sortable=True))


def _lift_section(inp: ReportInputs) -> str:
    """Each tested channel's ROI with its lift tests beside the ROI without them."""
    table = lift_test_table(inp)
    rows = [[text_cell(r.label), text_cell(r.tests), num_cell(fmt.roi(r.roi), r.roi),
             text_cell(fmt.roi_range(r.roi_low, r.roi_high)), num_cell(fmt.roi(r.roi_without), r.roi_without),
             text_cell(fmt.roi_range(r.roi_without_low, r.roi_without_high)),
             num_cell(fmt.signed_pct(r.moved_pct), r.moved_pct)]
            for r in table.itertuples()]
    method = escape(table["without_method"].iloc[0])
    return (f"<p>Return per {escape(inp.spend_unit)} of spend with each channel's lift tests, beside the return "
            f"without them ({method}). Moved: how far the tests moved the same method's estimate.</p>"
            + html_table(["Channel", "Tests", "ROI with tests", "Range", "ROI without", "Range without", "Moved"],
                         rows, {2, 4, 6}))


def _fit_section(inp: ReportInputs) -> str:
    fit = fit_table(inp)
    rows = [[text_cell(r.model_name), text_cell(r.status if r.status == "ok" else f"{r.status}: {r.reason}"),
             num_cell(fmt.number(r.r2), r.r2), num_cell(fmt.pct(r.mape_train), r.mape_train),
             num_cell(fmt.pct(r.mape_test), r.mape_test), num_cell(fmt.pct(r.cv_mape), r.cv_mape),
             num_cell(f"{r.seconds:.1f}", r.seconds)] for r in fit.itertuples()]
    return html_table(["Model", "Status", "R²", "Error (fit weeks)", "Error (held-out weeks)",
                       "Error (cross-validated)", "Seconds"], rows, {2, 3, 4, 5, 6})


def _history_section(inp: ReportInputs) -> str:
    hist = round_history(inp)
    if hist.empty:
        return "<p class=muted>No round history recorded yet.</p>"
    rows = [[num_cell(str(r.round), r.round), text_cell(r.change), num_cell(fmt.pct(r.objective, 2), r.objective),
             num_cell(fmt.pct(r.best_test_mape), r.best_test_mape),
             num_cell(fmt.number(r.high_confidence), r.high_confidence), text_cell(r.verdict)]
            for r in hist.itertuples()]
    return html_table(["Round", "Change", "Tuning objective", "Best held-out error",
                       "Channels with high confidence", "Review"], rows, {0, 2, 3, 4})


def _comparison_section(inp: ReportInputs) -> str:
    prev = previous_round(inp.ws, inp.round)
    if prev is None:
        return "<p class=muted>This is the first round; there is nothing to compare with yet.</p>"
    return comparison_html(compare_rounds(inp.ws, prev, inp.round), inp)


def comparison_html(cmp: RoundComparison, inp: ReportInputs) -> str:
    """What changed between two rounds and how each channel moved, flagged beyond the earlier interval."""
    parts = [f"<h3>Round {cmp.a} → round {cmp.b}</h3>"]
    if cmp.changes:
        parts.append("<ul>" + "".join(f"<li>Round {r}: {escape(c)}</li>" for r, c in cmp.changes) + "</ul>")
    if cmp.config_diff:
        parts.append(html_table(["Setting", f"Round {cmp.a}", f"Round {cmp.b}"],
                                [[text_cell(k), text_cell(a), text_cell(b)] for k, a, b in cmp.config_diff]))
    parts.append(f"<p>Tuning objective: {escape(fmt.pct(cmp.objective_a, 2))} → {escape(fmt.pct(cmp.objective_b, 2))}"
                 " (cross-validated error, lower is better).</p>")
    rows = []
    for m in cmp.channels:
        flag = (f'<span class="flag">moved outside round {cmp.a}\'s interval '
                f'({escape(", ".join(style.model_name(x) for x in m.outside))})</span>' if m.flagged else "")
        rows.append([text_cell(inp.label(m.channel)), num_cell(fmt.roi(m.roi_a), m.roi_a),
                     num_cell(fmt.roi(m.roi_b), m.roi_b),
                     (f"{_badge(m.agreement_a)} → {_badge(m.agreement_b)}", m.agreement_b), (flag, str(m.flagged))])
    parts.append(html_table(["Channel", f"ROI round {cmp.a}", f"ROI round {cmp.b}", "Agreement", "Flag"], rows, {1, 2}))
    return "".join(parts)


def _optimization_section(inp: ReportInputs, charts: dict[str, Path]) -> str:
    """The plan's chart over its table of moves."""
    header, cells = optimization_display(inp)
    rows = [[num_cell(text, value) if value is not None else text_cell(text) for text, value in row] for row in cells]
    chart = {PLAN_CHART: charts[PLAN_CHART]} if PLAN_CHART in charts else {}
    return _figures(inp, chart) + html_table(header, rows, set(range(1, len(header))), sortable=True)


def _test_plan_section(inp: ReportInputs) -> str:
    """The test that would settle each channel below high confidence (results/test_plan.csv)."""
    header, cells = test_plan_display(inp)
    rows = [[num_cell(text, value) if value is not None else text_cell(text) for text, value in row] for row in cells]
    return (f"<p>The smallest test that would bring each channel's likely range within "
            f"±{TARGET_HALFWIDTH:.0%} of its return, "
            f"sized by simulating the test on this data; precision is what {promise_words(inp.test_plan)} "
            "simulated runs achieved.</p>"
            + html_table(header, rows, {3, 4, 6}, sortable=True))


def _figures(inp: ReportInputs, charts: dict[str, Path]) -> str:
    titles = chart_titles(inp)
    out = []
    for name, path in charts.items():
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        out.append(f'<figure id="chart-{name}"><img alt="{escape(titles[name])}" src="data:image/png;base64,{data}">'
                   f"<figcaption>{escape(titles[name])}</figcaption></figure>")
    return "".join(out)


def build_html(inp: ReportInputs, charts: dict[str, Path]) -> str:
    """The page as one string; every resource is inline."""
    res = inp.results
    title = inp.report.title or f"What drives {inp.kpi_label.lower()}"
    period = inp.period
    sub = f"Round {res.round}" + (f" · {period[0]} to {period[1]}" if period else "") + \
        f" · {len(res.ok_models())} of {len(res.models)} models ran"
    sections = [("report", "Report", f'<div class="report">{inp.report.html()}</div>'),
                ("roi", "ROI by channel", _roi_section(inp)),
                *([("lift-tests", "Lift tests", _lift_section(inp))] if inp.results.uncalibrated else []),
                ("charts", "Charts", _figures(inp, {k: v for k, v in charts.items() if k != PLAN_CHART})),
                ("fit", "Model fit", _fit_section(inp))]
    if inp.optimization is not None:
        sections.append(("budget", "Budget plan", _optimization_section(inp, charts)))
    if inp.test_plan is not None and not inp.test_plan.empty:
        sections.append(("settle", "What would settle it", _test_plan_section(inp)))
    sections += [("history", "Round history", _history_section(inp)),
                 ("compare", "Since the last round", _comparison_section(inp))]
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(name)}</h2>{html_}</section>' for key, name, html_ in sections)
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(title)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(title)}</h1><p>{escape(sub)}</p></header><nav>{nav}</nav><main>{body}</main>"
            # the hashes identify the data and config for an audit; as attributes, not prose figures
            f'<footer data-data-hash="{escape(res.data_hash)}" data-config-hash="{escape(res.config_hash)}">'
            f"Prism · round {res.round}</footer>"
            f"<script>{SORT_JS}</script></body></html>\n")

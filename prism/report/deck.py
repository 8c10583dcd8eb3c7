"""report.pptx: the CMO deck, built from the Reporter's prose and the round's results.

Slides quote report.md by section (never rewording it); figures come from the results. The ROI and
contribution charts are native PowerPoint charts (editable, with value labels; ROI ranges as error
bars), so an analyst can restyle them without Prism. Text boxes pick a font size that fits their box.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from lxml import etree
from PIL import Image
from pptx import Presentation
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.slide import Slide
from pptx.util import Emu, Inches, Pt

from prism.report import fmt, style
from prism.report.charts import chart_titles
from prism.report.inputs import ReportInputs
from prism.report.markdown import Item, Run
from prism.report.tables import (contribution_table, diagnostics_table, fit_table, optimization_display,
                                 roi_summary, roi_table)

SLIDE_W, SLIDE_H = 13.333, 7.5
ROI_TABLE_W = 4.6
MARGIN = 0.6
TITLE_TOP, TITLE_H = 0.35, 0.9
BODY_TOP = 1.45
BODY_BOTTOM = 6.85
BODY_PT, MIN_PT = 20, 11
TITLE_PT = 30
FOOTER_PT = 10
LINE_SPACING = 1.2  # line height as a multiple of the font size
CHAR_WIDTH = 0.55  # average glyph width as a share of the font size (DejaVu Sans; Calibri is narrower)
TABLE_PT = 13
CHART_PT = 13
FONT = "Calibri"
AXIS_STRETCH = 1.6  # error bars reaching past this multiple of the longest bar are cut at the axis
CROWDED_BARS = 16  # more bars than this get smaller value labels
SHORT_BAR = 0.12  # a bar shorter than this share of the longest gets its label outside

# Slide titles: tests and readers find slides by these.
TITLES = {
    "answer": "The answer",
    "roi": "Return on spend by channel",
    "contribution": "Where {kpi} comes from",
    "over_time": "{kpi} by week: baseline and media",
    "actions": "What to do",
    "disagree": "Where the models disagree",
    "caveats": "Data caveats",
    "curves": "Diminishing returns by channel",
    "fit": "Appendix: model fit and health",
    "history": "Appendix: how the rounds went",
    "method": "Appendix: method in plain words",
}
METHOD_PLAIN = (
    "Three independent models, each with different assumptions, estimate how much each channel's spend adds "
    "to the outcome, allowing for carry-over from week to week and for diminishing returns.",
    "Each model is fitted on the earlier weeks; the most recent weeks are held back to test it on data it "
    "never saw.",
    "Where the models agree on a channel's return, the finding is solid enough to act on; where they "
    "disagree, the deck says so and names the evidence that would settle it.",
)


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    width: float
    height: float

    def emu(self) -> tuple[Emu, Emu, Emu, Emu]:
        return Inches(self.left), Inches(self.top), Inches(self.width), Inches(self.height)


BODY = Box(MARGIN, BODY_TOP, SLIDE_W - 2 * MARGIN, BODY_BOTTOM - BODY_TOP)


def _rgb(color: str) -> RGBColor:
    return RGBColor(*style.hex_rgb(color))


# ------------------------------------------------------------------------------------------- text


def fit_font_size(paragraphs: Sequence[str], box: Box, max_pt: float = BODY_PT, min_pt: float = MIN_PT) -> float:
    """The largest font size (pt) at which the paragraphs, wrapped to the box width, fit its height."""
    pt = max_pt
    while pt > min_pt:
        if _text_height(paragraphs, box.width, pt) <= box.height:
            return pt
        pt -= 1
    return min_pt


def _text_height(paragraphs: Sequence[str], width_in: float, pt: float) -> float:
    chars_per_line = max(1, int((width_in - 0.3) * 72 / (pt * CHAR_WIDTH)))
    lines = sum(max(1, math.ceil(len(p) / chars_per_line)) for p in paragraphs)
    spacing = len(paragraphs) * pt * 0.5  # space after each paragraph
    return (lines * pt * LINE_SPACING + spacing) / 72 + 0.2


def _add_runs(paragraph, runs: Sequence[Run], pt: float, color: str = style.INK) -> None:
    for text, bold in runs:
        run = paragraph.add_run()
        run.text = text
        run.font.size = Pt(pt)
        run.font.bold = bold
        run.font.name = FONT
        run.font.color.rgb = _rgb(color)


def text_box(slide: Slide, box: Box, items: Sequence[Item], max_pt: float = BODY_PT,
             min_pt: float = MIN_PT, color: str = style.INK) -> float:
    """Paragraphs and bullets in a box at the largest size that fits; returns the size used."""
    pt = fit_font_size([("•  " if i.bullet else "") + i.text for i in items], box, max_pt, min_pt)
    frame = slide.shapes.add_textbox(*box.emu()).text_frame
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.TOP
    for n, item in enumerate(items):
        p = frame.paragraphs[0] if n == 0 else frame.add_paragraph()
        p.space_after = Pt(pt * 0.5)
        runs = ([("•  ", False)] if item.bullet else []) + list(item.runs)
        _add_runs(p, runs, pt, color)
    return pt


def split_to_fit(items: Sequence[Item], box: Box, min_pt: float) -> tuple[list[Item], list[Item]]:
    """The leading items that fit the box at the smallest size, and the rest (for a continuation slide)."""
    taken: list[Item] = []
    for item in items:
        trial = [("•  " if i.bullet else "") + i.text for i in [*taken, item]]
        if taken and _text_height(trial, box.width, min_pt) > box.height:
            break
        taken.append(item)
    return taken, list(items[len(taken):])


def text_slides(prs: Presentation, inp: ReportInputs, title: str, items: Sequence[Item], box: Box = BODY,
                max_pt: float = 22, min_pt: float = 12) -> Slide:
    """Items on as many slides as they need at no less than `min_pt`; returns the first slide."""
    first = slide = _slide(prs, title, inp)
    while True:
        page, items = split_to_fit(items, box, min_pt)
        text_box(slide, box, page, max_pt, min_pt)
        if not items:
            return first
        slide = _slide(prs, f"{title} (continued)", inp)


def plain(text: str, bullet: bool = False) -> Item:
    return Item(runs=[(text, False)], bullet=bullet)


def _title(slide: Slide, title: str, inp: ReportInputs) -> None:
    frame = slide.shapes.add_textbox(*Box(MARGIN, TITLE_TOP, SLIDE_W - 2 * MARGIN, TITLE_H).emu()).text_frame
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    pt = fit_font_size([title], Box(0, 0, SLIDE_W - 2 * MARGIN, TITLE_H), TITLE_PT, 20)
    _add_runs(frame.paragraphs[0], [(title, True)], pt)
    line = slide.shapes.add_connector(1, Inches(MARGIN), Inches(TITLE_TOP + TITLE_H + 0.05),
                                      Inches(MARGIN + 1.6), Inches(TITLE_TOP + TITLE_H + 0.05))
    line.line.color.rgb = _rgb(style.ACCENT)
    line.line.width = Pt(3)
    footer = slide.shapes.add_textbox(*Box(MARGIN, SLIDE_H - 0.5, SLIDE_W - 2 * MARGIN, 0.35).emu()).text_frame
    footer.word_wrap = True
    _add_runs(footer.paragraphs[0], [(_footer_text(inp), False)], FOOTER_PT, style.MUTED)


def _footer_text(inp: ReportInputs) -> str:
    period = inp.period
    span = f" · {period[0]} to {period[1]}" if period else ""
    return f"{inp.kpi_label} marketing mix · round {inp.round}{span}"


def _slide(prs: Presentation, title: str, inp: ReportInputs) -> Slide:
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    _title(slide, title, inp)
    return slide


# ------------------------------------------------------------------------------------------ tables


def table(slide: Slide, box: Box, header: Sequence[str], rows: Sequence[Sequence[str]],
          widths: Sequence[float] | None = None, pt: float = TABLE_PT) -> None:
    """A native table: bold header on the accent colour, zebra rows, numbers right-aligned."""
    row_h = min(0.45, box.height / (len(rows) + 1))
    shape = slide.shapes.add_table(len(rows) + 1, len(header), Inches(box.left), Inches(box.top),
                                   Inches(box.width), Inches(row_h * (len(rows) + 1)))
    tbl = shape.table
    widths = widths or [1.0] * len(header)
    total = sum(widths)
    for j, w in enumerate(widths):
        tbl.columns[j].width = Inches(box.width * w / total)
    for i, values in enumerate([list(header), *[list(r) for r in rows]]):
        tbl.rows[i].height = Inches(row_h)
        for j, value in enumerate(values):
            cell = tbl.cell(i, j)
            cell.margin_top = cell.margin_bottom = Pt(2)
            frame = cell.text_frame
            frame.word_wrap = True
            p = frame.paragraphs[0]
            p.alignment = PP_ALIGN.LEFT if j == 0 or not _numeric(value) else PP_ALIGN.RIGHT
            _add_runs(p, [(value, i == 0)], pt, "#FFFFFF" if i == 0 else style.INK)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            cell.fill.solid()
            cell.fill.fore_color.rgb = _rgb(style.ACCENT if i == 0 else ("#F3F5F8" if i % 2 == 0 else "#FFFFFF"))


def _numeric(text: str) -> bool:
    return bool(text) and (text[0].isdigit() or text[0] in "+-–" and len(text) > 1 or text == fmt.MISSING)


# ------------------------------------------------------------------------------------------ charts


def bar_chart(slide: Slide, box: Box, categories: Sequence[str], series: dict[str, Sequence[float]],
              colors: dict[str, str], number_format: str,
              errors: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None):
    """A native clustered horizontal bar chart with value labels and optional custom error bars."""
    data = CategoryChartData(number_format=number_format)
    data.categories = list(categories)[::-1]  # bar charts draw the first category at the bottom
    for name, values in reversed(series.items()):  # ... and the first series at the bottom of a group
        data.add_series(name, list(values)[::-1])
    frame = slide.shapes.add_chart(XL_CHART_TYPE.BAR_CLUSTERED, *box.emu(), data)
    chart = frame.chart
    chart.has_title = False  # the slide title says it
    chart.font.size = Pt(CHART_PT)
    chart.font.name = FONT
    chart.has_legend = len(series) > 1
    if chart.has_legend:
        chart.legend.position = XL_LEGEND_POSITION.BOTTOM
        chart.legend.include_in_layout = False
    plot = chart.plots[0]
    plot.gap_width = 60
    plot.overlap = 0
    top = max((abs(v) for values in series.values() for v in values if not math.isnan(v)), default=1.0) or 1.0
    label_pt = CHART_PT - 2 if len(categories) * len(series) <= CROWDED_BARS else CHART_PT - 4
    for s, name in zip(plot.series, reversed(series)):
        labels = s.data_labels  # per series: point-level labels below would otherwise hide the rest
        labels.show_value = True
        labels.number_format = number_format
        labels.number_format_is_linked = False
        labels.position = XL_LABEL_POSITION.INSIDE_BASE  # clear of the error bars at the bar ends
        labels.font.size = Pt(label_pt)
        labels.font.bold = True
        labels.font.color.rgb = _rgb("#FFFFFF")
        _short_bar_labels(s, list(series[name])[::-1], top, label_pt)
        s.format.fill.solid()
        s.format.fill.fore_color.rgb = _rgb(colors[name])
        s.invert_if_negative = False
        if errors and name in errors:
            minus, plus = errors[name]
            _error_bars(s, list(minus)[::-1], list(plus)[::-1])
    value_axis = chart.value_axis
    value_axis.maximum_scale = _axis_max(series, errors)  # room for the longest error bar
    if all(v >= 0 for values in series.values() for v in values if not math.isnan(v)):
        value_axis.minimum_scale = 0
    value_axis.has_major_gridlines = True
    value_axis.major_gridlines.format.line.color.rgb = _rgb(style.GRID)
    value_axis.tick_labels.number_format = number_format
    value_axis.tick_labels.number_format_is_linked = False
    value_axis.format.line.fill.background()
    chart.category_axis.format.line.color.rgb = _rgb(style.GRID)
    return chart


def _axis_max(series: dict[str, Sequence[float]], errors: dict | None) -> float:
    """A round axis maximum just past the longest error bar, unless a few very wide ranges would squash
    every bar: then just past the longest bar (the slide lists the full ranges beside the chart)."""
    bars = [v for values in series.values() for v in values if not math.isnan(v)]
    ends = [v + (errors[name][1][i] if errors and name in errors else 0.0)
            for name, values in series.items() for i, v in enumerate(values) if not math.isnan(v)]
    longest_bar, top = max(bars, default=1.0), max(ends, default=1.0)
    if longest_bar > 0 and top > AXIS_STRETCH * longest_bar:
        top = longest_bar * 1.15
    if top <= 0:
        return 1.0
    step = 10 ** math.floor(math.log10(top)) / 2
    return math.ceil(top * 1.02 / step) * step


def _short_bar_labels(series, values: Sequence[float], top: float, pt: float) -> None:
    """Labels of bars too short to hold them move outside the bar, in dark text."""
    for i, v in enumerate(values):
        if not math.isnan(v) and abs(v) < SHORT_BAR * top:
            label = series.points[i].data_label
            label.position = XL_LABEL_POSITION.OUTSIDE_END
            label.font.size = Pt(pt)
            label.font.color.rgb = _rgb(style.INK)


def _num_lit(values: Sequence[float]) -> etree._Element:
    lit = etree.Element(qn("c:numLit"))
    etree.SubElement(lit, qn("c:formatCode")).text = "General"
    etree.SubElement(lit, qn("c:ptCount")).set("val", str(len(values)))
    for i, v in enumerate(values):
        pt = etree.SubElement(lit, qn("c:pt"))
        pt.set("idx", str(i))
        etree.SubElement(pt, qn("c:v")).text = repr(float(v))
    return lit


def _error_bars(series, minus: Sequence[float], plus: Sequence[float]) -> None:
    """Custom error bars (distance below and above each bar) — python-pptx has no API for them."""
    ser = series._element
    bars = etree.Element(qn("c:errBars"))
    etree.SubElement(bars, qn("c:errBarType")).set("val", "both")
    etree.SubElement(bars, qn("c:errValType")).set("val", "cust")
    etree.SubElement(bars, qn("c:noEndCap")).set("val", "0")
    for tag, values in (("c:plus", plus), ("c:minus", minus)):
        etree.SubElement(bars, qn(tag)).append(_num_lit(values))
    sp = etree.SubElement(bars, qn("c:spPr"))
    ln = etree.SubElement(sp, qn("a:ln"))
    ln.set("w", "19050")
    fill = etree.SubElement(ln, qn("a:solidFill"))
    etree.SubElement(fill, qn("a:srgbClr")).set("val", style.INK.lstrip("#"))
    ser.find(qn("c:cat")).addprevious(bars)


def error_bar_values(series) -> tuple[list[float], list[float]] | None:
    """(minus, plus) of a series' custom error bars, for checks."""
    bars = series._element.find(qn("c:errBars"))
    if bars is None:
        return None
    read = lambda tag: [float(v.text) for v in bars.find(qn(tag)).iter(qn("c:v"))]  # noqa: E731
    return read("c:minus"), read("c:plus")


# ------------------------------------------------------------------------------------------ slides


def _title_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    band = slide.shapes.add_shape(1, 0, 0, Inches(SLIDE_W), Inches(SLIDE_H))
    band.fill.solid()
    band.fill.fore_color.rgb = _rgb(style.ACCENT)
    band.line.fill.background()
    title = inp.report.title or f"What drives {inp.kpi_label.lower()}"
    text_box(slide, Box(0.9, 2.2, SLIDE_W - 1.8, 1.8), [Item([(title, True)], False)], 44, 28, "#FFFFFF")
    n = len(inp.results.ok_models())
    period = inp.period
    lines = [f"Marketing mix results · round {inp.round}"]
    if period:
        lines.append(f"{period[0]} to {period[1]} · {inp.results.weeks} weeks of data")
    lines.append(f"{n} independent model{'s' * (n != 1)}, checked by the review agents")
    text_box(slide, Box(0.9, 4.2, SLIDE_W - 1.8, 1.8), [plain(t) for t in lines], 22, 14, "#DCE6F5")


def _answer_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = _slide(prs, TITLES["answer"], inp)
    sentence, bullets = inp.report.answer()
    top = BODY_TOP
    if sentence is not None:
        box = Box(MARGIN, top, BODY.width, 1.6)
        text_box(slide, box, [Item([(t, True) for t, _ in sentence.runs], False)], 28, 18, style.ACCENT)
        top += 1.8
    if bullets:
        text_box(slide, Box(MARGIN, top, BODY.width, BODY_BOTTOM - top), bullets[:3], 22, 12)


def _roi_slide(prs: Presentation, inp: ReportInputs) -> None:
    """Native bar chart (a bar per model, error bars for its interval) beside the agreed ranges table."""
    slide = _slide(prs, TITLES["roi"], inp)
    table_ = roi_table(inp)
    if table_.empty:
        text_box(slide, BODY, [plain("No model produced estimates this round.")])
        return
    order = list(dict.fromkeys(table_["channel"]))
    series, errors, colors = {}, {}, {}
    for model, part in table_.groupby("model", sort=False):
        part = part.set_index("channel").reindex(order)
        name = style.model_name(model)
        series[name] = part["roi"].tolist()
        # error bars cannot be negative: a mean outside its own interval (skewed draws) gets none on that side
        errors[name] = ((part["roi"] - part["roi_low"]).clip(lower=0).tolist(),
                        (part["roi_high"] - part["roi"]).clip(lower=0).tolist())
        colors[name] = style.model_color(model)
    chart_w = BODY.width - ROI_TABLE_W - 0.2
    bar_chart(slide, Box(MARGIN, BODY_TOP, chart_w, BODY.height - 0.5), [inp.label(c) for c in order], series,
              colors, "0.00", errors)
    summary = roi_summary(inp)
    rows = [[r.label, fmt.roi(r.roi_mean), fmt.roi_range(r.roi_low, r.roi_high), r.agreement]
            for r in summary.itertuples()]
    table(slide, Box(MARGIN + chart_w + 0.2, BODY_TOP, ROI_TABLE_W, min(BODY.height - 0.5, 0.42 * (len(rows) + 1))),
          ["Channel", "ROI", "Likely range", "Agreement"], rows, [1.4, 0.6, 1.2, 1.2], pt=11)
    note = (f"{inp.kpi_label} returned per unit of spend. Bars: each model's estimate; lines: the range it considers "
            "likely. Table: the average across models, the widest range, and how closely the models agree.")
    text_box(slide, Box(MARGIN, BODY_BOTTOM - 0.45, BODY.width, 0.5), [plain(note)], 12, 9, style.MUTED)


def _contribution_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = _slide(prs, TITLES["contribution"].format(kpi=inp.kpi_label.lower()), inp)
    table_ = contribution_table(inp)
    if table_.empty:
        text_box(slide, BODY, [plain("No model produced estimates this round.")])
        return
    order = list(table_.groupby("channel", sort=False)["contribution_pct"].mean().sort_values(ascending=False).index)
    series, colors = {}, {}
    for model, part in table_.groupby("model", sort=False):
        name = style.model_name(model)
        series[name] = part.set_index("channel").reindex(order)["contribution_pct"].tolist()
        colors[name] = style.model_color(model)
    bar_chart(slide, Box(MARGIN, BODY_TOP, BODY.width, BODY.height - 0.5), [inp.label(c) for c in order],
              series, colors, '0.0"%"')
    note = f"Share of {inp.kpi_label.lower()} each channel generated over the modelled weeks, by model."
    text_box(slide, Box(MARGIN, BODY_BOTTOM - 0.45, BODY.width, 0.5), [plain(note)], 13, 10, style.MUTED)


def _image_slide(prs: Presentation, inp: ReportInputs, title: str, charts: dict[str, Path], name: str) -> None:
    """A chart PNG scaled into the body, centred, with its caption underneath."""
    image = charts.get(name)
    if image is None or not image.exists():
        return
    caption = chart_titles(inp)[name]
    slide = _slide(prs, title, inp)
    with Image.open(image) as im:
        w, h = im.size
    room = Box(MARGIN, BODY_TOP, BODY.width, BODY.height - 0.45)
    scale = min(room.width / w, room.height / h)
    width, height = w * scale, h * scale
    slide.shapes.add_picture(str(image), Inches(MARGIN + (room.width - width) / 2), Inches(BODY_TOP),
                             Inches(width), Inches(height))
    text_box(slide, Box(MARGIN, BODY_TOP + height + 0.05, BODY.width, 0.45), [plain(caption)], 13, 10, style.MUTED)


def _section_items(inp: ReportInputs, kind: str) -> list[Item]:
    sec = inp.report.section(kind)
    return list(sec.items) if sec else []


def _actions_slide(prs: Presentation, inp: ReportInputs) -> None:
    """The optimizer's budget moves when it has run, with the Reporter's recommendations under them."""
    items = _section_items(inp, "actions") or [plain("The report makes no recommendation this round.")]
    if inp.optimization is None or inp.optimization.empty:
        text_slides(prs, inp, TITLES["actions"], items)
        return
    slide = _slide(prs, TITLES["actions"], inp)
    header, cells = optimization_display(inp)
    rows = [[text for text, _ in row] for row in cells]
    height = min(0.42 * (len(rows) + 1), BODY.height * 0.6)
    table(slide, Box(MARGIN, BODY_TOP, BODY.width, height), header, rows, [2.0] + [1.0] * (len(header) - 1),
          pt=12 if len(header) > 6 else TABLE_PT)
    box = Box(MARGIN, BODY_TOP + height + 0.25, BODY.width, BODY.height - height - 0.25)
    page, rest = split_to_fit(items, box, MIN_PT)
    text_box(slide, box, page, 18, MIN_PT)
    if rest:
        text_slides(prs, inp, f"{TITLES['actions']} (continued)", rest)


def _disagree_slide(prs: Presentation, inp: ReportInputs) -> None:
    """The Reporter's account of the disagreements beside each model's estimate for those channels."""
    items = _section_items(inp, "disagree") or [plain("The report names no disagreement this round.")]
    table_ = roi_table(inp)
    unsure = table_[table_["agreement"] != "high"] if not table_.empty else table_
    if unsure.empty:
        text_slides(prs, inp, TITLES["disagree"], items)
        return
    slide = _slide(prs, TITLES["disagree"], inp)
    models = list(dict.fromkeys(table_["model"]))
    rows = []
    for ch, part in unsure.groupby("channel", sort=False):
        by_model = part.set_index("model")
        cv = part["cv_pct"].iloc[0]
        rows.append([inp.label(ch), *[fmt.roi(by_model["roi"].get(m)) for m in models],
                     fmt.pct(cv, 0) if cv is not None and not math.isnan(cv) else fmt.MISSING,
                     part["agreement"].iloc[0]])
    right = Box(MARGIN + BODY.width * 0.56, BODY_TOP, BODY.width * 0.44, BODY.height)
    text_box(slide, Box(right.left, right.top, right.width, 0.45),
             [plain("Channels below high agreement: each model's return per unit of spend")], 13, 10, style.MUTED)
    table(slide, Box(right.left, right.top + 0.5, right.width, min(right.height - 0.5, 0.4 * (len(rows) + 1))),
          ["Channel", *[style.model_name(m) for m in models], "Spread", "Agreement"], rows,
          [1.7] + [0.8] * len(models) + [0.8, 1.0], pt=11)
    left = Box(MARGIN, BODY_TOP, BODY.width * 0.56 - 0.3, BODY.height)
    page, rest = split_to_fit(items, left, MIN_PT)
    text_box(slide, left, page, 20, MIN_PT)
    if rest:
        text_slides(prs, inp, f"{TITLES['disagree']} (continued)", rest)


def _caveats_slide(prs: Presentation, inp: ReportInputs) -> None:
    """The Reporter's caveats, then the data profile's own warnings the report does not already state."""
    items = _section_items(inp, "caveats")
    if inp.metadata is not None:
        warnings = dict.fromkeys([*inp.metadata.warnings, *inp.metadata.profile.warnings])
        items += [plain(f"Data check: {w}", bullet=True) for w in warnings if w not in inp.report.source]
    text_slides(prs, inp, TITLES["caveats"], items or [plain("The report lists no caveats this round.")], max_pt=20)


def _fit_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = _slide(prs, TITLES["fit"], inp)
    fit = fit_table(inp)
    rows = [[r.model_name, r.status, fmt.number(r.r2), fmt.pct(r.mape_train), fmt.pct(r.mape_test),
             fmt.pct(r.cv_mape), f"{r.seconds:.1f}"] for r in fit.itertuples()]
    header = ["Model", "Status", "R²", "Error (fit weeks)", "Error (held-out)", "Error (cross-val.)", "Seconds"]
    fit_h = 0.45 * (len(rows) + 1)
    table(slide, Box(MARGIN, BODY_TOP, BODY.width, fit_h), header, rows, [1.6, 1.0, 0.8, 1.3, 1.3, 1.3, 0.9])
    top = BODY_TOP + fit_h + 0.3
    notes = [plain(f"{r.model_name} did not run: {r.reason}", bullet=True) for r in fit.itertuples()
             if r.status != "ok" and r.reason]
    diag = diagnostics_table(inp)
    if not diag.empty:
        keys = list(dict.fromkeys(diag["diagnostic"]))
        models = list(dict.fromkeys(diag["model"]))
        grid = diag.pivot(index="diagnostic", columns="model", values="value")
        rows = [[k.replace("_", " "), *[fmt.number(grid.at[k, m]) if not math.isnan(grid.at[k, m]) else fmt.MISSING
                                       for m in models]] for k in keys]
        height = min(0.4 * (len(rows) + 1), BODY_BOTTOM - top - (0.6 if notes else 0))
        table(slide, Box(MARGIN, top, BODY.width * 0.85, height), ["Health check", *[style.model_name(m)
                                                                                   for m in models]],
              rows, [2.0] + [1.0] * len(models), pt=12)
        top += height + 0.2
    if notes:
        text_box(slide, Box(MARGIN, top, BODY.width, max(0.5, BODY_BOTTOM - top)), notes, 16, 10)


def _method_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = _slide(prs, TITLES["method"], inp)
    plain_words = [plain(t, bullet=True) for t in METHOD_PLAIN]
    # the Reporter's own method notes, without the lines that introduce its tables (shown natively here)
    notes = [i for i in _section_items(inp, "method") if not i.bullet and not i.text.rstrip().endswith(":")]
    height = _text_height([i.text for i in plain_words], BODY.width, 18) + 0.2
    text_box(slide, Box(MARGIN, BODY_TOP, BODY.width, height), plain_words, 18, 11)
    if notes:
        text_box(slide, Box(MARGIN, BODY_TOP + height, BODY.width, BODY.height - height), notes, 14, 10,
                 style.MUTED)


def build_deck(inp: ReportInputs, charts: dict[str, Path]) -> bytes:
    """The deck as .pptx bytes (written atomically by the caller)."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
    kpi = inp.kpi_label
    _title_slide(prs, inp)
    _answer_slide(prs, inp)
    _roi_slide(prs, inp)
    _contribution_slide(prs, inp)
    _image_slide(prs, inp, TITLES["over_time"].format(kpi=kpi), charts, "contribution_over_time")
    _actions_slide(prs, inp)
    _disagree_slide(prs, inp)
    _caveats_slide(prs, inp)
    _image_slide(prs, inp, TITLES["curves"], charts, "response_curves")
    _fit_slide(prs, inp)
    _image_slide(prs, inp, TITLES["history"], charts, "round_history")
    _method_slide(prs, inp)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()

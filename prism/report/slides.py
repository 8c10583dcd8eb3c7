"""python-pptx building blocks: layout boxes, text sized to fit its box, tables, native bar charts.

The deck (deck.py) decides what goes on which slide; this module decides how a piece looks. Text size is
estimated from the characters per line a box holds, so a slide never relies on PowerPoint's autofit
(which LibreOffice and viewers apply differently). Custom error bars are written as chart XML because
python-pptx has no API for them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree
from pptx.chart.data import CategoryChartData
from pptx.dml.color import RGBColor
from pptx.enum.chart import XL_CHART_TYPE, XL_LABEL_POSITION, XL_LEGEND_POSITION
from pptx.enum.text import MSO_ANCHOR, PP_ALIGN
from pptx.oxml.ns import qn
from pptx.slide import Slide
from pptx.util import Emu, Inches, Pt

from prism.report import fmt, style
from prism.report.markdown import Item, Run

SLIDE_W, SLIDE_H = 13.333, 7.5
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
TABLE_MIN_PT = 9  # a table's font shrinks no further to fit; rows beyond go to the next slide
MIN_ROW_H = 0.3   # inches
CELL_PAD_PT = 2   # top and bottom cell margin, points
CHART_PT = 13
FONT = "Calibri"
CELL_MARGIN_PT = 4
HEADER_SMALLER = 1  # bold header text runs wider: one point smaller keeps words whole
BULLET_INDENT = 1.1  # hanging indent of a bullet, in multiples of the font size
AXIS_STRETCH = 1.6  # error bars reaching past this multiple of the longest bar are cut at the axis
CROWDED_BARS = 16  # more bars than this get smaller value labels
SHORT_BAR = 0.12  # a bar shorter than this share of the longest gets its label outside


@dataclass(frozen=True)
class Box:
    left: float
    top: float
    width: float
    height: float

    def emu(self) -> tuple[Emu, Emu, Emu, Emu]:
        return Inches(self.left), Inches(self.top), Inches(self.width), Inches(self.height)


BODY = Box(MARGIN, BODY_TOP, SLIDE_W - 2 * MARGIN, BODY_BOTTOM - BODY_TOP)


def rgb(color: str) -> RGBColor:
    return RGBColor(*style.hex_rgb(color))


# ------------------------------------------------------------------------------------------- text


def fit_font_size(paragraphs: Sequence[str], box: Box, max_pt: float = BODY_PT, min_pt: float = MIN_PT) -> float:
    """The largest font size (pt) at which the paragraphs, wrapped to the box width, fit its height."""
    pt = max_pt
    while pt > min_pt:
        if text_height(paragraphs, box.width, pt) <= box.height:
            return pt
        pt -= 1
    return min_pt


def text_height(paragraphs: Sequence[str], width_in: float, pt: float) -> float:
    chars_per_line = max(1, int((width_in - 0.3) * 72 / (pt * CHAR_WIDTH)))
    lines = sum(max(1, math.ceil(len(p) / chars_per_line)) for p in paragraphs)
    spacing = len(paragraphs) * pt * 0.5  # space after each paragraph
    return (lines * pt * LINE_SPACING + spacing) / 72 + 0.2


def add_runs(paragraph, runs: Sequence[Run], pt: float, color: str = style.INK) -> None:
    for text, bold in runs:
        run = paragraph.add_run()
        run.text = text
        run.font.size = Pt(pt)
        run.font.bold = bold
        run.font.name = FONT
        run.font.color.rgb = rgb(color)


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
        if item.bullet:
            _bullet(p, pt)
        add_runs(p, item.runs, pt, color)
    return pt


def _bullet(paragraph, pt: float) -> None:
    """A real bullet with a hanging indent, so wrapped lines align with the text, not the bullet."""
    ppr = paragraph._p.get_or_add_pPr()
    indent = Pt(pt * BULLET_INDENT)
    ppr.set("marL", str(int(indent)))
    ppr.set("indent", str(-int(indent)))
    etree.SubElement(ppr, qn("a:buChar")).set("char", "•")


def split_to_fit(items: Sequence[Item], box: Box, min_pt: float) -> tuple[list[Item], list[Item]]:
    """The leading items that fit the box at the smallest size, and the rest (for a continuation slide)."""
    taken: list[Item] = []
    for item in items:
        trial = [("•  " if i.bullet else "") + i.text for i in [*taken, item]]
        if taken and text_height(trial, box.width, min_pt) > box.height:
            break
        taken.append(item)
    return taken, list(items[len(taken):])


def plain(text: str, bullet: bool = False) -> Item:
    return Item(runs=[(text, False)], bullet=bullet)


# ------------------------------------------------------------------------------------------ tables


def wrapped_lines(text: str, width_in: float, pt: float) -> int:
    """Lines a cell's text wraps to at this width and size (greedy, word by word; a long word breaks)."""
    room = max(1, int((width_in - 2 * CELL_MARGIN_PT / 72) * 72 / (pt * CHAR_WIDTH)))
    lines, used = 1, 0
    for word in str(text).split():
        if used and used + 1 + len(word) <= room:
            used += 1 + len(word)
            continue
        if used:
            lines += 1
        lines += (len(word) - 1) // room
        used = (len(word) - 1) % room + 1
    return lines


def row_heights(header: Sequence[str], rows: Sequence[Sequence[str]], widths_in: Sequence[float],
                pt: float) -> list[float]:
    """Each row's height in inches: its tallest cell's wrapped lines, plus the cell margins."""
    def height(cells: Sequence[str], size: float) -> float:
        lines = max(wrapped_lines(c, w, size) for c, w in zip(cells, widths_in))
        return max(MIN_ROW_H, lines * size * LINE_SPACING / 72 + 4 * CELL_PAD_PT / 72)
    return [height(header, pt - HEADER_SMALLER)] + [height(r, pt) for r in rows]


def table(slide: Slide, box: Box, header: Sequence[str], rows: Sequence[Sequence[str]],
          widths: Sequence[float] | None = None, pt: float = TABLE_PT,
          min_pt: float = TABLE_MIN_PT) -> tuple[float, list[Sequence[str]]]:
    """A native table: bold header on the accent colour, zebra rows, numbers right-aligned.

    Rows are as tall as their wrapped text; the font shrinks (to `min_pt`) until the table fits the box's
    height. Returns the height used and the rows that did not fit (the caller continues them elsewhere)."""
    widths = widths or [1.0] * len(header)
    widths_in = [box.width * w / sum(widths) for w in widths]
    size = pt
    heights = row_heights(header, rows, widths_in, size)
    while sum(heights) > box.height and size > min_pt:
        size -= 1
        heights = row_heights(header, rows, widths_in, size)
    keep = len(rows)
    while keep > 1 and sum(heights[:keep + 1]) > box.height:
        keep -= 1
    rows, rest, heights = list(rows[:keep]), list(rows[keep:]), heights[:keep + 1]
    shape = slide.shapes.add_table(len(rows) + 1, len(header), Inches(box.left), Inches(box.top),
                                   Inches(box.width), Inches(sum(heights)))
    tbl = shape.table
    for j, w in enumerate(widths_in):
        tbl.columns[j].width = Inches(w)
    numeric_col = [j > 0 and bool(rows) and all(_numeric(r[j]) for r in rows) for j in range(len(header))]
    for i, values in enumerate([list(header), *[list(r) for r in rows]]):
        tbl.rows[i].height = Inches(heights[i])
        for j, value in enumerate(values):
            cell = tbl.cell(i, j)
            cell.margin_top = cell.margin_bottom = Pt(2)
            cell.margin_left = cell.margin_right = Pt(CELL_MARGIN_PT)
            frame = cell.text_frame
            frame.word_wrap = True
            p = frame.paragraphs[0]
            right = numeric_col[j] if i == 0 else j > 0 and _numeric(value)
            p.alignment = PP_ALIGN.RIGHT if right else PP_ALIGN.LEFT
            add_runs(p, [(value, i == 0)], size - HEADER_SMALLER if i == 0 else size, "#FFFFFF" if i == 0 else style.INK)
            cell.vertical_anchor = MSO_ANCHOR.MIDDLE
            cell.fill.solid()
            cell.fill.fore_color.rgb = rgb(style.ACCENT if i == 0 else ("#F3F5F8" if i % 2 == 0 else "#FFFFFF"))
    return sum(heights), rest


def _numeric(text: str) -> bool:
    """A figure (right-aligned): starts with a digit or a sign and has no more than three words ("0.85–5.23 by
    method" is one, "60 weeks of data, under the 104 …" a sentence)."""
    figure = bool(text) and (text[0].isdigit() or text[0] in "+-–" and len(text) > 1) and len(text.split()) <= 3
    return figure or text == fmt.MISSING


# ------------------------------------------------------------------------------------------ charts


def bar_chart(slide: Slide, box: Box, categories: Sequence[str], series: dict[str, Sequence[float]],
              colors: dict[str, str], number_format: str,
              errors: dict[str, tuple[Sequence[float], Sequence[float]]] | None = None):
    """A native clustered horizontal bar chart with value labels and optional custom error bars.

    The value axis ends just past the longest error bar, or (`_axis_max`) just past the longest bar when a
    few very wide ranges would squash the rest: error bars beyond it are cut at the edge."""
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
        labels.font.color.rgb = rgb("#FFFFFF")
        _short_bar_labels(s, list(series[name])[::-1], top, label_pt)
        s.format.fill.solid()
        s.format.fill.fore_color.rgb = rgb(colors[name])
        s.invert_if_negative = False
        if errors and name in errors:
            minus, plus = errors[name]
            _error_bars(s, list(minus)[::-1], list(plus)[::-1])
    value_axis = chart.value_axis
    value_axis.maximum_scale = _axis_max(series, errors)
    if all(v >= 0 for values in series.values() for v in values if not math.isnan(v)):
        value_axis.minimum_scale = 0
    value_axis.has_major_gridlines = True
    value_axis.major_gridlines.format.line.color.rgb = rgb(style.GRID)
    value_axis.tick_labels.number_format = number_format
    value_axis.tick_labels.number_format_is_linked = False
    value_axis.format.line.fill.background()
    chart.category_axis.format.line.color.rgb = rgb(style.GRID)
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
    return nice_ceiling(top)


def nice_ceiling(top: float) -> float:
    """A round axis maximum just above `top` (steps of half a power of ten)."""
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
            label.font.color.rgb = rgb(style.INK)


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

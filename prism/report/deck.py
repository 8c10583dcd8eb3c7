"""report.pptx: the CMO deck, built from the Reporter's prose and the round's results.

Slides quote report.md by section (never rewording it); figures come from the results. The ROI and
contribution charts are native PowerPoint charts (editable, with value labels; ROI ranges as error
bars), so an analyst can restyle them without Prism. Text boxes pick a font size that fits their box.
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from pathlib import Path

from PIL import Image
from pptx import Presentation
from pptx.enum.text import MSO_ANCHOR
from pptx.slide import Slide
from pptx.util import Inches, Pt

from prism.report import fmt, style
from prism.report.charts import chart_titles
from prism.report.inputs import ReportInputs
from prism.report.markdown import Item
from prism.report.slides import (BODY, BODY_BOTTOM, BODY_TOP, FOOTER_PT, MARGIN, MIN_PT, SLIDE_H, SLIDE_W,
                                 TABLE_PT, TITLE_H, TITLE_PT, TITLE_TOP, Box, add_runs, bar_chart, fit_font_size,
                                 plain, rgb, split_to_fit, table, text_box, text_height)
from prism.report.plan_chart import CHART_NAME as PLAN_CHART
from prism.report.tables import (SHOWN_DECIMALS, contribution_table, diagnostics_table, fit_table, lift_test_table,
                                 optimization_display, roi_summary, roi_table, test_plan_display)

ROI_TABLE_W = 4.6
BY_METHOD = re.compile(r"(\S+) to (\S+) depending on the method")  # the report's words, short for a cell
CONTINUED = "(continued)"
NOTE_H = 0.5  # a slide's note line under its table or chart
ANSWER_LEAD_H = 1.6  # the answer's opening sentence gets this box when it fits at >= ANSWER_LEAD_MIN_PT
ANSWER_LEAD_PT, ANSWER_LEAD_MIN_PT = 28, 18
ANSWER_BULLET_ROOM = 1.5  # height a long opening sentence always leaves its bullets
ANSWER_GAP = 0.2

# Slide titles: tests and readers find slides by these.
TITLES = {
    "answer": "The answer",
    "roi": "Return on spend by channel",
    "lift_tests": "What the lift tests changed",
    "contribution": "Where {kpi} comes from",
    "over_time": "{kpi} by week: baseline and media",
    "budget_plan": "Budget plan",
    "actions": "What to do",
    "disagree": "Where the models disagree",
    "settle": "What would settle it",
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
    "A channel's return is acted on only when its confidence is high: the models agree and the data, not a "
    "model's starting assumption, pin it down. Below high, the deck says why and names the test that would "
    "settle it.",
)


def text_slides(prs: Presentation, inp: ReportInputs, title: str, items: Sequence[Item], box: Box = BODY,
                max_pt: float = 22, min_pt: float = 12) -> Slide:
    """Items on as many slides as they need at no less than `min_pt`; returns the first slide."""
    first = slide = _slide(prs, title, inp)
    while True:
        page, items = split_to_fit(items, box, min_pt)
        text_box(slide, box, page, max_pt, min_pt)
        if not items:
            return first
        slide = _slide(prs, continued(title), inp)


def continued(title: str) -> str:
    """The title of a slide that carries on another: marked once, however many slides follow."""
    return title if title.endswith(CONTINUED) else f"{title} {CONTINUED}"


def _title(slide: Slide, title: str, inp: ReportInputs) -> None:
    frame = slide.shapes.add_textbox(*Box(MARGIN, TITLE_TOP, SLIDE_W - 2 * MARGIN, TITLE_H).emu()).text_frame
    frame.word_wrap = True
    frame.vertical_anchor = MSO_ANCHOR.MIDDLE
    pt = fit_font_size([title], Box(0, 0, SLIDE_W - 2 * MARGIN, TITLE_H), TITLE_PT, 20)
    add_runs(frame.paragraphs[0], [(title, True)], pt)
    line = slide.shapes.add_connector(1, Inches(MARGIN), Inches(TITLE_TOP + TITLE_H + 0.05),
                                      Inches(MARGIN + 1.6), Inches(TITLE_TOP + TITLE_H + 0.05))
    line.line.color.rgb = rgb(style.ACCENT)
    line.line.width = Pt(3)
    footer = slide.shapes.add_textbox(*Box(MARGIN, SLIDE_H - 0.5, SLIDE_W - 2 * MARGIN, 0.35).emu()).text_frame
    footer.word_wrap = True
    add_runs(footer.paragraphs[0], [(_footer_text(inp), False)], FOOTER_PT, style.MUTED)


def _footer_text(inp: ReportInputs) -> str:
    period = inp.period
    span = f" · {period[0]} to {period[1]}" if period else ""
    return f"{inp.kpi_label} marketing mix · round {inp.round}{span}"


def _slide(prs: Presentation, title: str, inp: ReportInputs) -> Slide:
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    _title(slide, title, inp)
    return slide


# ------------------------------------------------------------------------------------------ slides


def _title_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = prs.slides.add_slide(prs.slide_layouts[6])
    band = slide.shapes.add_shape(1, 0, 0, Inches(SLIDE_W), Inches(SLIDE_H))
    band.fill.solid()
    band.fill.fore_color.rgb = rgb(style.ACCENT)
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
    """The opening sentence in a box as tall as it needs, then every bullet (continued on later slides)."""
    slide = _slide(prs, TITLES["answer"], inp)
    sentence, bullets = inp.report.answer()
    top = BODY_TOP
    if sentence is not None:
        text = [sentence.text]
        pt = fit_font_size(text, Box(0, 0, BODY.width, ANSWER_LEAD_H), ANSWER_LEAD_PT, ANSWER_LEAD_MIN_PT)
        room = BODY.height - (ANSWER_BULLET_ROOM if bullets else 0)
        if text_height(text, BODY.width, pt) > room:  # too long even at the smallest headline size
            pt = fit_font_size(text, Box(0, 0, BODY.width, room), pt, MIN_PT)
        height = min(text_height(text, BODY.width, pt), room)
        text_box(slide, Box(MARGIN, top, BODY.width, height), [Item([(t, True) for t, _ in sentence.runs], False)],
                 pt, pt, style.ACCENT)
        top += height + ANSWER_GAP
    if bullets:
        box = Box(MARGIN, top, BODY.width, BODY_BOTTOM - top)
        page, rest = split_to_fit(bullets, box, 12)
        text_box(slide, box, page, 22, 12)
        if rest:
            text_slides(prs, inp, continued(TITLES['answer']), rest)


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
    chart = bar_chart(slide, Box(MARGIN, BODY_TOP, chart_w, BODY.height - 0.5), [inp.label(c) for c in order],
                      series, colors, "0.00", errors)
    header, rows = _roi_rows(inp)
    table_pages(prs, inp, slide, TITLES["roi"], Box(MARGIN + chart_w + 0.2, BODY_TOP, ROI_TABLE_W, BODY.height - NOTE_H),
                header, rows, [1.25, 1.15, 1.1, 1.0], pt=11)
    note = (f"{inp.kpi_label} returned per {inp.spend_unit} of spend. Bars: each model's estimate; lines: the range "
            "it considers likely. Table: the report's return, likely range and confidence for each channel.")
    if table_[["roi", "roi_high"]].max().max() > chart.value_axis.maximum_scale:
        note += " Bars and lines past the axis are cut; the table has every range."
    text_box(slide, Box(MARGIN, BODY_BOTTOM - 0.45, BODY.width, 0.5), [plain(note)], 12, 9, style.MUTED)


def _roi_rows(inp: ReportInputs) -> tuple[list[str], list[list[str]]]:
    """The report's own ROI table (its figures and words: a range by method where it gives one), else the
    results' summary when the report has no table."""
    sec = inp.report.section("roi")
    found = sec.tables[0] if sec and sec.tables and len(sec.tables[0]) > 1 else None
    if found is not None:
        head = [h.lower() for h in found[0]]
        pick = [0] + [next((j for j, h in enumerate(head) if any(w in h for w in words)), None)
                      for words in (("return", "roi"), ("range",), ("confidence",))]
        if None not in pick:
            return ["Channel", "Return", "Likely range", "Confidence"], [[BY_METHOD.sub(r"\1–\2 by method", r[j])
                                                                          for j in pick] for r in found[1:]]
    rows = [[r.label, fmt.roi(r.roi_mean), fmt.roi_range(r.roi_low, r.roi_high), r.confidence]
            for r in roi_summary(inp).itertuples()]
    return ["Channel", "Return", "Likely range", "Confidence"], rows


def table_pages(prs: Presentation, inp: ReportInputs, slide: Slide, title: str, box: Box, header: Sequence[str],
                rows: Sequence[Sequence[str]], widths: Sequence[float], pt: float = TABLE_PT) -> float:
    """A table on `slide` in `box`; rows that do not fit go on continued slides (the whole body). Returns the
    height it took on the first slide."""
    height, rest = table(slide, box, header, rows, widths, pt)
    while rest:
        _, rest = table(_slide(prs, continued(title), inp), Box(MARGIN, BODY_TOP, BODY.width, BODY.height),
                        header, rest, widths, pt)
    return height


def _lift_slide(prs: Presentation, inp: ReportInputs) -> None:
    """Each tested channel's ROI with its lift tests beside the ROI without them (only when the round has tests)."""
    table_ = lift_test_table(inp)
    if table_.empty:
        return
    slide = _slide(prs, TITLES["lift_tests"], inp)
    rows = [[r.label, r.tests, fmt.roi(r.roi), fmt.roi_range(r.roi_low, r.roi_high), fmt.roi(r.roi_without),
             fmt.roi_range(r.roi_without_low, r.roi_without_high), fmt.signed_pct(r.moved_pct)]
            for r in table_.itertuples()]
    height = table_pages(prs, inp, slide, TITLES["lift_tests"], Box(MARGIN, BODY_TOP, BODY.width, BODY.height - 0.8),
                         ["Channel", "Tests", "ROI with tests", "Range", "ROI without", "Range without", "Moved"],
                         rows, [1.6, 2.6, 1.1, 1.3, 1.1, 1.3, 0.9], pt=12)
    note = (f"{inp.kpi_label} returned per {inp.spend_unit} of spend. Without: {table_['without_method'].iloc[0]}. "
            "Moved: how far the tests moved that method's estimate.")
    text_box(slide, Box(MARGIN, BODY_TOP + height + 0.2, BODY.width, 0.6), [plain(note)], 13, 9, style.MUTED)


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
    height = table_pages(prs, inp, slide, TITLES["actions"], Box(MARGIN, BODY_TOP, BODY.width, BODY.height * 0.6),
                         header, rows, [2.0] + [1.0] * (len(header) - 1), pt=12 if len(header) > 6 else TABLE_PT)
    box = Box(MARGIN, BODY_TOP + height + 0.25, BODY.width, BODY.height - height - 0.25)
    page, rest = split_to_fit(items, box, MIN_PT)
    text_box(slide, box, page, 18, MIN_PT)
    if rest:
        text_slides(prs, inp, continued(TITLES['actions']), rest)


def _disagree_slide(prs: Presentation, inp: ReportInputs) -> None:
    """The Reporter's account of the disagreements beside each model's estimate for those channels."""
    items = _section_items(inp, "disagree") or [plain("The report names no disagreement this round.")]
    table_ = roi_table(inp)
    unsure = table_[table_["confidence"] != "high"] if not table_.empty else table_
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
                     fmt.pct(cv, 0),
                     part["confidence"].iloc[0]])
    right = Box(MARGIN + BODY.width * 0.47, BODY_TOP, BODY.width * 0.53, BODY.height)
    text_box(slide, Box(right.left, right.top, right.width, 0.45),
             [plain(f"Channels below high confidence: each model's return per {inp.spend_unit} of spend")], 13, 10,
             style.MUTED)
    table_pages(prs, inp, slide, TITLES["disagree"], Box(right.left, right.top + 0.5, right.width, right.height - 0.5),
                ["Channel", *[style.model_name(m) for m in models], "Spread", "Confidence"], rows,
                [1.35] + [1.05] * len(models) + [0.75, 1.0], pt=11)
    left = Box(MARGIN, BODY_TOP, BODY.width * 0.47 - 0.3, BODY.height)
    page, rest = split_to_fit(items, left, MIN_PT)
    text_box(slide, left, page, 20, MIN_PT)
    if rest:
        text_slides(prs, inp, continued(TITLES['disagree']), rest)


def _settle_slide(prs: Presentation, inp: ReportInputs) -> None:
    """The test per channel below high confidence as a table, the Reporter's notes under it."""
    items = _section_items(inp, "settle")
    header, cells = test_plan_display(inp)
    if not cells:
        if items:
            text_slides(prs, inp, TITLES["settle"], items)
        return
    slide = _slide(prs, TITLES["settle"], inp)
    rows = [[text for text, _ in row] for row in cells]
    height = table_pages(prs, inp, slide, TITLES["settle"], Box(MARGIN, BODY_TOP, BODY.width, BODY.height * 0.7),
                         header, rows, [1.5, 1.0, 3.0, 0.7, 1.1, 2.0, 1.6], pt=11)
    notes = [i for i in items if not i.bullet]  # the bullets say what the table shows
    box = Box(MARGIN, BODY_TOP + height + 0.25, BODY.width, BODY.height - height - 0.25)
    page, rest = split_to_fit(notes, box, MIN_PT)
    text_box(slide, box, page, 16, MIN_PT, style.MUTED)
    if rest:
        text_slides(prs, inp, continued(TITLES['settle']), rest)


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
    fit_h, _ = table(slide, Box(MARGIN, BODY_TOP, BODY.width, BODY.height * 0.4), header, rows,
                     [1.6, 1.0, 0.8, 1.3, 1.3, 1.3, 0.9])
    top = BODY_TOP + fit_h + 0.3
    notes = [plain(f"{r.model_name} did not run: {r.reason}", bullet=True) for r in fit.itertuples()
             if r.status != "ok" and r.reason]
    diag = diagnostics_table(inp)
    if not diag.empty:
        keys = list(dict.fromkeys(diag["diagnostic"]))
        models = list(dict.fromkeys(diag["model"]))
        grid = diag.pivot(index="diagnostic", columns="model", values="value")
        rows = [[k, *[fmt.number(grid.at[k, m], SHOWN_DECIMALS.get(k, 2)) for m in models]] for k in keys]
        height, _ = table(slide, Box(MARGIN, top, BODY.width * 0.85, BODY_BOTTOM - top - (0.6 if notes else 0)),
                          ["Health check", *[style.model_name(m) for m in models]], rows,
                          [2.0] + [1.0] * len(models), pt=12)
        top += height + 0.2
    if notes:
        text_box(slide, Box(MARGIN, top, BODY.width, max(0.5, BODY_BOTTOM - top)), notes, 16, 10)


def _method_slide(prs: Presentation, inp: ReportInputs) -> None:
    slide = _slide(prs, TITLES["method"], inp)
    plain_words = [plain(t, bullet=True) for t in METHOD_PLAIN]
    # the Reporter's own method notes, without the lines that introduce its tables (shown natively here)
    notes = [i for i in _section_items(inp, "method") if not i.bullet and not i.text.rstrip().endswith(":")]
    height = text_height([i.text for i in plain_words], BODY.width, 18) + 0.2
    text_box(slide, Box(MARGIN, BODY_TOP, BODY.width, height), plain_words, 18, 11)
    if notes:
        box = Box(MARGIN, BODY_TOP + height, BODY.width, BODY.height - height)
        page, rest = split_to_fit(notes, box, 10)
        text_box(slide, box, page, 14, 10, style.MUTED)
        if rest:
            text_slides(prs, inp, continued(TITLES['method']), rest, max_pt=14, min_pt=10)


def build_deck(inp: ReportInputs, charts: dict[str, Path]) -> bytes:
    """The deck as .pptx bytes (written atomically by the caller)."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
    kpi = inp.kpi_label
    _title_slide(prs, inp)
    _answer_slide(prs, inp)
    _roi_slide(prs, inp)
    _lift_slide(prs, inp)
    _contribution_slide(prs, inp)
    _image_slide(prs, inp, TITLES["over_time"].format(kpi=kpi), charts, "contribution_over_time")
    _image_slide(prs, inp, TITLES["budget_plan"], charts, PLAN_CHART)
    _actions_slide(prs, inp)
    _disagree_slide(prs, inp)
    _settle_slide(prs, inp)
    _caveats_slide(prs, inp)
    _image_slide(prs, inp, TITLES["curves"], charts, "response_curves")
    _fit_slide(prs, inp)
    _image_slide(prs, inp, TITLES["history"], charts, "round_history")
    _method_slide(prs, inp)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()

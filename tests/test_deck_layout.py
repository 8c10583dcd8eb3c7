"""The deck fits and agrees: every shape inside its slide and clear of the footer, tables sized to their
text (continued on another slide when they must), the ROI table in the report's own words."""

from __future__ import annotations

import pandas as pd
import pytest
from pptx import Presentation
from pptx.util import Inches

from prism.report import deck as deck_mod
from prism.report import slides
from prism.report.build import render_deliverables
from prism.report.markdown import parse_report
from prism.report.plan_chart import budget_plan
from prism.schemas import Metadata, Results
from prism.workspace import read_model, write_json
from tests.helpers.report import build_workspace, write_optimization

FOOTER_TOP = slides.SLIDE_H - 0.5


@pytest.fixture(scope="module")
def deck(tmp_path_factory):
    """Eight channels with long business labels, a budget plan: the demo's shape."""
    ws = build_workspace(tmp_path_factory.mktemp("deck"), rounds=2, n_channels=8)
    meta = read_model(ws.metadata, Metadata)
    for ch in meta.knowledge.fields:
        meta.labels[ch] = f"Meta {ch.split('_')[0].title()} prospecting campaigns"
    write_json(ws.metadata, meta)
    from prism.agents import reporter

    reporter.run(ws, 2)  # the report with the long labels
    write_optimization(ws)
    render_deliverables(ws)
    return ws, Presentation(str(ws.result("report.pptx")))


def _title(slide) -> str:
    return next((s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text), "")


def test_every_shape_lies_inside_its_slide_and_clear_of_the_footer(deck):
    _, prs = deck
    w, h = prs.slide_width, prs.slide_height
    for n, slide in enumerate(prs.slides, 1):
        for shape in slide.shapes:
            box = (shape.left, shape.top, shape.left + shape.width, shape.top + shape.height)
            assert box[0] >= 0 and box[1] >= 0 and box[2] <= w + 1 and box[3] <= h + 1, (n, _title(slide), shape.name)
            is_footer = shape.top >= Inches(FOOTER_TOP) - 1
            if n > 1 and not is_footer:  # the title slide is one coloured band
                assert box[3] <= Inches(FOOTER_TOP) + 1, (n, _title(slide), shape.name, box[3] / 914400)


def test_tables_are_as_tall_as_their_text_and_titles_say_continued_once(deck):
    _, prs = deck
    for slide in prs.slides:
        assert "(continued) (continued)" not in _title(slide)
        for shape in slide.shapes:
            if shape.has_table:
                rows = list(shape.table.rows)
                widths = [c.width / 914400 for c in shape.table.columns]
                for row in rows[1:]:
                    pt = row.cells[0].text_frame.paragraphs[0].runs[0].font.size.pt
                    need = slides.row_heights(["x"], [[c.text for c in row.cells]], widths, pt)[1]
                    assert row.height / 914400 >= need - 1e-6


def test_roi_table_shows_the_reports_figures_and_words(deck):
    ws, prs = deck
    report = parse_report(ws.report_md.read_text())
    table = report.section("roi").tables[0]
    want = [[r[0], r[1], r[2], r[3]] for r in table[1:]]
    got = []
    for slide in prs.slides:
        if _title(slide).startswith(deck_mod.TITLES["roi"]):
            for shape in slide.shapes:
                if shape.has_table:
                    got += [[c.text for c in row.cells] for row in list(shape.table.rows)[1:]]
    assert got == want and len(got) == 8
    text = " ".join(s.text_frame.text for sl in prs.slides for s in sl.shapes if s.has_text_frame)
    assert "solid enough to act on" not in text


def test_a_plan_that_moves_nothing_says_no_change():
    frame = pd.DataFrame({"channel": ["a", "b"], "current": [10.0, 20.0], "recommended": [10.0, 20.0],
                          "change_pct": [0.0, 0.0], "expected_kpi_change": [0.0, -0.0],
                          "expected_kpi_change_low": [0.0, 0.0], "expected_kpi_change_high": [0.0, 0.0]})
    fig = budget_plan(frame)
    gain = fig.axes[1]
    assert len(gain.get_xticks()) == 0 and any("No change" in t.get_text() for t in gain.texts)


def test_the_health_table_shows_rhat_finely_enough_to_judge_its_gate(deck):
    """r-hat 1.014 printed as "1.01" read as a pass of the ≤ 1.01 gate (the demo's round 4 failed it)."""
    ws, prs = deck
    res = read_model(ws.round_results(2), Results)
    shown = [c.text_frame.text for s in prs.slides if _title(s).startswith(deck_mod.TITLES["fit"]) for sh in s.shapes
             if sh.has_table for row in sh.table.rows for c in row.cells]
    for model in res.ok_models().values():
        rhat = model.diagnostics.get("rhat_max")
        if rhat is not None:
            assert f"{rhat:.3f}" in shown


def test_a_test_plan_row_keeps_the_market_names_as_written():
    """The Test cell starts with a capital and leaves the rest alone: "Pause it in Geo0 …", not "geo0"."""
    from types import SimpleNamespace

    from prism.report.tables import test_plan_display

    plans = pd.DataFrame([{"channel": "tv", "confidence": "low", "design": "market_split", "weeks": 26,
                           "description": "pause it in Geo0 and NorthEast only for 26 weeks, keeping Geo1 as control",
                           "cost": 1e6, "kpi_forgone": 2e6, "kpi_forgone_low": 1e6, "kpi_forgone_high": 3e6,
                           "expected_halfwidth_pct": 25.0, "achievable": True}])
    inp = SimpleNamespace(test_plan=plans, kpi_label="Sales", currency=None, label=str)
    _, rows = test_plan_display(inp)
    assert rows[0][2][0] == "Pause it in Geo0 and NorthEast only for 26 weeks, keeping Geo1 as control"

"""The deliverables: deck, page, workbook and charts are rendered from the results and report.md only.

The workspace comes from `tests.helpers.report` (simulated truth through the shared decomposition; report.md
by the real Reporter), so every check compares the deliverables with numbers that real code produced.
"""

from __future__ import annotations

import html as html_lib
import io
import json
import re
import shutil
import subprocess
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from pptx import Presentation
from pptx.chart.chart import Chart
from pptx.oxml.ns import qn
from pptx.util import Inches

from prism.analysis.numbers import json_numbers, known_values, unknown_numbers_in
from prism.cli import main
from prism.errors import InputError
from prism.report import deck as deck_mod
from prism.report import slides
from prism.report.build import render_deliverables
from prism.report.charts import CHARTS
from prism.report.fmt import compact
from prism.report.inputs import load_inputs
from prism.report.markdown import parse_report
from prism.report.rounds import compare_rounds
from prism.schemas import Metadata, ModelResult, Results, RoundRecord, State
from prism.workspace import Workspace, read_model, write_json

from tests.helpers.report import build_workspace, write_optimization

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> tuple[Workspace, list[Path]]:
    ws = build_workspace(tmp_path_factory.mktemp("report"))
    write_optimization(ws)
    return ws, render_deliverables(ws)


def _results(ws: Workspace, round_no: int | None = None) -> Results:
    return read_model(ws.latest if round_no is None else ws.round_results(round_no), Results)


def _slides_by_title(prs: Presentation) -> dict[str, object]:
    out = {}
    for slide in prs.slides:
        texts = [s.text_frame.text for s in slide.shapes if s.has_text_frame and s.text_frame.text.strip()]
        if texts:
            out[texts[0]] = slide
    return out


def _chart(slide) -> Chart:
    charts = [s.chart for s in slide.shapes if s.has_chart]
    assert len(charts) == 1
    return charts[0]


def _deck_texts(prs: Presentation) -> list[str]:
    texts = []
    for slide in prs.slides:
        for shape in slide.shapes:
            if shape.has_text_frame:
                texts.append(shape.text_frame.text)
            if shape.has_table:
                texts += [cell.text for row in shape.table.rows for cell in row.cells]
    return texts


def _allowed_numbers(ws: Workspace, round_no: int) -> list[float]:
    """What the round may quote (the Proofreader's list) plus the optimizer's table and earlier rounds."""
    values = known_values(ws, round_no)
    opt = ws.result("optimization.csv")
    if opt.exists():
        values += [float(v) for v in pd.read_csv(opt).select_dtypes("number").to_numpy().ravel()]
    for r in range(1, round_no):
        values += json_numbers(json.loads(ws.round_results(r).read_text())["agreement"])
        values += json_numbers(json.loads(ws.round_results(r).read_text())["models"])
    return values


def _page_text(page: str) -> str:
    page = re.sub(r"<(style|script)>.*?</\1>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', "", page)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", page))


# ---------------------------------------------------------------------------------------- files


def test_every_deliverable_is_written(rendered):
    ws, paths = rendered
    names = {p.name for p in paths}
    assert {f"{c}.png" for c in CHARTS} <= names
    assert {"report.pptx", "report.html", "report.xlsx"} <= names
    for p in paths:
        assert p.is_relative_to(ws.results_dir) and p.stat().st_size > 1000
    for name in CHARTS:
        assert (ws.charts_dir / f"{name}.png").read_bytes()[:8] == PNG_MAGIC


# ----------------------------------------------------------------------------------------- deck


def test_deck_has_the_story_slides_in_order(rendered):
    ws, _ = rendered
    prs = Presentation(str(ws.result("report.pptx")))
    titles = list(_slides_by_title(prs))
    kpi = read_model(ws.metadata, Metadata).label(_results(ws).kpi)
    expected = [deck_mod.TITLES[k].format(kpi=kpi if k == "over_time" else kpi.lower())
                for k in ("answer", "roi", "contribution", "over_time", "budget_plan", "actions", "disagree", "settle",
                          "caveats", "curves", "fit", "history", "method")]
    assert 8 <= len(prs.slides) <= 14
    assert [t for t in titles if t in expected] == expected


def test_answer_slide_quotes_the_reporter(rendered):
    ws, _ = rendered
    report = parse_report(ws.report_md.read_text())
    sentence, bullets = report.answer()
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["answer"]]
    text = "\n".join(s.text_frame.text for s in slide.shapes if s.has_text_frame)
    assert sentence.text in text
    for bullet in bullets:
        assert bullet.text in text


def _frame_pt(frame) -> float:
    return max(run.font.size.pt for p in frame.paragraphs for run in p.runs)


def test_long_answer_sentence_and_many_bullets_do_not_overlap_or_vanish(rendered, tmp_path):
    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path / "ws")
    inp = load_inputs(Workspace(tmp_path / "ws"))
    sentence = ("Search and television drive most of the extra revenue this round, and all three models agree on "
                "that ordering within their likely ranges, while radio, print and the smaller digital channels "
                "return less than they cost at today's spend; moving part of their budget toward search is the "
                "change most likely to pay, though the size of the gain depends on how quickly search saturates "
                "and the models still differ on that curve.")
    assert 420 <= len(sentence) <= 480
    bullets = [f"Bullet {n}: a point the Reporter makes about the channels, long enough to wrap on the slide "
               f"once or twice at the body size." for n in range(1, 6)]
    inp.report = parse_report("# Title\n\n## The answer\n\n" + sentence + "\n\n"
                              + "".join(f"- {b}\n" for b in bullets))
    prs = Presentation(io.BytesIO(deck_mod.build_deck(inp, {})))
    answer = [s for t, s in _slides_by_title(prs).items() if t.startswith(deck_mod.TITLES["answer"])]
    text = "\n".join(s.text_frame.text for slide in answer for s in slide.shapes if s.has_text_frame)
    assert sentence in text
    assert all(b in text for b in bullets)
    for slide in answer:
        body = sorted((s for s in slide.shapes if s.has_text_frame and s.top >= Inches(slides.BODY_TOP)
                       and s.top < Inches(slides.BODY_BOTTOM)), key=lambda s: s.top)
        for shape in body:
            frame = shape.text_frame
            paras = [("•  " if p._p.pPr is not None and p._p.pPr.find(qn("a:buChar")) is not None else "")
                     + "".join(r.text for r in p.runs) for p in frame.paragraphs]
            assert slides.text_height(paras, shape.width / 914400, _frame_pt(frame)) <= shape.height / 914400 + 1e-9
            assert shape.top + shape.height <= Inches(slides.BODY_BOTTOM) + 1
        for upper, lower in zip(body, body[1:]):
            assert upper.top + upper.height <= lower.top


def test_roi_chart_is_native_with_the_results_values_and_ranges(rendered):
    ws, _ = rendered
    res = _results(ws)
    meta = read_model(ws.metadata, Metadata)
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["roi"]]
    chart = _chart(slide)
    by_label = {meta.label(ch): ch for ch in res.channels}
    channels = [by_label[c] for c in chart.plots[0].categories]
    assert sorted(channels) == sorted(res.channels)
    names = {"Ridge": "ridge", "PyMC": "pymc", "Lightweight MMM": "lightweight_mmm"}
    assert sorted(s.name for s in chart.plots[0].series) == sorted(names)
    for series in chart.plots[0].series:
        model = res.models[names[series.name]]
        assert list(series.values) == pytest.approx([model.channels[ch].roi for ch in channels])
        minus, plus = slides.error_bar_values(series)
        c = [model.channels[ch] for ch in channels]
        assert minus == pytest.approx([max(0.0, x.roi - x.roi_low) for x in c])
        assert plus == pytest.approx([max(0.0, x.roi_high - x.roi) for x in c])
    ranges = next(s.table for s in slide.shapes if s.has_table)
    agreement = {by_label[r.cells[0].text]: r.cells[3].text for r in list(ranges.rows)[1:]}
    assert agreement == {ch: a.label for ch, a in res.agreement.items()}
    assert chart.plots[0].series[0].data_labels.show_value


def test_contribution_chart_is_native_with_the_results_values(rendered):
    ws, _ = rendered
    res = _results(ws)
    meta = read_model(ws.metadata, Metadata)
    title = deck_mod.TITLES["contribution"].format(kpi=meta.label(res.kpi).lower())
    chart = _chart(_slides_by_title(Presentation(str(ws.result("report.pptx"))))[title])
    by_label = {meta.label(ch): ch for ch in res.channels}
    channels = [by_label[c] for c in chart.plots[0].categories]
    names = {"Ridge": "ridge", "PyMC": "pymc", "Lightweight MMM": "lightweight_mmm"}
    for series in chart.plots[0].series:
        model = res.models[names[series.name]]
        assert list(series.values) == pytest.approx([model.channels[ch].contribution_pct for ch in channels])


def test_every_number_in_the_deck_is_in_the_results(rendered):
    ws, _ = rendered
    allowed = _allowed_numbers(ws, _results(ws).round)
    unknown = {t: unknown_numbers_in(t, allowed) for t in _deck_texts(Presentation(str(ws.result("report.pptx"))))}
    assert {t: u for t, u in unknown.items() if u} == {}


def test_actions_slide_shows_the_optimizer_moves(rendered):
    ws, _ = rendered
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["actions"]]
    tables = [s.table for s in slide.shapes if s.has_table]
    meta = read_model(ws.metadata, Metadata)
    assert [r.cells[0].text for r in list(tables[0].rows)[1:]] == [meta.label(c) for c in _results(ws).channels]


def test_budget_plan_slide_shows_the_plan_chart_and_the_workbook_its_table(rendered):
    ws, _ = rendered
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["budget_plan"]]
    pictures = [s for s in slide.shapes if s.shape_type == 13]  # MSO_SHAPE_TYPE.PICTURE
    assert len(pictures) == 1 and ws.result("charts/budget_plan.png").read_bytes()[:8] == PNG_MAGIC
    plan = pd.read_csv(ws.result("optimization.csv"))
    rows = list(openpyxl.load_workbook(ws.result("report.xlsx"), read_only=True)["Budget plan"].iter_rows(values_only=True))
    assert list(rows[0]) == list(plan.columns)
    assert [r[list(plan.columns).index("recommended")] for r in rows[1:]] == pytest.approx(list(plan["recommended"]))
    page = ws.result("report.html").read_text()
    budget = page[page.index('<section id="budget">'):]
    assert 'id="chart-budget_plan"' in budget and "Proposed spend" in budget


def test_budget_plan_says_what_a_confirming_test_would_move(rendered):
    ws, _ = rendered
    held = pd.read_csv(ws.result("optimization.csv")).dropna(subset=["if_confirmed"]).iloc[0]
    label = read_model(ws.metadata, Metadata).label(held["channel"])
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["budget_plan"]]
    caption = " ".join(s.text_frame.text for s in slide.shapes if s.has_text_frame)
    assert f"{label} is held near today's spend" in caption
    assert f"if a test confirmed it, the plan would move {label} to {compact(held['if_confirmed'])}." in caption
    budget = _page_text(ws.result("report.html").read_text().split('<section id="budget">')[1])
    assert "If a test confirmed it" in budget and compact(held["if_confirmed"]) in budget


def test_text_is_sized_to_fit_its_box():
    box = slides.Box(0, 0, 6.0, 1.0)
    short = slides.fit_font_size(["One line."], box)
    para = "A much longer paragraph that has to wrap over several lines " * 2
    long = slides.fit_font_size([para], box)
    assert short == slides.BODY_PT and slides.MIN_PT < long < short
    assert slides.text_height([para], box.width, long) <= box.height
    assert slides.text_height([para], box.width, long + 1) > box.height  # the largest size that fits


def test_text_that_cannot_fit_moves_to_a_continuation_slide():
    items = [slides.plain("A caveat long enough to take a few lines on a slide. " * 3, bullet=True)] * 30
    page, rest = slides.split_to_fit(items, slides.BODY, slides.MIN_PT)
    assert 0 < len(page) < len(items) and page + rest == items
    assert slides.text_height([i.text for i in page], slides.BODY.width, slides.MIN_PT) <= slides.BODY.height


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_renders_every_slide(rendered, tmp_path):
    ws, _ = rendered
    subprocess.run(["soffice", "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(ws.result("report.pptx"))], check=True, capture_output=True, timeout=120)
    pdf = (tmp_path / "report.pdf").read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page(?!s)", pdf))
    assert pages == len(Presentation(str(ws.result("report.pptx"))).slides)


# ----------------------------------------------------------------------------------------- html


def test_page_is_self_contained(rendered):
    ws, _ = rendered
    page = ws.result("report.html").read_text()
    for attr in re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page):
        assert attr.startswith(("data:", "#")), attr
    assert "@import" not in page and not re.search(r"url\(\s*['\"]?(?:https?:)?//", page)
    assert "http://" not in page and "https://" not in page
    assert page.count('src="data:image/png;base64,') == len(CHARTS) + 1  # and the budget plan's chart


def test_page_has_report_sortable_roi_history_and_comparison(rendered):
    ws, _ = rendered
    page = ws.result("report.html").read_text()
    report = parse_report(ws.report_md.read_text())
    text = _page_text(page)
    assert report.answer()[0].text in text
    assert 'class="sortable"' in page and "addEventListener('click'" in page
    for section in ('id="roi"', 'id="history"', 'id="compare"', 'id="budget"'):
        assert section in page
    assert "Round 1 → round 2" in text


def test_every_number_on_the_page_is_in_the_results(rendered):
    ws, _ = rendered
    page = _page_text(ws.result("report.html").read_text())
    assert unknown_numbers_in(page, _allowed_numbers(ws, _results(ws).round)) == []


# ----------------------------------------------------------------------------------------- xlsx


def test_workbook_has_the_tables_with_results_values(rendered):
    ws, _ = rendered
    book = openpyxl.load_workbook(ws.result("report.xlsx"), read_only=True)
    assert {"ROI", "Contribution", "Fit", "Budget plan"} <= set(book.sheetnames)
    rows = list(book["ROI"].iter_rows(values_only=True))
    header = rows[0]
    res = _results(ws)
    for row in rows[1:]:
        rec = dict(zip(header, row))
        c = res.models[rec["model"]].channels[rec["channel"]]
        assert (rec["roi"], rec["roi_low"], rec["roi_high"]) == pytest.approx((c.roi, c.roi_low, c.roi_high))
    assert len(rows) - 1 == len(res.channels) * len(res.ok_models())


# ------------------------------------------------------------------------------------- rounds


def test_round_comparison_flags_a_move_outside_the_earlier_interval(rendered, tmp_path):
    ws, _ = rendered
    ws2 = Workspace(tmp_path)
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    res = _results(ws2, 2)
    moved = res.channels[0]
    ridge = res.models["ridge"].channels[moved]
    ridge.roi = ridge.roi_high + 1.0
    before = _results(ws2, 2)  # pymc reported a point estimate in round 2: no interval to leave
    point = before.models["pymc"].channels[moved]
    point.roi_low = point.roi_high = point.roi
    write_json(ws2.round_results(2), before)
    res.models["pymc"].channels[moved].roi = point.roi * 1.5
    res.round = 3
    write_json(ws2.round_results(3), res)
    shutil.copyfile(ws2.round_file(2, "config", "json"), ws2.round_file(3, "config", "json"))
    cmp = compare_rounds(ws2, 2, 3)
    flags = {m.channel: m.outside for m in cmp.channels}
    assert flags[moved] == ["ridge"]
    assert all(not v for ch, v in flags.items() if ch != moved)
    assert cmp.config_diff == []


def test_round_comparison_names_the_config_change(rendered):
    ws, _ = rendered
    cmp = compare_rounds(ws, 1, 2)
    assert cmp.config_diff == [("adstock.max_lag", 8, 6)]
    assert [c for _, c in cmp.changes] == ["adstock.max_lag 8 -> 6"]
    assert "adstock.max_lag" in _page_text(ws.result("report.html").read_text())


def test_past_round_renders_beside_the_current_deliverables(rendered):
    ws, _ = rendered
    current = ws.result("report.pptx").read_bytes()
    paths = render_deliverables(ws, 1)
    assert {p.parent.name for p in paths} <= {"R01", "charts"}
    assert ws.result("R01/report.pptx").exists() and ws.result("report.pptx").read_bytes() == current
    prs = Presentation(str(ws.result("R01/report.pptx")))
    assert "round 1" in "\n".join(_deck_texts(prs))


def test_missing_report_is_bad_input_naming_the_file(rendered, tmp_path, capsys):
    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    (tmp_path / "rounds" / "R01_report.md").unlink()
    with pytest.raises(InputError, match="R01_report.md"):
        render_deliverables(Workspace(tmp_path), 1)
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--round", "1", "--workdir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "R01_report.md" in capsys.readouterr().err


def test_failed_model_is_shown_failed_not_charted(rendered, tmp_path):
    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    ws2 = Workspace(tmp_path)
    ws2.result("optimization.csv").unlink()
    res = _results(ws2)
    res.models["lightweight_mmm"] = ModelResult(status="failed", reason="sampler diverged", engine="numpyro")
    write_json(ws2.latest, res)
    render_deliverables(ws2)
    prs = Presentation(str(ws2.result("report.pptx")))
    slides = _slides_by_title(prs)
    assert sorted(s.name for s in _chart(slides[deck_mod.TITLES["roi"]]).plots[0].series) == ["PyMC", "Ridge"]
    assert "sampler diverged" in "\n".join(_deck_texts(prs))
    assert "sampler diverged" in ws2.result("report.html").read_text()


def test_cli_compare_rounds_prints_the_moves(rendered, capsys):
    ws, _ = rendered
    with pytest.raises(SystemExit) as exit_:
        main(["compare-rounds", "1", "2", "--workdir", str(ws.root)])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    meta = read_model(ws.metadata, Metadata)
    assert all(meta.label(ch) in out for ch in _results(ws).channels)


# ------------------------------------------------------------------------- a real pipeline run


@pytest.fixture(scope="module")
def real_run(tmp_path_factory) -> Workspace:
    """discover → ridge through the real runner → compare → Reporter → render, on simulated data."""
    from prism.agents import reporter
    from prism.analysis.compare import run_compare
    from prism.data.simulate import simulate
    from prism.models.runner import run_models

    root = tmp_path_factory.mktemp("real")
    simulate(weeks=110, n_channels=3, seed=11).write(root / "sim.csv")
    with pytest.raises(SystemExit) as exit_:
        main(["discover", "--path", str(root / "sim.csv"), "--kpi", "revenue", "--workdir", str(root)])
    assert exit_.value.code == 0
    ws = Workspace(root)
    run_models(ws, 1, models=["ridge"], quick=True)
    run_compare(ws, 1)
    reporter.run(ws, 1)
    render_deliverables(ws)
    return ws


def test_real_run_deck_charts_equal_the_runner_results(real_run):
    ws = real_run
    res = _results(ws)
    meta = read_model(ws.metadata, Metadata)
    slide = _slides_by_title(Presentation(str(ws.result("report.pptx"))))[deck_mod.TITLES["roi"]]
    chart = _chart(slide)
    by_label = {meta.label(ch): ch for ch in res.channels}
    (series,) = chart.plots[0].series
    channels = [by_label[c] for c in chart.plots[0].categories]
    assert list(series.values) == pytest.approx([res.models["ridge"].channels[ch].roi for ch in channels])


def test_real_run_deliverables_quote_only_known_numbers(real_run):
    ws = real_run
    allowed = _allowed_numbers(ws, 1)
    texts = _deck_texts(Presentation(str(ws.result("report.pptx"))))
    assert {t: u for t in texts if (u := unknown_numbers_in(t, allowed))} == {}
    assert unknown_numbers_in(_page_text(ws.result("report.html").read_text()), allowed) == []
    fit = list(openpyxl.load_workbook(ws.result("report.xlsx"), read_only=True)["Fit"].iter_rows(values_only=True))
    status = dict(zip(fit[0], zip(*fit[1:])))
    assert dict(zip(status["model"], status["status"])) == {k: m.status for k, m in _results(ws).models.items()}


def test_round_where_every_model_failed_still_renders_the_reasons(rendered, tmp_path):
    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    ws2 = Workspace(tmp_path)
    res = _results(ws2)
    res.models = {k: ModelResult(status="failed", reason=f"{k} ran out of memory") for k in res.models}
    res.agreement = {}
    write_json(ws2.latest, res)
    names = {p.name for p in render_deliverables(ws2)}
    assert {"report.pptx", "report.html", "report.xlsx"} <= names and "roi_by_channel.png" not in names
    text = "\n".join(_deck_texts(Presentation(str(ws2.result("report.pptx")))))
    assert all(f"{k} ran out of memory" in text for k in res.models)


def test_report_after_a_loop_that_ended_on_no_change_renders_the_last_report(rendered, tmp_path, capsys):
    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    ws2 = Workspace(tmp_path)
    last = _results(ws2).round
    no_change = RoundRecord(round=last + 1, status="stopped", change="NO_CHANGE", verdicts={"tuner": "NO_CHANGE"})
    write_json(ws2.state, State(round=last + 1, stage="done", stopped_reason="NO_CHANGE", rounds=[no_change]))
    report_before = ws2.report_md.read_text()
    ws2.result("report.pptx").unlink()
    with pytest.raises(SystemExit) as exit_:
        main(["report", "--workdir", str(tmp_path)])
    assert exit_.value.code == 0
    assert "NO_CHANGE" in capsys.readouterr().out
    assert ws2.result("report.pptx").exists() and ws2.report_md.read_text() == report_before


def test_round_history_shows_the_recritique_verdict_not_the_first_review(rendered, tmp_path):
    from prism.report.inputs import load_inputs
    from prism.report.tables import round_history
    from prism.workspace import load_state, save_state

    ws, _ = rendered
    shutil.copytree(ws.root, tmp_path, dirs_exist_ok=True)
    ws2 = Workspace(tmp_path)
    state = load_state(ws2)
    state.rounds[0].verdicts.update({"critic": "REVISE: name the uncertain channels", "recritique": "APPROVED"})
    save_state(ws2, state)
    hist = round_history(load_inputs(ws2))
    assert hist.loc[hist["round"] == state.rounds[0].round, "verdict"].item() == "APPROVED"


def test_an_unchanged_round_is_not_drawn_again(rendered, copy_ws, monkeypatch):
    """A render whose inputs did not change copies the kept files (prism/report/render_cache.py); a changed
    report, config key or round record draws again."""
    import prism.report.build as build

    ws = copy_ws(rendered[0])
    before = {p.relative_to(rendered[0].root): p.read_bytes() for p in rendered[1]}
    drawn = []
    real = build._draw
    monkeypatch.setattr(build, "_draw", lambda inp, out: drawn.append(inp.round) or real(inp, out))
    for p in rendered[1]:
        (ws.root / p.relative_to(rendered[0].root)).unlink()
    again = render_deliverables(ws)  # a copied workspace: the key holds no absolute path
    assert drawn == [] and [p.relative_to(ws.root) for p in again] == list(before)
    assert all((ws.root / rel).read_bytes() == data for rel, data in before.items())
    ws.report_md.write_text(ws.report_md.read_text(encoding="utf-8") + "\nOne more line.\n", encoding="utf-8")
    render_deliverables(ws)
    assert len(drawn) == 1
    state = read_model(ws.state, State)
    state.rounds[-1].timings["render"] = 99.0  # timings are not shown: no redraw
    write_json(ws.state, state)
    render_deliverables(ws)
    assert len(drawn) == 1
    state.rounds[-1].change = "adstock.decay=0.5"  # the round history is shown: redraw
    write_json(ws.state, state)
    render_deliverables(ws)
    assert len(drawn) == 2

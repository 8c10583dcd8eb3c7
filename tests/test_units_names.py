"""Currency and channel names: `prism discover --currency` reaches the report, page, deck and workbook; media
abbreviations read as business labels; `prism ask` finds a channel by any of its names."""

from __future__ import annotations

import json

import pytest

from prism.llm import ask_router as R
from prism.schemas import readable_label
from tests.helpers.cli import Cli, weekly_frame


@pytest.mark.parametrize("column, label", [("mdsp_vidtr", "TV"), ("mdsp_dm", "Direct mail"), ("mdsp_sem", "Search"),
                                           ("mdsp_so", "Social"), ("mdip_auddig", "Digital audio"),
                                           ("sem_spend", "Search"), ("tv_S", "TV"), ("ooh_S", "OOH")])
def test_media_abbreviations_read_as_labels(column, label):
    assert readable_label(column) == label


def test_ask_finds_a_channel_by_any_of_its_names():
    chans = ["mdsp_vidtr", "mdsp_dm", "mdsp_sem", "mdsp_so"]
    labels = {"mdsp_vidtr": "Traditional video"}  # a dictionary label: the readable alias still counts
    assert R.route("What is the ROI of TV?", chans, labels).channels == ["mdsp_vidtr"]
    assert R.route("What is the ROI of traditional video?", chans, labels).channels == ["mdsp_vidtr"]
    assert R.route("How does direct mail do?", chans, {}).channels == ["mdsp_dm"]
    q = R.route("What is the ROI of Mdsp Vidtr?", chans, {})
    assert q.channels == ["mdsp_vidtr"] and q.unknown_name is None


def test_discover_currency_reaches_every_deliverable(tmp_path, capsys):
    frame = weekly_frame()
    (tmp_path / "data.csv").write_text(frame.to_csv(index=False))
    cli = Cli(capsys, tmp_path)
    code, _, err = cli("discover", "--path", str(tmp_path / "data.csv"), "--kpi", "revenue", "--currency", "euro")
    assert code == 2 and "ISO 4217" in err and "euro" in err.lower()
    code, _, _ = cli("discover", "--path", str(tmp_path / "data.csv"), "--kpi", "revenue", "--currency", "eur")
    assert code == 0 and json.loads((tmp_path / "config.json").read_text())["data"]["currency"] == "EUR"


def test_report_page_deck_and_workbook_name_the_currency(tmp_path):
    import io

    import pandas as pd
    from pptx import Presentation

    from prism.agents import reporter
    from prism.analysis.facts import RoundFacts
    from prism.report.build import render_deliverables
    from prism.report.inputs import load_inputs
    from prism.schemas import Config
    from prism.workspace import Workspace, read_model, write_json
    from tests.helpers.report import build_workspace

    ws = build_workspace(tmp_path / "w", rounds=1, n_channels=3)
    cfg = read_model(ws.config, Config)
    write_json(ws.config, cfg.model_copy(update={"data": cfg.data.model_copy(update={"currency": "GBP"})}))
    assert RoundFacts.load(ws, 1).spend_unit == "GBP"
    reporter.run(ws, 1)
    assert "per GBP of spend" in ws.report_md.read_text() and "per unit" not in ws.report_md.read_text()
    render_deliverables(ws)
    assert "per GBP of spend" in ws.result("report.html").read_text()
    deck = " ".join(s.text_frame.text for sl in Presentation(str(ws.result("report.pptx"))).slides
                    for s in sl.shapes if s.has_text_frame)
    assert "per GBP of spend" in deck
    about = pd.read_excel(io.BytesIO(ws.result("report.xlsx").read_bytes()), sheet_name="About")
    assert "GBP" in about["value"].astype(str).tolist() and load_inputs(ws).currency == "GBP"

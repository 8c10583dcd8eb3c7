"""The portfolio report: portfolio/report.md, report.html and report.pptx from portfolio.csv.

Three questions, answered from the numbers analysis/portfolio.py computes: which channels perform across
entities (their ROI weighted by confidence), which entities stand out from the others on a channel, and
which entities have too little data to act on. The page and the deck use the single-workspace report's
style, tables and slide blocks, so a portfolio reads like the reports its entities have.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from html import escape

import pandas as pd
from pptx import Presentation
from pptx.slide import Slide
from pptx.util import Inches

from prism.analysis.portfolio import channel_summary, outliers, read_table, thin_entities
from prism.report import fmt, style
from prism.report.html import CSS, SORT_JS, html_table, num_cell, text_cell
from prism.report.markdown import Item
from prism.report.slides import BODY, MARGIN, SLIDE_H, SLIDE_W, TITLE_H, TITLE_TOP, Box, plain, table, text_box
from prism.workspace import PortfolioFiles, read_csv, write_bytes, write_csv, write_text

TITLE = "Portfolio: what works across entities"
DECK_ROWS = 12  # rows a deck table shows; the page and the CSV files hold them all


@dataclass
class PortfolioView:
    """What every portfolio deliverable shows, computed once."""

    entities: pd.DataFrame
    channels: pd.DataFrame
    outliers: pd.DataFrame
    thin: pd.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        return self.entities["status"].value_counts().to_dict()

    def answer(self) -> list[str]:
        """The findings in plain sentences, best channel first."""
        n, c = len(self.entities), self.counts
        lines = [f"{n} entities: {c.get('ok', 0) + c.get('skipped', 0)} with results, {c.get('failed', 0)} failed."]
        measured = self.channels.dropna(subset=["weighted_roi"])
        for r in measured.head(3).itertuples():
            lines.append(f"{r.channel} returns {fmt.roi(r.weighted_roi)} per unit of spend across the entities that "
                         f"measured it ({r.high} high, {r.medium} medium confidence of {r.entities}).")
        unmeasured = self.channels.loc[self.channels["weighted_roi"].isna(), "channel"].tolist()
        if unmeasured:
            lines.append(f"Not measured above low confidence anywhere: {', '.join(map(str, unmeasured))}.")
        if len(self.outliers):
            lines.append(f"{len(self.outliers)} entity-channel return(s) stand apart from the other entities'.")
        if len(self.thin):
            lines.append(f"{len(self.thin)} entit{'y has' if len(self.thin) == 1 else 'ies have'} too little data "
                         f"to act on.")
        return lines


def portfolio_view(files: PortfolioFiles) -> PortfolioView:
    table = read_table(files)
    entities = read_csv(files.entities, required=("entity", "status", "weeks"))
    return PortfolioView(entities, channel_summary(table), outliers(table), thin_entities(entities, table))


def write_report(files: PortfolioFiles) -> PortfolioView:
    """channels.csv and the three deliverables, each written atomically."""
    view = portfolio_view(files)
    write_csv(files.channels, view.channels)
    write_text(files.report_md, build_markdown(view))
    write_text(files.report_html, build_html(view))
    write_bytes(files.report_pptx, build_deck(view))
    return view


# ------------------------------------------------------------------------------------------ rows
def _channel_rows(view: PortfolioView) -> tuple[list[str], list[list[str]]]:
    header = ["channel", "ROI (weighted)", "entities", "high", "medium", "low", "lowest", "highest"]
    return header, [[str(r.channel), fmt.roi(r.weighted_roi), str(r.entities), str(r.high), str(r.medium), str(r.low),
                     fmt.roi(r.roi_min), fmt.roi(r.roi_max)] for r in view.channels.itertuples()]


def _outlier_rows(view: PortfolioView) -> tuple[list[str], list[list[str]]]:
    header = ["entity", "channel", "ROI", "90 % range", "other entities' median"]
    return header, [[str(r.entity), str(r.channel), fmt.roi(r.roi), fmt.roi_range(r.roi_low, r.roi_high),
                     fmt.roi(r.portfolio_median)] for r in view.outliers.itertuples()]


def _thin_rows(view: PortfolioView) -> tuple[list[str], list[list[str]]]:
    return ["entity", "why"], [[str(r.entity), str(r.why)] for r in view.thin.itertuples()]


SECTIONS = (("channels", "Channels across entities", _channel_rows,
             "ROI weighted by confidence: high counts fully, medium half, low not at all."),
            ("outliers", "Entities that stand apart", _outlier_rows,
             "A return far from the other entities' (over 3 robust deviations) whose range excludes their median."),
            ("thin", "Entities with too little data", _thin_rows,
             "Failed, under two years of weeks, or no channel above low confidence."))


# ------------------------------------------------------------------------------------------ markdown
def build_markdown(view: PortfolioView) -> str:
    out = [f"# {TITLE}", "", *[f"- {line}" for line in view.answer()], ""]
    for _, title, rows, note in SECTIONS:
        header, body = rows(view)
        out += [f"## {title}", "", note, ""]
        if not body:
            out += ["None.", ""]
            continue
        out += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        out += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in body] + [""]
    return "\n".join(out)


# ------------------------------------------------------------------------------------------ page
def build_html(view: PortfolioView) -> str:
    """One self-contained page (the single-workspace page's styles and sortable tables)."""
    sections = [("answer", "The answer", "<ul>" + "".join(f"<li>{escape(s)}</li>" for s in view.answer()) + "</ul>")]
    for key, title, rows, note in SECTIONS:
        header, body = rows(view)
        html_rows = [[num_cell(c, None) if i and c[:1].isdigit() else text_cell(c) for i, c in enumerate(row)]
                     for row in body]
        numeric = {i for i in range(1, len(header)) if body and all(r[i][:1].isdigit() or r[i] == fmt.MISSING
                                                                     for r in body)}
        content = html_table(header, html_rows, numeric, sortable=True) if body else "<p>None.</p>"
        sections.append((key, title, f'<p class="muted">{escape(note)}</p>{content}'))
    nav = "".join(f'<a href="#{key}">{escape(name)}</a>' for key, name, _ in sections)
    body = "".join(f'<section id="{key}"><h2>{escape(name)}</h2>{html_}</section>' for key, name, html_ in sections)
    sub = f"{len(view.entities)} entities · {len(view.channels)} channels"
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(TITLE)}</title><style>{CSS}</style></head><body>"
            f"<header><h1>{escape(TITLE)}</h1><p>{escape(sub)}</p></header><nav>{nav}</nav><main>{body}</main>"
            f"<footer>Prism portfolio</footer><script>{SORT_JS}</script></body></html>\n")


# ------------------------------------------------------------------------------------------ deck
def build_deck(view: PortfolioView) -> bytes:
    """Title, answer, then one slide per section (the first DECK_ROWS rows; the page holds them all)."""
    prs = Presentation()
    prs.slide_width, prs.slide_height = Inches(SLIDE_W), Inches(SLIDE_H)
    _slide(prs, TITLE, [plain(s, bullet=True) for s in view.answer()])
    for _, title, rows, note in SECTIONS:
        header, body = rows(view)
        slide = _slide(prs, title, [] if body else [plain("None.")])
        if body:
            more = len(body) - DECK_ROWS
            used, _ = table(slide, Box(BODY.left, BODY.top, BODY.width, BODY.height - 0.6), header, body[:DECK_ROWS])
            text_box(slide, Box(BODY.left, BODY.top + used + 0.1, BODY.width, 0.5),
                     [plain(note + (f" {more} more row(s) in report.html." if more > 0 else ""))], 14, 10, style.MUTED)
    buf = io.BytesIO()
    prs.save(buf)
    return buf.getvalue()


def _slide(prs: Presentation, title: str, items: list[Item]) -> Slide:
    slide = prs.slides.add_slide(prs.slide_layouts[6])  # blank
    text_box(slide, Box(MARGIN, TITLE_TOP, SLIDE_W - 2 * MARGIN, TITLE_H), [Item([(title, True)], False)], 30, 20)
    if items:
        text_box(slide, BODY, items, 22, 12)
    return slide

"""Reading the Reporter's markdown: its sections for the deck, and HTML for the page.

The deck quotes the Reporter's prose by section (the answer, what to do, where the models disagree,
caveats, method); sections are found by what their headings say, so the Reporter can word them freely.
The text is never rewritten: only markdown markup is turned into runs (bold or not) or HTML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

from markdown_it import MarkdownIt
from markdown_it.token import Token

Run = tuple[str, bool]  # (text, bold)

SECTION_KEYWORDS: dict[str, tuple[str, ...]] = {
    "answer": ("answer", "summary", "headline", "bottom line", "in short", "key finding", "at a glance"),
    "roi": ("return on spend", "return by channel", "roi by channel"),
    "actions": ("what to do", "recommend", "action", "next step", "budget"),
    "disagree": ("disagree", "uncertain", "settle", "less sure", "confidence"),
    "settle": ("would settle", "settle it", "test plan", "what to test", "experiment"),
    "caveats": ("caveat", "limitation", "data quality", "can and cannot", "cannot support", "watch out"),
    "method": ("method", "how we", "how this", "appendix", "approach"),
}


def _parser() -> MarkdownIt:
    return MarkdownIt("commonmark", {"html": False}).enable("table")


@dataclass
class Item:
    """A paragraph (`bullet=False`) or a list item of a section, as inline runs."""

    runs: list[Run]
    bullet: bool

    @property
    def text(self) -> str:
        return "".join(t for t, _ in self.runs)


@dataclass
class Section:
    heading: str
    level: int
    items: list[Item] = field(default_factory=list)
    tables: list[list[list[str]]] = field(default_factory=list)  # each table's rows of cell texts, header first


@dataclass
class ReportText:
    """The Reporter's report: title, sections in order, and the raw markdown."""

    title: str
    sections: list[Section]
    source: str

    def section(self, kind: str) -> Section | None:
        """The first section whose heading names `kind` (a key of SECTION_KEYWORDS)."""
        words = SECTION_KEYWORDS[kind]
        return next((s for s in self.sections if any(w in s.heading.lower() for w in words)), None)

    def answer(self) -> tuple[Item | None, list[Item]]:
        """The answer in one sentence and its bullets: the answer section, else the report's opening."""
        sec = self.section("answer")
        items = sec.items if sec and sec.items else [i for s in self.sections for i in s.items]
        sentence = next((i for i in items if not i.bullet), None)
        bullets = [i for i in items if i.bullet]
        return sentence, bullets

    def html(self) -> str:
        """The report as HTML with links reduced to their text: the page makes no external reference."""
        md = _parser()
        md.renderer.rules["link_open"] = lambda *args: '<span class="link">'
        md.renderer.rules["link_close"] = lambda *args: "</span>"
        md.renderer.rules["image"] = lambda tokens, idx, *args: escape(tokens[idx].content)
        return md.render(self.source)


def _runs(inline: Token) -> list[Run]:
    """Plain-text runs of an inline token, bold where the markdown is strong."""
    runs: list[Run] = []
    bold = 0
    for tok in inline.children or []:
        if tok.type == "strong_open":
            bold += 1
        elif tok.type == "strong_close":
            bold -= 1
        elif tok.type in ("text", "code_inline"):
            runs.append((tok.content, bold > 0))
        elif tok.type in ("softbreak", "hardbreak"):
            runs.append((" ", bold > 0))
    merged: list[Run] = []
    for text, b in runs:
        if merged and merged[-1][1] == b:
            merged[-1] = (merged[-1][0] + text, b)
        else:
            merged.append((text, b))
    return merged


def parse_report(source: str) -> ReportText:
    """Split the report into its title and sections of paragraphs, bullets and tables (cell texts)."""
    tokens = _parser().parse(source)
    title = ""
    sections: list[Section] = []
    current = Section(heading="", level=1)
    in_heading = in_item = in_table = False
    for i, tok in enumerate(tokens):
        if tok.type == "heading_open":
            in_heading = True
        elif tok.type == "heading_close":
            in_heading = False
        elif tok.type == "list_item_open":
            in_item = True
        elif tok.type == "list_item_close":
            in_item = False
        elif tok.type in ("table_open", "table_close"):
            in_table = tok.type == "table_open"
            if in_table:
                current.tables.append([])
        elif tok.type == "tr_open":
            current.tables[-1].append([])
        elif tok.type == "inline" and in_table:
            current.tables[-1][-1].append("".join(t for t, _ in _runs(tok)).strip())
        elif tok.type == "inline" and in_heading:
            level = int(tokens[i - 1].tag[1])
            text = "".join(t for t, _ in _runs(tok))
            if level == 1 and not title:
                title = text
                continue
            if current.heading or current.items:
                sections.append(current)
            current = Section(heading=text, level=level)
        elif tok.type == "inline" and not in_table:
            current.items.append(Item(runs=_runs(tok), bullet=in_item))
    if current.heading or current.items:
        sections.append(current)
    return ReportText(title=title, sections=sections, source=source)

"""One visual language for charts, slides and the page: palette, fonts and display names.

Charts are drawn at slide size (16:9) with fonts large enough to read when projected; the deck and the
HTML page use the same colours so a channel looks the same everywhere.
"""

from __future__ import annotations

import io
from contextlib import contextmanager
from typing import Iterator

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.ticker import FuncFormatter  # noqa: E402

from prism.report.fmt import compact  # noqa: E402

INK = "#1F2933"
MUTED = "#616E7C"
GRID = "#D9DEE4"
BACKGROUND = "#FFFFFF"
ACCENT = "#2F5DA8"
BASELINE = "#B8C2CC"
HOLDOUT = "#F4E3C1"
EVENTS = "#8FA3B8"  # events and holidays: part of the baseline, shaded apart from it

CHANNEL_COLORS = ("#2F5DA8", "#E07A2E", "#2E9E77", "#C8453D", "#7C5CB8", "#9A6B3F", "#D45F9E", "#5A8F29",
                  "#1B9AAA", "#B8A038", "#4D4D8F", "#8C8C8C")
MODEL_COLORS = {"ridge": "#2F5DA8", "pymc": "#E07A2E", "lightweight_mmm": "#2E9E77"}
MODEL_NAMES = {"ridge": "Ridge", "pymc": "PyMC", "lightweight_mmm": "Lightweight MMM"}
AGREEMENT_COLORS = {"high": "#2E9E77", "medium": "#E0A526", "low": "#C8453D", "n/a": "#8C8C8C"}

FIG_WIDE = (13.0, 5.4)  # inches; placed on a 13.33 x 7.5 in slide
FIG_DPI = 120  # 1560 px wide: sharp on a projected slide, quick to draw
FONT_SIZE = 14
FONT_FAMILY = "DejaVu Sans"

RC = {
    "font.family": FONT_FAMILY,
    "font.size": FONT_SIZE,
    "axes.titlesize": FONT_SIZE + 4,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.labelsize": FONT_SIZE,
    "axes.labelcolor": INK,
    "axes.edgecolor": GRID,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": GRID,
    "grid.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "xtick.labelsize": FONT_SIZE - 1,
    "ytick.labelsize": FONT_SIZE - 1,
    "legend.fontsize": FONT_SIZE - 2,
    "legend.frameon": False,
    "figure.facecolor": BACKGROUND,
    "savefig.facecolor": BACKGROUND,
    "text.color": INK,
}


@contextmanager
def chart_style() -> Iterator[None]:
    """Apply the house style for the charts drawn inside the block."""
    with plt.rc_context(RC):
        yield


def channel_color(index: int) -> str:
    """Colour of the channel at `index` in the results' channel order (stable across charts)."""
    return CHANNEL_COLORS[index % len(CHANNEL_COLORS)]


def model_name(model: str) -> str:
    return MODEL_NAMES.get(model, model)


def model_color(model: str) -> str:
    return MODEL_COLORS.get(model, MUTED)


def hex_rgb(color: str) -> tuple[int, int, int]:
    """'#RRGGBB' as an (r, g, b) tuple, for python-pptx."""
    c = color.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


# ------------------------------------------------------------------------------------ figures
# here rather than in charts.py so that `prism optimize`'s plan chart draws without importing the report's
# inputs and tables (and through them the audit, ridge and scipy.optimize: 0.9 CPU s of imports)
PNG_COMPRESSION = 3  # zlib level: near the default's size at half its time
LABEL_WRAP = 22
COMPACT = FuncFormatter(compact)


def wrap(text: str, width: int = LABEL_WRAP) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + len(w) + 1 > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    return "\n".join(lines + [line])


def figure(size: tuple[float, float] = FIG_WIDE) -> Figure:
    return Figure(figsize=size, layout="constrained")


def png_bytes(fig: Figure) -> bytes:
    buf = io.BytesIO()
    with chart_style():
        fig.savefig(buf, format="png", dpi=FIG_DPI, metadata={"Software": None},
                    pil_kwargs={"compress_level": PNG_COMPRESSION})
    return buf.getvalue()

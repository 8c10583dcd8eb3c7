"""Questions on the page: `prism ask`'s engine (`answer_in`) over a context kept per round of results, so
the kept draws are read once per server process, not once per question; plus a chart of the figures.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from prism.errors import InputError
from prism.llm import ask_router as R
from prism.llm.ask import Answer, AskContext, jsonable
from prism.llm.ask_session import answer_in
from prism.serve.views import LAYOUT, chart_text, roi_chart
from prism.workspace import Workspace

WARM_WEEKS = R.HORIZON_WORDS["next quarter"]  # the horizon a what-if plans over unless the question names one


class AskCache:
    """The workspace's `AskContext`, rebuilt when results/latest.json changes (a new round)."""

    def __init__(self, ws: Workspace):
        self.ws = ws
        self._key: tuple[int, int] | None = None
        self._ctx: AskContext | None = None
        self._lock = threading.Lock()

    def context(self) -> AskContext:
        """The context of the latest results (InputError, naming the file, before a round has run)."""
        with self._lock:
            stat = self.ws.latest.stat() if self.ws.latest.exists() else None
            key = (stat.st_mtime_ns, stat.st_size) if stat else None
            if self._ctx is None or key != self._key:
                self._ctx, self._key = AskContext(self.ws), key
            return self._ctx

    def warm(self) -> str | None:
        """Read the results and the planner's draws now (the server does it at start, off the first question);
        why the draws cannot be planned on, if they cannot (what-if questions then answer with that)."""
        try:
            self.context().planner(WARM_WEEKS)
        except InputError as exc:
            return str(exc)
        return None

    def ask(self, text: str) -> dict[str, Any]:
        """The answer as JSON: intent, text, figures, a chart and the seconds it took."""
        t0 = time.perf_counter()
        ctx = self.context()
        with self._lock:  # one question at a time per context: the planner caches its responses
            result = answer_in(ctx, text)
        out = jsonable({"question": result.question, "intent": result.intent, "text": result.text,
                        "channels": result.channels, "facts": result.facts, "phrased_by": result.phrased_by})
        out["chart"] = answer_chart(ctx, result)
        out["seconds"] = round(time.perf_counter() - t0, 3)
        return out


def answer_chart(ctx: AskContext, result: Answer) -> dict[str, Any] | None:
    """The figure behind the answer: a what-if's or a budget's KPI change with its interval, else the ROI
    (with its range) of the channels it names."""
    f = result.facts
    if result.intent in (R.SCENARIO, R.BUDGET):
        if result.intent == R.SCENARIO and "kpi_change" in f:
            name = ", ".join(f"{chart_text(ctx.label(ch))} {pct:+g}%" for ch, pct in f["changes_pct"].items())
            mean, low, high = f["kpi_change"], f["low"], f["high"]
        elif result.intent == R.BUDGET and f.get("plan"):
            total = next((r for r in f["plan"] if r["channel"] == "total"), None)
            if total is None:
                return None
            mean, low, high, name = (total["expected_kpi_change"], total["expected_kpi_change_low"],
                                     total["expected_kpi_change_high"], "budget plan")
        else:
            return None
        return {"data": [{"type": "bar", "orientation": "h", "y": [name], "x": [mean], "width": [0.5],
                          "marker": {"color": "#4C72B0" if mean >= 0 else "#C44E52"},
                          "error_x": {"type": "data", "symmetric": False, "array": [high - mean],
                                      "arrayminus": [mean - low]}}],
                "layout": {**LAYOUT, "height": 220, "margin": {**LAYOUT["margin"], "l": 180},
                           "title": {"text": f"Change in {chart_text(ctx.results.kpi)}, with its 90% interval"}}}
    if result.intent in (R.ROI, R.TRUST, R.SATURATION, R.CONTRIBUTION, R.SUMMARY):
        return roi_chart(ctx, result.channels or None)
    return None

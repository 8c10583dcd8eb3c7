"""The one interface every agent has, rule-based or Claude: workspace and round in, artifact out.

The loop calls `run(ws, round_no, revision=False) -> AgentOutcome` on whichever implementation is chosen,
so it never cares which one ran.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from prism.schemas import AgentCall
from prism.workspace import Workspace

AGENT_NAMES = ("explorer", "tuner", "analyst", "critic", "reporter", "proofreader")


@dataclass
class AgentOutcome:
    """What an agent returns: its return string (e.g. 'APPROVED'), the file it wrote and its cost."""

    status: str
    path: Path | None = None
    detail: str = ""
    call: AgentCall | None = None
    extra: dict = field(default_factory=dict)


class Agent(Protocol):
    def __call__(self, ws: Workspace, round_no: int, revision: bool = False) -> AgentOutcome: ...

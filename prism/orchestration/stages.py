"""The one stage table: for each stage of a round, who plays it, what it writes and what comes next.

The loop, the recorder, `--record-only` and the progress labels all read this table, so a stage is
declared once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from prism.schemas import Status
from prism.workspace import Workspace

Artifact = Callable[[Workspace, int], Path]
APPROVAL = "approval"  # the last checkpoint: approve the round as the model `prism refresh` starts from


@dataclass(frozen=True)
class StageSpec:
    """One stage: `next` follows it unless its status starts with `branch[0]`, which leads to `branch[1]`."""

    name: str
    label: str
    next: str
    agent: str | None = None          # None: Prism's own step (no agent, no artifact to record)
    artifact: Artifact | None = None  # the file the agent writes, ending with its status line
    default_status: Status | None = None  # a recorded artifact without a status line means this
    branch: tuple[Status, str] | None = None
    revision: bool = False            # the agent answers the previous stage (Analyst revision, final Critic)
    checkpoint: str | None = None     # `--checkpoints` asks the user after this stage
    first_round_next: str | None = None  # round 1 goes here instead of `next`
    command: str | None = None        # the stage's `prism` command (a session records with `--record-only`)
    prepared: bool = False            # Prism writes the computed part first; the session completes it
    writes: tuple[str, ...] = ()      # workspace files a Claude session may write at this stage

    @property
    def record_command(self) -> str | None:
        """What a Claude session runs when its file is written: the guard, then the record."""
        return f"prism {self.command} --record-only" if self.command else None


_TABLE = (
    StageSpec("discover", "refresh metadata", next="tune", first_round_next="explore"),
    StageSpec("explore", "Explorer", "run", "explorer", lambda ws, n: ws.exploration(), Status.EXPLORATION_DONE,
              checkpoint="exploration", command="explore", prepared=True, writes=("rounds/R01_data_exploration.md",)),
    StageSpec("tune", "Tuner", "run", "tuner", lambda ws, n: ws.tuning(n), branch=(Status.NO_CHANGE, "done"),
              checkpoint="tuning", command="tune", writes=("rounds/R{NN}_tuning.md",)),
    StageSpec("run", "run models", "compare"),
    StageSpec("compare", "compare", "analyze"),
    StageSpec("analyze", "Analyst", "critique", "analyst", lambda ws, n: ws.analysis(n), Status.ANALYSIS_DONE,
              command="analyze", writes=("rounds/R{NN}_analysis.md",)),
    StageSpec("critique", "Critic", "revise", "critic", lambda ws, n: ws.review(n),
              branch=(Status.APPROVED, "report"), command="critique", prepared=True,
              writes=("rounds/R{NN}_review.md",)),
    StageSpec("revise", "Analyst (revision)", "recritique", "analyst", lambda ws, n: ws.analysis(n),
              Status.ANALYSIS_DONE, revision=True, command="analyze --revision", writes=("rounds/R{NN}_analysis.md",)),
    StageSpec("recritique", "Critic (final)", "report", "critic", lambda ws, n: ws.review(n), revision=True,
              command="critique --final", prepared=True, writes=("rounds/R{NN}_review.md",)),
    StageSpec("report", "Reporter", "proofread", "reporter", lambda ws, n: ws.report_md, Status.REPORT_DONE,
              checkpoint="report", command="report", writes=("results/report.md",)),
    StageSpec("proofread", "Proofreader", "done", "proofreader", lambda ws, n: ws.proofread(n),
              checkpoint=APPROVAL, command="proofread", prepared=True, writes=("results/report.md", "rounds/R{NN}_proofread.md")),
)
STAGES: dict[str, StageSpec] = {s.name: s for s in _TABLE}


def next_stage(stage: str, round_no: int, status: str) -> str:
    """The stage after `stage` given its outcome."""
    spec = STAGES[stage]
    if spec.first_round_next and round_no == 1:
        return spec.first_round_next
    if spec.branch and status.startswith(spec.branch[0]):
        return spec.branch[1]
    return spec.next

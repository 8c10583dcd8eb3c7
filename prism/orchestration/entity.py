"""One entity of a portfolio: its workspace discovered from the shared source, then the round `prism run`,
`prism compare` and `prism audit` run (or, with `loop`, the whole agent loop).

This is the body of a portfolio's Ray task (`portfolio.entity_task`), but it imports no Ray: an entity column
with one value runs it in-process on the workdir. It calls the same functions the CLI commands call, in the
same order, so an entity's workspace is the workspace those commands would leave.

Resume: `entities/<folder>/.prism-portfolio.json` keeps, for the last finished round, the data hash (the
weekly table's, as `results.data_hash`), the config hash (the effective config's, as `results.config_hash`)
and the key of the portfolio's options (settings file, rounds, audit sizes). A later run whose three match
after the entity is discovered again skips the fits and keeps its results.
"""

from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel
from rich.console import Console

from prism.errors import InputError
from prism.orchestration.cache import combined
from prism.schemas import Config
from prism.workspace import Workspace, read_json, write_json

RECORD_FILE = ".prism-portfolio.json"
LOG_FILE = "portfolio.log"
OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass(frozen=True)
class RoundOptions:
    """What every entity runs with: the source and role flags of `prism discover`, the config sections the
    settings file sets, and the round's sizes. Plain data, so a Ray task receives it by value."""

    spec: dict[str, Any]  # SourceSpec fields, paths absolute
    overrides: dict[str, Any]  # Overrides fields (role flags)
    prepare: dict[str, Any]  # PrepareOptions fields other than `entity`
    settings: dict[str, Any] = field(default_factory=dict)  # config.json sections other than `data`
    loop: bool = False
    rounds: int = 1
    quick: bool = False
    k: int = 20  # audit: synthetic series
    plan_k: int | None = None  # test plans: simulated tests per design
    dictionary: str | None = None

    @property
    def key(self) -> str:
        """What the options change in an entity's results (the source and flags reach it through its data hash)."""
        parts = [self.settings, self.overrides, self.prepare, self.loop, self.rounds, self.quick, self.k, self.plan_k]
        return combined(json.dumps(parts, sort_keys=True, default=str))


@dataclass
class Outcome:
    """What one entity's task reports back: small, so hundreds of them cost no memory."""

    entity: str
    folder: str
    status: str
    reason: str = ""
    seconds: float = 0.0


class Record(BaseModel):
    """`.prism-portfolio.json`: the hashes of the last round that finished in this entity's workspace."""

    entity: str
    data_hash: str
    config_hash: str
    options_key: str
    finished_at: str


def run_entity(root: str, entity: str | None, folder: str, options: RoundOptions) -> Outcome:
    """Discover and fit one entity in workspace `root`; any error fails this entity alone, with its reason."""
    t0 = time.perf_counter()
    ws = Workspace(root)
    ws.root.mkdir(parents=True, exist_ok=True)
    name = entity if entity is not None else folder
    try:
        status = _discover_and_fit(ws, entity, options)
    except InputError as exc:
        return Outcome(name, folder, FAILED, _one_line(str(exc)), _since(t0))
    except Exception as exc:  # a model or a library that breaks fails this entity, never the portfolio
        with (ws.root / LOG_FILE).open("a", encoding="utf-8") as log:
            log.write(traceback.format_exc())
        return Outcome(name, folder, FAILED, _one_line(f"{type(exc).__name__}: {exc}"), _since(t0))
    reason = "data and config unchanged since the last run: its results are kept" if status == SKIPPED else ""
    return Outcome(name, folder, status, reason, _since(t0))


def _discover_and_fit(ws: Workspace, entity: str | None, options: RoundOptions) -> str:
    from prism.data.discover import PrepareOptions, discover
    from prism.data.roles import Overrides
    from prism.data.sources import SourceSpec
    from prism.knowledge.sync import pull

    prep = PrepareOptions(**{**options.prepare, "entity": entity})
    found = discover(ws, SourceSpec(**options.spec), Overrides(**options.overrides), prep, options.dictionary)
    pull(ws)
    record = _read_record(ws)
    if record and _hashes(ws, found.metadata.data_hash) == (record.data_hash, record.config_hash) and \
            record.options_key == options.key and ws.latest.exists():
        return SKIPPED
    if record is None or record.options_key != options.key:
        _apply_settings(ws, options.settings)
    with (ws.root / LOG_FILE).open("w", encoding="utf-8") as log:  # what the commands would have printed
        (_loop if options.loop else _round)(ws, options, Console(file=log, width=120, no_color=True))
    data_hash, config_hash = _hashes(ws, found.metadata.data_hash)
    write_json(ws.root / RECORD_FILE, Record(entity=entity or "", data_hash=data_hash, config_hash=config_hash,
                                             options_key=options.key,
                                             finished_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
    return OK


def _round(ws: Workspace, options: RoundOptions, console: Console) -> None:
    """`prism run`, `prism compare`, then `prism audit` (the audit, compare again, the test plans), one process each."""
    from prism.analysis.audit import run_audit
    from prism.analysis.compare import run_compare
    from prism.analysis.test_plan import run_plans
    from prism.knowledge import experiments
    from prism.models.runner import run_models

    experiments.prepare(ws, None)
    res = run_models(ws, None, None, options.quick, console=console)
    if not res.ok_models():
        raise InputError("no model ran: " + "; ".join(f"{m}: {r.reason}" for m, r in res.models.items()))
    run_compare(ws)
    if options.quick:  # as the quick loop: no audit, no test plans (they refit ridge many times)
        return
    run_audit(ws, options.k, jobs=1)
    run_compare(ws)
    run_plans(ws, None, options.plan_k, jobs=1)


def _loop(ws: Workspace, options: RoundOptions, console: Console) -> None:
    """`prism loop --rounds N` with the rule-based agents, rendering the deliverables at the end. A loop that
    finished before (its data or config changed since) runs N more rounds; an unfinished one resumes."""
    from prism.orchestration.loop import run_loop
    from prism.workspace import load_state

    target = options.rounds
    if ws.state.exists():
        last = load_state(ws)
        target = last.round + options.rounds if last.stage == "done" else (last.rounds_target or options.rounds)
    state = run_loop(ws, target, quick=options.quick, console=console)
    if not ws.latest.exists():
        raise InputError(f"the loop stopped before any model ran: {state.stopped_reason or 'no results'}")


def _apply_settings(ws: Workspace, settings: dict[str, Any]) -> None:
    """config.json with the settings file's sections on top (validated by the config schema)."""
    if not settings:
        return
    config = json.loads(ws.config.read_text(encoding="utf-8"))
    write_json(ws.config, Config.model_validate(_merged(config, settings)))


def _merged(base: dict[str, Any], top: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in top.items():
        out[key] = _merged(base[key], value) if isinstance(value, dict) and isinstance(base.get(key), dict) else value
    return out


def _hashes(ws: Workspace, data_hash: str) -> tuple[str, str]:
    """(the weekly table's hash, the effective config's hash): what `results.json` records of a round's inputs."""
    from prism.models.priors import config_hash, workspace_config

    return data_hash, config_hash(workspace_config(ws)[1])


def _read_record(ws: Workspace) -> Record | None:
    path = ws.root / RECORD_FILE
    if not path.exists():
        return None
    try:
        return Record.model_validate(read_json(path))
    except (InputError, ValueError):
        return None  # an unreadable record only costs a rerun


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _since(t0: float) -> float:
    return round(time.perf_counter() - t0, 2)

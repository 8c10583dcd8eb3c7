"""Reuse the audit and the test plans while what they are computed from is unchanged.

Both refit ridge many times on synthetic data built from a round's fitted world, so they cost more than the
models themselves. Their tables are kept in `.prism-cache/` with a key: a hash of everything they read
(the weekly data, the config sections ridge uses, the round's results and, for the plans, the audit they
label from), and of the code that computes them. A later round, a resumed loop or a repeated `prism
compare` whose key matches copies the kept table into results/ (with its round updated) instead of
refitting. Anything that moves the key recomputes: a Tuner change that touches ridge's settings or the
data, a rerun model whose draws moved, a new lift test, a new Prism version.
"""

from __future__ import annotations

import inspect
import json
from typing import Any, Callable

from prism.schemas import Results
from prism.workspace import Workspace, digest, read_csv, stable, write_csv, write_text

# config sections no refit of the audit or the test plans reads: changing them keeps the cached tables
NOT_READ_BY_REFITS = ("pymc", "lightweight_mmm", "timeouts", "agents", "models")


def _code(*functions: Callable) -> str:
    """The source of the modules that compute a table: a code change invalidates what they computed."""
    return digest(*(inspect.getsource(inspect.getmodule(f)) for f in functions))


def refit_key(ws: Workspace, res: Results, models: list[str], *code: Callable) -> str:
    """What refits of a round's fitted world read: the data, the config sections ridge uses, the knowledge
    layer, the results of `models` (without timings or the round number) and the code."""
    config = json.loads(ws.config.read_text(encoding="utf-8"))
    for section in NOT_READ_BY_REFITS:
        config.pop(section, None)
    knowledge = json.loads(ws.metadata.read_text(encoding="utf-8")).get("knowledge") if ws.metadata.exists() else None
    fits = {m: stable(res.models[m].model_dump(mode="json")) for m in models}
    return digest(res.data_hash, config, knowledge, fits, _code(*code))


def combined(*keys: str) -> str:
    """One key for a step that reads what other keyed steps computed (the plans read the audit's verdicts)."""
    return digest(*keys)


def cached_table(ws: Workspace, name: str, key: str, round_no: int, compute: Callable[[], Any]) -> bool:
    """results/`name` from the cache when `key` matches its kept copy, else `compute()` writes it and it is
    kept. True when the cache answered."""
    kept, kept_key, target = ws.cache_dir / name, ws.cache_dir / f"{name}.key", ws.result(name)
    if kept.exists() and kept_key.exists() and kept_key.read_text(encoding="utf-8") == key:
        table = read_csv(kept)
        if "round" in table:
            table["round"] = round_no
        write_csv(target, table)
        return True
    compute()
    if target.exists():
        ws.cache_dir.mkdir(exist_ok=True)
        write_text(kept, target.read_text(encoding="utf-8"))
        write_text(kept_key, key)
    return False

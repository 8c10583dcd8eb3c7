"""The knowledge layer without Notion: `knowledge/fields.csv`, `context.yaml`, `issues.csv`, `experiments.csv`.

Read and validated like data: a bad value is one line naming the file, row, column and value (exit 2).
Field definitions come through the data dictionary's reader (fields.csv preferred, data_dictionary.csv
still accepted). `export` writes the same files from metadata.json, so a Notion pull can be frozen locally.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from prism.data.dictionary import find_dictionary, read_dictionary
from prism.errors import InputError
from prism.knowledge.tables import (
    CONTEXT, EXPERIMENT_COLUMNS, EXPERIMENTS, FIELD_COLUMNS, FIELDS, ISSUE_COLUMNS, ISSUES, Table, context_from_mapping,
    experiment_from_row, issue_from_row, records,
)
from prism.schemas import BusinessContext, Config, Knowledge
from prism.workspace import Workspace, refuse_large, restore_formulas, write_csv, write_text

LOCAL_SOURCE = "local"


def read_local(ws: Workspace, cfg: Config) -> Knowledge:
    """Everything the local files say (files that are absent contribute nothing)."""
    d = cfg.data
    dict_path = find_dictionary(d.dictionary, d.path if d.source != "gsheet" else None, ws.root)
    fields = read_dictionary(dict_path).fields if dict_path else {}
    folder = ws.knowledge_dir
    notes: list[str] = []
    issues = records(_rows(folder / ISSUES.file, ISSUES, notes), issue_from_row, _where(folder / ISSUES.file))
    experiments = records(_rows(folder / EXPERIMENTS.file, EXPERIMENTS, notes), experiment_from_row,
                          _where(folder / EXPERIMENTS.file))
    where = [str(dict_path)] if dict_path else []
    where += [str(folder / t.file) for t in (CONTEXT, ISSUES, EXPERIMENTS) if (folder / t.file).is_file()]
    return Knowledge(source=f"{LOCAL_SOURCE}: {', '.join(where)}" if where else None,
                     pulled_at=datetime.now(timezone.utc), fields=fields,
                     business_context=read_context(folder / CONTEXT.file, notes),
                     known_issues=issues, experiments=experiments, notes=notes)


def _where(path: Path):
    return lambda i: f"{path}: row {i}"


def _rows(path: Path, table: Table, notes: list[str]) -> list[dict[str, Any]]:
    """The CSV's rows as text (empty cells as ''); unknown headers become a note."""
    if not path.is_file():
        return []
    refuse_large(path)
    try:
        frame = restore_formulas(pd.read_csv(path, dtype=str, keep_default_na=False))
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    unknown = table.unknown(list(frame.columns))
    if unknown:
        notes.append(f"{path}: column(s) not used: {', '.join(unknown)}")
    return frame.to_dict("records")


class _NoAliasLoader(yaml.SafeLoader):
    """YAML without aliases: nested `&a`/`*a` references expand exponentially (377 bytes took all memory), and a
    business context of a few keys never needs one."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            mark = self.peek_event().start_mark
            raise yaml.composer.ComposerError(None, None, "an alias (*name) is not allowed; write the value out",
                                              mark)
        return super().compose_node(parent, index)


def read_context(path: Path, notes: list[str]) -> BusinessContext:
    """context.yaml: a mapping of brand, market, currency, seasonality_notes, typical_media_share, purchase_cycle."""
    if not path.is_file():
        return BusinessContext()
    refuse_large(path)
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_NoAliasLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark else ""
        raise InputError(f"{path}:{line} not valid YAML ({getattr(exc, 'problem', None) or exc})") from None
    if raw is None:
        return BusinessContext()
    if not isinstance(raw, dict):
        raise InputError(f"{path}: must be a mapping of key: value (found {type(raw).__name__})")
    unknown = CONTEXT.unknown([str(k) for k in raw])
    if unknown:
        notes.append(f"{path}: key(s) not used: {', '.join(unknown)}")
    return context_from_mapping({str(k): v for k, v in raw.items()}, str(path))


def export(ws: Workspace, knowledge: Knowledge, force: bool = False) -> list[Path]:
    """Write the four local files from `knowledge`; existing files are kept unless `force`."""
    folder = ws.knowledge_dir
    paths = [folder / t.file for t in (FIELDS, CONTEXT, ISSUES, EXPERIMENTS)]
    existing = [str(p) for p in paths if p.exists()]
    if existing and not force:
        raise InputError(f"{', '.join(existing)}: already exist(s); pass --force to overwrite")
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(paths[0], _frame([f.model_dump() for f in knowledge.fields.values()], FIELD_COLUMNS))
    context = knowledge.business_context.model_dump(exclude_none=True)
    write_text(paths[1], yaml.safe_dump(context, sort_keys=False, allow_unicode=True) if context else "{}\n")
    write_csv(paths[2], _frame([i.model_dump() for i in knowledge.known_issues], ISSUE_COLUMNS))
    write_csv(paths[3], _frame([e.model_dump() for e in knowledge.experiments], EXPERIMENT_COLUMNS))
    return paths


def _frame(rows: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{c: r.get(c) for c in columns} for r in rows], columns=columns)

"""The one reader of field definitions: `knowledge/fields.csv` (preferred) or the older `data_dictionary.csv`.

Columns: column, label, role, unit, description, expected_roi_min, expected_roi_max, adstock_decay.
Labels name columns in reports; a role given here is a hint discover trusts over its own guess (but below
`--kpi/--channels/...` on the command line). The numeric columns are the knowledge layer's benchmarks:
expected ROI ranges become the models' ROI priors, decays the adstock priors' centres. Notion's Field
Definitions rows go through the same `field_from_row`, so a header is recognised the same way everywhere.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from prism.data.sources import SourceSpec, load_source
from prism.errors import InputError
from prism.schemas import FieldDefinition
from prism.workspace import refuse_large, restore_formulas

DICTIONARY_FILE = "data_dictionary.csv"
FIELDS_FILE = "fields.csv"
KNOWLEDGE_DIR = "knowledge"
FIELD_KEYS = ("column", "label", "role", "unit", "description", "expected_roi_min", "expected_roi_max",
              "adstock_decay")
HEADER_ALIASES = {"field": "column", "name": "column", "column_name": "column", "definition": "description",
                  "type": "role", "business_label": "label", "expected_roi_low": "expected_roi_min",
                  "expected_roi_high": "expected_roi_max", "roi_min": "expected_roi_min", "roi_max": "expected_roi_max",
                  "adstock_decay_benchmark": "adstock_decay", "decay_benchmark": "adstock_decay",
                  "decay": "adstock_decay"}
ROLE_ALIASES = {"date": "date", "kpi": "kpi", "target": "kpi", "outcome": "kpi", "channel": "channel",
                "spend": "channel", "media": "channel", "control": "control", "event": "event", "events": "event",
                "holiday": "event", "season": "event", "exposure": "exposure", "impressions": "exposure",
                "clicks": "exposure", "entity": "entity",
                "market": "market", "geo": "market", "region": "market", "ignore": "ignored", "ignored": "ignored"}
NUMERIC_FIELDS = ("expected_roi_min", "expected_roi_max", "adstock_decay")


@dataclass
class Dictionary:
    """What a data dictionary says: per-column definitions and the role hints among them."""

    path: str
    fields: dict[str, FieldDefinition] = field(default_factory=dict)

    @property
    def labels(self) -> dict[str, str]:
        return {c: f.label for c, f in self.fields.items() if f.label}

    @property
    def roles(self) -> dict[str, str]:
        return {c: f.role for c, f in self.fields.items() if f.role}


def find_dictionary(explicit: str | None, data_path: str | None, workspace: Path) -> Path | None:
    """The field definitions to import: the file named, else `knowledge/fields.csv`, else `data_dictionary.csv`
    in the workspace or beside the data."""
    if explicit:
        path = Path(explicit).expanduser()
        path = path if path.is_absolute() else workspace / path
        if not path.is_file():
            raise InputError(f"{path}: data dictionary not found")
        return path.resolve()
    candidates = [workspace / KNOWLEDGE_DIR / FIELDS_FILE, workspace / DICTIONARY_FILE]
    if data_path and "://" not in data_path:
        candidates.append(Path(data_path).expanduser().resolve().parent / DICTIONARY_FILE)
    return next((p.resolve() for p in candidates if p.is_file()), None)


def read_dictionary(path: Path) -> Dictionary:
    """Parse fields.csv / data_dictionary.csv; a missing `column` header or a bad value names the file and row."""
    refuse_large(path)
    frame = restore_formulas(load_source(SourceSpec(source="csv", path=str(path)), path.parent).frame)
    frame.columns = [canonical_header(c, HEADER_ALIASES) for c in frame.columns]
    if "column" not in frame.columns:
        raise InputError(f"{path}: needs a 'column' header (found {', '.join(frame.columns)})")
    fields: dict[str, FieldDefinition] = {}
    for i, row in enumerate(frame.to_dict("records"), start=1):
        definition = field_from_row(row, f"{path}: row {i}")
        if definition:
            fields[definition.column] = definition
    return Dictionary(path=str(path), fields=fields)


def field_from_row(row: dict[str, Any], where: str) -> FieldDefinition | None:
    """One field definition from a row keyed by canonical names; None for a row without a column name."""
    col = text(row.get("column"))
    if not col:
        return None
    values = {"column": col, "label": text(row.get("label")), "role": _role(row.get("role"), where),
              "unit": text(row.get("unit")), "description": text(row.get("description")),
              **{k: number(row.get(k), k, where) for k in NUMERIC_FIELDS if k in row}}
    return validated(FieldDefinition, values, where)


def validated(model: type, values: dict[str, Any], where: str) -> Any:
    """`model(**values)`, a failed check as bad input naming where, the column and the value."""
    try:
        return model(**values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = str(err["loc"][0]) if err["loc"] else ""
        shown = f" {values.get(key)!r}" if key else ""
        raise InputError(f"{where} column '{key or '(row)'}':{shown} {err['msg']}") from None


def canonical_header(name: object, aliases: dict[str, str]) -> str:
    """`Expected ROI min` → `expected_roi_min`: lower case, words joined by underscores, then the alias table."""
    key = re.sub(r"[^0-9a-z]+", "_", str(name).strip().lower()).strip("_")
    return aliases.get(key, key)


def text(value: object) -> str | None:
    """A trimmed string, None for empty or missing."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    out = str(value).strip()
    return out or None


def _role(value: object, where: str) -> str | None:
    got = text(value)
    if got is None:
        return None
    role = ROLE_ALIASES.get(got.lower())
    if role is None:
        raise InputError(f"{where} column 'role': unknown role {got!r}; use one of "
                         f"{', '.join(sorted(set(ROLE_ALIASES.values())))}")
    return role


def number(value: object, key: str, where: str) -> float | None:
    """A finite float, None for empty; anything else (text, nan, inf) is bad input naming where and the column."""
    if text(value) is None:
        return None
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{where} column '{key}': {value!r} is not a number") from None
    if not math.isfinite(out):  # 'nan' passed, was copied into the workspace and failed every later run
        raise InputError(f"{where} column '{key}': {value!r} is not a finite number")
    return out

"""Import an optional `data_dictionary.csv` (column, label, role, unit, description) into the knowledge layer.

Labels name columns in reports; a role given here is a hint discover trusts over its own guess (but below
`--kpi/--channels/...` on the command line). Extra numeric columns `expected_roi_min`, `expected_roi_max`
and `adstock_decay` are kept as field knowledge for the Tuner and the Bayesian priors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prism.data.sources import SourceSpec, load_source
from prism.errors import InputError
from prism.schemas import FieldDefinition

DICTIONARY_FILE = "data_dictionary.csv"
HEADER_ALIASES = {"field": "column", "name": "column", "column_name": "column", "definition": "description",
                  "type": "role"}
ROLE_ALIASES = {"date": "date", "kpi": "kpi", "target": "kpi", "outcome": "kpi", "channel": "channel",
                "spend": "channel", "media": "channel", "control": "control", "event": "event", "events": "event",
                "holiday": "event", "season": "event", "exposure": "exposure", "impressions": "exposure",
                "clicks": "exposure", "entity": "entity", "ignore": "ignored", "ignored": "ignored"}
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
    """The dictionary to import: the one named, else `data_dictionary.csv` in the workspace or beside the data."""
    if explicit:
        path = Path(explicit).expanduser()
        path = path if path.is_absolute() else workspace / path
        if not path.is_file():
            raise InputError(f"{path}: data dictionary not found")
        return path.resolve()
    candidates = [workspace / DICTIONARY_FILE]
    if data_path and "://" not in data_path:
        candidates.append(Path(data_path).expanduser().resolve().parent / DICTIONARY_FILE)
    return next((p.resolve() for p in candidates if p.is_file()), None)


def read_dictionary(path: Path) -> Dictionary:
    """Parse the dictionary; a missing `column` header or an unknown role names the file and row."""
    frame = load_source(SourceSpec(source="csv", path=str(path)), path.parent).frame
    frame.columns = [HEADER_ALIASES.get(c.strip().lower(), c.strip().lower()) for c in frame.columns]
    if "column" not in frame.columns:
        raise InputError(f"{path}: needs a 'column' header (found {', '.join(frame.columns)})")
    fields: dict[str, FieldDefinition] = {}
    for i, row in enumerate(frame.to_dict("records"), start=1):
        col = _text(row.get("column"))
        if not col:
            continue
        fields[col] = FieldDefinition(
            column=col, label=_text(row.get("label")), role=_role(row.get("role"), path, i),
            unit=_text(row.get("unit")), description=_text(row.get("description")),
            **{k: _number(row.get(k), k, path, i) for k in NUMERIC_FIELDS if k in row},
        )
    return Dictionary(path=str(path), fields=fields)


def _text(value: object) -> str | None:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    text = str(value).strip()
    return text or None


def _role(value: object, path: Path, row: int) -> str | None:
    text = _text(value)
    if text is None:
        return None
    role = ROLE_ALIASES.get(text.lower())
    if role is None:
        raise InputError(f"{path}: row {row} column 'role': unknown role {text!r}; use one of "
                         f"{', '.join(sorted(ROLE_ALIASES))}")
    return role


def _number(value: object, key: str, path: Path, row: int) -> float | None:
    if _text(value) is None:
        return None
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InputError(f"{path}: row {row} column '{key}': {value!r} is not a number") from None

"""The four knowledge tables: their columns, the header names they answer to, and row → record conversion.

Local files and Notion rows go through the same conversion, so a column is recognised (and a value
checked) the same way wherever it comes from. Field definitions reuse the data dictionary's reader
(`prism.data.dictionary.field_from_row`): there is one definition of what a field row means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import pandas as pd

from prism.data.dictionary import FIELD_KEYS, HEADER_ALIASES, canonical_header, field_from_row, number, text, validated
from prism.errors import InputError
from prism.schemas import BusinessContext, Experiment, KnownIssue

PERIOD_SEPARATORS = ("..", "/", " to ")
SEVERITY_ALIASES = {"critical": "high", "major": "high", "high": "high", "medium": "medium", "moderate": "medium",
                    "minor": "low", "low": "low"}
# Notion's percent-formatted numbers arrive as fractions: a share at or below 1 is read as a fraction.
SHARE_FRACTION_MAX = 1.0
PERCENT = 100.0


@dataclass(frozen=True)
class Table:
    """One knowledge table: its key in config.json, Notion title, local file and columns.

    `columns` maps each canonical column to its Notion property type (the first is the title column);
    `aliases` maps other normalised header names onto canonical ones.
    """

    key: str
    title: str
    file: str
    columns: dict[str, str]
    aliases: dict[str, str]

    def canonical(self, header: object) -> str:
        return canonical_header(header, self.aliases)

    def unknown(self, headers: list[str]) -> list[str]:
        """Headers that map to no column of this table (reported, never silently used)."""
        known = set(self.columns) | {"period", "start", "end", "key", "value", "name"}
        return [h for h in headers if self.canonical(h) not in known]


FIELDS = Table("fields", "Field Definitions", "fields.csv", {
    "column": "title", "label": "rich_text", "role": "select", "unit": "rich_text", "expected_roi_min": "number",
    "expected_roi_max": "number", "adstock_decay": "number", "description": "rich_text"}, HEADER_ALIASES)
CONTEXT = Table("context", "Business Context", "context.yaml", {
    "brand": "title", "market": "rich_text", "currency": "rich_text", "seasonality_notes": "rich_text",
    "typical_media_share": "number", "purchase_cycle": "rich_text"},
    {"seasonality": "seasonality_notes", "media_share": "typical_media_share",
     "typical_media_share_pct": "typical_media_share", "cycle": "purchase_cycle", "country": "market"})
ISSUES = Table("issues", "Known Issues", "issues.csv", {
    "issue": "title", "column": "rich_text", "period": "date", "severity": "select", "action": "rich_text"},
    {"description": "issue", "title": "issue", "field": "column", "affected_column": "column",
     "recommended_action": "action", "from": "start", "to": "end", "weeks": "period"})
EXPERIMENTS = Table("experiments", "Experiments", "experiments.csv", {
    "channel": "title", "start": "date", "end": "date", "spend": "number", "incremental_kpi": "number",
    "incremental_kpi_se": "number"},
    {"lift": "incremental_kpi", "incremental_revenue": "incremental_kpi", "se": "incremental_kpi_se",
     "lift_se": "incremental_kpi_se", "standard_error": "incremental_kpi_se"})
TABLES = (FIELDS, CONTEXT, ISSUES, EXPERIMENTS)
ISSUE_COLUMNS = ["issue", "column", "start", "end", "severity", "action"]
EXPERIMENT_COLUMNS = list(EXPERIMENTS.columns)
FIELD_COLUMNS = list(FIELD_KEYS)


def canonical_row(table: Table, row: dict[str, Any]) -> dict[str, Any]:
    return {table.canonical(k): v for k, v in row.items()}


def iso_date(value: object, key: str, where: str) -> str | None:
    """An ISO date (YYYY-MM-DD) from any date-like text; bad input names where, the column and the value."""
    got = text(value)
    if got is None:
        return None
    try:
        return pd.Timestamp(got).date().isoformat()
    except (ValueError, TypeError):
        raise InputError(f"{where} column '{key}': {got!r} is not a date") from None


def period(row: dict[str, Any], where: str) -> tuple[str | None, str | None]:
    """(start, end) from `start`/`end` columns or one `period` ("2024-03-04/2024-03-25", "A..B", "A to B")."""
    start, end = row.get("start"), row.get("end")
    span = text(row.get("period"))
    if span and start is None and end is None:
        parts = next((span.split(sep, 1) for sep in PERIOD_SEPARATORS if sep in span), [span, span])
        start, end = parts[0], parts[1]
    key = "period" if span else "start"
    first, last = iso_date(start, key, where), iso_date(end, "period" if span else "end", where)
    if first and last and last < first:
        raise InputError(f"{where} column '{key}': ends {last} before it starts {first}")
    return first, last or first


def _dated_row(table: Table, row: dict[str, Any], where: str) -> dict[str, Any] | None:
    """The row under canonical names with its period as start/end; None when its title column is empty."""
    row = canonical_row(table, row)
    key = next(iter(table.columns))
    if not text(row.get(key)):
        return None
    start, end = period(row, where)
    return {**row, key: text(row[key]), "start": start, "end": end}


def issue_from_row(row: dict[str, Any], where: str) -> KnownIssue | None:
    row = _dated_row(ISSUES, row, where)
    if row is None:
        return None
    severity = text(row.get("severity"))
    level = SEVERITY_ALIASES.get(severity.lower()) if severity else "medium"
    if level is None:
        raise InputError(f"{where} column 'severity': unknown severity {severity!r}; use high, medium or low")
    return validated(KnownIssue, {"issue": row["issue"], "column": text(row.get("column")), "start": row["start"],
                                  "end": row["end"], "severity": level, "action": text(row.get("action"))}, where)


def experiment_from_row(row: dict[str, Any], where: str) -> Experiment | None:
    row = _dated_row(EXPERIMENTS, row, where)
    if row is None:
        return None
    values: dict[str, Any] = {"channel": row["channel"], "start": row["start"], "end": row["end"]}
    for key in ("spend", "incremental_kpi", "incremental_kpi_se"):
        values[key] = number(row.get(key), key, where)
        if values[key] is None:
            raise InputError(f"{where} column '{key}': missing (an experiment needs {', '.join(EXPERIMENT_COLUMNS)})")
    if row["start"] is None:
        raise InputError(f"{where} column 'start': missing (an experiment needs its dates)")
    return validated(Experiment, values, where)


def context_from_mapping(mapping: dict[str, Any], where: str) -> BusinessContext:
    """Business context from key → value; the media share may be a percent (35) or a fraction (0.35)."""
    values = {CONTEXT.canonical(k): v for k, v in mapping.items() if text(v) is not None}
    share = number(values.get("typical_media_share"), "typical_media_share", where)
    if share is not None:
        values["typical_media_share"] = share * PERCENT if share <= SHARE_FRACTION_MAX else share
    if values.get("currency"):
        values["currency"] = str(values["currency"]).strip().upper()
    out = {k: (v if k == "typical_media_share" else str(v).strip()) for k, v in values.items()}
    return validated(BusinessContext, out, where)


def context_from_rows(rows: list[dict[str, Any]], where: str) -> BusinessContext:
    """A context table is either one row with a column per key, or key/value rows."""
    canon = [canonical_row(CONTEXT, r) for r in rows]
    if canon and all("key" in r and "value" in r for r in canon):
        return context_from_mapping({r["key"]: r["value"] for r in canon if text(r.get("key"))}, where)
    return context_from_mapping(canon[0] if canon else {}, f"{where}: row 1")


def records(rows: list[dict[str, Any]], build: Callable[[dict[str, Any], str], Any],
            where: Callable[[int], str]) -> list[Any]:
    """Every row through `build` (rows it returns None for are blank and skipped)."""
    return [r for i, row in enumerate(rows, start=1) if (r := build(row, where(i))) is not None]


def field_record(row: dict[str, Any], where: str):
    return field_from_row(canonical_row(FIELDS, row), where)

"""Notion as a knowledge source, through the official `notion-client` (API version 2025-09-03: data sources).

A database holds one or more data sources; its rows are pages queried with `data_sources.query`. Each
of the four tables is found by the id config.json gives (a database id; a data source id also works) or
else by its title among the data sources shared with the integration (`search`), never by a built-in id.
Pagination follows `next_cursor`; a 429 is retried by the client after its Retry-After.

The token comes from NOTION_TOKEN and is given only to the client: no message, note or file Prism
writes contains it (`NotionUnavailable` messages are scrubbed), and the client's own request log goes
to a silent logger. A row Notion returns in a shape Prism cannot read becomes a note, never a crash.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import httpx
from notion_client import Client
from notion_client.client import ClientOptions, RetryOptions
from notion_client.errors import APIErrorCode, HTTPResponseError, NotionClientErrorBase
from notion_client.helpers import iterate_paginated_api

from prism.errors import InputError
from prism.knowledge.tables import (
    CONTEXT, EXPERIMENTS, FIELDS, ISSUES, TABLES, Table, context_from_rows, experiment_from_row, field_record,
    issue_from_row,
)
from prism.schemas import BusinessContext, FieldDefinition, Knowledge, KnowledgeConfig

TOKEN_ENV = "NOTION_TOKEN"
BASE_URL_ENV = "PRISM_NOTION_BASE_URL"  # a proxy or a test server; unset = api.notion.com
NOTION_SOURCE = "notion"
TIMEOUT_MS = 20_000
MAX_RETRIES = 3
PAGE_SIZE = 100
ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
SHARE_STEP = ("open each database (or the page that holds them) in Notion, choose ••• → Connections and add "
              "the integration")
DISPLAY = {"expected_roi_min": "Expected ROI min", "expected_roi_max": "Expected ROI max",
           "adstock_decay": "Adstock decay benchmark", "incremental_kpi": "Incremental KPI",
           "incremental_kpi_se": "Incremental KPI SE", "action": "Recommended action"}
SELECT_OPTIONS = {"role": ["date", "kpi", "channel", "control", "entity", "ignored"],
                  "severity": ["high", "medium", "low"]}
TEXT_TYPES = ("title", "rich_text")
PLAIN_TYPES = ("number", "checkbox", "url", "email", "phone_number")


class NotionUnavailable(Exception):
    """The pull failed as a whole (no network, 401, 5xx, nothing shared): the last good knowledge stays."""


def token() -> str:
    """NOTION_TOKEN from the environment; its absence is bad input for the commands that need it."""
    value = os.environ.get(TOKEN_ENV, "").strip()
    if not value:
        raise NotionUnavailable(f"{TOKEN_ENV} is not set: create an internal integration at "
                                f"notion.so/my-integrations, export its secret as {TOKEN_ENV}, and {SHARE_STEP}")
    return value


CLIENT_LOG = logging.getLogger("prism.knowledge.notion.client")  # the client logs request failures: kept silent
CLIENT_LOG.addHandler(logging.NullHandler())
CLIENT_LOG.propagate = False


def connect(secret: str) -> Client:
    base = os.environ.get(BASE_URL_ENV) or ClientOptions.base_url
    return Client(options=ClientOptions(auth=secret, base_url=base.rstrip("/"), timeout_ms=TIMEOUT_MS,
                                        logger=CLIENT_LOG, retry=RetryOptions(max_retries=MAX_RETRIES)))


def display(key: str) -> str:
    """The Notion property name Prism creates for a canonical column."""
    return DISPLAY.get(key, key.replace("_", " ").capitalize())


def explain(exc: Exception, secret: str) -> NotionUnavailable:
    """One line saying what went wrong and what to do, with the token scrubbed out."""
    if isinstance(exc, HTTPResponseError):
        code, status = str(getattr(exc.code, "value", exc.code)), exc.status
        if code == APIErrorCode.Unauthorized.value or status == 401:
            why = f"Notion refused the token in {TOKEN_ENV} (401 unauthorized): check the secret, then {SHARE_STEP}"
        elif code in (APIErrorCode.ObjectNotFound.value, APIErrorCode.RestrictedResource.value):
            why = f"Notion: {exc} ({status}); {SHARE_STEP}"
        elif code == APIErrorCode.RateLimited.value:
            why = f"Notion kept rate-limiting the requests (429) after {MAX_RETRIES} retries"
        else:
            why = f"Notion answered {status} {code}: {exc}"
    elif isinstance(exc, httpx.HTTPError):
        why = f"cannot reach Notion ({type(exc).__name__}: {exc})"
    else:
        why = f"Notion request failed ({type(exc).__name__}: {exc})"
    return NotionUnavailable(why.replace(secret, "***") if secret else why)


# ------------------------------------------------------------------------------------------- reading


def property_value(prop: Any) -> Any:
    """The plain value of one page property (text, number, bool, ISO date or 'start/end'); ValueError if malformed."""
    if not isinstance(prop, dict) or "type" not in prop:
        raise ValueError("not a property object")
    kind = prop["type"]
    value = prop.get(kind)
    if kind in TEXT_TYPES:
        return "".join(p.get("plain_text") or p.get("text", {}).get("content", "") for p in value or []) or None
    if kind in ("select", "status"):
        return value.get("name") if value else None
    if kind == "multi_select":
        return ", ".join(v["name"] for v in value or []) or None
    if kind == "date":
        return (f"{value['start']}/{value['end']}" if value.get("end") else value["start"]) if value else None
    if kind in PLAIN_TYPES:
        return value
    if kind == "formula":
        return property_value(value) if value else None
    if kind in ("string", "boolean"):  # inside a formula
        return value
    raise ValueError(f"property type '{kind}' is not read")


def page_row(page: dict[str, Any], where: str, notes: list[str], used: set[str]) -> dict[str, Any]:
    """{property name: value} of one row's `used` properties; one Prism cannot read is a note and left out."""
    row: dict[str, Any] = {}
    for name, prop in (page.get("properties") or {}).items():
        if name not in used:
            continue
        try:
            row[name] = property_value(prop)
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            notes.append(f"{where} property '{name}': {exc}; left out")
    return row


def _search(client: Client, title: str) -> Iterator[dict[str, Any]]:
    return iterate_paginated_api(client.search, query=title, page_size=PAGE_SIZE,
                                 filter={"property": "object", "value": "data_source"})


def _title(obj: dict[str, Any]) -> str:
    return "".join(t.get("plain_text", "") for t in obj.get("title") or []).strip()


def locate(client: Client, ref: str | None, table: Table, notes: list[str]) -> str | None:
    """The data source id of a table: by the id or title config.json gives, else by the table's title."""
    compact = (ref or "").replace("-", "").lower()
    if ID_PATTERN.match(compact):
        return _source_of(client, compact, table, notes)
    title = ref or table.title
    found = [r for r in _search(client, title) if _title(r).lower() == title.lower()]
    if len(found) > 1:
        notes.append(f"Notion: {len(found)} databases titled '{title}'; reading the first (set its id in "
                     f"config.json knowledge.databases.{table.key})")
    return found[0]["id"] if found else None


def _source_of(client: Client, some_id: str, table: Table, notes: list[str]) -> str | None:
    """A configured id may name the database or one of its data sources."""
    try:
        db = client.databases.retrieve(database_id=some_id)
    except HTTPResponseError as exc:
        if str(getattr(exc.code, "value", exc.code)) != APIErrorCode.ObjectNotFound.value:
            raise
        return client.data_sources.retrieve(data_source_id=some_id)["id"]
    sources = db.get("data_sources") or []
    if len(sources) > 1:
        notes.append(f"Notion '{table.title}': {len(sources)} data sources; reading the first")
    return sources[0]["id"] if sources else None


def read_rows(client: Client, source_id: str, table: Table, notes: list[str]) -> list[dict[str, Any]]:
    """Every row of a data source, keyed by property name; unknown and missing columns become notes."""
    schema = client.data_sources.retrieve(data_source_id=source_id).get("properties") or {}
    unknown = table.unknown(list(schema))
    if unknown:
        notes.append(f"Notion '{table.title}': column(s) not used: {', '.join(unknown)}")
    seen = {table.canonical(n) for n in schema}
    first = next(iter(table.columns))
    if first not in seen:
        notes.append(f"Notion '{table.title}': no '{display(first)}' column (found {', '.join(schema) or 'none'})")
    pages = iterate_paginated_api(client.data_sources.query, data_source_id=source_id, page_size=PAGE_SIZE)
    used = set(schema) - set(unknown)
    return [page_row(p, f"Notion '{table.title}' row {i}", notes, used) for i, p in enumerate(pages, start=1)]


def _convert(rows: list[dict[str, Any]], build: Callable[[dict[str, Any], str], Any], table: Table,
             notes: list[str]) -> list[Any]:
    """Rows → records; a row with a bad value is a note (Notion never stops discover), not an error."""
    out = []
    for i, row in enumerate(rows, start=1):
        try:
            record = build(row, f"Notion '{table.title}' row {i}")
        except InputError as exc:
            notes.append(f"{exc}; row skipped")
            continue
        if record is not None:
            out.append(record)
    return out


def pull(settings: KnowledgeConfig) -> Knowledge:
    """The four databases as a Knowledge; raises NotionUnavailable when nothing could be read."""
    secret = token()
    notes: list[str] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    client = connect(secret)
    try:
        for table in TABLES:
            source = locate(client, settings.databases.get(table.key), table, notes)
            if source is None:
                notes.append(f"Notion: no database '{settings.databases.get(table.key) or table.title}' is shared "
                             f"with the integration")
                continue
            rows[table.key] = read_rows(client, source, table, notes)
    except (NotionClientErrorBase, httpx.HTTPError) as exc:
        raise explain(exc, secret) from None
    finally:
        client.close()
    if not rows:
        raise NotionUnavailable(f"none of the databases {', '.join(repr(t.title) for t in TABLES)} is shared with "
                                f"the integration: {SHARE_STEP}")
    return _knowledge(rows, notes)


def _knowledge(rows: dict[str, list[dict[str, Any]]], notes: list[str]) -> Knowledge:
    fields = _convert(rows.get(FIELDS.key, []), field_record, FIELDS, notes)
    context_rows = rows.get(CONTEXT.key, [])
    try:
        context = context_from_rows(context_rows, f"Notion '{CONTEXT.title}'")
    except InputError as exc:
        notes.append(f"{exc}; business context left empty")
        context = BusinessContext()
    return Knowledge(
        source=NOTION_SOURCE, pulled_at=datetime.now(timezone.utc), fields={f.column: f for f in fields},
        business_context=context, known_issues=_convert(rows.get(ISSUES.key, []), issue_from_row, ISSUES, notes),
        experiments=_convert(rows.get(EXPERIMENTS.key, []), experiment_from_row, EXPERIMENTS, notes), notes=notes)


# ------------------------------------------------------------------------------------------- creating


def _schema(table: Table) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, kind in table.columns.items():
        spec: dict[str, Any] = {}
        if kind == "select":
            spec = {"options": [{"name": o} for o in SELECT_OPTIONS.get(key, [])]}
        elif kind == "number":
            spec = {"format": "number"}
        out[display(key)] = {kind: spec}
    return out


def _cell(kind: str, value: Any) -> dict[str, Any]:
    if kind in TEXT_TYPES:
        return {kind: [{"type": "text", "text": {"content": str(value)}}]}
    if kind == "select":
        return {"select": {"name": str(value)}}
    return {kind: value}


def _field_page(definition: FieldDefinition) -> dict[str, Any]:
    values = definition.model_dump()
    return {display(k): _cell(kind, values[k]) for k, kind in FIELDS.columns.items() if values.get(k) is not None}


def create_databases(parent_page: str, fields: list[FieldDefinition]) -> dict[str, str]:
    """Create the four databases under `parent_page` and fill Field Definitions; returns table key → database id."""
    secret = token()
    client = connect(secret)
    ids: dict[str, str] = {}
    try:
        for table in TABLES:
            db = client.databases.create(
                parent={"type": "page_id", "page_id": parent_page},
                title=[{"type": "text", "text": {"content": table.title}}],
                initial_data_source={"properties": _schema(table)})
            ids[table.key] = db["id"]
            if table is FIELDS:
                source = db["data_sources"][0]["id"]
                for definition in fields:
                    client.pages.create(parent={"type": "data_source_id", "data_source_id": source},
                                        properties=_field_page(definition))
    except (NotionClientErrorBase, httpx.HTTPError) as exc:
        raise explain(exc, secret) from None
    finally:
        client.close()
    return ids

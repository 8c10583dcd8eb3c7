"""A small Notion API (version 2025-09-03, data sources) on 127.0.0.1, for tests with the REAL `notion-client`.

Point Prism's client at it with `PRISM_NOTION_BASE_URL=server.url` (the client's `base_url` option).
Implements what Prism calls: search, databases retrieve/create, data_sources retrieve/query, pages create;
pagination with a small page size; a bearer token check (401 in Notion's error shape); scripted failures
(`fail_next`, e.g. a 429 with Retry-After, or 503s); every request is recorded with its headers and body.
"""

from __future__ import annotations

import json
import uuid
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.helpers.local_server import LocalServer

TOKEN = "secret_fake_notion_token_123"
Prop = dict[str, Any]


# ---------------------------------------------------------------------------- property values, as Notion returns them


def _rich(text: str) -> list[dict[str, Any]]:
    return [{"type": "text", "text": {"content": text, "link": None}, "plain_text": text, "href": None}]


def title(text: str) -> Prop:
    return {"type": "title", "title": _rich(text) if text else []}


def rich_text(text: str) -> Prop:
    return {"type": "rich_text", "rich_text": _rich(text) if text else []}


def select(name: str | None) -> Prop:
    return {"type": "select", "select": {"id": uuid.uuid4().hex[:4], "name": name, "color": "default"} if name
            else None}


def multi_select(*names: str) -> Prop:
    return {"type": "multi_select", "multi_select": [{"id": n[:4], "name": n, "color": "default"} for n in names]}


def number(value: float | None) -> Prop:
    return {"type": "number", "number": value}


def date(start: str | None, end: str | None = None) -> Prop:
    return {"type": "date", "date": {"start": start, "end": end, "time_zone": None} if start else None}


def checkbox(value: bool) -> Prop:
    return {"type": "checkbox", "checkbox": value}


def formula(inner: Prop) -> Prop:
    """A formula property; `inner` is e.g. number(2.5) or {"type": "string", "string": "x"}."""
    return {"type": "formula", "formula": inner}


def _from_request(prop: Prop) -> Prop:
    """A property as pages.create sends it → as Notion returns it."""
    kind = next(iter(prop))
    value = prop[kind]
    if kind in ("title", "rich_text"):
        text = "".join(p["text"]["content"] for p in value)
        return title(text) if kind == "title" else rich_text(text)
    if kind == "select":
        return select(value["name"] if value else None)
    return {"type": kind, kind: value}


# ------------------------------------------------------------------------------------------------ the server


class FakeNotion(LocalServer):
    """In-memory databases (each with one data source) behind a threaded HTTP server."""

    def __init__(self, page_size: int = 2):
        self.page_size = page_size
        self.databases: dict[str, dict[str, Any]] = {}
        self.sources: dict[str, dict[str, Any]] = {}
        self.requests: list[dict[str, Any]] = []
        self.fail_next: list[tuple[int, str, dict[str, str]]] = []
        self.down = False
        super().__init__(_handler(self))

    def add_database(self, name: str, rows: list[dict[str, Prop]], schema: dict[str, str] | None = None,
                     parent: str = "page0") -> str:
        """A database titled `name` whose data source holds `rows`; returns the database id."""
        types = dict(schema or {})
        for row in rows:
            types.update({k: v.get("type", "rich_text") for k, v in row.items() if k not in types})
        properties = {k: {"id": uuid.uuid4().hex[:4], "name": k, "type": t, t: {}} for k, t in types.items()}
        db_id, ds_id = uuid.uuid4().hex, uuid.uuid4().hex
        self.sources[ds_id] = {"object": "data_source", "id": ds_id, "title": _rich(name), "properties": properties,
                               "parent": {"type": "database_id", "database_id": db_id}, "pages": list(rows)}
        self.databases[db_id] = {"object": "database", "id": db_id, "title": _rich(name),
                                 "parent": {"type": "page_id", "page_id": parent},
                                 "data_sources": [{"id": ds_id, "name": name}]}
        return db_id

    def source_of(self, db_id: str) -> dict[str, Any]:
        return self.sources[self.databases[db_id]["data_sources"][0]["id"]]

    def calls(self, method: str, prefix: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)]

    # --------------------------------------------------------------------------------------- endpoints
    def handle(self, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        if method == "POST" and parts == ["search"]:
            return self._search(body)
        if method == "GET" and len(parts) == 2 and parts[0] == "databases":
            db = self.databases.get(parts[1].replace("-", ""))
            return (200, db) if db else _error(404, "object_not_found", f"Could not find database with ID: {parts[1]}.")
        if method == "GET" and len(parts) == 2 and parts[0] == "data_sources":
            src = self.sources.get(parts[1].replace("-", ""))
            return (200, _public(src)) if src else _error(404, "object_not_found", "Could not find data source.")
        if method == "POST" and len(parts) == 3 and parts[0] == "data_sources" and parts[2] == "query":
            src = self.sources.get(parts[1])
            if not src:
                return _error(404, "object_not_found", "Could not find data source.")
            return self._page(src["pages"], body, lambda i, props: {"object": "page", "id": f"{parts[1]}-{i}",
                                                                    "properties": props})
        if method == "POST" and parts == ["databases"]:
            return self._create_database(body)
        if method == "POST" and parts == ["pages"]:
            src = self.sources[body["parent"]["data_source_id"]]
            src["pages"].append({k: _from_request(v) for k, v in body["properties"].items()})
            return 200, {"object": "page", "id": uuid.uuid4().hex, "properties": src["pages"][-1]}
        return _error(400, "invalid_request_url", f"no route {method} {path}")

    def _search(self, body: dict[str, Any]) -> tuple[int, Any]:
        query = (body.get("query") or "").lower()
        wanted = (body.get("filter") or {}).get("value", "data_source")
        pool = self.sources.values() if wanted == "data_source" else self.databases.values()
        hits = [_public(s) for s in pool if query in "".join(t["plain_text"] for t in s["title"]).lower()]
        return self._page(hits, body, lambda i, obj: obj)

    def _page(self, items: list[Any], body: dict[str, Any], shape) -> tuple[int, Any]:
        start = int(body.get("start_cursor") or 0)
        size = min(int(body.get("page_size") or 100), self.page_size)
        chunk = items[start:start + size]
        more = start + size < len(items)
        return 200, {"object": "list", "results": [shape(start + i, x) for i, x in enumerate(chunk)],
                     "next_cursor": str(start + size) if more else None, "has_more": more}

    def _create_database(self, body: dict[str, Any]) -> tuple[int, Any]:
        name = "".join(t["text"]["content"] for t in body["title"])
        props = body.get("initial_data_source", {}).get("properties", {})
        schema = {k: next(iter(v)) for k, v in props.items()}
        db_id = self.add_database(name, [], schema, parent=body["parent"]["page_id"])
        return 200, self.databases[db_id]


def _public(src: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in src.items() if k != "pages"}


def _error(status: int, code: str, message: str) -> tuple[int, Any]:
    return status, {"object": "error", "status": status, "code": code, "message": message,
                    "request_id": "fake-request"}


def _handler(fake: FakeNotion):
    class Handler(BaseHTTPRequestHandler):
        def _serve(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}") if length else {}
            fake.requests.append({"method": method, "path": self.path, "body": body,
                                  "headers": {k.lower(): v for k, v in self.headers.items()}})
            headers: dict[str, str] = {}
            if self.headers.get("authorization") != f"Bearer {TOKEN}":
                status, payload = _error(401, "unauthorized", "API token is invalid.")
            elif fake.down:
                status, payload = _error(503, "service_unavailable", "Notion is unavailable.")
            elif fake.fail_next:
                status, code, headers = fake.fail_next.pop(0)
                payload = _error(status, code, "scripted failure")[1]
            else:
                status, payload = fake.handle(method, self.path.split("?")[0], body)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:  # noqa: N802
            self._serve("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._serve("POST")

        def log_message(self, *args: object) -> None:
            pass

    return Handler

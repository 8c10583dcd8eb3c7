"""A scripted stand-in for the Anthropic Messages API on 127.0.0.1, for tests with the REAL `anthropic` client.

Point the SDK at it with `ANTHROPIC_BASE_URL=server.url`. Each POST /v1/messages is recorded (headers and
JSON body) and answered by the next scripted step, or by `fallback(request)` once the script is used up.
Steps are plain dicts built by the helpers below, so a test reads like the conversation it expects.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from itertools import count
from typing import Any, Callable

from tests.helpers.local_server import LocalServer

Step = dict[str, Any]
_ids = count(1)

FAKE_KEY = "sk-ant-test-SECRET-0123456789"  # never a real key; tests check it is redacted


def tool_use(name: str, tool_input: dict[str, Any], text: str = "", input_tokens: int = 1200,
             output_tokens: int = 300) -> Step:
    """An assistant turn that calls `name` with `tool_input` (optionally after some text)."""
    content: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    content.append({"type": "tool_use", "id": f"toolu_{next(_ids):04d}", "name": name, "input": tool_input})
    return _message(content, "tool_use", input_tokens, output_tokens)


def text_only(text: str, input_tokens: int = 900, output_tokens: int = 120) -> Step:
    """An assistant turn with no tool call."""
    return _message([{"type": "text", "text": text}], "end_turn", input_tokens, output_tokens)


def error(status: int, kind: str, message: str, headers: dict[str, str] | None = None) -> Step:
    """An API error in Anthropic's shape: {"type": "error", "error": {"type", "message"}}."""
    body = {"type": "error", "error": {"type": kind, "message": message}, "request_id": "req_fake"}
    return {"status": status, "body": body, "headers": headers or {}}


def rate_limited(retry_after: str = "0") -> Step:
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.",
                 {"retry-after": retry_after})


def overloaded(retry_after: str | None = "0") -> Step:
    return error(529, "overloaded_error", "Overloaded", {"retry-after": retry_after} if retry_after else {})


def server_error() -> Step:
    return error(500, "api_error", "Internal server error")


def slow(step: Step, seconds: float) -> Step:
    """The same reply, sent after `seconds` (past the client's timeout in the timeout tests)."""
    return {**step, "delay": seconds}


def _message(content: list[dict[str, Any]], stop_reason: str, input_tokens: int, output_tokens: int) -> Step:
    body = {
        "id": f"msg_fake{next(_ids):04d}", "type": "message", "role": "assistant", "model": "",
        "content": content, "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }
    return {"status": 200, "body": body, "headers": {}}


class FakeAnthropic(LocalServer):
    """The server: `script` steps in order, then `fallback(request_json) -> Step` (default: a 500)."""

    def __init__(self, script: list[Step] | None = None,
                 fallback: Callable[[dict[str, Any]], Step] | None = None):
        self.script = list(script or [])
        self.fallback = fallback
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def tool_names(self) -> list[str]:
        """The tool offered in each request received, in order."""
        return [r["tools"][0]["name"] if r.get("tools") else "" for r in self.requests]

    def _next(self, request: dict[str, Any]) -> Step:
        with self._lock:
            if self.script:
                return self.script.pop(0)
        if self.fallback is not None:
            return self.fallback(request)
        return error(500, "api_error", "fake server: script exhausted")

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:  # keep test output clean
                pass

            def do_POST(self) -> None:  # noqa: N802 (http.server naming)
                length = int(self.headers.get("content-length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                if self.path.split("?")[0] != "/v1/messages":
                    return self._send(error(404, "not_found_error", f"no route {self.path}"))
                with fake._lock:
                    fake.requests.append(request)
                    fake.headers.append({k.lower(): v for k, v in self.headers.items()})
                step = fake._next(request)
                if step.get("delay"):
                    time.sleep(step["delay"])
                if step["status"] == 200:
                    step = {**step, "body": {**step["body"], "model": request.get("model", "")}}
                self._send(step)

            def _send(self, step: Step) -> None:
                data = json.dumps(step["body"]).encode()
                try:
                    self.send_response(step["status"])
                    self.send_header("content-type", "application/json")
                    self.send_header("request-id", "req_fake")
                    for key, value in step.get("headers", {}).items():
                        self.send_header(key, value)
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        return Handler

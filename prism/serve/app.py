"""The FastAPI app of `prism serve`: pages rendered on the server, JSON for the question box and the loop,
and a server-sent event stream of the loop's progress.

Safe by construction: templates autoescape and embed data only through `|tojson`; a Content-Security-Policy
allows scripts from this server only (no inline script runs, even one smuggled into a name); downloads are
looked up in a fixed list, never built from the URL; POSTs take JSON only (a form on another site cannot
send it); off the loopback address every request needs the token.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import socket
import threading
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field
from starlette.datastructures import MutableHeaders
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from prism.errors import InputError
from prism.orchestration.recording import login_name
from prism.serve import live, views
from prism.serve.asking import AskCache
from prism.workspace import Workspace

if TYPE_CHECKING:
    import uvicorn

HERE = Path(__file__).parent
LOOPBACK = ("127.0.0.1", "localhost", "::1")
TOKEN_COOKIE = "prism_token"
EVENT_POLL = 0.5  # seconds between looks at the loop's files
HEARTBEAT = 15.0  # seconds between keep-alive comments on a quiet stream
SHUTDOWN_WAIT = 2  # seconds Ctrl-C waits for open requests (the event streams end within EVENT_POLL)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
PLOTLY_JS = resources.files("plotly") / "package_data" / "plotly.min.js"


class StartLoop(BaseModel):
    rounds: int = Field(4, ge=1, le=live.MAX_ROUNDS)
    quick: bool = False
    checkpoints: bool = True


class CheckpointReply(BaseModel):
    id: str = Field(min_length=1, max_length=64)
    decision: Literal["approve", "edit", "stop"]
    who: str = Field("", max_length=80)
    edit_text: str = Field("", max_length=2_000_000)


class Guard:
    """Every request: the token when one is set (header, cookie, or the printed link's `?token=`, then kept in
    a cookie); POSTs as JSON only; the security headers on every response. Plain ASGI, so the event stream
    is passed through untouched."""

    def __init__(self, app: ASGIApp, token: str | None):
        self.app, self.token = app, token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        refused = self._refused(request)
        if refused is not None:
            await refused(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["Referrer-Policy"] = "no-referrer"
            await send(message)

        await self.app(scope, receive, with_headers)

    def _refused(self, request: Request) -> Response | None:
        if self.token is not None:
            given = (request.headers.get("x-prism-token") or request.cookies.get(TOKEN_COOKIE)
                     or request.query_params.get("token") or "")
            if not secrets.compare_digest(given.encode(), self.token.encode()):
                return JSONResponse({"error": "a valid token is needed (open the address `prism serve` printed)"},
                                    status_code=401)
            if request.query_params.get("token"):  # the printed link: the token goes into a cookie, off the URL
                response = RedirectResponse(str(request.url.remove_query_params("token")), status_code=303)
                response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="strict")
                return response
        if request.method == "POST" and request.headers.get("content-type", "").split(";")[0] != "application/json":
            return JSONResponse({"error": "send JSON"}, status_code=415)
        return None


def create_app(ws: Workspace, token: str | None = None, allowed_hosts: list[str] | None = None) -> FastAPI:
    """The app for one workspace; `token` (required off loopback) guards every request."""
    app = FastAPI(title="Prism", docs_url=None, redoc_url=None, openapi_url=None)
    templates = Jinja2Templates(directory=HERE / "templates")
    asks, starter = AskCache(ws), live.LoopStarter(ws)
    app.state.asks = asks
    closing = app.state.closing = threading.Event()  # set when the server is told to stop: streams end
    app.add_middleware(Guard, token=token)
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.exception_handler(InputError)
    async def bad_input(request: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"error": str(exc)}, status_code=409 if isinstance(exc, live.Busy) else 400)

    def page(request: Request, name: str, active: str, **context: Any) -> Response:
        return templates.TemplateResponse(request, name, {"active": active, "workspace": ws.root.name, **context})

    def results() -> Any:
        """The latest results' context, or None before a round has run (pages then say so)."""
        return asks.context() if ws.latest.exists() else None

    @app.get("/")
    def overview(request: Request) -> Response:
        return page(request, "overview.html", "overview", ov=views.overview(ws), who=login_name(),
                    live=live.snapshot(ws))

    @app.get("/channels")
    def channels(request: Request) -> Response:
        ctx = results()
        return page(request, "channels.html", "channels", rows=views.channel_rows(ctx) if ctx else [],
                    charts={"roi": views.roi_chart(ctx), "contribution": views.contribution_chart(ctx),
                            "curves": views.response_charts(ctx)} if ctx else {},
                    unit=ctx.facts.spend_unit if ctx else "")

    @app.get("/plan")
    def plan(request: Request) -> Response:
        ctx = results()
        rows = views.plan_rows(ws, ctx)
        return page(request, "plan.html", "plan", plan=rows, chart=views.plan_chart(rows),
                    tests=views.test_plan_rows(ws, ctx))

    @app.get("/report")
    def report(request: Request) -> Response:
        return page(request, "report.html", "report", body=views.report_html(ws))

    @app.get("/ask", response_model=None)
    def ask(request: Request, q: str | None = None) -> Response | dict[str, Any]:
        if q is None:
            return page(request, "ask.html", "ask", ready=ws.latest.exists())
        return asks.ask(q)

    @app.get("/download/{name}")
    def download(name: str) -> Response:
        path = views.download_path(ws, name)
        if path is None:
            return JSONResponse({"error": f"no download named '{name}' in this workspace"}, status_code=404)
        return FileResponse(path, filename=name)

    @app.get("/live")
    def live_now() -> dict[str, Any]:
        return live.snapshot(ws)

    @app.get("/events")
    async def events(request: Request) -> StreamingResponse:
        """The live panel's updates: a `data:` event whenever what the loop shows changed."""
        async def stream():
            last, quiet = None, 0.0
            while not closing.is_set() and not await request.is_disconnected():
                now = json.dumps(await asyncio.to_thread(live.snapshot, ws), sort_keys=True)
                if now != last:
                    yield f"data: {now}\n\n"
                    last, quiet = now, 0.0
                elif quiet >= HEARTBEAT:
                    yield ": keep-alive\n\n"
                    quiet = 0.0
                await asyncio.sleep(EVENT_POLL)
                quiet += EVENT_POLL

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-cache"})

    @app.post("/loop")
    def start_loop(body: StartLoop) -> dict[str, Any]:
        return {"pid": starter.start(body.rounds, body.quick, body.checkpoints)}

    @app.post("/checkpoint")
    def checkpoint(body: CheckpointReply) -> dict[str, Any]:
        reply = live.answer(ws, body.id, body.decision, body.who.strip() or login_name(), body.edit_text)
        return {"decision": reply.decision, "by": reply.by, "at": reply.at.isoformat()}

    @app.get("/static/plotly.min.js")
    def plotly_js() -> Response:
        return Response(PLOTLY_JS.read_bytes(), media_type="text/javascript",
                        headers={"Cache-Control": "max-age=86400"})

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in ("app.js", "app.css"):
            return JSONResponse({"error": "not found"}, status_code=404)
        return FileResponse(HERE / "static" / name, media_type="text/javascript" if name.endswith(".js") else "text/css")

    return app


def check_address(host: str, token: str | None) -> None:
    """Only loopback without a token: another address would show the workspace to the network."""
    if host not in LOOPBACK and not token:
        raise InputError(f"--host {host}: serving beyond this machine needs --token (or PRISM_SERVE_TOKEN); "
                         "without one, serve on 127.0.0.1")


def preflight(ws: Workspace, host: str, port: int, token: str | None) -> None:
    """Everything that can refuse the server, said in one line before it starts: the address, the folder,
    the port."""
    check_address(host, token)
    if not 0 < port < 65536:
        raise InputError(f"--port must be 1 to 65535, got {port}")
    if not ws.root.is_dir():
        raise InputError(f"{ws.root}: no such workspace folder")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(f"--host {host} --port {port}: cannot listen there ({exc.strerror or exc})") from None


def server(app: FastAPI, host: str, port: int) -> "uvicorn.Server":
    """A uvicorn server whose stop (Ctrl-C) first ends the pages' event streams, so it stops at once."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            app.state.closing.set()
            super().handle_exit(sig, frame)

    return Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                 timeout_graceful_shutdown=SHUTDOWN_WAIT))


def serve(ws: Workspace, host: str = "127.0.0.1", port: int = 8765, token: str | None = None) -> None:
    """Run the app until Ctrl-C (after `preflight`)."""
    hosts = [*LOOPBACK, "[::1]"] if host in LOOPBACK else None  # a page on another site cannot rebind to us
    app = create_app(ws, token, hosts)
    if ws.latest.exists() and (note := app.state.asks.warm()):
        print(f"note: what-if and budget questions cannot be answered yet: {note}", flush=True)
    server(app, host, port).run()

"""`prism serve`: the workspace as a local web app (prism/serve)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from prism.cli.app import WorkdirOpt, app, console


@app.command()
def serve(workdir: Path = WorkdirOpt,
          port: int = typer.Option(8765, "--port", "-p", help="Port to listen on."),
          host: str = typer.Option("127.0.0.1", "--host",
                                   help="Address to listen on; anything but loopback needs --token."),
          token: Optional[str] = typer.Option(None, "--token", envvar="PRISM_SERVE_TOKEN",
                                              help="Secret every request must carry (needed off loopback).")) -> None:
    """Serve the workspace in a browser: overview, channels, charts, plan, report, downloads, questions, and
    the loop live with its approvals."""
    from prism.serve.app import preflight, serve as run_server
    from prism.workspace import Workspace

    ws = Workspace(workdir)
    preflight(ws, host, port, token)
    shown = f"[{host}]" if ":" in host else host
    link = f"http://{shown}:{port}/" + (f"?token={token}" if token else "")
    console.print(f"serving {ws.root} at {link} (Ctrl-C stops)", highlight=False, soft_wrap=True)
    run_server(ws, host, port, token)

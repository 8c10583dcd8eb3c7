"""`prism` command line: one small function per command in the area modules; no logic here.

Bad input (`InputError`) prints one line and exits 2 with no traceback; anything else exits 1.
Set PRISM_DEBUG=1 to see tracebacks of internal failures.
"""

from __future__ import annotations

import os
import signal
import sys
import threading

import typer
from rich.markup import escape

from prism.cli.app import app, err_console
from prism.errors import GuardFailed, InputError, Stopped

# Area modules register their commands on `app` when imported.
from prism.cli import (claude_cmds, data_cmds, knowledge_cmds, loop_cmds, model_cmds,  # noqa: E402,F401
                       planning_cmds, portfolio_cmds, refresh_cmds, report_cmds, serve_cmds, session_cmds)


INTERRUPTED = 130  # the shell's code for a command ended by Ctrl-C


def _stop_like_ctrl_c(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point.

    SIGTERM (`kill`, a container stop) is handled like Ctrl-C, so model workers are stopped, temp folders
    removed and the lock released on both; one line says where the work stopped. SIGINT interrupts even when
    the command was started with it ignored (in the background of a script).
    """
    if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
        signal.signal(signal.SIGTERM, _stop_like_ctrl_c)
        # A command started in the background by a script (`cmd &`) inherits SIGINT ignored, and Python then
        # keeps ignoring it: `kill -INT` would let the loop run on. Ctrl-C's meaning is Prism's to keep.
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        code = app(args=argv, standalone_mode=False)  # a raised typer.Exit comes back as its exit code
    except InputError as exc:
        err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except GuardFailed as exc:
        for problem in exc.problems:
            err_console.print(f"[red]✗[/] {escape(exc.path)}: {escape(problem)}", highlight=False, soft_wrap=True)
        err_console.print("not recorded: fix the file and run the same command again")
        sys.exit(1)
    except typer.Abort:
        err_console.print("aborted")
        sys.exit(1)
    except Stopped as exc:
        _stopped(str(exc))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except Exception as exc:  # click usage errors carry their own exit code
        code = getattr(exc, "exit_code", None)
        if code is not None and hasattr(exc, "show"):
            exc.show()
            sys.exit(code)
        if os.environ.get("PRISM_DEBUG"):
            raise
        err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(str(exc))}", highlight=False,
                          soft_wrap=True)
        sys.exit(1)
    if code == INTERRUPTED:  # typer turns Ctrl-C inside a command into a bare exit 130
        _stopped("interrupted before the command finished")
    sys.exit(code if isinstance(code, int) else 0)


def _stopped(where: str) -> None:
    err_console.print(f"[bold red]stopped:[/] {escape(where)}", highlight=False, soft_wrap=True)
    sys.exit(INTERRUPTED)

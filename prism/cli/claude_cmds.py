"""Claude-session commands (init)."""

from prism.cli.app import app, console, WorkdirOpt  # noqa: F401

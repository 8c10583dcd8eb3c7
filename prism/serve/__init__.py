"""`prism serve`: the workspace in a browser (FastAPI, server-rendered Jinja2 pages, plotly.js charts).

Above the orchestration layer, below the CLI: it reads the workspace files and the loop's progress file,
starts a loop as a `prism loop` process and answers its checkpoints through the checkpoint files, so a
running loop is never reached into.
"""

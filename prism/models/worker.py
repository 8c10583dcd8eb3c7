"""Run one model in this process and write its ModelResult JSON: `python -m prism.models.worker`.

The runner starts one worker per model so that a crash, a hang or a memory blow-up of one model's stack
(PyMC, JAX) cannot take the others down. The worker reads the weekly table the runner prepared (so all
models see the same rows) and the workspace's config.json, fits, and goes through the shared `summarize`.
A failure is still written as a `failed` result with its reason, and the exit code is 1.
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from pathlib import Path

import pandas as pd

from prism.data.discover import workspace_knowledge
from prism.models.base import ModelData, summarize
from prism.models.priors import INFORMED_KEY, effective_config, informed_priors
from prism.models.registry import load
from prism.schemas import Config, ModelResult
from prism.workspace import Workspace, read_model, write_json


def run_one(name: str, frame: pd.DataFrame, cfg: Config, quick: bool) -> ModelResult:
    """Fit model `name` on the weekly table and summarise it the way every model is summarised."""
    module = load(name)
    data = ModelData.from_frame(frame, cfg)
    started = time.perf_counter()
    fitted = module.fit(data, cfg, quick=quick)
    return summarize(fitted, data, time.perf_counter() - started, quick)


def failure_reason(exc: BaseException) -> str:
    """One line: the exception type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True)
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--frame", type=Path, required=True, help="weekly table (parquet) from the runner")
    parser.add_argument("--out", type=Path, required=True, help="where to write the ModelResult JSON")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        ws = Workspace(args.workdir)
        own = read_model(ws.config, Config)
        cfg = effective_config(own, workspace_knowledge(ws))  # knowledge-layer priors, config entries first
        result = run_one(args.model, pd.read_parquet(args.frame), cfg, args.quick)
        result.diagnostics[INFORMED_KEY] = informed_priors(own, cfg, args.model)
        write_json(args.out, result)
    except Exception as exc:  # reported as the model's failure, never swallowed: the traceback goes to stderr
        traceback.print_exc()
        write_json(args.out, ModelResult(status="failed", reason=failure_reason(exc), quick=args.quick,
                                         seconds=round(time.perf_counter() - started, 2)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Reuse a round's rendered deliverables (charts, deck, page, workbook) while nothing they show has changed.

A render draws every chart and lays out the deck, page and workbook again; a resumed loop, a repeated
`prism report --render-only` or a loop stage rerun on the same round would redraw the same files. The
key is a hash of everything a render reads: the workspace files the renderer opens (results/, the
rounds up to this one, weekly.parquet, config.json, metadata.json, the knowledge folder, the decision
log), the round records it shows from state.json (not their timings), and the renderer's own code and
library versions. A matching key copies the kept files into place; anything else renders and keeps them
in `.prism-cache/render/R{NN}/`. Hashing the inputs is cheap against drawing them.
"""

from __future__ import annotations

import hashlib
import shutil
from importlib import metadata
from pathlib import Path

from prism.report.inputs import ReportInputs
from prism.workspace import Workspace, digest, read_json, write_bytes, write_json

DELIVERABLES = ("report.pptx", "report.html", "report.xlsx")
LIBRARIES = ("matplotlib", "python-pptx", "openpyxl", "pandas")
SHOWN_RECORD_FIELDS = {"round", "status", "change", "change_key", "verdicts", "objective", "test_mape",
                       "high_agreement", "model_status", "open_issues", "channels"}  # what the page and deck show
KEY_FILE = "key.json"  # the key and the kept files, in the order the render returned them


def _slot(ws: Workspace, inp: ReportInputs) -> Path:
    return ws.cache_dir / "render" / (f"R{inp.round:02d}" + ("" if inp.is_latest else "_past"))


def _file_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read_files(inp: ReportInputs) -> list[Path]:
    """The workspace files a render of this round may open (its own outputs excluded)."""
    ws = inp.ws
    top = [ws.config, ws.metadata, ws.weekly, ws.decisions]
    results = [p for p in ws.results_dir.iterdir() if p.is_file() and p.name not in DELIVERABLES] \
        if ws.results_dir.exists() else []
    rounds = [p for p in ws.rounds_dir.iterdir() if p.is_file() and _round_of(p) is not None
              and _round_of(p) <= inp.round] if ws.rounds_dir.exists() else []
    knowledge = [p for p in ws.knowledge_dir.rglob("*") if p.is_file()] if ws.knowledge_dir.exists() else []
    return sorted(p for p in (*top, *results, *rounds, *knowledge) if p.exists())


def _round_of(path: Path) -> int | None:
    digits = path.name[1:].split("_", 1)[0]
    return int(digits) if path.name.startswith("R") and digits.isdigit() else None


def _code() -> list[str]:
    """The renderer's modules and the libraries that draw: a change to either redraws."""
    here = Path(__file__).parent
    sources = [_file_hash(p) for p in sorted(here.glob("*.py"))]
    versions = []
    for name in LIBRARIES:
        try:
            versions.append(f"{name} {metadata.version(name)}")
        except metadata.PackageNotFoundError:
            versions.append(f"{name} not installed")
    return [*sources, *versions]


def render_key(inp: ReportInputs) -> str:
    ws = inp.ws
    files = [(str(p.relative_to(ws.root)), _file_hash(p)) for p in _read_files(inp)]
    records = [r.model_dump(mode="json", include=SHOWN_RECORD_FIELDS) for r in inp.state.rounds
               if r.round <= inp.round]
    return digest(inp.round, inp.is_latest, files, records, _code())


def cached(inp: ReportInputs, out: Path, key: str) -> list[Path] | None:
    """The kept deliverables copied into `out` when `key` matches what was kept; None otherwise."""
    slot = _slot(inp.ws, inp)
    kept = read_json(slot / KEY_FILE) if (slot / KEY_FILE).exists() else None
    if not kept or kept.get("key") != key or not all((slot / f).is_file() for f in kept["files"]):
        return None
    for name in kept["files"]:
        write_bytes(out / name, (slot / name).read_bytes())
    return [out / name for name in kept["files"]]


def keep(inp: ReportInputs, out: Path, paths: list[Path], key: str) -> None:
    """Keep this render's files under its key (replacing an older render of the same round)."""
    slot = _slot(inp.ws, inp)
    shutil.rmtree(slot, ignore_errors=True)
    names = [str(p.relative_to(out)) for p in paths]
    for path, name in zip(paths, names):
        write_bytes(slot / name, path.read_bytes())
    write_json(slot / KEY_FILE, {"key": key, "files": names})

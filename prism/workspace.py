"""Every workspace path in one place, plus atomic file IO and the loop lock.

Stages never build paths themselves: they ask a `Workspace`. Writes go to a temp file in the same
folder and are renamed into place, so a killed process never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, TypeVar

import pandas as pd
from pydantic import BaseModel, ValidationError

from prism.errors import InputError, LockedError

M = TypeVar("M", bound=BaseModel)
_UMASK = os.umask(0)
os.umask(_UMASK)


class Workspace:
    """Paths of the files in DESIGN.md's workspace table, rooted at `root`."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root).resolve()

    # top-level files
    @property
    def config(self) -> Path:
        return self.root / "config.json"

    @property
    def metadata(self) -> Path:
        return self.root / "metadata.json"

    @property
    def state(self) -> Path:
        return self.root / "state.json"

    @property
    def lock(self) -> Path:
        return self.root / ".prism.lock"

    @property
    def rounds_dir(self) -> Path:
        return self.root / "rounds"

    @property
    def results_dir(self) -> Path:
        return self.root / "results"

    @property
    def charts_dir(self) -> Path:
        return self.results_dir / "charts"

    # per-round files
    def round_file(self, round_no: int, kind: str, ext: str = "md") -> Path:
        """`rounds/R{NN}_{kind}.{ext}`, e.g. round_file(1, "results", "json")."""
        return self.rounds_dir / f"R{round_no:02d}_{kind}.{ext}"

    def exploration(self) -> Path:
        return self.round_file(1, "data_exploration")

    def tuning(self, n: int) -> Path:
        return self.round_file(n, "tuning")

    def round_results(self, n: int) -> Path:
        return self.round_file(n, "results", "json")

    def analysis(self, n: int) -> Path:
        return self.round_file(n, "analysis")

    def review(self, n: int) -> Path:
        return self.round_file(n, "review")

    def proofread(self, n: int) -> Path:
        return self.round_file(n, "proofread")

    # results
    def result(self, name: str) -> Path:
        """A file under results/, e.g. result("latest.json")."""
        return self.results_dir / name

    @property
    def latest(self) -> Path:
        return self.result("latest.json")

    @property
    def report_md(self) -> Path:
        return self.result("report.md")

    @property
    def chat_history(self) -> Path:
        """`prism chat`'s questions and answers, oldest first."""
        return self.root / "chat" / "history.json"


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; deliverables should read like normal files
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically; pydantic models are dumped in JSON mode."""
    if isinstance(data, BaseModel):
        data = data.model_dump(mode="json")
    write_text(path, json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n")


def write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> None:
    """Write a CSV atomically."""
    write_text(path, frame.to_csv(index=index))


def write_bytes(path: Path, data: bytes) -> None:
    """Write binary content (pptx, png, xlsx) atomically."""
    _atomic_write_bytes(Path(path), data)


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: Path) -> Any:
    """Read JSON; a missing or broken file is bad input naming the file."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def read_csv(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV; a missing, unreadable or incomplete file is bad input naming the file (and the column)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        frame = pd.read_csv(path)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as CSV: {exc}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column '{missing[0]}' is missing")
    return frame


def read_model(path: Path, model: type[M]) -> M:
    """Read and validate a JSON file against a pydantic schema; errors name the file and the key."""
    raw = read_json(path)
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        msg = err["msg"].removeprefix("Value error, ")
        if not err["loc"]:
            raise InputError(f"{path}: {msg}") from None
        key = ".".join(str(p) for p in err["loc"])
        value = err.get("input")
        shown = "" if isinstance(value, (dict, list)) else f" (got {value!r})"
        raise InputError(f"{path}: key '{key}': {msg}{shown}") from None


@contextmanager
def loop_lock(ws: Workspace) -> Iterator[None]:
    """Hold the workspace lock for the life of a loop; refuse if a live process holds it.

    A lock whose pid is no longer running is stale and is taken over.
    """
    ws.root.mkdir(parents=True, exist_ok=True)
    if ws.lock.exists():
        try:
            pid = int(ws.lock.read_text().strip() or "0")
        except ValueError:
            pid = 0
        if pid and pid != os.getpid() and _pid_alive(pid):
            raise LockedError(f"{ws.lock}: another prism loop (pid {pid}) is running in this workspace")
    write_text(ws.lock, str(os.getpid()))
    try:
        yield
    finally:
        ws.lock.unlink(missing_ok=True)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():  # a zombie still answers kill(0) but is not running
        return stat.read_text().split()[2] != "Z"
    return True

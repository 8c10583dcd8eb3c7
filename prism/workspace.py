"""Every workspace path in one place, plus atomic file IO and the loop lock.

Stages never build paths themselves: they ask a `Workspace`. Writes go to a temp file in the same
folder and are renamed into place, so a killed process never leaves a half-written file.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import tempfile
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, TypeVar

from prism.errors import InputError, LockedError

if TYPE_CHECKING:  # pandas and the schemas load on first use: `import prism.cli` stays light (`prism ask` start-up)
    import pandas as pd
    from pydantic import BaseModel

    from prism.schemas import Config, State

M = TypeVar("M", bound="BaseModel")
VOLATILE = ("seconds", "process_seconds", "created_at", "round", "blas_threads")  # differ between equal runs
_UMASK = os.umask(0)
os.umask(_UMASK)


class _At:
    """A fixed path inside the workspace, read as an attribute: `ws.config` is `ws.root / "config.json"`."""

    def __init__(self, *parts: str):
        self.parts = parts

    def __get__(self, ws: "Workspace", owner: type | None = None) -> Path:
        return ws.root.joinpath(*self.parts)


class Workspace:
    """Paths of the files in the workspace table (docs/architecture/workspace.md), rooted at `root`."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root).resolve()

    # top-level files
    config = _At("config.json")
    metadata = _At("metadata.json")
    state = _At("state.json")
    weekly = _At("weekly.parquet")  # the clean weekly table: every later stage reads this, never the raw source
    lock = _At(".prism.lock")
    approved_sources = _At(".prism-sources.json")  # data files outside the workspace named on the command line
    knowledge_dir = _At("knowledge")  # fields.csv, context.yaml, issues.csv, experiments.csv (without Notion)
    rounds_dir = _At("rounds")
    results_dir = _At("results")
    charts_dir = _At("results", "charts")
    decisions = _At("decisions.jsonl")  # recommendation → approval → action → outcome, one JSON object a line
    cache_dir = _At(".prism-cache")  # audit and test-plan tables, renders, planner responses: with their input keys
    progress = _At(".prism-progress.json")  # what a running loop shows: its progress rows (`prism serve` reads it)
    checkpoint = _At(".prism-checkpoint.json")  # the checkpoint a loop waits at, until it is answered
    checkpoint_answer = _At(".prism-answer.json")  # a page's answer to it (created once: the first answer wins)
    loop_log = _At(".prism-loop.log")  # what a loop started by `prism serve` prints

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

    def manifest(self, n: int) -> Path:
        """`rounds/R{NN}_manifest.json`: data and config hashes, package versions and seeds of round n."""
        return self.round_file(n, "manifest", "json")

    def weekly_snapshot(self, n: int) -> Path:
        """`rounds/R{NN}_weekly.parquet`: the weekly table an approved or refreshed round was fitted on."""
        return self.round_file(n, "weekly", "parquet")

    def draws_dir(self, n: int) -> Path:
        return self.rounds_dir / f"R{n:02d}_draws"

    def draws_path(self, n: int, model: str) -> Path:
        """`rounds/R{NN}_draws/{model}.nc`: a model's kept draws for round n."""
        return self.draws_dir(n) / f"{model}.nc"

    # results
    def result(self, name: str) -> Path:
        """A file under results/, e.g. result("latest.json")."""
        return self.results_dir / name

    latest = _At("results", "latest.json")
    report_md = _At("results", "report.md")

    @property
    def chat_history(self) -> Path:
        """`prism chat`'s questions and answers, oldest first."""
        return self.root / "chat" / "history.json"


def stable(value: Any, volatile: tuple[str, ...] = VOLATILE) -> Any:
    """`value` without the keys that differ between two runs of the same step (timings, dates, the round):
    what a cache key (`digest`) of a result should see."""
    if isinstance(value, dict):
        return {k: stable(v, volatile) for k, v in value.items() if k not in volatile}
    if isinstance(value, list):
        return [stable(v, volatile) for v in value]
    return value


def digest(*parts: Any) -> str:
    """A short hash of JSON-able parts: the key of a cached table or render."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


class PortfolioFiles:
    """Paths of a portfolio (`prism portfolio`): one workspace per entity under `entities/`, the portfolio's own
    files under `portfolio/` (docs/concepts/portfolio.md)."""

    def __init__(self, root: str | Path = "."):
        self.root = Path(root).resolve()

    entities_dir = _At("entities")
    out_dir = _At("portfolio")
    status = _At("status.csv")  # entity,status,reason,seconds: rewritten as each entity ends (beside entities/)
    entities = _At("portfolio", "entities.csv")  # entity,folder,status,weeks,kpi: the name → folder mapping
    table = _At("portfolio", "portfolio.csv")  # entity,channel,roi,roi_low,roi_high,confidence
    channels = _At("portfolio", "channels.csv")  # each channel across entities, weighted by confidence
    optimization = _At("portfolio", "optimization.csv")  # `prism portfolio optimize`
    report_md = _At("portfolio", "report.md")
    report_html = _At("portfolio", "report.html")
    report_pptx = _At("portfolio", "report.pptx")

    def entity(self, folder: str) -> Workspace:
        return Workspace(self.entities_dir / folder)


def check_writable(path: Path) -> None:
    """Refuse a target no file can be written to (a file where a folder should be, a read-only folder)."""
    folder = Path(path).parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"{path}: cannot write here ({folder} is not a writable folder)")


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temp path beside `path` for a writer that needs a file name (netCDF); renamed into place on success."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:  # read-only workspace, no permission, a file where a folder should be, disk full
        raise InputError(f"{path}: cannot write here ({exc.strerror or exc})") from None
    os.fchmod(fd, 0o666 & ~_UMASK)  # mkstemp makes 0600; deliverables should read like normal files
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def remove_file(path: Path) -> None:
    """Remove a file Prism wrote; a missing one is fine, one that cannot be removed (a read-only workspace) is
    bad input naming it, like a write there."""
    path = Path(path)
    if not path.exists():
        return
    try:
        path.unlink()
    except OSError as exc:
        raise InputError(f"{path}: cannot remove it ({exc.strerror or exc})") from None


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    write_together({path: data})


def write_text(path: Path, text: str) -> None:
    """Write text atomically."""
    _atomic_write_bytes(Path(path), text.encode("utf-8"))


def write_json(path: Path, data: Any) -> None:
    """Write JSON atomically; pydantic models are dumped in JSON mode."""
    _atomic_write_bytes(Path(path), json_bytes(data))


def json_bytes(data: Any) -> bytes:
    """A JSON file's bytes as `write_json` writes them (for `write_together`)."""
    if hasattr(data, "model_dump"):  # a pydantic model
        data = data.model_dump(mode="json")
    return (json.dumps(data, indent=2, allow_nan=False, default=_json_default) + "\n").encode("utf-8")


def write_csv(path: Path, frame: pd.DataFrame, index: bool = False) -> None:
    """Write a CSV atomically, with formula-like text neutralised (see `neutralise_formulas`)."""
    _atomic_write_bytes(Path(path), csv_bytes(frame, index))


def csv_bytes(frame: pd.DataFrame, index: bool = False) -> bytes:
    """A CSV file's bytes as `write_csv` writes them (for `write_together`)."""
    return neutralise_formulas(frame).to_csv(index=index).encode("utf-8")


def write_together(files: dict[Path, bytes]) -> None:
    """Several files that belong together (a plan, its scenarios, its chart): all of them or none.

    Every file is written and synced to a temp beside its target first; only when all are written are they
    renamed into place, so a failure part-way (disk full, a read-only folder) leaves every old file as it was.
    """
    with ExitStack() as stack:
        for path, data in files.items():
            tmp = stack.enter_context(atomic_target(Path(path)))
            with open(tmp, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"


def _formula_like(value: Any) -> bool:
    """Text a spreadsheet would run, also behind quotes: `'=1` gains a quote too, so `restore_formulas` can
    take exactly one off and every text comes back as written."""
    return isinstance(value, str) and value.lstrip(QUOTE).startswith(FORMULA_STARTS)


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """Text cells and headers that a spreadsheet would run as a formula get a leading `'` (OWASP CSV injection).

    A channel named `=HYPERLINK(...)` reached report.xlsx as a live formula; numbers are left as they are.
    Prism's readers of its own CSVs undo it (`restore_formulas`), so `=1+1` exported and read back is `=1+1`.
    """
    return _map_text(frame, lambda v: QUOTE + v if _formula_like(v) else v)


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of `neutralise_formulas`: one leading `'` off each formula-like text cell and header."""
    return _map_text(frame, lambda v: v[1:] if _formula_like(v) and v.startswith(QUOTE) else v)


def _map_text(frame: pd.DataFrame, fix: Any) -> pd.DataFrame:
    import pandas as pd

    def each(value: Any) -> Any:
        return fix(value) if isinstance(value, str) else value

    out = frame.rename(columns=each, index=each)
    text = [c for c in out.columns if out[c].dtype == object or pd.api.types.is_string_dtype(out[c])]
    return out.assign(**{c: out[c].map(each) for c in text}) if text else out


def write_bytes(path: Path, data: bytes) -> None:
    """Write binary content (pptx, png, xlsx) atomically."""
    _atomic_write_bytes(Path(path), data)


def keep_newest(folder: Path, pattern: str, n: int) -> None:
    """Delete all but the `n` most recently written or touched files of a cache folder matching `pattern`."""
    kept = sorted(Path(folder).glob(pattern), key=lambda p: p.stat().st_mtime, reverse=True)
    for old in kept[n:]:
        old.unlink(missing_ok=True)


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
    if not path.is_file():
        raise InputError(f"{path}: is a folder, not a file")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    except PermissionError:
        raise InputError(f"{path}: no permission to read it") from None


def read_csv(path: Path, required: tuple[str, ...] = ()) -> pd.DataFrame:
    """Read a CSV; a missing, unreadable or incomplete file is bad input naming the file (and the column)."""
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: file not found")
    try:
        frame = restore_formulas(pd.read_csv(path))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot be read as CSV: {exc}") from None
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"{path}: column '{missing[0]}' is missing")
    return frame


MAX_KNOWLEDGE_BYTES = 2_000_000  # a knowledge file (fields, context, issues, tests) this size is not hand-kept


def refuse_large(path: Path, limit: int = MAX_KNOWLEDGE_BYTES) -> None:
    """A file too large for what it is refused before it is read (a 31 MB fields.csv made a 142 MB
    metadata.json that every stage then read)."""
    size = Path(path).stat().st_size
    if size > limit:
        raise InputError(f"{path}: {size / 1e6:.1f} MB; a knowledge file may be at most {limit / 1e6:g} MB "
                         f"(one row per data column or test)")


def read_model(path: Path, model: type[M]) -> M:
    """Read and validate a JSON file against a pydantic schema; errors name the file and the key."""
    from pydantic import ValidationError

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


def load_state(ws: Workspace) -> State:
    """The workspace's state, or a fresh one before the first round (read by every layer, written by the loop)."""
    from prism.schemas import State

    return read_model(ws.state, State) if ws.state.exists() else State()


def save_state(ws: Workspace, state: State) -> None:
    write_json(ws.state, state)


def write_weekly(ws: Workspace, frame: pd.DataFrame) -> None:
    """Persist the clean weekly table (discover / prepare only)."""
    write_bytes(ws.weekly, frame.to_parquet(index=False))


def group_weeks(frame: pd.DataFrame, by: str, sums: list[str], means: list[str]) -> pd.DataFrame:
    """Rows → one per `by` value (the index): `sums` summed, `means` averaged (a price or temperature does
    not add up), every other column the largest value (a week with an event day is an event week)."""
    grouped = frame.groupby(by, sort=True)
    out = grouped[sums].sum(min_count=1)
    means = [c for c in means if c not in sums]
    if means:
        out = out.join(grouped[means].mean())
    rest = [c for c in frame.columns if c not in (*sums, *means, by)]
    return out.join(grouped[rest].max()) if rest else out


def read_weekly(ws: Workspace, cfg: Config, markets: bool = False) -> pd.DataFrame:
    """The clean weekly table discover wrote, with config.json's columns (date, KPI, channels, controls).

    A regional panel (config.json names a market column) holds one row per market and week: with `markets`
    it comes as it is (the models fit it), else summed over the markets into one national series (KPI and
    spend summed, controls averaged), which is what every national reader (profiles, reports) means.

    A missing file (a workspace from before weekly.parquet existed) or one without a column config.json
    names (config edited by hand since) is bad input: `prism discover` rebuilds it from the source. No
    stage rebuilds it silently, so every stage of a round sees the same data.
    """
    import pandas as pd

    d = cfg.data
    if not ws.weekly.exists():
        raise InputError(f"{ws.weekly}: file not found; run `prism discover` to write the clean weekly table")
    try:
        frame = pd.read_parquet(ws.weekly)
    except (OSError, ValueError) as exc:
        raise InputError(f"{ws.weekly}: cannot be read as parquet ({exc}); run `prism discover` to rebuild it") from None
    market = [d.market_column] if d.market_column else []
    wanted = [d.date_column, *market, d.kpi, *d.channels, *d.controls, *cfg.baseline.event_columns]
    missing = [c for c in wanted if c not in frame.columns]
    if missing:
        raise InputError(f"{ws.weekly}: no column(s) {missing} that config.json names; "
                         f"run `prism discover` to rebuild it")
    text = cfg.baseline.events_text_column  # its one-hot columns `<column>=<label>` (prism.data.events)
    one_hots = [c for c in frame.columns if text and c.startswith(f"{text}=")]
    frame = frame[[*wanted, *one_hots]]
    if not d.market_column or markets:
        return frame
    national = group_weeks(frame.drop(columns=market), d.date_column, [d.kpi, *d.channels], list(d.controls))
    return national.reset_index()[[c for c in frame.columns if c not in market]]


@contextmanager
def loop_lock(ws: Workspace) -> Iterator[None]:
    """Hold the workspace lock for the life of a loop; refuse if another process holds it.

    The lock is an `flock` on `.prism.lock`, taken in one system call: two loops started at the same
    instant cannot both pass (a check-then-write lock let both through in 2 of 14 tries), and the kernel
    drops it when its holder dies, so a killed loop never blocks the next. Re-entrant within a process.
    """
    if ws.lock in _HELD:
        yield
        return
    try:
        ws.root.mkdir(parents=True, exist_ok=True)
        fd = _take_lock(ws.lock)
    except OSError as exc:
        raise InputError(f"{ws.lock}: cannot take the workspace lock ({exc.strerror or exc})") from None
    _HELD.add(ws.lock)
    try:
        yield
    finally:
        _HELD.discard(ws.lock)
        ws.lock.unlink(missing_ok=True)  # unlinked while still locked: a waiter re-checks the inode
        os.close(fd)


_HELD: set[Path] = set()


def lock_holder(ws: Workspace) -> int | None:
    """The pid of the loop holding the workspace lock, or None when no loop runs (a shared lock is tried,
    and dropped at once: it cannot be had while a loop holds the exclusive one)."""
    try:
        fd = os.open(ws.lock, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = os.read(fd, 32).decode(errors="replace").strip()
        return int(text) if text.isdigit() else -1
    finally:
        os.close(fd)
    return None


def _take_lock(path: Path) -> int:
    """An fd holding the exclusive lock on `path`, with this pid written in it; LockedError if it is held."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise LockedError(f"{path}: another prism loop (pid {holder}) is running in this workspace") from None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:  # else the previous holder unlinked the file we locked: lock the new one
            os.ftruncate(fd, 0)
            os.write(fd, str(os.getpid()).encode())
            return fd
        os.close(fd)

"""Read one raw table from any supported source: csv, parquet, excel, json, sql, bigquery, gsheet.

Every failure the user can fix (missing file, empty file, wrong sheet, undetectable delimiter, bad query,
missing optional package) becomes a one-line `InputError` naming the file, sheet or query. Cloud
credentials come from the environment only, and SQL URLs may carry `${VAR}` placeholders so that a
password never has to be written into config.json.
"""

from __future__ import annotations

import codecs
import csv
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from prism.errors import InputError, MissingExtraError
from prism.schemas import DataConfig
from prism.workspace import Workspace, read_json, write_json

SNIFF_BYTES = 64 * 1024
DELIMITERS = ",;\t|"
FALLBACK_ENCODING = "cp1252"  # a superset of latin-1 for the printable range, as Excel writes it
EXTENSION_SOURCES = {".csv": "csv", ".txt": "csv", ".tsv": "csv", ".parquet": "parquet", ".pq": "parquet",
                     ".xlsx": "excel", ".xlsm": "excel", ".xls": "excel", ".json": "json", ".jsonl": "json",
                     ".ndjson": "json"}
FILE_DB_DRIVERS = ("sqlite", "duckdb")
FILE_SOURCES = ("csv", "parquet", "excel", "json")
BOMS = ((codecs.BOM_UTF32_LE, "utf-32"), (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"), (codecs.BOM_UTF8, "utf-8-sig"))  # UTF-32 LE starts like UTF-16 LE
VARIABLE = re.compile(r"\$(?:\{(\w+)\}|(\w+))")
NESTED = (list, tuple, dict, set, np.ndarray)


@dataclass(frozen=True)
class SourceSpec:
    """Where a table lives; the subset of `DataConfig` that loading needs (discover has no roles yet)."""

    source: str
    path: str | None = None
    query: str | None = None
    url: str | None = None
    sheet: str | None = None
    project: str | None = None

    @classmethod
    def from_config(cls, data: DataConfig) -> "SourceSpec":
        return cls(source=data.source, path=data.path, query=data.query, url=data.url, sheet=data.sheet,
                   project=data.project)


@dataclass
class RawTable:
    """A loaded table plus what loading noticed (detected delimiter/encoding) for the profile."""

    frame: pd.DataFrame
    name: str
    notes: list[str] = field(default_factory=list)


def infer_source(path: str | None, url: str | None) -> str:
    """Source kind from a URL or file extension when `--source` is not given."""
    if url:
        return "sql"
    if not path:
        raise InputError("no data source: give --path FILE (or --source sql --url URL --query SQL)")
    if "docs.google.com/spreadsheets" in path:
        return "gsheet"
    kind = EXTENSION_SOURCES.get(Path(path).suffix.lower())
    if kind is None:
        raise InputError(f"{path}: cannot tell the source from the extension; pass --source "
                         f"(one of csv, parquet, excel, json, sql, bigquery, gsheet)")
    return kind


def resolve_path(path: str, base_dir: Path) -> Path:
    """A relative data path is relative to the workspace (config.json's folder)."""
    p = Path(os.path.expanduser(path))
    return p if p.is_absolute() else (base_dir / p)


def confine_to_workspace(spec: SourceSpec, root: Path) -> None:
    """A data file named in config.json must lie inside the workspace, or have been named by the user on the
    command line: a hand-edited `data.path` (`../../../etc/passwd`) must not read any file on the machine."""
    if spec.source not in FILE_SOURCES or not spec.path:
        return
    path = resolve_path(spec.path, root).resolve()
    if path.is_relative_to(root.resolve()) or str(path) in _approved(root):
        return
    raise InputError(f"{Workspace(root).config}: data.path {spec.path!r} is outside the workspace; copy the file "
                     f"into it, or name it on the command line (prism discover --path FILE)")


def approve_source(spec: SourceSpec, root: Path) -> None:
    """Remember that the user named this data file on the command line, so config.json may point to it."""
    if spec.source not in FILE_SOURCES or not spec.path:
        return
    path = resolve_path(spec.path, root).resolve()
    approved = _approved(root)
    if not path.is_relative_to(root.resolve()) and str(path) not in approved:
        write_json(Workspace(root).approved_sources, sorted({*approved, str(path)}))


def _approved(root: Path) -> list[str]:
    path = Workspace(root).approved_sources
    listed = read_json(path) if path.is_file() else []
    return [str(p) for p in listed] if isinstance(listed, list) else []


def load_source(spec: SourceSpec, base_dir: Path) -> RawTable:
    """Load the raw table described by `spec`; relative paths resolve against `base_dir`."""
    readers: dict[str, Callable[[SourceSpec, Path], RawTable]] = {
        "csv": _read_csv, "parquet": _read_parquet, "excel": _read_excel, "json": _read_json,
        "sql": _read_sql, "bigquery": _read_bigquery, "gsheet": _read_gsheet,
    }
    if spec.source not in readers:
        raise InputError(f"unknown source '{spec.source}'; use one of {', '.join(readers)}")
    table = readers[spec.source](spec, base_dir)
    _check_not_empty(table)
    table.frame.columns = [str(c).strip() for c in table.frame.columns]
    _check_columns(table)
    return table


def _check_columns(table: RawTable) -> None:
    """A repeated header (pandas renames the second `tv.1`) or nested values (lists, dicts) are refused."""
    seen: dict[str, int] = {}
    for i, col in enumerate(table.frame.columns, start=1):
        if col in seen:
            raise InputError(f"{table.name}: column '{col}' appears twice in the header (columns {seen[col]} and "
                             f"{i}); rename or remove one")
        seen[col] = i
    for col in table.frame.columns[table.frame.dtypes.to_numpy() == object]:
        values = table.frame[col].dropna()
        nested = values.map(lambda v: isinstance(v, NESTED)).to_numpy().nonzero()[0]
        if len(nested):
            raise InputError(f"{table.name}: column '{col}' holds lists or records (first in data row "
                             f"{int(nested[0]) + 1}), not single values; flatten it into one column per value")


# ------------------------------------------------------------------------------------------ files


def _existing_file(spec: SourceSpec, base_dir: Path) -> Path:
    if not spec.path:
        raise InputError(f"source '{spec.source}' needs --path")
    path = resolve_path(spec.path, base_dir)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise InputError(f"{path}: file is empty")
    return path


def _check_not_empty(table: RawTable) -> None:
    if table.frame.shape[1] == 0:
        raise InputError(f"{table.name}: no columns found (empty file?)")
    if len(table.frame) == 0:
        raise InputError(f"{table.name}: has a header ({table.frame.shape[1]} columns) but no data rows")


def _detect_encoding(path: Path) -> str:
    """UTF-16/32 by their byte-order mark or NUL pattern, UTF-8 when the head decodes as UTF-8, else the
    Windows/latin-1 code page (reported as a note). Excel's "Unicode text" export is UTF-16: read as cp1252
    it gave a 71-line error full of NUL bytes."""
    with path.open("rb") as fh:
        head = fh.read(SNIFF_BYTES)
    for bom, encoding in BOMS:
        if head.startswith(bom):
            return encoding
    if len(head) >= 4 and head[1::2].count(0) > len(head) // 4 and not head[0::2].count(0):
        return "utf-16-le"
    if len(head) >= 4 and head[0::2].count(0) > len(head) // 4 and not head[1::2].count(0):
        return "utf-16-be"
    try:
        head.decode("utf-8")
        return "utf-8-sig"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 4:  # a multi-byte character cut by the sample boundary
            return "utf-8-sig"
        return FALLBACK_ENCODING


def _detect_delimiter(path: Path, encoding: str) -> str:
    """The delimiter among , ; tab | that splits the header and first lines into the most equal columns."""
    with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
        sample = fh.read(SNIFF_BYTES)
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last sampled line may be cut
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=DELIMITERS).delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in DELIMITERS} if lines else {}
        best = max(counts, key=counts.get) if counts else ","
        return best if counts.get(best) else ","


def _read_csv(spec: SourceSpec, base_dir: Path) -> RawTable:
    path = _existing_file(spec, base_dir)
    encoding = _detect_encoding(path)
    sep = _detect_delimiter(path, encoding)
    try:
        with path.open("r", encoding=encoding, errors="replace", newline="") as fh:
            header = next(csv.reader(fh, delimiter=sep), [])
        frame = pd.read_csv(path, sep=sep, encoding=encoding, low_memory=False)
        frame.columns = _raw_header(header, frame.columns)
    except pd.errors.EmptyDataError:
        raise InputError(f"{path}: file is empty") from None
    except pd.errors.ParserError as exc:
        raise InputError(f"{path}: cannot parse as delimited text ({str(exc).strip().splitlines()[-1]})") from None
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not readable as {encoding} at byte {exc.start}; save it as UTF-8") from None
    notes = []
    if encoding not in ("utf-8-sig",):
        notes.append(f"{path.name} is not UTF-8; read as {encoding}")
    if sep != ",":
        notes.append(f"{path.name}: delimiter detected as {sep!r}")
    if frame.shape[1] == 1 and len(frame):
        raise InputError(f"{path}: only one column found; the delimiter could not be "
                         f"detected (tried {', '.join(repr(d) for d in DELIMITERS)})")
    return RawTable(frame, str(path), notes)


def _raw_header(header: list[str], columns: pd.Index) -> list[str]:
    """The header as written (pandas renames a repeated `tv` to `tv.1`, which would hide the repeat)."""
    if len(header) != len(columns):
        return list(columns)
    return [h.strip() or str(c) for h, c in zip(header, columns)]  # an empty header keeps pandas' "Unnamed: 3"


def _read_parquet(spec: SourceSpec, base_dir: Path) -> RawTable:
    path = _existing_file(spec, base_dir)
    try:
        return RawTable(pd.read_parquet(path), str(path))
    except Exception as exc:  # pyarrow raises several types for a non-parquet file
        raise InputError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {_first_line(exc)})") from None


def _read_excel(spec: SourceSpec, base_dir: Path) -> RawTable:
    path = _existing_file(spec, base_dir)
    try:
        book = pd.ExcelFile(path)
    except Exception as exc:  # openpyxl/zipfile errors for a file that is not a workbook
        raise InputError(f"{path}: not a readable Excel workbook ({_first_line(exc)})") from None
    with book:
        sheets = [str(s) for s in book.sheet_names]
        sheet = spec.sheet if spec.sheet is not None else sheets[0]
        if sheet not in sheets:
            raise InputError(f"{path}: no sheet named '{sheet}'; sheets are {', '.join(sheets)}")
        frame = pd.read_excel(book, sheet_name=sheet)
        header = pd.read_excel(book, sheet_name=sheet, header=None, nrows=1).iloc[0].fillna("").astype(str).tolist()
        frame.columns = _raw_header(header, frame.columns)
    return RawTable(frame, f"{path} [sheet {sheet}]")


def _read_json(spec: SourceSpec, base_dir: Path) -> RawTable:
    """Records (`[{...}]`), columns (`{"col": [...]}`) or JSON lines (`.jsonl`/`.ndjson`)."""
    path = _existing_file(spec, base_dir)
    lines = path.suffix.lower() in (".jsonl", ".ndjson")
    try:
        frame = pd.read_json(path, lines=lines, dtype=False)
    except ValueError as exc:
        raise InputError(f"{path}: not readable as JSON records or columns ({_first_line(exc)})") from None
    return RawTable(frame, str(path))


# ------------------------------------------------------------------------------------------ queries


def has_variables(url: str) -> bool:
    """True when the URL names an environment variable (`${VAR}` or `$VAR`): it is kept unexpanded in files."""
    return bool(VARIABLE.search(url))


def expand_variables(url: str) -> str:
    """`${VAR}` and `$VAR` replaced by their values. An unset `${VAR}` is bad input naming the variable; an
    unset bare `$name` is kept as written (a password may contain `$`)."""
    def value(m: re.Match) -> str:
        name = m.group(1) or m.group(2)
        if name in os.environ:
            return os.environ[name]
        if m.group(1):
            raise InputError(f"data.url: environment variable {name} is not set")
        return m.group(0)

    return VARIABLE.sub(value, url)


def expand_url(url: str, base_dir: Path) -> str:
    """Expand `${VAR}` placeholders; make a relative SQLite/DuckDB file path relative to `base_dir`."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(expand_variables(url))
    except (ArgumentError, ValueError) as exc:  # ValueError: a port that is not a number
        hint = f" ({_first_line(exc)})" if isinstance(exc, ValueError) else ""
        raise InputError(f"data.url {mask_url(url)!r} is not a SQLAlchemy URL (e.g. sqlite:///file.db){hint}") from None
    db = parsed.database
    if parsed.get_backend_name() in FILE_DB_DRIVERS and db and db != ":memory:":
        path = resolve_path(db, base_dir)
        if not path.is_file():
            raise InputError(f"{path}: database file not found (from data.url)")
        parsed = parsed.set(database=str(path))
    return parsed.render_as_string(hide_password=False)


def mask_url(url: str) -> str:
    """The URL with any password hidden, for messages and metadata."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL at all: show only its scheme
        return url.split("://", 1)[0] + "://…"


def _read_sql(spec: SourceSpec, base_dir: Path) -> RawTable:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import NoSuchModuleError, SQLAlchemyError

    if not (spec.url and spec.query):
        raise InputError("source 'sql' needs --url (SQLAlchemy URL) and --query")
    url = expand_url(spec.url, base_dir)
    try:
        engine = create_engine(url)
    except NoSuchModuleError:
        raise InputError(f"no SQLAlchemy dialect for {mask_url(spec.url)!r}; install its driver package") from None
    except ImportError as exc:
        raise InputError(f"the database driver for {mask_url(spec.url)!r} is not installed ({exc.name})") from None
    try:
        with engine.connect() as conn:
            frame = pd.read_sql_query(text(spec.query), conn)
    except (SQLAlchemyError, pd.errors.DatabaseError) as exc:
        cause = getattr(exc, "orig", None) or exc.__cause__ or exc
        raise InputError(f"query {spec.query!r} on {mask_url(spec.url)} failed: {_first_line(cause)}") from None
    finally:
        engine.dispose()
    return RawTable(frame, f"{mask_url(spec.url)} query {spec.query!r}")


def _read_bigquery(spec: SourceSpec, base_dir: Path) -> RawTable:
    try:
        from google.cloud import bigquery
        import db_dtypes  # noqa: F401  (to_dataframe needs it)
    except ImportError:
        raise MissingExtraError("the BigQuery source", "google-cloud-bigquery db-dtypes", "bigquery") from None
    from google.auth.exceptions import DefaultCredentialsError

    if not spec.query:
        raise InputError("source 'bigquery' needs --query")
    try:
        client = bigquery.Client(project=spec.project)
        frame = client.query(spec.query).to_dataframe()
    except DefaultCredentialsError:
        raise InputError("BigQuery credentials not found: set GOOGLE_APPLICATION_CREDENTIALS to a service-account "
                         "key file or run `gcloud auth application-default login`") from None
    except Exception as exc:  # google.api_core errors: bad query, no access, no project
        raise InputError(f"BigQuery query {spec.query!r} failed: {_first_line(exc)}") from None
    return RawTable(frame, f"bigquery query {spec.query!r}")


def _read_gsheet(spec: SourceSpec, base_dir: Path) -> RawTable:
    """A Google Sheet by key or URL; service-account key file from GOOGLE_APPLICATION_CREDENTIALS."""
    try:
        import gspread
    except ImportError:
        raise MissingExtraError("the Google Sheets source", "gspread google-auth", "gsheet") from None
    if not spec.path:
        raise InputError("source 'gsheet' needs --path (the sheet key or URL)")
    keyfile = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    try:
        client = gspread.service_account(filename=keyfile) if keyfile else gspread.service_account()
    except (FileNotFoundError, ValueError) as exc:
        raise InputError(f"Google Sheets credentials not usable: set GOOGLE_APPLICATION_CREDENTIALS to a "
                         f"service-account key file ({_first_line(exc)})") from None
    try:
        book = client.open_by_url(spec.path) if spec.path.startswith("http") else client.open_by_key(spec.path)
        names = [ws.title for ws in book.worksheets()]
        if spec.sheet is not None and spec.sheet not in names:
            raise InputError(f"{spec.path}: no worksheet named '{spec.sheet}'; worksheets are {', '.join(names)}")
        sheet = book.worksheet(spec.sheet) if spec.sheet is not None else book.sheet1
        frame = pd.DataFrame(sheet.get_all_records())
    except gspread.exceptions.GSpreadException as exc:
        raise InputError(f"Google Sheet {spec.path}: {_first_line(exc)}") from None
    return RawTable(frame, f"gsheet {spec.path} [{sheet.title}]")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__

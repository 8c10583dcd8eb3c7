"""`prism portfolio`: one workspace per entity of a source, each discovered and fitted as a Ray task.

The source is read once here, for the entity names; each task discovers its own entity from the source
(`prism discover --entity NAME`) and runs the round in `entities/<folder>/` (orchestration/entity.py).
`status.csv` (beside `entities/`) is rewritten atomically as each entity ends, so a killed run loses nothing that
finished, and a second run skips the entities whose data and config are unchanged. Only small outcomes
travel back from the tasks; the portfolio table is then read entity by entity from their workspaces.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path
import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from prism.errors import InputError
from prism.orchestration.entity import FAILED, Outcome, RoundOptions, run_entity
from prism.orchestration.ray_pool import fan_out, first_line, ray_session
from prism.workspace import PortfolioFiles, write_csv

STATUS_COLUMNS = ["entity", "status", "reason", "seconds"]
PENDING = "pending"
MAX_FOLDER = 64  # characters of an entity's folder name


@dataclass
class PortfolioRun:
    """What a run did: one outcome per entity (or the single workspace an entity column with one value makes)."""

    outcomes: list[Outcome]
    single: str | None = None  # the one value of the entity column, when the workdir became a normal workspace
    cpus: int = 0


def entity_names(spec: dict, column: str) -> list[str]:
    """The entity column's values, as text (as discover's `--entity` compares them); an empty one is bad input."""
    from prism.data.sources import SourceSpec, load_source

    raw = load_source(SourceSpec(**spec), Path.cwd())
    if column not in raw.frame.columns:
        raise InputError(f"{raw.name}: --entity-column '{column}' not found; columns are "
                         f"{', '.join(map(str, raw.frame.columns))}")
    values = raw.frame[column]
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        row = int(empty.to_numpy().nonzero()[0][0]) + 2  # a header line, then rows from 1
        raise InputError(f"{raw.name}: --entity-column '{column}' row {row} is empty ({int(empty.sum())} such rows); "
                         f"fill or drop them")
    return sorted(values.astype(str).unique())


def folder_name(entity: str) -> str:
    """A safe folder name: ASCII letters, digits, '-', '_' and '.', lower case, never hidden or empty."""
    text = unicodedata.normalize("NFKD", entity).encode("ascii", "ignore").decode().lower()
    text = re.sub(r"[^a-z0-9._-]+", "-", text).strip("-.")[:MAX_FOLDER].strip("-.")
    return text or "entity"


def folders(entities: list[str]) -> dict[str, str]:
    """entity → folder; two entities that need the same folder are refused, naming both."""
    out: dict[str, str] = {}
    taken: dict[str, str] = {}
    for entity in entities:
        folder = folder_name(entity)
        if folder in taken:
            raise InputError(f"entities '{taken[folder]}' and '{entity}' both map to the folder entities/{folder}; "
                             f"rename one of them in the data")
        taken[folder], out[entity] = entity, folder
    return out


def run_portfolio(root: Path, column: str, options: RoundOptions, address: str | None = None,
                  cpus: int | None = None, console: Console | None = None) -> PortfolioRun:
    """Fit every entity of the source (or, for one value, the workdir as a normal workspace)."""
    console = console or Console()
    names = entity_names(options.spec, column)
    if len(names) == 1:
        return PortfolioRun([run_entity(str(root), None, root.name, options)], single=names[0])
    files = PortfolioFiles(root)
    mapping = folders(names)
    outcomes: list[Outcome] = []
    with ray_session(address, cpus) as have, _progress(console) as progress:  # bad input refused before any write
        write_csv(files.entities, pd.DataFrame({"entity": names, "folder": [mapping[n] for n in names]}))
        rows = {n: {"entity": n, "status": PENDING, "reason": "", "seconds": None} for n in names}
        _write_status(files, rows)
        bar = progress.add_task(f"entities on Ray ({have} CPU)", total=len(names))

        def done(call: tuple, result: Outcome | BaseException) -> None:
            outcome = result if isinstance(result, Outcome) else Outcome(
                call[1], call[2], FAILED, f"its Ray worker died: {type(result).__name__}: {first_line(result)}")
            rows[outcome.entity] = {k: v for k, v in asdict(outcome).items() if k in STATUS_COLUMNS}
            _write_status(files, rows)
            outcomes.append(outcome)
            progress.advance(bar)

        calls = ((str(files.entity(mapping[n]).root), n, mapping[n], options) for n in names)
        fan_out(entity_task, calls, have, done)
    return PortfolioRun(outcomes, cpus=have)


def entity_task(root: str, entity: str, folder: str, options: RoundOptions) -> Outcome:
    """The Ray task: one entity, with one BLAS thread (entities share the cores, and a second thread per
    process only spins against the others)."""
    from prism.models.pool import one_blas_thread

    one_blas_thread()
    return run_entity(root, entity, folder, options)


def _write_status(files: PortfolioFiles, rows: dict[str, dict]) -> None:
    write_csv(files.status, pd.DataFrame(list(rows.values()), columns=STATUS_COLUMNS))


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)


def read_status(files: PortfolioFiles) -> pd.DataFrame:
    from prism.workspace import read_csv

    if not files.status.exists():
        raise InputError(f"{files.status}: file not found (run `prism portfolio --path FILE --entity-column COLUMN`)")
    return read_csv(files.status, required=tuple(STATUS_COLUMNS))

"""Hardening, bad input that was misread or lost work (issue 21 item 12): each case through the real CLI —
exit 2, one line, no traceback, nothing half-written — or, where the input is fine, read exactly as meant."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from prism.llm import ask_router as R
from prism.models.base import holdout_weeks
from prism.planning.horizon import MAX_WEEKS
from prism.schemas import Config, Metadata
from prism.workspace import Workspace, read_model, write_csv, write_json
from tests.helpers.cli import Cli, weekly_frame
from tests.helpers.loop import make_ws
from tests.helpers.planning import workspace_with_draws
from tests.helpers.report import build_workspace

CHANNELS = ["tv_spend", "search_spend", "social_spend", "display_spend"]


def _snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------------------------ optimize


@pytest.fixture(scope="module")
def plan_base(tmp_path_factory) -> Workspace:
    return build_workspace(tmp_path_factory.mktemp("plan"), rounds=1)


@pytest.fixture
def planned(plan_base, tmp_path, monkeypatch, capsys) -> Cli:
    """A workspace with kept draws and the outputs of an earlier `prism optimize`."""
    ws = workspace_with_draws(plan_base, tmp_path / "w", monkeypatch, n_draws=120)
    write_csv(ws.result("roi_comparison.csv"), pd.DataFrame({"channel": CHANNELS, "confidence": ["high"] * 4}))
    cli = Cli(capsys, ws.root)
    code, out, err = cli("optimize")
    assert code == 0, out + err
    return cli


@pytest.mark.parametrize("args, says", [
    (("--target-mroi", "nan"), ["--target-mroi", "nan"]),
    (("--target-mroi", "inf"), ["--target-mroi", "inf"]),
    (("--target-roi", "nan"), ["--target-roi", "nan"]),
    (("--target-roi", "-1"), ["--target-roi", "-1"]),
    (("--weeks", "100000"), ["--weeks 100000", f"at most {MAX_WEEKS}"]),
    (("--lock", "tv", "--unlock", "tv"), ["--lock", "--unlock", "tv_spend"]),
])
def test_bad_optimize_options_are_refused_and_keep_every_output(planned: Cli, args, says) -> None:
    """nan/inf targets cut every channel by 100 %; --weeks 100000 died with MemoryError after rewriting
    optimization.csv; --lock X --unlock X was silent."""
    before = _snapshot(planned.ws)
    planned.fails("optimize", *args, says=says)
    assert _snapshot(planned.ws) == before


def test_a_failed_optimize_writes_none_of_its_outputs(planned: Cli, monkeypatch) -> None:
    """All outputs of a run are written together or not at all: a failure while the scenarios are computed
    (after the plan) leaves the earlier optimization.csv, scenarios.csv and chart as they were."""
    from prism.planning.plan import Planner

    before = _snapshot(planned.ws)

    def broken(*args, **kwargs):
        raise MemoryError("scenarios")

    monkeypatch.setattr(Planner, "scenarios", broken)
    code, out, err = planned("optimize", "--budget", "1.2x")
    assert code == 1 and _snapshot(planned.ws) == before


# ----------------------------------------------------------------------------------------- ask


@pytest.mark.parametrize("question, says", [
    ("what if we raise search by 1e308% and tv by 10%", "1e308%"),
    ("what if we raise search by nan% and tv by 10%", "nan%"),
    ("what if we raise search by 10% and tv by inf%", "inf%"),
    ("what if we cut search by 250%", "250%"),
])
def test_ask_refuses_absurd_or_non_finite_changes(question: str, says: str) -> None:
    with pytest.raises(Exception) as exc:
        R.route(question, CHANNELS, {})
    assert type(exc.value).__name__ == "InputError" and says in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("question, change", [("what if we raise search by 1e3%", 1000.0),
                                              ("what if we raise search by 2.5e1 %", 25.0),
                                              ("what if we cut search by 1.5%", -1.5)])
def test_ask_reads_numbers_whole(question: str, change: float) -> None:
    """"by 1e3%" was answered as +3 %."""
    assert R.route(question, CHANNELS, {}).changes == {"search_spend": change}


def test_ask_on_the_command_line_refuses_in_one_line(planned: Cli) -> None:
    before = _snapshot(planned.ws)
    planned.fails("ask", "what if we raise search by 1e308% and tv by nan%", says=["1e308%"])
    assert _snapshot(planned.ws) == before


# --------------------------------------------------------------------------------- experiments


@pytest.fixture
def discovered(tmp_path: Path, capsys) -> Cli:
    ws, _ = make_ws(tmp_path / "ws", weeks=104, n_channels=3, models=["ridge"])
    return Cli(capsys, ws.root)


def _experiments(cli: Cli, rows: list[str]) -> Path:
    path = cli.ws.parent / "tests.csv"
    channel = read_model(cli.ws / "config.json", Config).data.channels[0]
    path.write_text("channel,start,end,spend,incremental_kpi,incremental_kpi_se\n"
                    + "".join(r.format(channel=channel) + "\n" for r in rows))
    return path


def test_a_duplicated_experiment_row_is_refused_naming_both_rows(discovered: Cli) -> None:
    row = "{channel},2022-03-07,2022-04-04,5000,12000,3000"
    path = _experiments(discovered, [row, "{channel},2022-06-06,2022-07-04,5000,9000,3000", row])
    before = _snapshot(discovered.ws)
    discovered.fails("run", "--experiments", str(path), says=[str(path), "row 3", "row 1"])
    assert _snapshot(discovered.ws) == before


@pytest.mark.parametrize("value", ["nan", "NaN", "inf", "-inf"])
def test_a_non_finite_incremental_kpi_is_refused_naming_file_row_and_column(discovered: Cli, value: str) -> None:
    path = _experiments(discovered, [f"{{channel}},2022-03-07,2022-04-04,5000,{value},3000"])
    before = _snapshot(discovered.ws)
    discovered.fails("run", "--experiments", str(path), says=[str(path), "row 1", "'incremental_kpi'", value])
    assert _snapshot(discovered.ws) == before


# ----------------------------------------------------------------------------------- knowledge


def test_yaml_aliases_in_context_are_refused(discovered: Cli) -> None:
    """A 377-byte billion-laughs context.yaml made pull and discover die with MemoryError."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    lines += [f"{x}: &{x} [{','.join(['*' + p] * 9)}]" for p, x in zip("abcdefgh", "bcdefghi")]
    folder = discovered.ws / "knowledge"
    folder.mkdir()
    (folder / "context.yaml").write_text("\n".join(lines) + "\n")
    before = _snapshot(discovered.ws)
    discovered.fails("knowledge", "pull", says=["context.yaml", "line 2", "alias"])
    assert _snapshot(discovered.ws) == before


def test_a_huge_fields_file_is_refused_with_its_size(discovered: Cli) -> None:
    from prism.workspace import MAX_KNOWLEDGE_BYTES

    folder = discovered.ws / "knowledge"
    folder.mkdir()
    row = "tv_spend,TV," + "x" * 200 + "\n"
    (folder / "fields.csv").write_text("column,label,description\n" + row * (MAX_KNOWLEDGE_BYTES // len(row) + 1))
    before = _snapshot(discovered.ws)
    discovered.fails("knowledge", "pull", says=["fields.csv", "MB", "at most"])
    assert _snapshot(discovered.ws) == before


@pytest.mark.parametrize("label", ["=1+1", "+tv", "-tv", "@SUM(A1)", "'=quoted", "''+twice", "'plain"])
def test_knowledge_export_then_pull_round_trips_formula_like_text(discovered: Cli, label: str) -> None:
    """`=1+1` came back as `'=1+1` and the report showed it."""
    meta = json.loads((discovered.ws / "metadata.json").read_text())
    channel = read_model(discovered.ws / "config.json", Config).data.channels[0]
    meta["knowledge"]["fields"] = {channel: {"column": channel, "label": label, "description": label}}
    meta["knowledge"]["business_context"] = {"brand": label}
    write_json(discovered.ws / "metadata.json", meta)
    assert discovered("knowledge", "export")[0] == 0
    exported = (discovered.ws / "knowledge" / "fields.csv").read_text()
    if label.lstrip("'")[:1] in "=+-@":
        assert f",{label}," not in exported  # neutralised in the spreadsheet file
    assert discovered("knowledge", "pull")[0] == 0
    back = read_model(discovered.ws / "metadata.json", Metadata).knowledge
    assert (back.fields[channel].label, back.fields[channel].description, back.business_context.brand) == \
        (label, label, label)


# ------------------------------------------------------------------------------------------ loop


def test_loop_with_claude_and_no_key_refuses_before_state_moves(discovered: Cli, monkeypatch) -> None:
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    before = _snapshot(discovered.ws)
    discovered.fails("loop", "--agents", "claude", "--rounds", "1", says=["ANTHROPIC_API_KEY"])
    assert _snapshot(discovered.ws) == before and not (discovered.ws / "state.json").exists()


@pytest.fixture
def read_only(discovered: Cli, tmp_path: Path):
    """The discovered workspace (with a results folder) seen through a read-only bind mount."""
    (discovered.ws / "results").mkdir()
    view = tmp_path / "ro"
    view.mkdir()
    mounted = subprocess.run(["mount", "--bind", str(discovered.ws), str(view)], capture_output=True).returncode == 0
    if not mounted or subprocess.run(["mount", "-o", "remount,ro,bind", str(view)], capture_output=True).returncode:
        if mounted:
            subprocess.run(["umount", str(view)], check=False)
        pytest.skip("needs a read-only bind mount (root with mount rights)")
    discovered.ws = view
    yield discovered
    subprocess.run(["umount", str(view)], check=False)


def test_loop_on_a_read_only_workspace_is_bad_input(read_only: Cli) -> None:
    """It exited 1 removing a missing results/experiments_used.json."""
    read_only.fails("loop", "--rounds", "1", says=[str(read_only.ws), "Read-only"])


# ------------------------------------------------------------------------------------ the data


def test_more_channels_than_the_weeks_can_identify_are_refused_before_any_fit(cli: Cli, tmp_path: Path) -> None:
    """200 channels × 104 weeks: ridge timed out at 300 s."""
    rng = np.random.default_rng(2)
    spend = pd.DataFrame(rng.uniform(10, 100, (104, 200)).round(2), columns=[f"ch{i:03d}_spend" for i in range(200)])
    frame = pd.concat([pd.DataFrame({"date": pd.date_range("2022-01-03", periods=104, freq="7D"),
                                     "revenue": rng.uniform(1e4, 2e4, 104).round(2)}), spend], axis=1)
    frame.to_csv(tmp_path / "data.csv", index=False)
    assert cli("discover", "--path", str(tmp_path / "data.csv"))[0] == 0
    before = _snapshot(cli.ws)
    train = 104 - holdout_weeks(104, read_model(cli.ws / "config.json", Config))
    cli.fails("run", says=["200 channels", f"{train} training weeks", "at most"])
    assert _snapshot(cli.ws) == before


def test_a_saved_pandas_index_is_not_a_control(cli: Cli, tmp_path: Path) -> None:
    weekly_frame(60).to_csv(tmp_path / "data.csv")  # index=True: a first column 'Unnamed: 0' of 0..59
    code, out, err = cli("discover", "--path", str(tmp_path / "data.csv"))
    assert code == 0, out + err
    cfg = read_model(cli.ws / "config.json", Config)
    assert cfg.data.controls == ["price"] and "Unnamed: 0" not in cfg.data.channels
    said = [ln for ln in out.splitlines() if ln.startswith("not modelled: Unnamed: 0") and "pandas index" in ln]
    assert len(said) == 1, out

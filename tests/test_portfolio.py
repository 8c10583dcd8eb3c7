"""`prism portfolio` on a local Ray: three healthy brands and a broken one, resume, outputs, the shared budget,
and the bad inputs (one entity, unsafe names, Ray not reachable). One Ray instance for the module."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pptx import Presentation

from prism.data.simulate import simulate
from prism.errors import InputError
from prism.orchestration.portfolio import folder_name, folders
from prism.cli import main
from tests.helpers.cli import Cli

BRANDS = ["Acme", "Bolt & Co", "Céleste"]
BROKEN = "Dud"
SETTINGS = '{"models": ["ridge"], "ridge": {"bootstrap": 200, "search_budget": 10}}'  # plannable: 200 draws
FAST = ("--kpi", "revenue", "--k", "2", "--plan-k", "2")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    yield ray
    ray.shutdown()


def brands_file(folder: Path, brands: list[str], broken: bool = True, weeks: int = 60) -> Path:
    parts = [simulate(weeks=weeks, n_channels=3, seed=i).frame.assign(brand=b) for i, b in enumerate(brands)]
    if broken:
        bad = simulate(weeks=weeks, n_channels=3, seed=9).frame.astype({"revenue": object})
        bad.loc[7, "revenue"] = "twelve"  # text in the KPI column: this brand's discover fails
        parts.append(bad.assign(brand=BROKEN))
    path = folder / "brands.csv"
    pd.concat(parts).to_csv(path, index=False)
    return path


def prism(*args: str) -> tuple[int, float]:
    """The real CLI in-process: its exit code and wall seconds."""
    t0 = time.perf_counter()
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    return int(exc.value.code), time.perf_counter() - t0


@pytest.fixture(scope="module")
def portfolio(ray_local, tmp_path_factory):
    """The portfolio fitted twice (the second run resumes): its folder and both runs' (exit code, seconds)."""
    root = tmp_path_factory.mktemp("portfolio")
    data, settings = brands_file(root, BRANDS), root / "settings.json"
    settings.write_text(SETTINGS)
    args = ("portfolio", "--path", str(data), "--entity-column", "brand", "--settings", str(settings), *FAST,
            "--workdir", str(root / "pf"))
    first = prism(*args)
    first_status = _status(root / "pf")
    second = prism(*args)
    return root / "pf", (*first, first_status), (*second, _status(root / "pf"))


def _status(pf: Path) -> pd.DataFrame:
    return pd.read_csv(pf / "status.csv").set_index("entity")


def test_three_brands_finish_and_the_broken_one_fails_alone(portfolio):
    pf, first, _ = portfolio
    assert first[0] == 0, first
    status = first[2]
    assert list(status.columns) == ["status", "reason", "seconds"]
    assert status.loc[BRANDS, "status"].tolist() == ["ok"] * 3
    assert status.loc[BROKEN, "status"] == "failed"
    assert "column 'revenue'" in status.loc[BROKEN, "reason"] and "'twelve' is not a number" in status.loc[BROKEN, "reason"]
    for brand in BRANDS:
        ws = pf / "entities" / folder_name(brand)
        assert (ws / "results" / "latest.json").exists() and (ws / "results" / "audit.csv").exists()
        assert (ws / "results" / "roi_comparison.csv").exists() and (ws / "rounds" / "R01_manifest.json").exists()
    assert not (pf / "entities" / "dud" / "results" / "latest.json").exists()


def test_a_second_run_skips_unchanged_entities_in_a_quarter_of_the_time(portfolio):
    pf, first, second = portfolio
    assert second[0] == 0, second
    status = second[2]
    assert status.loc[BRANDS, "status"].tolist() == ["skipped"] * 3
    assert status.loc[BROKEN, "status"] == "failed"
    assert second[1] <= first[1] / 4, f"second run {second[1]:.1f} s, first {first[1]:.1f} s"


def test_portfolio_table_and_report(portfolio):
    pf, *_ = portfolio
    table = pd.read_csv(pf / "portfolio" / "portfolio.csv")
    assert list(table.columns) == ["entity", "channel", "roi", "roi_low", "roi_high", "confidence"]
    assert sorted(table["entity"].unique()) == sorted(BRANDS) and len(table) == 9
    assert (table["roi_low"] <= table["roi"]).all() and (table["roi"] <= table["roi_high"]).all()
    channels = pd.read_csv(pf / "portfolio" / "channels.csv")
    weights = table["confidence"].map({"high": 1.0, "medium": 0.5, "low": 0.0})
    for r in channels.itertuples():
        mine = table["channel"] == r.channel
        w = weights[mine]
        expected = (w * table.loc[mine, "roi"]).sum() / w.sum() if w.sum() else np.nan
        assert r.weighted_roi == pytest.approx(expected, nan_ok=True)
    md = (pf / "portfolio" / "report.md").read_text()
    assert "Channels across entities" in md and f"| {BROKEN} | it failed" in md
    assert "<table" in (pf / "portfolio" / "report.html").read_text()
    deck = Presentation(str(pf / "portfolio" / "report.pptx"))
    assert len(deck.slides) == 4


def test_portfolio_budget_moves_money_only_where_confidence_allows(portfolio, capsys):
    pf, *_ = portfolio
    code, *_ = Cli(capsys, pf)("portfolio", "optimize", "--budget", "1.0x")
    assert code == 0
    plan = pd.read_csv(pf / "portfolio" / "optimization.csv")
    lines = plan[plan["channel"] != "total"]
    assert sorted(lines["entity"].unique()) == sorted(BRANDS)
    total = plan[plan["channel"] == "total"].iloc[0]
    assert lines["recommended"].sum() == pytest.approx(total["recommended"], rel=1e-6)
    assert total["recommended"] == pytest.approx(total["current"], rel=1e-4)  # 1.0x: the same budget
    capped = lines[lines["confidence"] != "high"]
    ref = capped["current"] * total["recommended"] / total["current"]
    assert ((capped["recommended"] - ref).abs() <= 0.1 * ref + 1e-6).all()


def test_changed_data_refits_only_its_entity(portfolio):
    """Runs after the tests that read the fixture's outputs: it changes one brand's rows and reruns."""
    pf, *_ = portfolio
    data = pf.parent / "brands.csv"
    frame = pd.read_csv(data)
    acme = frame["brand"] == "Acme"
    frame.loc[acme, "tv_spend"] = frame.loc[acme, "tv_spend"] * 1.1
    frame.to_csv(data, index=False)
    code, _ = prism("portfolio", "--path", str(data), "--entity-column", "brand", "--settings",
                    str(pf.parent / "settings.json"), *FAST, "--workdir", str(pf))
    assert code == 0
    status = _status(pf)
    assert status.loc["Acme", "status"] == "ok"
    assert status.loc[["Bolt & Co", "Céleste"], "status"].tolist() == ["skipped"] * 2


def test_one_entity_is_a_normal_workspace(ray_local, tmp_path, cli):
    data, settings = brands_file(tmp_path, ["Solo"], broken=False), tmp_path / "settings.json"
    settings.write_text(SETTINGS)
    code, out, _ = cli("portfolio", "--path", str(data), "--entity-column", "brand", "--settings", str(settings),
                       "--quick", *FAST)
    assert code == 0
    assert "holds one value ('Solo')" in out and "not a portfolio" in out
    assert (cli.ws / "results" / "latest.json").exists() and not (cli.ws / "entities").exists()


def test_unsafe_names_become_folders_and_collisions_are_refused():
    assert folder_name("Bolt & Co") == "bolt-co"
    assert folder_name("../../etc") == "etc" and folder_name("Céleste") == "celeste" and folder_name("★") == "entity"
    with pytest.raises(InputError, match="'A B' and 'a-b' both map to the folder entities/a-b"):
        folders(["A B", "a-b"])
    assert len(set(folders([f"brand {i}" for i in range(300)]).values())) == 300


def test_collision_and_unreachable_ray_exit_2_before_any_write(tmp_path, cli):
    data = tmp_path / "clash.csv"
    frame = simulate(weeks=30, n_channels=2, seed=1).frame
    pd.concat([frame.assign(brand="A B"), frame.assign(brand="a-b")]).to_csv(data, index=False)
    cli.fails("portfolio", "--path", str(data), "--entity-column", "brand", says=["both map to the folder"])
    data = brands_file(tmp_path, ["A", "B"], broken=False, weeks=30)
    cli.fails("portfolio", "--path", str(data), "--entity-column", "brand", "--address", "127.0.0.1:9",
              says=["--address 127.0.0.1:9", "not reachable"])
    assert not cli.ws.exists() or not any(cli.ws.iterdir())


def test_a_dead_worker_fails_its_call_alone(ray_local):
    from prism.orchestration.ray_pool import fan_out

    results = {}
    fan_out(_maybe_die, [(i,) for i in range(12)], 2, lambda call, res: results.__setitem__(call[0], res))
    assert sorted(results) == list(range(12))
    assert isinstance(results[5], Exception)
    assert all(results[i] == i * i for i in range(12) if i != 5)


def _maybe_die(i: int) -> int:
    if i == 5:
        os._exit(1)  # the worker process dies, as on a crash or a memory kill
    return i * i


def test_hundreds_of_entities_are_submitted_a_few_per_cpu_at_a_time(ray_local):
    """Memory stays bounded with hundreds of entities: a call is taken from the list only when fewer than
    IN_FLIGHT_PER_CPU × CPUs are pending, and each result comes back as it ends."""
    from prism.orchestration.ray_pool import IN_FLIGHT_PER_CPU, fan_out

    taken, ended, most = [0], [0], [0]

    def calls():
        for i in range(300):
            most[0] = max(most[0], taken[0] - ended[0])
            taken[0] += 1
            yield (i,)

    def done(call, result):
        ended[0] += 1
        assert result == call[0] * call[0]

    fan_out(_square, calls(), 2, done)
    assert ended[0] == 300 and 0 < most[0] <= IN_FLIGHT_PER_CPU * 2


def _square(i: int) -> int:
    return i * i

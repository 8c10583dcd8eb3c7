"""The knowledge layer: the REAL notion-client against a fake Notion on 127.0.0.1, the local files, the merge
into metadata.json, and what the knowledge changes downstream (priors, Explorer, Reporter)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import tests.helpers.fake_notion as fn
from tests.helpers.fake_notion import FakeNotion
from tests.helpers.loop import crafted_results, make_ws
from prism.agents import explorer, reporter
from prism.analysis.facts import RoundFacts
from prism.cli import main
from prism.knowledge import checks, notion, sync
from prism.models import ridge
from prism.models.base import ModelData
from prism.models.priors import effective_config, informed_priors
from prism.schemas import Config, FieldDefinition, Knowledge, KnownIssue, Metadata, RoiPrior
from prism.workspace import Workspace, read_model, write_json

TV, SEARCH = "tv_spend", "search_spend"


@pytest.fixture()
def ws(tmp_path: Path) -> Workspace:
    return make_ws(tmp_path / "ws", weeks=104, n_channels=3, models=["ridge"])[0]


@pytest.fixture()
def sim_ws(tmp_path: Path):
    return make_ws(tmp_path / "ws", weeks=104, n_channels=3, models=["ridge"])


def channels(ws: Workspace) -> list[str]:
    return read_model(ws.config, Config).data.channels


def meta(ws: Workspace) -> Metadata:
    return read_model(ws.metadata, Metadata)


def set_source(ws: Workspace, source: str, databases: dict[str, str] | None = None) -> None:
    cfg = json.loads(ws.config.read_text())
    cfg["knowledge"] = {"source": source, "databases": databases or {}}
    write_json(ws.config, cfg)


def cli(capsys, ws: Workspace, *args: str) -> tuple[int, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        main([*args, "--workdir", str(ws.root)])
    out, err = capsys.readouterr()
    return int(exc.value.code), out + err


def notion_workspace(server: FakeNotion, chans: list[str]) -> dict[str, str]:
    """The four databases as a business team fills them, with every property type Prism reads."""
    a, b, c = chans[:3]
    fields = server.add_database("Field Definitions", [
        {"Column": fn.title(a), "Label": fn.rich_text("Television"), "Role": fn.select("channel"),
         "Expected ROI min": fn.number(1.5), "Expected ROI max": fn.number(2.5),
         "Adstock decay benchmark": fn.formula(fn.number(0.6)), "Tags": fn.multi_select("offline", "brand")},
        {"Column": fn.title(b), "Label": fn.rich_text("Paid search"), "Role": fn.select("channel"),
         "Expected ROI low": fn.number(0.5), "Expected ROI max": fn.number(1.0),  # renamed min column
         "Adstock decay benchmark": fn.number(None), "Tags": fn.multi_select()},
        {"Column": fn.title(c), "Label": fn.rich_text(""), "Role": fn.select(None),
         "Expected ROI min": {"oops": 1}, "Expected ROI max": fn.number(None),  # malformed property
         "Adstock decay benchmark": fn.number(None), "Tags": fn.multi_select()},
    ])
    context = server.add_database("Business Context", [
        {"Brand": fn.title("Acme Outdoor"), "Market": fn.rich_text("DE"), "Currency": fn.select("eur"),
         "Typical media share": fn.number(0.25), "Purchase cycle": fn.rich_text("4 weeks"),
         "Active": fn.checkbox(True)}])
    issues = server.add_database("Known Issues", [
        {"Issue": fn.title("TV tracking outage"), "Column": fn.rich_text(a),
         "Period": fn.date("2022-03-07", "2022-03-28"), "Severity": fn.select("High"),
         "Recommended action": fn.rich_text("add an event control")},
        {"Issue": fn.title("Typo severity"), "Column": fn.rich_text(b), "Period": fn.date("2022-05-02"),
         "Severity": fn.select("urgent"), "Recommended action": fn.rich_text("")}])
    experiments = server.add_database("Experiments", [
        {"Channel": fn.title(b), "Start": fn.date("2022-06-06"), "End": fn.date("2022-07-04"),
         "Spend": fn.number(50000.0), "Incremental KPI": fn.number(40000.0), "Incremental KPI SE": fn.number(9000.0)}])
    return {"fields": fields, "context": context, "issues": issues, "experiments": experiments}


@pytest.fixture()
def server(monkeypatch):
    with FakeNotion(page_size=2) as fake:
        monkeypatch.setenv(notion.BASE_URL_ENV, fake.url)
        monkeypatch.setenv(notion.TOKEN_ENV, fn.TOKEN)
        yield fake


# ------------------------------------------------------------------------------------------------ Notion


def test_notion_pull_reads_every_property_type_with_pagination_and_a_429(ws, server, capsys):
    chans = channels(ws)
    notion_workspace(server, chans)
    server.fail_next.append((429, "rate_limited", {"retry-after": "0"}))
    set_source(ws, "notion")
    code, out = cli(capsys, ws, "knowledge", "pull")
    assert code == 0, out
    k = meta(ws).knowledge
    assert k.source.startswith("notion") and k.pulled_at is not None
    tv = k.fields[chans[0]]
    assert (tv.label, tv.role, tv.expected_roi_min, tv.expected_roi_max, tv.adstock_decay) == (
        "Television", "channel", 1.5, 2.5, 0.6)
    assert (k.fields[chans[1]].expected_roi_min, k.fields[chans[1]].expected_roi_max) == (0.5, 1.0)  # renamed column
    assert k.fields[chans[2]].expected_roi_min is None
    assert k.business_context.currency == "EUR" and k.business_context.typical_media_share == 25.0
    assert [(i.issue, i.start, i.end, i.severity) for i in k.known_issues] == [
        ("TV tracking outage", "2022-03-07", "2022-03-28", "high")]
    assert [(e.channel, e.spend, e.incremental_kpi_se) for e in k.experiments] == [(chans[1], 50000.0, 9000.0)]
    notes = " | ".join(k.notes)
    assert "Tags" in notes and "Active" in notes  # unknown columns are reported
    assert "'Expected ROI min'" in notes and "row 3" in notes  # the malformed property
    assert "'severity'" in notes and "urgent" in notes  # the bad row is skipped with a note
    assert meta(ws).label(chans[0]) == "Television"
    queries = server.calls("POST", "/v1/data_sources/")
    assert any(q["body"].get("start_cursor") for q in queries)  # 3 field rows at page size 2: a second page
    assert server.requests[0]["headers"]["notion-version"] == "2025-09-03"
    assert server.requests[0]["path"] == server.requests[1]["path"]  # the 429 was retried


def test_notion_databases_by_configured_id(ws, server):
    ids = notion_workspace(server, channels(ws))
    server.add_database("Field Definitions", [])  # a second database with the same title: the id decides
    set_source(ws, "notion", {"fields": ids["fields"], "context": server.databases[ids["context"]][
        "data_sources"][0]["id"]})  # a data source id works too
    ws.knowledge_dir.mkdir()
    (ws.knowledge_dir / "fields.csv").write_text(f"column,label,unit\n{channels(ws)[0]},TV (local),EUR\n")
    pulled = sync.pull(ws)
    assert pulled.warning is None
    tv = meta(ws).knowledge.fields[channels(ws)[0]]
    assert (tv.label, tv.unit) == ("Television", "EUR")  # Notion's value wins; what Notion leaves empty stays local
    assert meta(ws).knowledge.source.startswith("notion over local")
    assert meta(ws).knowledge.business_context.brand == "Acme Outdoor"
    assert not server.calls("POST", "/v1/search") or all(
        r["body"]["query"] != "Field Definitions" for r in server.calls("POST", "/v1/search"))


def test_failed_pull_keeps_last_good_knowledge_and_never_leaks_the_token(ws, server, capsys, monkeypatch):
    notion_workspace(server, channels(ws))
    set_source(ws, "notion")
    assert sync.pull(ws).warning is None
    good = meta(ws).knowledge
    monkeypatch.setenv(notion.TOKEN_ENV, "secret_wrong_token_987")
    code, out = cli(capsys, ws, "knowledge", "pull")
    assert code == 2
    assert "NOTION_TOKEN" in out and "401" in out and "Connections" in out
    assert meta(ws).knowledge == good  # the last good knowledge is kept
    code, out = cli(capsys, ws, "discover")  # discover never stops for Notion
    assert code == 0 and "Notion pull failed" in out
    assert meta(ws).knowledge == good
    assert sum("Notion pull failed" in w for w in meta(ws).warnings) == 1
    server.down = True
    monkeypatch.setenv(notion.TOKEN_ENV, fn.TOKEN)
    assert "503" in sync.pull(ws).warning
    monkeypatch.setenv(notion.BASE_URL_ENV, "http://127.0.0.1:9")  # nothing listens: no network
    assert "cannot reach Notion" in sync.pull(ws).warning
    assert meta(ws).knowledge == good
    for secret in (fn.TOKEN, "secret_wrong_token_987"):
        assert secret not in out
        assert not [p for p in ws.root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


def test_init_notion_creates_the_four_databases_and_fills_field_definitions(ws, server, capsys):
    code, out = cli(capsys, ws, "knowledge", "init-notion", "--parent-page", "a" * 32)
    assert code == 0, out
    titles = sorted("".join(t["plain_text"] for t in d["title"]) for d in server.databases.values())
    assert titles == ["Business Context", "Experiments", "Field Definitions", "Known Issues"]
    cfg = read_model(ws.config, Config)
    assert cfg.knowledge.source == "notion" and set(cfg.knowledge.databases) == {"fields", "context", "issues",
                                                                                  "experiments"}
    fields_src = server.source_of(cfg.knowledge.databases["fields"])
    assert {"Column", "Expected ROI min", "Adstock decay benchmark"} <= set(fields_src["properties"])
    assert len(fields_src["pages"]) == len(cfg.data.channels) + len(cfg.data.controls) + 2  # + date and KPI
    assert sync.pull(ws).warning is None  # what was created reads back
    assert meta(ws).knowledge.fields[cfg.data.kpi].role == "kpi"


def test_init_notion_without_token_is_bad_input(ws, monkeypatch, capsys):
    monkeypatch.delenv(notion.TOKEN_ENV, raising=False)
    code, out = cli(capsys, ws, "knowledge", "init-notion", "--parent-page", "x")
    assert code == 2 and "NOTION_TOKEN is not set" in out and "Traceback" not in out


# ----------------------------------------------------------------------------------------- local files


def write_local(ws: Workspace, chans: list[str]) -> None:
    folder = ws.knowledge_dir
    folder.mkdir(exist_ok=True)
    (folder / "fields.csv").write_text(
        "column,label,role,expected_roi_min,expected_roi_max,adstock_decay\n"
        f"{chans[0]},Television,channel,1.5,2.5,0.6\n{chans[1]},Paid search,channel,,,\n")
    (folder / "context.yaml").write_text("brand: Acme Outdoor\ncurrency: eur\ntypical_media_share: 30\n")
    (folder / "issues.csv").write_text("issue,column,period,severity,action\n"
                                       f"TV tracking outage,{chans[0]},2022-03-07..2022-03-28,high,add a control\n")
    (folder / "experiments.csv").write_text("channel,start,end,spend,incremental_kpi,incremental_kpi_se\n"
                                            f"{chans[1]},2022-06-06,2022-07-04,5000,4000,900\n")


def test_local_files_pull_export_and_show(ws, capsys):
    chans = channels(ws)
    write_local(ws, chans)
    code, out = cli(capsys, ws, "knowledge", "pull")
    assert code == 0, out
    k = meta(ws).knowledge
    assert k.fields[chans[0]].adstock_decay == 0.6 and k.business_context.currency == "EUR"
    assert (k.known_issues[0].start, k.known_issues[0].end) == ("2022-03-07", "2022-03-28")
    assert k.experiments[0].incremental_kpi == 4000.0
    code, out = cli(capsys, ws, "knowledge", "show")
    assert code == 0 and "Acme Outdoor" in out and "2022-03-28" in out
    assert cli(capsys, ws, "knowledge", "export")[0] == 2  # existing files are kept
    assert cli(capsys, ws, "knowledge", "export", "--force")[0] == 0
    assert cli(capsys, ws, "knowledge", "pull")[0] == 0
    again = meta(ws).knowledge
    assert again.model_dump(exclude={"pulled_at", "source"}) == k.model_dump(exclude={"pulled_at", "source"})


@pytest.mark.parametrize("file, text, says", [
    ("issues.csv", "issue,period,severity\nOutage,2022-13-01,high\n",
     ["issues.csv", "row 1", "'period'", "2022-13-01"]),
    ("issues.csv", "issue,severity\nOutage,urgent\n", ["issues.csv", "row 1", "'severity'", "urgent"]),
    ("experiments.csv", "channel,start,end,spend,incremental_kpi,incremental_kpi_se\nx,2022-01-03,2022-01-31,10,5,0\n",
     ["experiments.csv", "row 1", "'incremental_kpi_se'", "0"]),
    ("experiments.csv", "channel,start,end,spend,incremental_kpi\nx,2022-01-03,2022-01-31,ten,5\n",
     ["experiments.csv", "row 1", "'spend'", "ten"]),
    ("fields.csv", "column,expected_roi_min,expected_roi_max\ntv,3,1\n", ["fields.csv", "row 1", "expected_roi_min"]),
    ("fields.csv", "column,adstock_decay\ntv,1.5\n", ["fields.csv", "row 1", "'adstock_decay'", "1.5"]),
    ("context.yaml", "- a list\n", ["context.yaml", "mapping"]),
    ("context.yaml", "typical_media_share: lots\n", ["context.yaml", "'typical_media_share'", "lots"]),
])
def test_bad_local_file_is_one_line_exit_2_and_keeps_metadata(ws, capsys, file, text, says):
    before = ws.metadata.read_bytes()
    ws.knowledge_dir.mkdir(exist_ok=True)
    (ws.knowledge_dir / file).write_text(text)
    code, out = cli(capsys, ws, "knowledge", "pull")
    assert code == 2 and "Traceback" not in out and len(out.strip().splitlines()) == 1, out
    for part in says:
        assert part in out, (part, out)
    assert ws.metadata.read_bytes() == before


def test_fields_csv_is_preferred_over_the_older_data_dictionary(ws):
    chans = channels(ws)
    (ws.root / "data_dictionary.csv").write_text(f"column,label\n{chans[0]},Old label\n")
    write_local(ws, chans)
    sync.pull(ws)
    assert meta(ws).knowledge.fields[chans[0]].label == "Television"
    (ws.knowledge_dir / "fields.csv").unlink()
    sync.pull(ws)
    assert meta(ws).knowledge.fields[chans[0]].label == "Old label"  # still accepted


# ------------------------------------------------------------------------------------------------- use


def test_knowledge_becomes_priors_config_wins_and_ridge_centre_moves(sim_ws):
    ws, sim = sim_ws
    chans = sim.channels
    cfg = read_model(ws.config, Config)
    truth = sim.true_roi(slice(0, 94))[chans[0]]
    knowledge = Knowledge(fields={chans[0]: FieldDefinition(column=chans[0], expected_roi_min=3 * truth,
                                                            expected_roi_max=4 * truth, adstock_decay=0.8),
                                  chans[1]: FieldDefinition(column=chans[1], expected_roi_min=0.1,
                                                            expected_roi_max=0.2)})
    own = cfg.model_copy(update={"roi_priors": {chans[1]: RoiPrior(low=1.0, high=2.0)}})
    used = effective_config(own, knowledge)
    assert used.roi_priors[chans[1]].low == 1.0  # the config's explicit prior wins
    assert used.adstock.decay_priors == {chans[0]: 0.8}
    assert informed_priors(own, used, "ridge") == {"roi": {chans[0]: "knowledge", chans[1]: "config"},
                                                   "decay": {chans[0]: "knowledge"}}
    assert informed_priors(own, used.model_copy(update={"adstock": used.adstock.model_copy(
        update={"decay": 0.3})}), "ridge")["decay"] == {}  # a fixed decay leaves no prior to inform
    data = ModelData.from_frame(sim.frame, cfg)
    plain, informed = ridge.build_problem(data, cfg), ridge.build_problem(data, effective_config(cfg, knowledge))
    assert plain.prior_center()[0] == pytest.approx(ridge.DECAY_PRIOR[0])
    assert informed.prior_center()[0] == pytest.approx(0.8)
    assert np.isnan(plain.roi_centre).all() and informed.roi_centre[0] == pytest.approx(3.5 * truth)
    base = cfg.model_copy(update={"ridge": cfg.ridge.model_copy(update={"bootstrap": 0, "alpha": 10.0})})
    roi_plain = _ridge_roi(data, base)[0]
    roi_informed = _ridge_roi(data, effective_config(base, knowledge))[0]
    assert abs(roi_informed - 3.5 * truth) < abs(roi_plain - 3.5 * truth)  # pulled towards the expected range


def _ridge_roi(data: ModelData, cfg: Config) -> np.ndarray:
    from prism.models.base import channel_summary

    summary = channel_summary(ridge.fit(data, cfg, quick=True), data)
    return np.array([summary[ch].roi for ch in data.channels])


def test_bayesian_prior_centres_move_with_knowledge(sim_ws):
    from prism.models.posterior import decay_centres, roi_prior

    ws, sim = sim_ws
    cfg = read_model(ws.config, Config)
    ch = sim.channels[0]
    knowledge = Knowledge(fields={ch: FieldDefinition(column=ch, expected_roi_min=2.0, expected_roi_max=3.0,
                                                      adstock_decay=0.7)})
    data = ModelData.from_frame(sim.frame, cfg)
    mu_plain, _ = roi_prior(data, cfg)
    mu, sd = roi_prior(data, effective_config(cfg, knowledge))
    assert mu_plain[0] == 0.0 and (mu[0], sd[0]) == (2.5, 0.5)
    assert np.isnan(decay_centres(cfg, sim.channels)[0])
    assert decay_centres(effective_config(cfg, knowledge), sim.channels)[0] == 0.7


def test_explorer_inspects_the_weeks_a_known_issue_names(sim_ws):
    ws, sim = sim_ws
    before, score_before = explorer.compose(RoundFacts.load(ws, 1, need_results=False), sim.frame)
    assert "Known data issues" not in before
    write_local(ws, sim.channels)
    sync.pull(ws)
    text, score = explorer.compose(RoundFacts.load(ws, 1, need_results=False), sim.frame)
    section = text.split("## Known data issues (knowledge layer)")[1].split("##")[0]
    weeks = sim.frame["date"][(sim.frame["date"] >= "2022-03-07") & (sim.frame["date"] <= "2022-03-28")]
    tv = sim.frame[sim.channels[0]].astype(float)
    inside = tv[weeks.index].mean()
    assert f"{len(weeks)} modelled week(s), {weeks.iloc[0]} to {weeks.iloc[-1]}" in section
    assert "Television averages" in section and "add a control" in section
    assert f"{inside:,.0f}" in section
    assert score == max(1, score_before - 1)  # a high-severity issue in the modelled weeks costs a point


def test_reporter_writes_currency_labels_issue_weeks_and_informed_priors(sim_ws):
    ws, sim = sim_ws
    diag = {"informed_priors": {"roi": {sim.channels[0]: "knowledge"}, "decay": {}}}
    crafted_results(ws, sim, factors={"ridge": 1.0}, diagnostics={"ridge": diag})
    plain = reporter.compose(RoundFacts.load(ws, 1), [], [])
    assert "per unit" in plain and "Television" not in plain
    write_local(ws, sim.channels)
    sync.pull(ws)
    text = reporter.compose(RoundFacts.load(ws, 1), [], [])
    assert text.startswith("# Acme Outdoor:")
    assert "per EUR" in text and "per unit" not in text
    assert "Television" in text
    assert "Known data issue (high): TV tracking outage (Television; weeks 2022-03-07 to 2022-03-28)" in text
    assert "Business benchmarks used as priors: expected ROI ranges for Television." in text


def test_critic_and_tuner_checks():
    k = Knowledge(fields={TV: FieldDefinition(column=TV, expected_roi_min=1.0, expected_roi_max=2.0,
                                              adstock_decay=0.6),
                          SEARCH: FieldDefinition(column=SEARCH, expected_roi_min=0.5, expected_roi_max=3.0,
                                                  adstock_decay=0.2)})
    out = checks.roi_outside_expected({TV: 2.7, SEARCH: 1.0, "other": 9.0}, k)
    assert [(o.channel, o.roi, o.expected_min, o.expected_max, o.direction) for o in out] == [
        (TV, 2.7, 1.0, 2.0, "above")]
    cfg = Config.model_validate({"data": {"path": "x.csv", "date_column": "date", "kpi": "kpi",
                                          "channels": [TV, SEARCH]}, "adstock": {"channel_decays": {SEARCH: 0.2}}})
    assert checks.unapplied_decay_benchmarks(cfg, k) == {TV: 0.6}
    weibull = cfg.model_copy(update={"adstock": cfg.adstock.model_copy(update={"type": "weibull"})})
    assert checks.unapplied_decay_benchmarks(weibull, k) == {}


def test_issue_outside_the_data_or_without_period_inspects_nothing():
    frame = pd.DataFrame({"date": ["2022-01-03", "2022-01-10"], "kpi": [1.0, 2.0]})
    late = checks.inspect_issue(KnownIssue(issue="x", start="2030-01-01", end="2030-02-01"), frame, "date", "kpi")
    assert late.weeks == [] and late.column == "kpi"
    hit = checks.inspect_issue(KnownIssue(issue="x", column="kpi", start="2022-01-10"), frame, "date", "kpi")
    assert hit.weeks == ["2022-01-10"] and hit.change_pct == pytest.approx(100.0)


def test_loop_round_with_notion_knowledge_and_without(tmp_path, server):
    """One real round (ridge, quick) twice: with Notion knowledge the priors, exploration and report change."""
    from prism.orchestration.loop import run_loop
    from rich.console import Console

    quiet = Console(file=open("/dev/null", "w"))
    texts = {}
    for name in ("plain", "notion"):
        ws, sim = make_ws(tmp_path / name, weeks=104, n_channels=3, models=["ridge"])
        cfg = json.loads(ws.config.read_text())
        cfg["ridge"].update({"bootstrap": 10, "search_budget": 5})
        write_json(ws.config, cfg)
        if name == "notion":
            notion_workspace(server, sim.channels)
            set_source(ws, "notion")
        state = run_loop(ws, 1, quick=True, console=quiet, render=False)
        assert state.stage == "done", state.stopped_reason
        latest = json.loads(ws.latest.read_text())
        ridge_out = latest["models"]["ridge"]
        texts[name] = (ridge_out["diagnostics"]["informed_priors"], ridge_out["channels"][sim.channels[0]]["roi"],
                       ws.exploration().read_text(), ws.report_md.read_text())
    (prior0, roi0, explore0, report0), (prior1, roi1, explore1, report1) = texts["plain"], texts["notion"]
    ch = sim.channels
    assert prior0 == {"roi": {}, "decay": {}}
    assert roi1 != roi0  # same data, same settings: only the knowledge differs
    assert prior1 == {"roi": {ch[0]: "knowledge", ch[1]: "knowledge"}, "decay": {ch[0]: "knowledge"}}
    assert "Known data issues" not in explore0 and "TV tracking outage" in explore1
    assert "per unit" in report0 and "per EUR" in report1 and report1.startswith("# Acme Outdoor:")


def test_renderers_name_the_currency_from_the_business_context(tmp_path):
    from tests.helpers.report import build_workspace, write_optimization
    from prism.report.html import build_html
    from prism.report.inputs import load_inputs

    ws = build_workspace(tmp_path / "report", rounds=1)
    write_optimization(ws)
    plain = build_html(load_inputs(ws), {})
    assert "Return per unit of spend" in plain and "Current spend (" not in plain
    raw = json.loads(ws.metadata.read_text())
    raw["knowledge"]["business_context"] = {"currency": "GBP"}
    write_json(ws.metadata, raw)
    page = build_html(load_inputs(ws), {})
    assert "Return per GBP of spend" in page and "Current spend (GBP)" in page and "Proposed spend (GBP)" in page


def test_critic_flags_an_roi_outside_the_expected_range_with_both_numbers(sim_ws):
    from prism.analysis.checks import compute_checks

    ws, sim = sim_ws
    crafted_results(ws, sim, factors={"ridge": 1.0})
    assert [c for c in compute_checks(ws, 1, "") if c.name == "expected roi range"][0].passed
    tv = sim.channels[0]
    roi = RoundFacts.load(ws, 1).channel_facts[tv].roi
    metadata = meta(ws)
    metadata.knowledge.fields[tv] = FieldDefinition(column=tv, expected_roi_min=roi * 2, expected_roi_max=roi * 3)
    write_json(ws.metadata, metadata)
    check = [c for c in compute_checks(ws, 1, "") if c.name == "expected roi range"][0]
    assert not check.passed and f"ROI {roi:.2f} below the expected range {roi * 2:g}–{roi * 3:g}" in check.evidence


def test_confidence_says_when_a_prior_came_from_the_knowledge_layer(sim_ws):
    from prism.analysis.confidence import WHY_INFORMED, channel_confidence

    ws, sim = sim_ws
    tv, other = sim.channels[0], sim.channels[1]
    diag = {"informed_priors": {"roi": {tv: "knowledge", other: "default"}, "decay": {}}}
    res = crafted_results(ws, sim, factors={"ridge": 1.0}, diagnostics={"ridge": diag})
    labels = channel_confidence(res)
    assert WHY_INFORMED in labels[tv].why and "expected range (knowledge layer)" in labels[tv].reason
    assert WHY_INFORMED not in labels[other].why


def test_tuner_offers_a_decay_benchmark_not_yet_applied(sim_ws):
    from prism.agents.tuner import candidate_changes

    ws, sim = sim_ws
    crafted_results(ws, sim, factors={"ridge": 1.0})
    tv = sim.channels[0]
    assert not [c for c in candidate_changes(ws, 2) if c.key == "adstock.channel_decays"]
    metadata = meta(ws)
    metadata.knowledge.fields[tv] = FieldDefinition(column=tv, adstock_decay=0.7)
    write_json(ws.metadata, metadata)
    change = [c for c in candidate_changes(ws, 2) if c.key == "adstock.channel_decays"][0]
    assert change.new == {tv: 0.7} and "not yet applied" in change.evidence

"""`prism serve` in a real browser: Debian's Chromium, headless, driven by Selenium.

One ridge-only quick round on simulated data whose first channel is named `<script>alert(1)</script>`
serves the pages; a second workspace runs a loop started from the page, with checkpoints answered there.
"""

from __future__ import annotations

import json
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait

from prism.workspace import Workspace, load_state
from tests.helpers.browser import chromium

HOSTILE = "<script>alert(1)</script>"
QUESTION = "what if we cut search by 20%"
SEEN: list[dict[str, str]] = []  # the model workers' status lines, as the runner told them


def _workspace(root: Path) -> Workspace:
    """Simulated weekly data (3 channels, the first with a hostile name), discovered, ridge only."""
    from prism.data.discover import PrepareOptions, discover
    from prism.data.roles import Overrides
    from prism.data.simulate import simulate
    from prism.data.sources import SourceSpec
    from prism.workspace import write_json

    root.mkdir(parents=True)
    sim = simulate(weeks=104, n_channels=3, seed=1)
    sim.frame.rename(columns={sim.channels[0]: HOSTILE}).to_csv(root / "data.csv", index=False)
    ws = Workspace(root)
    discover(ws, SourceSpec(source="csv", path=str(root / "data.csv")),
             Overrides(date="date", kpi=sim.kpi, channels=[HOSTILE, *sim.channels[1:]], controls=sim.controls),
             PrepareOptions())
    cfg = json.loads(ws.config.read_text())
    cfg["models"] = ["ridge"]
    write_json(ws.config, cfg)
    return ws


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`prism serve`'s app and server in a thread, on a free loopback port."""

    def __init__(self, ws: Workspace, token: str | None = None):
        from prism.serve.app import create_app, server

        self.port = _free_port()
        self.app = create_app(ws, token, allowed_hosts=["127.0.0.1"])
        self.server = server(self.app, "127.0.0.1", self.port)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.handle_exit(signal.SIGINT, None)  # as Ctrl-C: the event streams end, then the server
        self.thread.join(10)
        assert not self.thread.is_alive()

    def get(self, path: str, **headers: str) -> tuple[int, dict]:
        return _call(urllib.request.Request(self.url + path, headers=headers))

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        return _call(urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                            headers={"Content-Type": "application/json"}))


def _call(req: urllib.request.Request) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(req, timeout=30) as res:
            return res.status, json.loads(res.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture(scope="module")
def browser():
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A workspace after one quick ridge round (its models refitted with full settings, so what-ifs can be
    planned on the kept draws, without the audit's refits), served."""
    from rich.console import Console

    from prism.analysis.compare import run_compare
    from prism.models.runner import run_models
    from prism.orchestration.loop import run_loop

    from prism.models.runner import watch_jobs

    ws = _workspace(tmp_path_factory.mktemp("serve") / "ws")
    quiet = Console(quiet=True)
    run_loop(ws, 1, quick=True, render=False, console=quiet)
    with watch_jobs(SEEN.append):  # what the live panel's model rows show (test_model_workers_report_status)
        run_models(ws, 1, console=quiet)
    run_compare(ws, 1)
    server = Served(ws)
    assert server.app.state.asks.warm() is None  # as `prism serve` does before it listens
    yield ws, server
    server.stop()


def _wait(driver, condition, seconds: float = 20):
    return WebDriverWait(driver, seconds, poll_frequency=0.1).until(condition)


def test_overview_shows_data_rounds_and_status(browser, served):
    ws, server = served
    browser.get(server.url + "/")
    assert browser.find_element(By.ID, "data-channels").text.startswith(HOSTILE + ", ")
    rows = browser.find_elements(By.CSS_SELECTOR, "#rounds tbody tr")
    assert len(rows) == 1 and rows[0].find_elements(By.TAG_NAME, "td")[0].text == "1 ★"
    state = load_state(ws)
    assert browser.find_element(By.ID, "status-best").text.startswith(f"{state.best_round} (CV MAPE {state.best_objective:.2f}")
    _wait(browser, lambda d: d.find_element(By.ID, "live-status").text.startswith("not running: round 1"))


def test_channel_table_shows_roi_interval_and_why_not_high(browser, served):
    from prism.analysis.facts import fmt
    from prism.llm.ask import AskContext

    ws, server = served
    ctx = AskContext(ws)
    browser.get(server.url + "/channels")
    rows = browser.find_elements(By.CSS_SELECTOR, "#channels tbody tr")
    assert [r.get_attribute("data-channel") for r in rows] == [f.channel for f in ctx.facts.ranked]
    for row, f in zip(rows, ctx.facts.ranked):
        cells = [c.text for c in row.find_elements(By.TAG_NAME, "td")]
        assert cells[0] == f.label and cells[1] == fmt(f.roi)
        assert cells[2].startswith(f"{fmt(f.roi_low)} to {fmt(f.roi_high)}")
        word = ctx.trust_word(f.channel)
        assert cells[3] == word and (cells[4] == "" if word == "high" else cells[4] == f.confidence_reason != "")
    # the charts drew: ROI bars, contribution over time and one response curve per channel
    _wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".chart .main-svg")) >= 2 + len(rows))


def test_hostile_channel_name_is_shown_as_text(browser, served):
    ws, server = served
    for path in ("/", "/channels", "/plan", "/report"):
        browser.get(server.url + path)
        with pytest.raises(NoAlertPresentException):
            browser.switch_to.alert.text  # noqa: B018 (the script never ran)
        # no script element came from the data: only the page's own files and JSON data blocks
        scripts = browser.execute_script(
            "return [...document.scripts].filter(s => !s.src && s.type !== 'application/json').length")
        assert scripts == 0, path
    browser.get(server.url + "/channels")
    assert browser.find_element(By.CSS_SELECTOR, "#channels td.name").text == HOSTILE
    _wait(browser, lambda d: HOSTILE in [t.text for t in d.find_elements(By.CSS_SELECTOR, ".chart .ytick text")])
    legend = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".chart .legendtext")]
    assert HOSTILE in legend  # the contribution chart's legend, as text


def test_question_is_answered_in_under_a_second(browser, served):
    ws, server = served
    code, direct = server.get("/ask?q=" + urllib.request.quote(QUESTION))
    assert code == 200 and direct["intent"] == "scenario" and direct["seconds"] < 1.0
    assert direct["facts"]["low"] < direct["facts"]["kpi_change"] < direct["facts"]["high"]
    browser.get(server.url + "/ask")
    box = browser.find_element(By.ID, "ask-q")
    box.send_keys(QUESTION)
    t0 = time.perf_counter()
    box.submit()
    _wait(browser, lambda d: d.find_element(By.ID, "answer-text").text != "", seconds=5)
    seconds = time.perf_counter() - t0
    assert browser.find_element(By.ID, "answer-text").text == direct["text"]
    assert "90% interval" in direct["text"] and seconds < 1.0, seconds
    _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#answer-chart .main-svg"), seconds=5)


def test_model_workers_report_status_and_the_progress_file_mirrors_the_bar(served, tmp_path):
    from rich.progress import Progress

    from prism.orchestration.progress import ProgressFile, add_row

    lines = [seen["ridge"] for seen in SEEN]
    assert lines[0].startswith("running") and lines[-1].startswith("ok (") and lines[-1].endswith(" s fit)")
    ws = Workspace(tmp_path)
    progress = Progress(disable=True)
    with ProgressFile(ws, progress) as feed:
        task = add_row(progress, "Round 1/1 · compare")
        progress.update(task, total=40, completed=10, count="10/40 refits", left="~0:30 left")
        feed.models = {"ridge": "running 3 s"}
        feed.write()
        snap = json.loads(ws.progress.read_text())
    assert snap["rows"] == [{"label": "Round 1/1 · compare", "done": 10, "total": 40, "count": "10/40 refits",
                             "left": "~0:30 left", "seconds": snap["rows"][0]["seconds"]}]
    assert snap["models"] == {"ridge": "running 3 s"} and not ws.progress.exists()  # gone with the loop


def test_downloads_read_only_listed_files_inside_the_workspace(served):
    ws, server = served
    with urllib.request.urlopen(server.url + "/download/report.md") as res:
        assert res.read().decode() == ws.report_md.read_text()
    for name in ("..%2Fstate.json", "..%2F..%2Fetc%2Fpasswd", "latest.json"):
        code, body = server.get("/download/" + name)
        assert code == 404 and '"stage"' not in json.dumps(body) and "root:" not in json.dumps(body)


def _checkpoint(driver, name: str) -> None:
    _wait(driver, lambda d: d.find_element(By.ID, "cp-title").text.startswith(f"Checkpoint: {name} "), seconds=60)


def test_approval_given_on_the_page_while_the_loop_waits(browser, tmp_path):
    ws = _workspace(tmp_path / "ws")
    server = Served(ws)
    try:
        browser.get(server.url + "/")
        form = browser.find_element(By.ID, "start-loop")
        rounds = form.find_element(By.NAME, "rounds")
        rounds.clear()
        rounds.send_keys("1")
        form.find_element(By.NAME, "quick").click()
        browser.find_element(By.ID, "start-button").click()
        _checkpoint(browser, "exploration")
        assert "Readiness" in browser.find_element(By.ID, "cp-preview").text
        code, body = server.post("/loop", {"rounds": 1})  # a second tab: one loop at a time
        assert code == 409 and "already running" in body["error"]
        question = server.get("/live")[1]["checkpoint"]
        who = browser.find_element(By.ID, "cp-who")
        who.clear()
        who.send_keys("ana")
        browser.find_element(By.ID, "cp-approve").click()
        _wait(browser, EC.text_to_be_present_in_element((By.ID, "cp-msg"), "approve sent by user:ana"))
        # the same answer again (a double click, a second tab) is refused, not recorded twice
        code, body = server.post("/checkpoint", {"id": question["id"], "decision": "approve", "who": "bob"})
        assert code == 409
        _checkpoint(browser, "report")  # the loop went on: models, compare, agents, then the draft report
        browser.find_element(By.ID, "cp-stop").click()
        _wait(browser, lambda d: d.find_element(By.ID, "live-status").text.startswith("not running"), seconds=30)
        state = load_state(ws)
        got = [(d.checkpoint, d.decision, d.by) for d in state.decisions]
        assert got == [("exploration", "approve", "user:ana"), ("report", "stop", "user:ana")]
        assert all(d.note == "answered on the prism serve page" for d in state.decisions)
        assert state.stopped_reason == "stopped by the user at the report checkpoint of round 1"
        assert state.pending_checkpoint == "report" and not ws.checkpoint.exists()
    finally:
        server.stop()


def test_serving_off_loopback_needs_a_token(tmp_path, capsys):
    from prism.cli import main

    with pytest.raises(SystemExit) as exc:
        main(["serve", "--host", "0.0.0.0", "--workdir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and len(err.strip().splitlines()) == 1 and "needs --token" in err


def test_token_guards_every_request(served):
    ws, _ = served
    guarded = Served(ws, token="s3cret")
    try:
        assert guarded.get("/live")[0] == 401
        assert guarded.get("/live", **{"X-Prism-Token": "wrong"})[0] == 401
        assert guarded.get("/live", **{"X-Prism-Token": "s3cret"})[0] == 200
    finally:
        guarded.stop()

// Prism serve: charts from the JSON blocks the server rendered, the live loop panel (server-sent events),
// checkpoint answers and the question box. Text from the workspace is only ever set with textContent.
"use strict";

const PLOT_CONFIG = {displaylogo: false, responsive: true};

function figure(id) {
  const block = document.getElementById(id);
  return block ? JSON.parse(block.textContent) : null;
}

function drawCharts() {
  document.querySelectorAll("[data-figure]").forEach((el) => {
    const fig = figure(el.dataset.figure);
    if (fig) Plotly.newPlot(el, fig.data, fig.layout, {...PLOT_CONFIG, ...(fig.config || {})});
  });
}

async function postJSON(url, body) {
  const res = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                body: JSON.stringify(body)});
  const data = await res.json();
  if (!res.ok) throw new Error(data.error || res.statusText);
  return data;
}

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------------------------------ live loop
let shownQuestion = null;

function showLive(s) {
  const status = document.getElementById("live-status");
  if (!status) return;
  const where = !s.round ? "no round yet" : s.waiting ? `round ${s.round}, waiting at the ${s.waiting} checkpoint`
    : `round ${s.round}, stage ${s.stage}`;
  status.textContent = s.running ? `running (pid ${s.pid}): ${where}` : `not running: ${where}` +
    (s.stopped ? ` · stopped: ${s.stopped}` : "");
  status.className = "live-status " + (s.running ? "running" : "muted");
  document.getElementById("start-button").disabled = s.running;
  const rows = document.getElementById("live-rows");
  rows.replaceChildren();
  for (const r of s.rows || []) {
    const line = el("div", "live-row");
    line.append(el("span", "label", r.label));
    const bar = el("progress");
    if (r.total) { bar.max = r.total; bar.value = r.done; }
    line.append(bar, el("span", "muted", [r.count, `${r.seconds} s`, r.left].filter(Boolean).join(" · ")));
    rows.append(line);
  }
  for (const [model, line] of Object.entries(s.models || {})) {
    rows.append(el("div", "live-row model", `${model}: ${line}`));
  }
  const verdicts = Object.entries(s.verdicts || {}).map(([k, v]) => `${k}: ${v}`).join(" · ");
  if (verdicts) rows.append(el("div", "live-row verdicts", `verdicts this round: ${verdicts}`));
  document.getElementById("live-log").textContent = (s.log || []).join("\n");
  showCheckpoint(s.checkpoint);
}

function showCheckpoint(q) {
  const box = document.getElementById("checkpoint");
  if (!q) { box.hidden = true; shownQuestion = null; return; }
  box.hidden = false;
  document.getElementById("cp-error").hidden = !q.error;
  document.getElementById("cp-error").textContent = q.error ? `not accepted: ${q.error}` : "";
  if (shownQuestion && shownQuestion.id === q.id) return;  // keep an edit being typed
  shownQuestion = q;
  document.getElementById("cp-title").textContent = `Checkpoint: ${q.checkpoint} (round ${q.round}) — the loop waits for you`;
  document.getElementById("cp-preview").textContent = q.preview;
  document.getElementById("cp-msg").textContent = "";
  document.getElementById("cp-edit-open").hidden = !q.edit;
  document.getElementById("cp-editor").hidden = true;
  const what = {config: "config.json", report: "report.md", value: `new value for ${q.edit_key} (JSON)`};
  document.getElementById("cp-edit-label").textContent = what[q.edit] || "";
  document.getElementById("cp-edit-text").value = q.edit_text || "";
}

async function answerCheckpoint(decision) {
  const msg = document.getElementById("cp-msg");
  const buttons = document.querySelectorAll("#checkpoint button");
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const r = await postJSON("/checkpoint", {id: shownQuestion.id, decision,
      who: document.getElementById("cp-who").value, edit_text: document.getElementById("cp-edit-text").value});
    msg.textContent = `${r.decision} sent by ${r.by}`;
  } catch (err) {
    msg.textContent = err.message;
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function startLive() {
  const initial = figure("live-initial");
  if (!initial) return;
  showLive(initial);
  const source = new EventSource("/events");
  source.onmessage = (e) => showLive(JSON.parse(e.data));
  source.onerror = () => { document.getElementById("live-status").textContent = "reconnecting…"; };
  document.getElementById("start-loop").addEventListener("submit", async (e) => {
    e.preventDefault();
    const f = e.target;
    const msg = document.getElementById("start-msg");
    try {
      const r = await postJSON("/loop", {rounds: Number(f.rounds.value), quick: f.quick.checked,
                                         checkpoints: f.checkpoints.checked});
      msg.textContent = `started (pid ${r.pid})`;
    } catch (err) {
      msg.textContent = err.message;
    }
  });
  document.querySelectorAll("#checkpoint button[data-decision]").forEach((b) => {
    b.addEventListener("click", (e) => { e.preventDefault(); answerCheckpoint(b.dataset.decision); });
  });
  document.getElementById("cp-edit-open").addEventListener("click", () => {
    document.getElementById("cp-editor").hidden = false;
  });
}

// ------------------------------------------------------------------------------------------ ask
function startAsk() {
  const form = document.getElementById("ask-form");
  if (!form) return;
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const q = document.getElementById("ask-q").value;
    const res = await fetch("/ask?q=" + encodeURIComponent(q));
    const a = await res.json();
    document.getElementById("answer").hidden = false;
    document.getElementById("answer-text").textContent = res.ok ? a.text : a.error;
    document.getElementById("answer-meta").textContent = res.ok ?
      `${a.intent} · answered in ${a.seconds.toFixed(2)} s · phrased by ${a.phrased_by}` : "";
    const chart = document.getElementById("answer-chart");
    Plotly.purge(chart);
    if (res.ok && a.chart) Plotly.newPlot(chart, a.chart.data, a.chart.layout, PLOT_CONFIG);
  });
}

document.addEventListener("DOMContentLoaded", () => { drawCharts(); startLive(); startAsk(); });

// app.js: the status page: reads the gateway's live feed (/api/events) and draws it.
// No framework and nothing from outside the gateway; text goes in with textContent only.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const $ = (id) => document.getElementById(id);

function fmtRate(x) {
  if (!x) return "0";
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

function fmtDuration(s) {
  const d = Math.floor(s / 86400), h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (d) return `${d}d ${h}h`;
  if (h) return `${h}h ${m}m`;
  if (m) return `${m}m ${s % 60}s`;
  return `${s}s`;
}

// A "nice" axis maximum: 1, 2, 5 times a power of ten.
function niceMax(v) {
  if (v <= 4) return 4;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function el(name, attrs) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  return e;
}

function drawChart(history, now) {
  const svg = $("chart");
  // The last five minutes; a gateway younger than that shows its whole life (at least 60 s).
  const first = history.length ? history[0][0] : now;
  const span = Math.min(300 * 1000, Math.max(60 * 1000, now - first));
  const W = 800, H = 150;
  const max = niceMax(Math.max(0, ...history.map((p) => p[1])));
  svg.replaceChildren();
  for (let i = 1; i < 4; i++)
    svg.appendChild(el("line", { class: "grid", x1: 0, x2: W, y1: (H * i) / 4, y2: (H * i) / 4,
                                 "vector-effect": "non-scaling-stroke" }));
  if (history.length) {
    const x = (t) => Math.max(0, W - ((now - t) / span) * W);
    const y = (v) => H - (v / max) * (H - 4);
    let d = "";
    history.forEach((p, i) => { d += `${i ? "L" : "M"}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`; });
    const first = x(history[0][0]).toFixed(1), last = x(history[history.length - 1][0]).toFixed(1);
    svg.appendChild(el("path", { class: "area", d: `${d}L${last},${H}L${first},${H}Z` }));
    svg.appendChild(el("path", { class: "line", d, "vector-effect": "non-scaling-stroke" }));
  }
  $("chart-max").textContent = `max ${max}`;
  const ago = Math.round(span / 1000);
  $("chart-from").textContent = ago >= 120 ? `${Math.round(ago / 60)} min ago` : `${ago} s ago`;
}

function cell(tr, text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  tr.appendChild(td);
}

function fillTable(id, rows, cols, empty) {
  const body = $(id);
  body.replaceChildren();
  if (!rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    cell(tr, empty);
    tr.firstChild.colSpan = 7;
    body.appendChild(tr);
    return;
  }
  for (const r of rows) {
    const tr = document.createElement("tr");
    for (const [f, cls] of cols) cell(tr, f(r), cls);
    body.appendChild(tr);
  }
}

function setErr(id, rate, total) {
  const dd = $(id);
  dd.textContent = `${fmtRate(rate)} (${total})`;
  dd.className = rate > 0 ? "bad" : "";
}

function render(s) {
  $("conn-count").textContent = String(s.connections);
  $("registry").textContent = s.registry === null ? "" : `${s.registry} in the registry`;
  $("meta").textContent = `v${s.version} · node ${s.node} · ${s.workers} workers · up ${fmtDuration(s.uptimeSeconds)}`;
  drawChart(s.history, s.now);
  const w = Math.round(s.rates.window) || 10;
  $("rate-window").textContent = String(w);
  $("err-window").textContent = String(w);
  $("rate-in").textContent = fmtRate(s.rates.messagesIn);
  $("rate-out").textContent = fmtRate(s.rates.messagesOut);
  $("rate-connects").textContent = fmtRate(s.rates.connects);
  setErr("err-client", s.rates.clientErrors, s.totals.clientErrors);
  setErr("err-integration", s.rates.integrationErrors, s.totals.integrationErrors);
  setErr("err-execution", s.rates.executionErrors, s.totals.executionErrors);
  const route = (r) => (r.route === null ? "(no route)" : r.route);
  fillTable("routes", s.routes, [
    [(r) => r.apiId], [(r) => r.stage], [route], [(r) => fmtRate(r.msgRate), "n"],
    [(r) => fmtRate(r.errRate), "n"], [(r) => String(r.messages), "n"], [(r) => String(r.errors), "n"],
  ], "no messages yet");
  $("slow-window").textContent = s.latencyWindow ? `last ${s.latencyWindow} s` : "since start";
  fillTable("slowest", s.slowest, [
    [(r) => r.apiId], [(r) => r.stage], [route], [(r) => r.integration || "–"],
    [(r) => String(r.calls), "n"], [(r) => r.avgMs.toFixed(1), "n"], [(r) => r.p95Ms.toFixed(1), "n"],
  ], "no integration calls yet");
  document.body.dataset.updated = String(s.now);
}

function connect() {
  const live = $("live");
  const es = new EventSource("/api/events");
  es.onopen = () => { live.dataset.state = "live"; live.textContent = "live"; };
  es.onmessage = (ev) => {
    live.dataset.state = "live";
    live.textContent = "live";
    render(JSON.parse(ev.data));
  };
  es.onerror = () => { live.dataset.state = "reconnecting"; live.textContent = "reconnecting"; };
}

connect();

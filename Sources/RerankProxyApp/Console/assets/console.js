// rerank-proxy console: dashboard (polls /v1/stats every second), playground (/v1/rerank?explain=true), admin.
// Hand-written, no dependencies, no build step. Served by the proxy at /ui.
"use strict";

const KEY_STORAGE = "rerank-proxy-key";
const HISTORY_SECONDS = 300;
const KNOWN_BACKEND_FIELDS = new Set(["name", "model", "requests", "pairs", "errors", "in_flight", "refused", "latency_ms", "healthy"]);
const KNOWN_MODEL_FIELDS = new Set(["name", "shed", "queued_pairs", "cache_generation"]);

const $ = (id) => document.getElementById(id);
const state = { samples: [], models: [], page: "dashboard", lastStats: null, needsKey: false };

// ---------- key handling ----------
function apiKey() { return sessionStorage.getItem(KEY_STORAGE) || ""; }

function headers(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

function showKeyBar(reason) {
  $("keybar").classList.remove("hidden");
  if (reason) $("key-state").textContent = reason;
  $("key-toggle").classList.toggle("needed", !apiKey());
}

function renderKeyState() {
  const key = apiKey();
  $("key-toggle").textContent = key ? "API key \u2713" : "API key";
  $("key-toggle").classList.toggle("needed", state.needsKey && !key);
  $("key-state").textContent = key ? "a key is set for this tab" : (state.needsKey ? "this proxy needs a key" : "no key set");
  $("admin-hint").classList.toggle("hidden", !!key);
}

function setupKey() {
  $("key-toggle").addEventListener("click", () => $("keybar").classList.toggle("hidden"));
  $("keybar").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("key-input").value.trim();
    if (value) sessionStorage.setItem(KEY_STORAGE, value);
    $("key-input").value = "";
    $("keybar").classList.add("hidden");
    state.needsKey = false;
    renderKeyState();
    refresh();
    if (state.page === "admin") loadPolicy();
  });
  $("key-clear").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORAGE);
    renderKeyState();
  });
  renderKeyState();
}

// An error body in any of the proxy's shapes.
async function errorText(response) {
  try {
    const body = await response.json();
    if (body && body.error && body.error.message) return body.error.message;
    if (body && typeof body.message === "string") return body.message;
    if (body && typeof body.error === "string") return body.error;
  } catch (_) { /* not JSON */ }
  return "HTTP " + response.status;
}

// ---------- formatting ----------
function fmt(n, digits) {
  if (n === undefined || n === null || Number.isNaN(n)) return "\u2013";
  if (digits !== undefined) return n.toFixed(digits);
  if (Math.abs(n) >= 1e9) return (n / 1e9).toFixed(2) + "G";
  if (Math.abs(n) >= 1e6) return (n / 1e6).toFixed(2) + "M";
  if (Math.abs(n) >= 1e4) return (n / 1e3).toFixed(1) + "k";
  if (Math.abs(n) >= 100 || Number.isInteger(n)) return String(Math.round(n));
  return n.toFixed(1);
}
function pct(x) { return x === null || x === undefined || Number.isNaN(x) ? "\u2013" : (x * 100).toFixed(1) + "%"; }
function duration(seconds) {
  const s = Math.floor(seconds);
  if (s < 60) return s + "s";
  if (s < 3600) return Math.floor(s / 60) + "m " + (s % 60) + "s";
  return Math.floor(s / 3600) + "h " + Math.floor((s % 3600) / 60) + "m";
}
function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function cell(row, text, cls) { const td = el("td", cls, text); row.appendChild(td); return td; }
function headRow(table, columns) {
  const thead = table.querySelector("thead");
  const tr = el("tr");
  for (const c of columns) tr.appendChild(el("th", c.num ? "num" : "", c.label));
  thead.replaceChildren(tr);
}
function label(field) { return field.replace(/_/g, " "); }
function scalar(v) {
  if (typeof v === "number") return fmt(v);
  if (typeof v === "boolean") return v ? "yes" : "no";
  if (v === null || v === undefined) return "\u2013";
  if (typeof v === "object") return Object.entries(v).map(([k, x]) => k + " " + (typeof x === "number" ? fmt(x) : x)).join(" \u00b7 ");
  return String(v);
}

// ---------- dashboard ----------
async function refresh() {
  let stats;
  try {
    const response = await fetch("/v1/stats", { headers: headers(), cache: "no-store" });
    if (response.status === 401) {
      state.needsKey = true;
      renderKeyState();
      showError("dash-error", "The stats need an admin key (auth.protect_stats): set it with API key above.");
      return;
    }
    if (!response.ok) { showError("dash-error", await errorText(response)); return; }
    stats = await response.json();
  } catch (e) {
    showError("dash-error", "The proxy is not answering (" + e.message + ").");
    return;
  }
  hideError("dash-error");
  // Per-key counters mean keys are configured: point at the key button until one is set.
  if (stats.keys && !apiKey() && !state.needsKey) { state.needsKey = true; renderKeyState(); }
  record(stats);
  renderDashboard(stats);
  refreshReady();
}

async function refreshReady() {
  try {
    const response = await fetch("/readyz", { cache: "no-store" });
    const body = await response.json();
    const pill = $("ready");
    pill.textContent = body.status;
    pill.className = "pill " + (response.ok ? "ok" : "bad");
  } catch (_) {
    $("ready").textContent = "down";
    $("ready").className = "pill bad";
  }
}

function record(stats) {
  const now = performance.now() / 1000;
  const p = stats.pairs;
  state.samples.push({ t: now, requests: stats.requests, total: p.total, hits: p.hits, coalesced: p.coalesced, forwarded: p.forwarded, failed: p.failed });
  while (state.samples.length > HISTORY_SECONDS + 1) state.samples.shift();
}

// Rates between the last two samples.
function rates() {
  const s = state.samples;
  if (s.length < 2) return null;
  const a = s[s.length - 2], b = s[s.length - 1];
  const dt = Math.max(0.001, b.t - a.t);
  return {
    requests: (b.requests - a.requests) / dt, pairs: (b.total - a.total) / dt, hits: (b.hits - a.hits) / dt,
    coalesced: (b.coalesced - a.coalesced) / dt, forwarded: (b.forwarded - a.forwarded) / dt, failed: (b.failed - a.failed) / dt,
    ratio: b.total > a.total ? (b.hits - a.hits) / (b.total - a.total) : null,
  };
}

function renderDashboard(stats) {
  state.lastStats = stats;
  const r = rates();
  const p = stats.pairs;
  $("kpi-rps").textContent = r ? fmt(r.requests) : "\u2013";
  $("kpi-requests").textContent = fmt(stats.requests) + " total";
  $("kpi-pps").textContent = r ? fmt(r.pairs) : "\u2013";
  $("kpi-pairs").textContent = fmt(p.total) + " total";
  $("kpi-hit").textContent = r && r.ratio !== null ? pct(r.ratio) : pct(stats.hit_ratio);
  $("kpi-hit-total").textContent = pct(stats.hit_ratio) + " since start";
  $("kpi-saved").textContent = fmt(p.hits + p.coalesced);
  const backendInFlight = stats.backends.reduce((n, b) => n + (b.in_flight || 0), 0);
  $("kpi-inflight").textContent = fmt(stats.coalescing_in_flight);
  const queued = stats.models.reduce((n, m) => n + (m.queued_pairs || 0), 0);
  $("kpi-queued").textContent = "pairs \u00b7 " + fmt(backendInFlight) + " calls \u00b7 " + fmt(queued) + " queued";
  const backendErrors = stats.backends.reduce((n, b) => n + b.errors, 0);
  $("kpi-errors").textContent = fmt(p.failed + backendErrors);
  $("kpi-errors-sub").textContent = fmt(p.failed) + " failed pairs \u00b7 " + fmt(backendErrors) + " backend";
  $("uptime").textContent = "up " + duration(stats.uptime_seconds);

  const split = r || { hits: 0, coalesced: 0, forwarded: 0, failed: 0 };
  const sum = split.hits + split.coalesced + split.forwarded + split.failed;
  const bar = $("split");
  bar.replaceChildren();
  for (const k of ["hits", "coalesced", "forwarded", "failed"]) {
    const seg = el("span", k === "hits" ? "hit" : k);
    seg.style.width = (sum > 0 ? (split[k] / sum) * 100 : 0) + "%";
    bar.appendChild(seg);
    $("rate-" + k).textContent = fmt(split[k]) + "/s";
  }

  renderTiers(stats);
  renderBackends(stats.backends);
  renderModels(stats.models, stats.backends);
  renderKeys(stats.keys);
  renderChart();
}

function renderTiers(stats) {
  const body = $("tiers").querySelector("tbody");
  body.replaceChildren();
  const names = Object.keys(stats.tiers).sort((a, b) => (a === "memory" ? -1 : b === "memory" ? 1 : a.localeCompare(b)));
  for (const name of names) {
    const t = stats.tiers[name];
    const tr = el("tr");
    cell(tr, name);
    cell(tr, fmt(t.hits), "num");
    cell(tr, t.misses === undefined ? "\u2013" : fmt(t.misses), "num");
    cell(tr, fmt(t.entries), "num");
    cell(tr, t.capacity ? fmt(t.capacity) : "\u2013", "num");
    cell(tr, t.errors === undefined ? "\u2013" : fmt(t.errors), "num");
    cell(tr, t.dropped_writes === undefined ? "\u2013" : fmt(t.dropped_writes), "num");
    cell(tr, t.lookup_ms ? t.lookup_ms.p50.toFixed(2) + " / " + t.lookup_ms.p99.toFixed(2) : "\u2013", "num");
    body.appendChild(tr);
  }
  const health = stats.store_health || {};
  const pill = $("store-health");
  pill.textContent = "store " + (health.status || "?") + (health.reason ? ": " + health.reason : "");
  pill.className = "pill small " + (health.status === "ok" ? "ok" : health.status === "degraded" || health.status === "off" ? "warn" : "");
}

// Extra numeric fields another version of the proxy may add (queue depth, retries, batch size, percentiles).
function extraFields(rows, known) {
  const seen = [];
  for (const row of rows) for (const k of Object.keys(row)) if (!known.has(k) && !seen.includes(k)) seen.push(k);
  return seen;
}

function renderBackends(backends) {
  const extra = extraFields(backends, KNOWN_BACKEND_FIELDS);
  headRow($("backends"), [
    { label: "backend" }, { label: "model" }, { label: "health" }, { label: "in flight", num: true }, { label: "requests", num: true },
    { label: "pairs", num: true }, { label: "errors", num: true }, { label: "p50 ms", num: true }, { label: "p99 ms", num: true },
    ...extra.map((k) => ({ label: label(k), num: true })),
  ]);
  const body = $("backends").querySelector("tbody");
  body.replaceChildren();
  for (const b of backends) {
    const tr = el("tr");
    cell(tr, b.name);
    cell(tr, b.model, "muted");
    const health = b.refused ? ["bad", "refused"] : b.healthy === false ? ["bad", "ejected"] : ["ok", "healthy"];
    const td = cell(tr, "");
    td.appendChild(el("span", "dot " + health[0]));
    td.appendChild(document.createTextNode(health[1]));
    cell(tr, fmt(b.in_flight), "num");
    cell(tr, fmt(b.requests), "num");
    cell(tr, fmt(b.pairs), "num");
    cell(tr, fmt(b.errors), "num");
    cell(tr, b.latency_ms ? fmt(b.latency_ms.p50, 1) : "\u2013", "num");
    cell(tr, b.latency_ms ? fmt(b.latency_ms.p99, 1) : "\u2013", "num");
    for (const k of extra) cell(tr, scalar(b[k]), "num");
    body.appendChild(tr);
  }
  const healthy = backends.filter((b) => b.healthy !== false && !b.refused).length;
  $("backends-note").textContent = healthy + " of " + backends.length + " healthy";
}

function renderModels(models, backends) {
  const extra = extraFields(models, KNOWN_MODEL_FIELDS);
  headRow($("models"), [
    { label: "model" }, { label: "backends", num: true }, { label: "queued pairs", num: true }, { label: "shed", num: true },
    { label: "purges", num: true }, ...extra.map((k) => ({ label: label(k), num: true })),
  ]);
  const body = $("models").querySelector("tbody");
  body.replaceChildren();
  for (const m of models) {
    const own = backends.filter((b) => b.model === m.name);
    const healthy = own.filter((b) => b.healthy !== false && !b.refused).length;
    const tr = el("tr");
    cell(tr, m.name);
    const td = cell(tr, "", "num");
    td.appendChild(el("span", "dot " + (healthy === own.length ? "ok" : healthy > 0 ? "warn" : "bad")));
    td.appendChild(document.createTextNode(healthy + "/" + own.length));
    cell(tr, fmt(m.queued_pairs), "num");
    cell(tr, fmt(m.shed), "num");
    cell(tr, m.cache_generation === undefined ? "\u2013" : fmt(m.cache_generation), "num");
    for (const k of extra) cell(tr, scalar(m[k]), "num");
    body.appendChild(tr);
  }
}

function renderKeys(keys) {
  $("keys-card").classList.toggle("hidden", !keys);
  if (!keys) return;
  const body = $("keys").querySelector("tbody");
  body.replaceChildren();
  for (const name of Object.keys(keys).sort()) {
    const k = keys[name];
    const tr = el("tr");
    cell(tr, name);
    cell(tr, fmt(k.requests), "num");
    cell(tr, fmt(k.pairs), "num");
    cell(tr, fmt(k.hits), "num");
    cell(tr, fmt(k.rejected), "num");
    body.appendChild(tr);
  }
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text !== undefined) e.textContent = text;
  return e;
}

// Hit ratio per second over the last 5 minutes (line + area), pairs/s as bars behind it.
function renderChart() {
  const box = $("chart");
  const width = Math.max(240, box.clientWidth || 600), height = Math.max(120, box.clientHeight || 210);
  const left = 36, right = 8, top = 8, bottom = 20;
  const w = width - left - right, h = height - top - bottom;
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: "none" });
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const y = top + h * (1 - f);
    root.appendChild(svg("line", { x1: left, x2: left + w, y1: y, y2: y, class: "grid" }));
    root.appendChild(svg("text", { x: left - 6, y: y + 3, "text-anchor": "end", class: "axis" }, f * 100 + "%"));
  }
  for (const [i, t] of [[0, "-5m"], [0.4, "-3m"], [0.8, "-1m"], [1, "now"]]) {
    root.appendChild(svg("text", { x: left + w * i, y: height - 5, "text-anchor": i === 0 ? "start" : i === 1 ? "end" : "middle", class: "axis" }, t));
  }
  const s = state.samples;
  const points = [];
  const bars = [];
  if (s.length >= 2) {
    const end = s[s.length - 1].t;
    let maxPairs = 1;
    for (let i = 1; i < s.length; i++) maxPairs = Math.max(maxPairs, (s[i].total - s[i - 1].total) / Math.max(0.001, s[i].t - s[i - 1].t));
    for (let i = 1; i < s.length; i++) {
      const a = s[i - 1], b = s[i];
      const x = left + w * (1 - (end - b.t) / HISTORY_SECONDS);
      if (x < left) continue;
      const pairs = (b.total - a.total) / Math.max(0.001, b.t - a.t);
      const bw = Math.max(1, (w / HISTORY_SECONDS) * (b.t - a.t) - 0.5);
      if (pairs > 0) bars.push(svg("rect", { x: x - bw, y: top + h * (1 - pairs / maxPairs), width: bw, height: h * (pairs / maxPairs), class: "bar" }));
      if (b.total > a.total) points.push([x, top + h * (1 - (b.hits - a.hits) / (b.total - a.total))]);
    }
  }
  for (const b of bars) root.appendChild(b);
  if (points.length >= 2) {
    const line = points.map((p, i) => (i ? "L" : "M") + p[0].toFixed(1) + " " + p[1].toFixed(1)).join(" ");
    const area = line + ` L${points[points.length - 1][0].toFixed(1)} ${top + h} L${points[0][0].toFixed(1)} ${top + h} Z`;
    root.appendChild(svg("path", { d: area, class: "area" }));
    root.appendChild(svg("path", { d: line, class: "ratio" }));
  } else {
    root.appendChild(svg("text", { x: left + w / 2, y: top + h / 2, "text-anchor": "middle", class: "empty" }, "waiting for traffic\u2026"));
  }
  box.replaceChildren(root);
}

function showError(id, text) { const e = $(id); e.textContent = text; e.classList.remove("hidden"); }
function hideError(id) { $(id).classList.add("hidden"); }

// ---------- models (playground and admin) ----------
async function loadModels() {
  try {
    const response = await fetch("/v1/models", { headers: headers() });
    const body = await response.json();
    state.models = body.data.map((m) => m.id);
  } catch (_) {
    state.models = [];
  }
  for (const id of ["pg-model", "purge-model"]) {
    const select = $(id);
    select.replaceChildren(...state.models.map((m) => { const o = el("option", "", m); o.value = m; return o; }));
  }
}

// ---------- playground ----------
function parseDocuments(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) {
    const parsed = JSON.parse(trimmed);
    if (!Array.isArray(parsed)) throw new Error("the JSON must be an array of documents");
    return parsed;
  }
  return text.split("\n").map((l) => l.trim()).filter((l) => l.length > 0);
}

function documentText(doc) {
  if (typeof doc === "string") return doc;
  if (doc && typeof doc.text === "string") return doc.text;
  return JSON.stringify(doc);
}

async function rank(e) {
  e.preventDefault();
  hideError("pg-error");
  let documents;
  try {
    documents = parseDocuments($("pg-docs").value);
  } catch (err) {
    showError("pg-error", "Documents: " + err.message);
    return;
  }
  const body = { model: $("pg-model").value, query: $("pg-query").value, documents, return_documents: false };
  const button = $("pg-run");
  button.disabled = true;
  $("pg-summary").textContent = "ranking\u2026";
  const started = performance.now();
  let response, answer;
  try {
    response = await fetch("/v1/rerank?explain=true", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify(body) });
    if (!response.ok) {
      if (response.status === 401) { state.needsKey = true; renderKeyState(); showKeyBar("this proxy needs a key"); }
      showError("pg-error", response.status + ": " + (await errorText(response)));
      $("pg-summary").textContent = "";
      return;
    }
    answer = await response.json();
  } catch (err) {
    showError("pg-error", "The request failed: " + err.message);
    $("pg-summary").textContent = "";
    return;
  } finally {
    button.disabled = false;
  }
  const elapsed = performance.now() - started;
  renderResults(answer, documents, elapsed, response.headers.get("X-Rerank-Cache") || "");
}

function renderResults(answer, documents, elapsed, cacheHeader) {
  const list = $("pg-results");
  list.replaceChildren();
  const scores = answer.results.map((r) => r.relevance_score);
  const max = Math.max(...scores, 0), min = Math.min(...scores, 0);
  const sources = {};
  answer.results.forEach((r, i) => {
    const source = (r.meta && r.meta.cache) || "?";
    sources[source] = (sources[source] || 0) + 1;
    const li = el("li");
    li.dataset.source = source;
    li.dataset.index = r.index;
    li.appendChild(el("span", "rank", "#" + (i + 1)));
    li.appendChild(el("span", "score", r.relevance_score.toFixed(4)));
    const meter = el("span", "meter");
    const fill = el("span");
    fill.style.width = (max > min ? ((r.relevance_score - min) / (max - min)) * 100 : 100) + "%";
    meter.appendChild(fill);
    li.appendChild(meter);
    li.appendChild(el("span", "src src-" + source, source));
    li.appendChild(el("span", "doc", documentText(documents[r.index])));
    list.appendChild(li);
  });
  const cached = answer.results.length > 0 && answer.results.every((r) => r.meta && r.meta.cache !== "backend");
  const summary = $("pg-summary");
  summary.dataset.allCached = String(cached);
  summary.textContent = `${answer.results.length} documents \u00b7 ${elapsed.toFixed(1)} ms \u00b7 ` +
    Object.entries(sources).map(([k, v]) => `${v} ${k}`).join(", ") + (cached ? " \u00b7 all cached" : "") +
    (cacheHeader ? ` \u00b7 X-Rerank-Cache: ${cacheHeader}` : "");
}

// ---------- admin ----------
async function purge(e) {
  e.preventDefault();
  const model = $("purge-model").value;
  const msg = $("purge-msg");
  msg.className = "muted";
  msg.textContent = "purging\u2026";
  try {
    const response = await fetch("/admin/purge", { method: "POST", headers: headers({ "Content-Type": "application/json" }), body: JSON.stringify({ model }) });
    if (!response.ok) {
      msg.className = "error";
      msg.textContent = response.status + ": " + (await errorText(response));
      return;
    }
    const body = await response.json();
    msg.className = "ok-text";
    msg.textContent = `purged ${body.model}: cache generation ${body.cache_generation}`;
    refresh();
  } catch (err) {
    msg.className = "error";
    msg.textContent = "The request failed: " + err.message;
  }
}

async function loadPolicy() {
  const pre = $("policy");
  try {
    const response = await fetch("/admin/policy", { headers: headers(), cache: "no-store" });
    pre.textContent = response.ok ? JSON.stringify(await response.json(), null, 2) : response.status + ": " + (await errorText(response));
  } catch (err) {
    pre.textContent = "The request failed: " + err.message;
  }
}

// ---------- pages ----------
function show(page) {
  state.page = page;
  for (const p of ["dashboard", "playground", "admin"]) {
    $("page-" + p).classList.toggle("hidden", p !== page);
    $("tab-" + p).classList.toggle("active", p === page);
  }
  if (location.hash !== "#" + page) history.replaceState(null, "", "#" + page);
  if (page === "admin" && apiKey()) loadPolicy();
  if (page === "dashboard") renderChart();
}

function start() {
  setupKey();
  for (const tab of document.querySelectorAll(".tab")) tab.addEventListener("click", () => show(tab.dataset.page));
  $("pg-form").addEventListener("submit", rank);
  $("purge-form").addEventListener("submit", purge);
  $("policy-load").addEventListener("click", loadPolicy);
  window.addEventListener("resize", renderChart);
  const initial = location.hash.slice(1);
  show(["dashboard", "playground", "admin"].includes(initial) ? initial : "dashboard");
  loadModels();
  refresh();
  setInterval(refresh, 1000);
}

document.addEventListener("DOMContentLoaded", start);

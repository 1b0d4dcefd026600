// @ts-check
// openclaw-mesh web view: one EventSource (a snapshot, then batches of changes), rendered with
// textContent only (nothing from the bus is ever parsed as HTML). No dependencies.

const MAX_FLOWS = 50;
const MAX_ACTIVITY = 60;
const MAX_LIST = 30;

/** @type {{ self: string, nodes: Map<string, any>, flows: Map<string, any>, jobs: Map<string, any>, deadLetters: any[], alerts: any[], activity: any[], chart: any[], counters: any }} */
const state = {
  self: "",
  nodes: new Map(),
  flows: new Map(),
  jobs: new Map(),
  deadLetters: [],
  alerts: [],
  activity: [],
  chart: [],
  counters: { events: 0, unreadable: 0, messages: 0, delivered: 0, deadLettered: 0 },
};
/** Body texts revealed by the owner (id → text), kept while the row is shown. */
const revealed = new Map();
/** For tests and the bench: how many snapshots/batches the page applied, and reconnects. */
const stats = { snapshots: 0, batches: 0, renders: 0, reconnects: 0, errors: 0, lastApplyMs: 0 };
Object.defineProperty(window, "meshView", { value: { stats, state } });

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));

/**
 * @param {string} tag
 * @param {Record<string, string>} [attrs]
 * @param {(Node|string)[]} [children]
 */
function el(tag, attrs = {}, children = []) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

/** @param {string | undefined} iso */
function clock(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? "" : d.toLocaleTimeString([], { hour12: false });
}

/** @param {number} ms */
function ago(ms) {
  if (ms < 1000) return "just now";
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s ago`;
  const m = Math.round(s / 60);
  return m < 120 ? `${m}m ago` : `${Math.round(m / 60)}h ago`;
}

/** @param {number | undefined} n */
function bytes(n) {
  if (n === undefined) return "–";
  return n < 1024 ? `${n} B` : `${(n / 1024).toFixed(1)} KiB`;
}

// ---- nodes ----------------------------------------------------------------------------------

/** @param {any} n */
function nodeItem(n) {
  const inbox = !n.inbox
    ? "–"
    : n.inbox.visible
      ? `${n.inbox.waiting} waiting, ${n.inbox.inFlight} in flight${n.inbox.oldestWaiting ? `; oldest since ${clock(n.inbox.oldestWaiting)}` : ""}${n.inbox.oldestNotVisible ? `; oldest: ${n.inbox.oldestNotVisible}` : ""}`
      : n.inbox.serverSaid
        ? `${n.inbox.why} (${n.inbox.serverSaid})`
        : n.inbox.why;
  const rows = [
    ["host", n.host ?? "–"],
    ["seen", n.lastSeen ? ago(Date.now() - Date.parse(n.lastSeen)) : n.note],
    ["gateway", n.gateway ?? "–"],
    ["bridge", n.bridge ?? "–"],
    ["capabilities", n.capabilities.length ? n.capabilities.join(", ") : "–"],
    ["inbox", inbox],
  ];
  const dl = el("dl");
  for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v, "data-field": k }));
  return el("li", { class: "node", "data-identity": n.identity, "data-state": n.state }, [
    el("h3", {}, [
      el("span", { text: n.self ? `${n.identity} (this identity)` : n.identity }),
      el("span", { class: "state", "data-state": n.state, text: n.state }),
    ]),
    el("p", { class: "hint", text: n.note }),
    dl,
  ]);
}

function renderNodes() {
  const list = $("nodes");
  const sorted = [...state.nodes.values()].sort((a, b) => a.identity.localeCompare(b.identity));
  list.replaceChildren(...sorted.map(nodeItem));
  $("nodes-empty").hidden = sorted.length > 0;
}

// ---- flows ----------------------------------------------------------------------------------

/** @param {any} f */
function flowRow(f) {
  const bodyCell = el("td");
  if (f.body === "hidden") {
    const shown = revealed.has(f.id);
    const btn = el("button", { type: "button", "data-reveal": f.id, "aria-expanded": String(shown), text: shown ? "Hide" : "Reveal" });
    btn.addEventListener("click", () => void toggleBody(f.id));
    bodyCell.append(btn);
    if (shown) bodyCell.append(el("pre", { class: "body", text: revealed.get(f.id) }));
  } else {
    bodyCell.append(el("span", { class: "hint", text: f.body === "not-kept" ? "not kept (before this process started)" : "not visible to this identity" }));
  }
  const stateText = f.state === "retried" && f.attempts ? `retried (attempt ${f.attempts})` : f.state;
  const stateCell = el("td", {}, [el("span", { class: "state", "data-state": f.state, text: stateText })]);
  if (f.latencyMs !== undefined && f.state === "delivered") stateCell.append(` ${f.latencyMs} ms${f.attempts > 1 ? `, ${f.attempts} attempts` : ""}`);
  if (f.reason) stateCell.append(el("div", { class: "reason", text: f.reason }));
  return el("tr", { "data-flow-id": f.id, "data-state": f.state }, [
    el("td", {}, [el("time", { datetime: f.at, text: clock(f.at) })]),
    el("td", { text: `${f.from ?? "?"} → ${f.to}` }),
    el("td", { text: f.kind }),
    el("td", { text: bytes(f.size) }),
    stateCell,
    bodyCell,
  ]);
}

/** @param {string} id */
async function toggleBody(id) {
  if (revealed.has(id)) revealed.delete(id);
  else {
    const res = await fetch(`/api/body/${encodeURIComponent(id)}`, { credentials: "same-origin" });
    const data = await res.json().catch(() => ({ error: `HTTP ${res.status}` }));
    revealed.set(id, typeof data.body === "string" ? data.body : `(${data.error ?? "not available"})`);
  }
  const f = state.flows.get(id);
  const row = document.querySelector(`tr[data-flow-id="${CSS.escape(id)}"]`);
  if (f && row) {
    const next = flowRow(f);
    row.replaceWith(next);
    /** @type {HTMLElement | null} */ (next.querySelector("button"))?.focus();
  }
}

/** @param {any[]} changed @param {boolean} full */
function renderFlows(changed, full) {
  const body = $("flow");
  if (full) {
    // Many changed at once: one replacement instead of a lookup per row.
    body.replaceChildren(...[...state.flows.values()].reverse().slice(0, MAX_FLOWS).map(flowRow));
    return;
  }
  for (const f of changed) {
    const old = body.querySelector(`tr[data-flow-id="${CSS.escape(f.id)}"]`);
    const row = flowRow(f);
    if (old) old.replaceWith(row);
    else {
      row.classList.add("new");
      body.prepend(row);
    }
  }
  while (body.children.length > MAX_FLOWS) body.lastElementChild?.remove();
}

// ---- jobs, dead letters, alerts, activity ----------------------------------------------------

function renderJobs() {
  const jobs = [...state.jobs.values()].sort((a, b) => b.submittedAt.localeCompare(a.submittedAt));
  /** @type {Record<string, number>} */
  const counts = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const j of jobs) counts[j.state] = (counts[j.state] ?? 0) + 1;
  $("job-counts").textContent = Object.entries(counts)
    .map(([k, v]) => `${k} ${v}`)
    .join(" · ");
  $("jobs").replaceChildren(
    ...jobs.slice(0, MAX_LIST).map((j) =>
      el("tr", { "data-job-id": j.id, "data-state": j.state }, [
        el("td", { class: "mono", text: j.id.slice(0, 8), title: j.id }),
        el("td", { text: j.needs.length ? `${j.queue} (${j.needs.join("+")})` : j.queue }),
        el("td", {}, [el("span", { class: "state", "data-state": j.state, text: j.state === "running" && j.worker ? `running on ${j.worker}` : j.state })]),
        el("td", { text: j.worker ?? "–" }),
        el("td", { class: "reason", text: j.error ?? "" }),
      ]),
    ),
  );
}

/** @param {HTMLElement} list @param {any[]} items @param {(x: any) => HTMLElement} make */
function renderList(list, items, make) {
  list.replaceChildren(...items.slice(-MAX_LIST).reverse().map(make));
}

function renderDeadLetters() {
  renderList($("dlq"), state.deadLetters, (d) =>
    el("li", { "data-dead-letter": d.key }, [
      el("time", { datetime: d.at, text: clock(d.at) }),
      `${d.owner}/${d.source}${d.from ? ` (from ${d.from})` : ""}: `,
      el("span", { class: "reason", text: d.reason }),
    ]),
  );
}

function renderAlerts() {
  renderList($("alerts"), state.alerts, (a) =>
    el("li", { class: "alert", "data-level": a.level }, [el("time", { datetime: a.at, text: clock(a.at) }), a.text]),
  );
}

/** @param {any[]} added @param {boolean} full */
function renderActivity(added, full) {
  const list = $("activity");
  const make = (/** @type {any} */ a) =>
    el("li", { "data-unreadable": String(a.unreadable), title: a.subject }, [el("time", { datetime: a.at, text: clock(a.at) }), a.text]);
  if (full) list.replaceChildren(...state.activity.slice(-MAX_ACTIVITY).reverse().map(make));
  else list.prepend(...added.slice(-MAX_ACTIVITY).reverse().map(make));
  while (list.children.length > MAX_ACTIVITY) list.lastElementChild?.remove();
}

function renderCounters() {
  const c = state.counters;
  $("count-events").textContent = String(c.events);
  $("count-unreadable").textContent = String(c.unreadable);
  $("count-unreadable").dataset.nonzero = String(c.unreadable > 0);
  $("count-delivered").textContent = String(c.delivered);
  $("count-dead").textContent = String(c.deadLettered);
}

// ---- chart (inline SVG) ---------------------------------------------------------------------

const SVG = "http://www.w3.org/2000/svg";
/** @param {string} tag @param {Record<string, string | number>} attrs */
function svg(tag, attrs) {
  const e = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

function renderChart() {
  const root = $("chart");
  const buckets = state.chart;
  const W = 600, H = 160, L = 36, R = 44, T = 10, B = 22;
  const maxN = Math.max(1, ...buckets.map((b) => b.deliveries));
  const lats = buckets.map((b) => b.latencyAvgMs).filter((x) => x !== null);
  const maxLat = Math.max(1, ...lats);
  const w = (W - L - R) / Math.max(1, buckets.length);
  const keep = [...root.childNodes].filter((n) => n.nodeName === "title" || n.nodeName === "desc");
  root.replaceChildren(...keep);
  root.append(svg("line", { class: "axis", x1: L, y1: H - B, x2: W - R, y2: H - B }));
  let points = "";
  buckets.forEach((b, i) => {
    const x = L + i * w;
    const h = ((H - T - B) * b.deliveries) / maxN;
    if (b.deliveries > 0) root.append(svg("rect", { class: "bar", x: x + 1, y: H - B - h, width: Math.max(1, w - 2), height: h }));
    if (b.latencyAvgMs !== null) {
      const cx = (x + w / 2).toFixed(1);
      const cy = (H - B - ((H - T - B) * b.latencyAvgMs) / maxLat).toFixed(1);
      points += `${cx},${cy} `;
      root.append(svg("circle", { class: "lat-dot", cx, cy, r: 2.5 }));
    }
  });
  if (points) root.append(svg("polyline", { class: "lat", points: points.trim() }));
  const label = (/** @type {number} */ x, /** @type {number} */ y, /** @type {string} */ t, anchor = "start") => {
    const e = svg("text", { x, y, "text-anchor": anchor });
    e.textContent = t;
    root.append(e);
  };
  label(2, T + 10, `${maxN}/min`);
  label(W - 2, T + 10, `${maxLat} ms`, "end");
  label(L, H - 6, "−60 min");
  label(W - R, H - 6, "now", "end");
  const total = buckets.reduce((s, b) => s + b.deliveries, 0);
  const avg = lats.length ? Math.round(lats.reduce((s, x) => s + x, 0) / lats.length) : null;
  const desc = root.querySelector("desc");
  if (desc) desc.textContent = total ? `${total} deliveries in the last hour; average latency ${avg} ms, highest minute average ${maxLat} ms.` : "No deliveries in the last hour.";
  $("chart-caption").textContent = `bars: deliveries per minute (${total} in the hour) · line: average latency${avg !== null ? ` (${avg} ms)` : ""}`;
}

// ---- applying what the server sends ---------------------------------------------------------

/** @param {any} v */
function applyVisibility(v) {
  const flowNote = $("flow-note");
  flowNote.hidden = v.flows;
  flowNote.textContent = v.note ?? "";
  $("dlq-note").hidden = v.deadLetters;
}

/** @param {any} b */
function applyBroker(b) {
  const e = $("broker");
  e.dataset.state = b.status;
  e.textContent = b.status === "connected" ? `connected${b.version ? ` (nats-server ${b.version})` : ""}` : b.status;
}

/** Leaf mode: this Mac's link to the hub (absent on a single broker: the item stays hidden). @param {any} l */
function applyLink(l) {
  if (!l) return;
  $("link-item").hidden = false;
  const e = $("link");
  e.dataset.state = l.connected ? "connected" : "disconnected";
  e.textContent = l.line;
}

/** @param {any} s */
function applySnapshot(s) {
  const t0 = performance.now();
  deferred = false;
  dirty.nodes = dirty.jobs = dirty.deadLetters = dirty.alerts = dirty.chart = false;
  dirty.flows = new Map();
  dirty.activity = [];
  state.self = s.self;
  $("self").textContent = s.self;
  state.nodes = new Map(s.nodes.map((/** @type {any} */ n) => [n.identity, n]));
  state.flows = new Map(s.flows.map((/** @type {any} */ f) => [f.id, f]));
  state.jobs = new Map(s.jobs.map((/** @type {any} */ j) => [j.id, j]));
  state.deadLetters = s.deadLetters;
  state.alerts = s.alerts;
  state.activity = s.activity;
  state.chart = s.chart;
  state.counters = s.counters;
  renderNodes();
  renderFlows([], true);
  renderJobs();
  renderDeadLetters();
  renderAlerts();
  renderActivity([], true);
  renderChart();
  renderCounters();
  applyBroker(s.broker);
  applyLink(s.link);
  applyVisibility(s.visibility);
  stats.snapshots++;
  stats.lastApplyMs = performance.now() - t0;
}

/**
 * What changed since the last render. A batch updates `state`, marks what to redraw and redraws at
 * once; in a tab in the background nothing is drawn until it is shown again (then once).
 */
const dirty = { nodes: false, flows: /** @type {Map<string, any>} */ (new Map()), jobs: false, deadLetters: false, alerts: false, activity: /** @type {any[]} */ ([]), chart: false };
let deferred = false;

function render() {
  deferred = false;
  const t0 = performance.now();
  if (dirty.nodes) renderNodes();
  if (dirty.flows.size) renderFlows([...dirty.flows.values()], dirty.flows.size >= MAX_FLOWS);
  if (dirty.jobs) renderJobs();
  if (dirty.deadLetters) renderDeadLetters();
  if (dirty.alerts) renderAlerts();
  if (dirty.activity.length) renderActivity(dirty.activity, dirty.activity.length >= MAX_ACTIVITY);
  if (dirty.chart) renderChart();
  renderCounters();
  dirty.nodes = dirty.jobs = dirty.deadLetters = dirty.alerts = dirty.chart = false;
  dirty.flows = new Map();
  dirty.activity = [];
  stats.renders++;
  stats.lastApplyMs = performance.now() - t0;
}

function scheduleRender() {
  if (document.hidden) deferred = true;
  else render();
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden && deferred) render();
});

/** @param {any} b */
function applyBatch(b) {
  if (b.nodes || b.removedNodes) {
    for (const n of b.nodes ?? []) state.nodes.set(n.identity, n);
    for (const id of b.removedNodes ?? []) state.nodes.delete(id);
    dirty.nodes = true;
  }
  if (b.flows) {
    for (const f of b.flows) {
      state.flows.delete(f.id);
      state.flows.set(f.id, f);
      dirty.flows.delete(f.id);
      dirty.flows.set(f.id, f);
    }
    while (state.flows.size > MAX_FLOWS * 2) state.flows.delete(/** @type {string} */ (state.flows.keys().next().value));
  }
  if (b.jobs || b.removedJobs) {
    for (const j of b.jobs ?? []) state.jobs.set(j.id, j);
    for (const id of b.removedJobs ?? []) state.jobs.delete(id);
    dirty.jobs = true;
  }
  if (b.deadLetters) {
    state.deadLetters = [...state.deadLetters, ...b.deadLetters].slice(-MAX_LIST);
    dirty.deadLetters = true;
  }
  if (b.alerts) {
    state.alerts = [...state.alerts, ...b.alerts].slice(-MAX_LIST);
    dirty.alerts = true;
  }
  if (b.activity) {
    state.activity = [...state.activity, ...b.activity].slice(-MAX_ACTIVITY);
    dirty.activity = [...dirty.activity, ...b.activity].slice(-MAX_ACTIVITY);
  }
  if (b.chart) {
    state.chart = b.chart;
    dirty.chart = true;
  }
  if (b.broker) applyBroker(b.broker);
  if (b.link) applyLink(b.link);
  if (b.visibility) applyVisibility(b.visibility);
  state.counters = b.counters;
  stats.batches++;
  scheduleRender();
}

/** @param {string} s */
function setConn(s) {
  const e = $("conn");
  e.dataset.state = s;
  e.textContent = s === "live" ? "live" : s === "reconnecting" ? "reconnecting…" : s;
}

function connect() {
  const es = new EventSource("/events");
  es.addEventListener("open", () => setConn("live"));
  es.addEventListener("snapshot", (e) => {
    try {
      applySnapshot(JSON.parse(/** @type {MessageEvent} */ (e).data));
    } catch (err) {
      stats.errors++;
      console.error("snapshot", err);
    }
  });
  es.addEventListener("batch", (e) => {
    try {
      applyBatch(JSON.parse(/** @type {MessageEvent} */ (e).data));
    } catch (err) {
      stats.errors++;
      console.error("batch", err);
    }
  });
  es.addEventListener("error", () => {
    setConn("reconnecting");
    stats.reconnects++;
    // The browser retries by itself after a dropped stream; after a refused one (e.g. 401) it
    // gives up, so start over.
    if (es.readyState === EventSource.CLOSED) setTimeout(connect, 2000);
  });
}

// "seen … ago" ages by itself between heartbeats.
setInterval(() => {
  for (const n of state.nodes.values()) {
    if (!n.lastSeen) continue;
    const dd = document.querySelector(`li[data-identity="${CSS.escape(n.identity)}"] dd[data-field="seen"]`);
    if (dd) dd.textContent = ago(Date.now() - Date.parse(n.lastSeen));
  }
}, 1000);

connect();

// hassette's web UI: plain JavaScript, no build step, nothing fetched but hassette's own API.
"use strict";

const main = document.getElementById("main");
let pageAbort = new AbortController();
let timers = [];

// ---- helpers -------------------------------------------------------------------------------

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function token() { return localStorage.getItem("hassette-web-token"); }

function headers() {
  const t = token();
  return t ? { Authorization: "Bearer " + t } : {};
}

function askToken() {
  return new Promise((resolve) => {
    const dialog = document.getElementById("token-dialog");
    const form = document.getElementById("token-form");
    form.onsubmit = () => {
      localStorage.setItem("hassette-web-token", document.getElementById("token-input").value.trim());
      resolve();
    };
    dialog.showModal();
  });
}

async function api(path, opts = {}) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const res = await fetch(path, { ...opts, headers: { ...headers(), ...(opts.headers || {}) }, signal: opts.signal });
    if (res.status === 401) { await askToken(); continue; }
    const body = await res.json().catch(() => null);
    if (!res.ok) throw new Error((body && body.error) || res.status + " " + res.statusText);
    return body;
  }
  throw new Error("the token was not accepted");
}

function enc(s) { return encodeURIComponent(s); }
function pill(state) { return h("span", { class: "pill s-" + state, "data-state": state }, state); }
function us(v) { return v == null ? "–" : v >= 10000 ? (v / 1000).toFixed(1) + " ms" : v + " µs"; }
function secs(s) {
  if (s == null) return "never";
  const a = Math.abs(s), sign = s < 0 ? "-" : "";
  if (a < 60) return sign + a + "s";
  if (a < 3600) return sign + Math.floor(a / 60) + "m" + (a % 60) + "s";
  if (a < 86400) return sign + Math.floor(a / 3600) + "h" + Math.floor((a % 3600) / 60) + "m";
  return sign + Math.floor(a / 86400) + "d" + Math.floor((a % 86400) / 3600) + "h";
}
function bytes(n) {
  if (n < 1024) return n + " B";
  if (n < 1048576) return (n / 1024).toFixed(1) + " KiB";
  return (n / 1048576).toFixed(1) + " MiB";
}
function when(ts) { return ts ? new Date(ts).toLocaleString() : "–"; }
function notice(text, bad) {
  const el = document.getElementById("notice");
  if (el) { el.textContent = text; el.className = bad ? "err" : "muted"; }
}
function every(ms, fn) { fn(); timers.push(setInterval(fn, ms)); }

function logLine(r) {
  const who = r.app ? r.app + (r.instance ? "/" + r.instance : "") : (r.component || r.target);
  const fields = Object.entries(r.fields || {}).map(([k, v]) => " " + k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join("");
  return h("div", { class: "log-line lv-" + r.level },
    new Date(r.ts).toLocaleTimeString() + " " + r.level.padEnd(5) + " " + who + ": " + r.msg + fields);
}

// Server-sent events read with fetch, so the token goes in a header as everywhere else.
async function streamLogs(params, onRecord, signal) {
  const res = await fetch("/api/logs/stream?" + params, { headers: headers(), signal });
  if (res.status === 401) { await askToken(); return streamLogs(params, onRecord, signal); }
  if (!res.ok) { const b = await res.json().catch(() => ({})); throw new Error(b.error || res.statusText); }
  const reader = res.body.getReader();
  const dec = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buf += dec.decode(value, { stream: true });
    let i;
    while ((i = buf.indexOf("\n\n")) >= 0) {
      const chunk = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
      if (data) { try { onRecord(JSON.parse(data)); } catch (_) { /* a keep-alive or a partial record */ } }
    }
  }
}

function liveLog(box, params, signal) {
  streamLogs(params, (r) => {
    const stick = box.scrollTop + box.clientHeight >= box.scrollHeight - 4;
    box.append(logLine(r));
    while (box.childElementCount > 2000) box.firstElementChild.remove();
    if (stick) box.scrollTop = box.scrollHeight;
  }, signal).catch((e) => { if (!signal.aborted) box.append(h("div", { class: "err" }, "live log stopped: " + e.message)); });
}

async function act(app, instance, action) {
  notice(action + " " + app + "/" + instance + "…");
  try {
    const r = await api("/api/apps/" + enc(app) + "/" + enc(instance) + "/" + action, { method: "POST" });
    notice(app + "/" + instance + ": " + action + " done, now " + r.state);
  } catch (e) { notice(e.message, true); }
  route();
}

// ---- pages ---------------------------------------------------------------------------------

async function connection() {
  try {
    const p = await api("/api/process");
    const el = document.getElementById("conn");
    el.textContent = "Home Assistant " + (p.ha_version || "?") + ": " + p.connection;
    el.className = "pill s-" + p.connection;
    return p;
  } catch (e) { return null; }
}

function dashboard() {
  const cards = h("div", { class: "cards", id: "cards" });
  const body = h("tbody", { id: "apps" });
  main.replaceChildren(
    h("h1", {}, "Apps"), h("div", { id: "notice" }), cards,
    h("table", {}, h("thead", {}, h("tr", {}, ["App", "Class", "State", "Handled", "Dropped", "p50", "p99", "Last error", ""].map((t) => h("th", {}, t)))), body));
  every(2000, async () => {
    const [p, apps] = await Promise.all([connection(), api("/api/apps").catch((e) => { notice(e.message, true); return null; })]);
    if (p) {
      const card = (n, l) => h("div", { class: "card" }, h("div", { class: "n" }, n), h("div", { class: "l" }, l));
      cards.replaceChildren(card(p.instances.running + "/" + (p.instances.running + p.instances.failed + p.instances.starting + p.instances.stopped), "instances running"),
        card(p.entities, "entities"), card(p.events_per_sec, "events/s"), card(p.dropped_events, "dropped events"), card(secs(p.uptime_secs), "uptime"), card(p.version, "hassette"));
    }
    if (!apps) return;
    body.replaceChildren(...apps.map((a) => h("tr", { "data-app": a.app + "/" + a.instance },
      h("td", {}, h("a", { href: "#/app/" + enc(a.app) + "/" + enc(a.instance) }, a.app + "/" + a.instance)),
      h("td", {}, a.class), h("td", {}, pill(a.state), a.enabled ? "" : h("span", { class: "muted" }, " disabled")),
      h("td", { class: "num" }, a.handled), h("td", { class: "num" }, a.dropped),
      h("td", { class: "num" }, us(a.handler_p50_us)), h("td", { class: "num" }, us(a.handler_p99_us)),
      h("td", { class: "err" }, a.last_error ? when(a.last_error.at) + ": " + a.last_error.message : ""),
      h("td", {}, h("button", { "data-action": "restart", onclick: () => act(a.app, a.instance, "restart") }, "Restart")))));
  });
}

function appPage(app, instance) {
  const head = h("div", { id: "app-head" });
  const subs = h("tbody", { id: "subscriptions" });
  const tms = h("tbody", { id: "timers" });
  const logs = h("div", { class: "logs", id: "app-logs" });
  main.replaceChildren(
    h("h1", {}, h("a", { href: "#/" }, "Apps"), " / " + app + "/" + instance), h("div", { id: "notice" }), head,
    h("div", { class: "toolbar" }, ["restart", "stop", "start"].map((a) =>
      h("button", { "data-action": a, class: a === "stop" ? "danger" : "", onclick: () => act(app, instance, a) }, a[0].toUpperCase() + a.slice(1)))),
    h("div", { class: "split" },
      h("div", {}, h("h2", {}, "Subscriptions"), h("table", {}, h("thead", {}, h("tr", {}, ["Kind", "Matches", "Dropped"].map((t) => h("th", {}, t)))), subs)),
      h("div", {}, h("h2", {}, "Pending timers"), h("table", {}, h("thead", {}, h("tr", {}, ["Timer", "Next fire"].map((t) => h("th", {}, t)))), tms))),
    h("h2", {}, "Recent logs (live)"), logs);
  every(2000, async () => {
    connection();
    let a;
    try { a = await api("/api/apps/" + enc(app) + "/" + enc(instance)); } catch (e) { notice(e.message, true); return; }
    head.replaceChildren(h("div", { class: "cards" },
      h("div", { class: "card" }, h("div", { class: "n", id: "app-state" }, pill(a.state)), h("div", { class: "l" }, a.class + (a.enabled ? "" : " (disabled)"))),
      h("div", { class: "card" }, h("div", { class: "n" }, a.handled), h("div", { class: "l" }, "handled")),
      h("div", { class: "card" }, h("div", { class: "n" }, a.dropped), h("div", { class: "l" }, "dropped")),
      h("div", { class: "card" }, h("div", { class: "n" }, us(a.handler_p50_us) + " / " + us(a.handler_p99_us)), h("div", { class: "l" }, "handler p50 / p99")),
      h("div", { class: "card" }, h("div", { class: "n" }, a.restarts), h("div", { class: "l" }, "restarts, started " + when(a.started_at)))),
      a.last_error ? h("p", { class: "err", id: "last-error" }, "Last error " + when(a.last_error.at) + ": " + a.last_error.message) : "");
    subs.replaceChildren(...(a.subscriptions.length ? a.subscriptions.map((s) => h("tr", {}, h("td", {}, s.kind), h("td", {}, s.description), h("td", { class: "num" }, s.dropped)))
      : [h("tr", {}, h("td", { colspan: 3, class: "muted" }, "none"))]));
    tms.replaceChildren(...(a.timers.length ? a.timers.map((t) => h("tr", {}, h("td", {}, t.trigger), h("td", {}, when(t.next_fire))))
      : [h("tr", {}, h("td", { colspan: 2, class: "muted" }, "none"))]));
  });
  liveLog(logs, "app=" + enc(app) + "&instance=" + enc(instance) + "&limit=50", pageAbort.signal);
}

function cachePage() {
  const body = h("tbody", { id: "classes" });
  main.replaceChildren(h("h1", {}, "Cache"), h("div", { id: "notice" }),
    h("table", {}, h("thead", {}, h("tr", {}, ["Class", "Entries", "Bytes", "Limit", "Hit rate", "Evictions", "Directory"].map((t) => h("th", {}, t)))), body));
  every(3000, async () => {
    connection();
    const classes = await api("/api/caches").catch((e) => { notice(e.message, true); return []; });
    body.replaceChildren(...classes.map((c) => h("tr", { "data-class": c.class },
      h("td", {}, h("a", { href: "#/cache/" + enc(c.class) }, c.class)),
      h("td", { class: "num" }, c.exists ? c.entries : "–"), h("td", { class: "num" }, bytes(c.bytes)), h("td", { class: "num" }, bytes(c.limit)),
      h("td", { class: "num" }, c.hit_rate == null ? "–" : (c.hit_rate * 100).toFixed(1) + "%"), h("td", { class: "num" }, c.evictions),
      h("td", { class: "muted" }, c.exists ? c.dir : "not created (the app never used its cache)"))));
  });
}

function cacheClass(cls) {
  const prefix = h("input", { id: "prefix", placeholder: "key prefix", value: sessionStorage.getItem("prefix:" + cls) || "" });
  const body = h("tbody", { id: "keys" });
  const value = h("pre", { id: "value" }, "Pick a key to see its value.");
  const info = h("p", { class: "muted", id: "keys-info" });
  async function load() {
    sessionStorage.setItem("prefix:" + cls, prefix.value);
    let r;
    try { r = await api("/api/caches/" + enc(cls) + "/keys?limit=1000&prefix=" + enc(prefix.value)); } catch (e) { notice(e.message, true); return; }
    info.textContent = r.total + " key(s)" + (r.truncated ? ", first " + r.keys.length + " shown" : "");
    body.replaceChildren(...r.keys.map((k) => h("tr", { "data-key": k.key },
      h("td", {}, h("a", { href: "#", onclick: (ev) => { ev.preventDefault(); show(k.key); } }, k.key)),
      h("td", { class: "num" }, bytes(k.size)), h("td", { class: "num" }, secs(k.age_secs)), h("td", { class: "num" }, k.ttl_secs == null ? "never" : secs(k.ttl_secs)),
      h("td", {}, h("button", { class: "danger", "data-delete": k.key, onclick: () => del(k.key) }, "Delete")))));
  }
  async function show(key) {
    try {
      const v = await api("/api/caches/" + enc(cls) + "/keys/" + enc(key));
      value.textContent = key + " =\n" + JSON.stringify(v.value, null, 2);
    } catch (e) { value.textContent = e.message; }
  }
  async function del(key) {
    try {
      await api("/api/caches/" + enc(cls) + "/keys/" + enc(key), { method: "DELETE" });
      notice("deleted " + key);
    } catch (e) { notice(e.message, true); }
    load();
  }
  async function clear() {
    if (!confirm("Delete every entry of the " + cls + " cache?")) return;
    try { const r = await api("/api/caches/" + enc(cls), { method: "DELETE" }); notice("cleared " + r.cleared + " entries"); } catch (e) { notice(e.message, true); }
    load();
  }
  prefix.addEventListener("input", load);
  main.replaceChildren(h("h1", {}, h("a", { href: "#/cache" }, "Cache"), " / " + cls), h("div", { id: "notice" }),
    h("div", { class: "toolbar" }, prefix, h("button", { onclick: load }, "Refresh"), h("button", { class: "danger", onclick: clear }, "Clear all")), info,
    h("div", { class: "split" },
      h("table", {}, h("thead", {}, h("tr", {}, ["Key", "Size", "Age", "Expires in", ""].map((t) => h("th", {}, t)))), body),
      value));
  connection();
  load();
}

function logsPage() {
  const f = JSON.parse(sessionStorage.getItem("log-filters") || "{}");
  const input = (id, ph) => h("input", { id, placeholder: ph, value: f[id] || "" });
  const fields = { app: input("app", "app key"), instance: input("instance", "instance"), since: input("since", "since (15m, 1h, 2024-05-01)"), grep: input("grep", "text or regex") };
  const level = h("select", { id: "level" }, ["", "DEBUG", "INFO", "WARN", "ERROR"].map((l) => h("option", { value: l, selected: (f.level || "") === l ? "" : null }, l || "any level")));
  const box = h("div", { class: "logs", id: "log-lines" });
  let current = new AbortController();
  function start() {
    current.abort();
    current = new AbortController();
    pageAbort.signal.addEventListener("abort", () => current.abort());
    const values = { level: level.value };
    const params = new URLSearchParams({ limit: "200" });
    for (const [k, el] of Object.entries(fields)) { values[k] = el.value.trim(); if (values[k]) params.set(k, values[k]); }
    if (level.value) params.set("level", level.value);
    sessionStorage.setItem("log-filters", JSON.stringify(values));
    box.replaceChildren();
    liveLog(box, params.toString(), current.signal);
  }
  main.replaceChildren(h("h1", {}, "Logs (live)"),
    h("form", { class: "toolbar", id: "log-filters", onsubmit: (ev) => { ev.preventDefault(); start(); } },
      Object.values(fields), level, h("button", { type: "submit" }, "Apply")), box);
  connection();
  start();
}

// ---- routing -------------------------------------------------------------------------------

function route() {
  pageAbort.abort();
  pageAbort = new AbortController();
  timers.forEach(clearInterval);
  timers = [];
  const parts = location.hash.replace(/^#\/?/, "").split("/").map(decodeURIComponent);
  const page = parts[0] || "dashboard";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.dataset.nav === page);
  if (page === "app" && parts.length >= 3) appPage(parts[1], parts[2]);
  else if (page === "cache" && parts[1]) cacheClass(parts[1]);
  else if (page === "cache") cachePage();
  else if (page === "logs") logsPage();
  else dashboard();
}

window.addEventListener("hashchange", route);
route();

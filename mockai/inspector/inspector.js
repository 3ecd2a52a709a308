// mockai inspector: the journal, live, from GET /_mockai/events (server-sent events); the rules, queue and
// cassette from GET /_mockai/state. Plain JavaScript; text is always set with textContent, never parsed as HTML.
"use strict";

const calls = [];          // call views, in arrival order (see mockai/inspector/view.py)
let selected = null;       // seq of the call shown on the right
let pane = "conversation";
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// --- what a call says -----------------------------------------------------------------------------------------

function dropped(c) {
  const d = c.delivery;
  if (!d) return null;
  if (d.reset) return "reset";
  if (d.hang !== null && d.hang !== undefined) return "hang";
  const events = c.response.events;
  if (d.cut_after !== null && d.cut_after !== undefined && events && d.cut_after < events.length) return "cut";
  return null;
}

function statusClass(status) { return "status s" + String(status || 0).charAt(0); }

function preview(c) {
  const lines = (c.transcript || "").split("\n");
  const pick = (prefix) => lines.filter((l) => l.startsWith(prefix)).pop();
  const answer = pick("  error") || pick("  assistant") || pick("  reply") || "";
  const asked = pick("  user:") || pick("  request:") || "";
  return [asked.trim(), answer.trim()].filter(Boolean).join("  →  ");
}

function matches(c) {
  const model = $("f-model").value, status = $("f-status").value, by = $("f-by").value;
  const text = $("f-text").value.trim().toLowerCase();
  if (model && c.model !== model) return false;
  if (by && (c.by || "mockai's checks") !== by) return false;
  if (status === "fault" && !c.fault) return false;
  if (status === "dropped" && !dropped(c)) return false;
  if (/^\dxx$/.test(status) && String(c.status).charAt(0) !== status.charAt(0)) return false;
  if (text && !(c.transcript + " " + c.path).toLowerCase().includes(text)) return false;
  return true;
}

// --- the list -------------------------------------------------------------------------------------------------

function row(c) {
  const li = el("li");
  li.dataset.seq = c.seq;
  const r1 = el("div", "row1");
  r1.append(el("span", "seq", "#" + c.seq), el("span", "method", c.method), el("span", "path", c.path),
            el("span", statusClass(c.status), c.status || "—"));
  const r2 = el("div", "row2");
  if (c.model) r2.append(el("span", "badge", c.model));
  if (c.stream) r2.append(el("span", "badge stream", "stream"));
  r2.append(el("span", "badge", c.by || "mockai's checks"));
  if (c.fault) r2.append(el("span", "badge fault", "fault " + c.fault));
  if (c.error) r2.append(el("span", "badge error", c.error.code || c.error.type || "error"));
  if (c.at) r2.append(el("span", "", new Date(c.at * 1000).toLocaleTimeString()));
  li.append(r1, r2, el("div", "preview", preview(c)));
  if (c.seq === selected) li.classList.add("selected");
  li.addEventListener("click", () => select(c.seq));
  return li;
}

function addOption(select, value) {
  if (!value || [...select.options].some((o) => o.value === value)) return;
  select.append(el("option", "", value));
  select.lastChild.value = value;
}

function add(c, fresh) {
  calls.push(c);
  addOption($("f-model"), c.model);
  addOption($("f-by"), c.by || "mockai's checks");
  $("count").textContent = calls.length;
  $("empty").hidden = true;
  if (matches(c)) {
    const li = row(c);
    if (fresh) li.classList.add("new");
    $("calls").prepend(li);  // newest first
  }
  if (c.seq === selected) show(c);
}

function redraw() {
  const list = $("calls");
  list.replaceChildren(...calls.filter(matches).reverse().map(row));
  $("empty").hidden = calls.length > 0;
}

function clearAll() {
  calls.length = 0;
  selected = null;
  $("calls").replaceChildren();
  $("count").textContent = "0";
  $("empty").hidden = false;
  $("detail-body").hidden = true;
  $("detail-hint").hidden = false;
}

// --- one call -------------------------------------------------------------------------------------------------

function select(seq) {
  selected = seq;
  for (const li of $("calls").children) li.classList.toggle("selected", Number(li.dataset.seq) === seq);
  const c = calls.find((x) => x.seq === seq);
  if (c) show(c);
}

function headers(table, map) {
  table.replaceChildren(...Object.entries(map || {}).map(([k, v]) => {
    const tr = el("tr");
    tr.append(el("td", "", k), el("td", "", v));
    return tr;
  }));
}

function pretty(value) {
  if (value === null || value === undefined) return "(empty)";
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

function show(c) {
  $("detail-hint").hidden = true;
  $("detail-body").hidden = false;
  $("d-title").textContent = `#${c.seq} ${c.method} ${c.path}${c.query ? "?" + c.query : ""}`;
  const badges = $("d-badges");
  badges.replaceChildren(el("span", statusClass(c.status), c.status || "no status"));
  if (c.model) badges.append(el("span", "badge", "model " + c.model));
  badges.append(el("span", "badge" + (c.stream ? " stream" : ""), c.stream ? "stream" : "JSON"));
  badges.append(el("span", "badge", "answered by " + (c.by || "mockai's checks")));
  if (c.fault) badges.append(el("span", "badge fault", "fault " + c.fault));
  const drop = dropped(c);
  if (drop) badges.append(el("span", "badge fault", "connection " + (drop === "cut" ? "cut" : drop)));
  if (c.tokens && (c.tokens[0] !== null || c.tokens[1] !== null)) {
    badges.append(el("span", "badge", `tokens ${c.tokens[0] ?? "–"} in / ${c.tokens[1] ?? "–"} out`));
  }
  if (c.unexpected) badges.append(el("span", "badge error", "unexpected (strict)"));
  const err = $("d-error");
  err.hidden = !c.error;
  if (c.error) {
    err.textContent = `${c.error.type || "error"}${c.error.code ? " " + c.error.code : ""}` +
      `${c.error.param ? " (param " + c.error.param + ")" : ""}: ${c.error.message}`;
  }
  $("d-transcript").textContent = c.transcript;
  headers($("d-req-headers"), c.request.headers);
  $("d-req-body").textContent = pretty(c.request.body);
  headers($("d-res-headers"), c.response.headers);
  $("d-res-body").textContent = c.response.events
    ? c.response.events.map((e) => e.data).join("\n\n") : pretty(c.response.body);
  $("stream-tab").hidden = !c.response.events;
  if (!c.response.events && pane === "stream") pane = "conversation";
  timeline(c);
  showPane(pane);
}

// One event in a few words: a chat chunk's delta, a Responses event's type and delta, an error.
function gist(data) {
  let name = "", payload = "";
  for (const line of data.split("\n")) {
    if (line.startsWith("event: ")) name = line.slice(7);
    else if (line.startsWith("data: ")) payload += line.slice(6);
  }
  if (payload === "[DONE]") return "[DONE]";
  let j;
  try { j = JSON.parse(payload); } catch (e) { return data; }
  if (j && j.error) return "error: " + (j.error.message || JSON.stringify(j.error));
  if (j && Array.isArray(j.choices)) {
    if (!j.choices.length) return j.usage ? "usage " + JSON.stringify(j.usage) : "(no choices)";
    return j.choices.map((ch) => {
      const d = ch.delta || {};
      let s = d.role ? `role=${d.role} ` : "";
      if (d.content) s += JSON.stringify(d.content);
      if (d.refusal) s += "refusal " + JSON.stringify(d.refusal);
      for (const t of d.tool_calls || []) {
        const f = t.function || {};
        s += ` ${f.name ? f.name + "(" : ""}${f.arguments || ""}`;
      }
      if (ch.finish_reason) s += ` finish=${ch.finish_reason}`;
      return (j.choices.length > 1 ? `[${ch.index}] ` : "") + (s.trim() || "(empty delta)");
    }).join("  ");
  }
  if (j && j.type) {
    const delta = typeof j.delta === "string" ? " " + JSON.stringify(j.delta) : "";
    return j.type + delta;
  }
  return (name ? name + " " : "") + payload;
}

function timeline(c) {
  const list = $("d-timeline");
  const events = c.response.events || [];
  const d = c.delivery || {};
  const cut = dropped(c) === "cut" ? d.cut_after : null;
  const last = events.length ? events[events.length - 1].at : 0;
  const span = Math.max(last, 0.001);
  let summary = `${events.length} events`;
  if (c.response.more_events) summary += ` (and ${c.response.more_events} more not shown)`;
  summary += last > 0 ? `, the last ${(last * 1000).toFixed(0)} ms after the start of the answer`
    : ", all at once (no latency: an in-process call, or no latency configured)";
  if (cut !== null) summary += `; the connection was cut after event ${cut}: the rest was never sent`;
  $("d-stream-summary").textContent = summary;
  const items = [];
  events.forEach((e, i) => {
    if (cut !== null && i === cut) items.push(el("li", "cutline", `✂ connection dropped here (fault ${c.fault})`));
    const li = el("li", cut !== null && i >= cut ? "cut" : "");
    if (/"error"\s*:/.test(e.data) || /^event: (error|response\.failed)/m.test(e.data)) li.classList.add("err");
    const prev = i ? events[i - 1].at : 0;
    const track = el("span", "track");
    const mark = el("span", "mark");
    mark.style.left = `calc(${(100 * e.at / span).toFixed(2)}% - 2px)`;
    track.append(mark);
    const gap = i ? `+${((e.at - prev) * 1000).toFixed(0)}` : `${(e.at * 1000).toFixed(0)}`;
    li.append(el("span", "idx", i), el("span", "at", gap + " ms"), track, el("span", "data", gist(e.data)));
    li.title = `${(e.at * 1000).toFixed(1)} ms after the start of the answer; click for the raw event`;
    const raw = el("pre", "raw", e.data);
    raw.hidden = true;
    li.append(raw);
    li.addEventListener("click", () => { raw.hidden = !raw.hidden; });
    items.push(li);
  });
  list.replaceChildren(...items);
}

function showPane(name) {
  pane = name;
  for (const b of document.querySelectorAll(".subtab")) b.classList.toggle("active", b.dataset.pane === name);
  for (const p of document.querySelectorAll(".pane")) p.hidden = p.id !== "pane-" + name;
}

// --- the scenario view ----------------------------------------------------------------------------------------

async function loadState() {
  const res = await fetch("/_mockai/state", { cache: "no-store" });
  if (!res.ok) return;
  const s = await res.json();
  const rules = $("s-rules");
  const head = el("tr");
  head.append(el("th", "", "#"), el("th", "", "rule"), el("th", "", "matched"), el("th", "", "times"));
  rules.replaceChildren(head, ...s.rules.map((r) => {
    const tr = el("tr");
    tr.append(el("td", "", r.index), el("td", "mono", r.rule), el("td", "", r.call_count),
              el("td", "", r.times ?? "any"));
    return tr;
  }));
  rules.hidden = !s.rules.length;
  $("s-rules-none").hidden = s.rules.length > 0;
  $("s-queue").replaceChildren(...s.queue.map((q) => el("li", "", q)));
  $("s-queue-none").hidden = s.queue.length > 0;
  $("s-unused").replaceChildren(...(s.unused.length ? s.unused : ["(everything scripted was used)"])
    .map((u) => el("li", "", u)));
  const setting = (v) => (v === null || v === false ? "off" : Array.isArray(v) ? v.join(", ") : pretty(v));
  headers($("s-config"), Object.fromEntries(Object.entries(s.config).map(([k, v]) => [k, setting(v)])));
  const cas = s.cassette;
  $("s-cassette-none").hidden = !!cas;
  $("s-cassette").hidden = !cas;
  if (cas) {
    $("s-cassette-head").textContent = `${cas.path}: ${cas.interactions} interactions, record mode ${cas.record_mode}`;
    $("s-cassette-misses").hidden = !cas.misses.length;
    $("s-cassette-misses").textContent = "Misses:\n" + cas.misses.join("\n");
    $("s-cassette-transcript").textContent = cas.transcript;
  }
}

function showView(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === name);
  $("view-calls").hidden = name !== "calls";
  $("view-scenario").hidden = name !== "scenario";
  if (name === "scenario") loadState();
}

// --- the live feed --------------------------------------------------------------------------------------------

function connect() {
  const live = $("live");
  const feed = new EventSource("/_mockai/events");
  feed.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  feed.addEventListener("error", () => { live.textContent = "reconnecting…"; live.className = "live off"; });
  feed.addEventListener("clear", () => clearAll());
  feed.addEventListener("call", (e) => {
    const c = JSON.parse(e.data);
    add(c, c.at !== null);  // the journal so far arrives without a time: only new calls flash
    if (!$("view-scenario").hidden) loadState();
  });
  feed.addEventListener("lagged", (e) => {
    const banner = $("lagged");
    banner.hidden = false;
    banner.textContent = `This page fell behind and missed ${JSON.parse(e.data).missed} calls: reload to see all.`;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showView(b.dataset.view));
  for (const b of document.querySelectorAll(".subtab")) b.addEventListener("click", () => showPane(b.dataset.pane));
  for (const id of ["f-model", "f-status", "f-by"]) $(id).addEventListener("change", redraw);
  $("f-text").addEventListener("input", redraw);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  connect();
});

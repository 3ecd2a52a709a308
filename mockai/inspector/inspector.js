// mockai inspector: the journal, live, from GET /_mockai/events (server-sent events); the rules, queue and
// cassette from GET /_mockai/state. Plain JavaScript; text is always set with textContent, never parsed as HTML.
"use strict";

const calls = [];          // call views, in arrival order (see mockai/inspector/view.py), the newest `keep` of them
let keep = 1000;           // calls the page keeps, and characters of their JSON: the feed's `clear` event says
let keepChars = 32 * 1024 * 1024;
let chars = 0;             // characters of JSON the kept calls came as
let droppedCalls = 0;      // older calls dropped from the page since the journal was last emptied
let selected = null;       // seq of the call shown on the right (the server's number: Call.seq)
let pane = "conversation";
let stopped = false;       // the server refused the page's control token: no more requests
const $ = (id) => document.getElementById(id);

function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

// --- what a call says -----------------------------------------------------------------------------------------

// Why a stream without a fault ended early (the journal keeps what was sent: Call.ended).
const ENDED = {client: "client left", stopped: "server stopped"};

function dropped(c) {
  const d = c.delivery;
  if (!d) return null;
  if (d.reset) return "reset";
  if (d.hang !== null && d.hang !== undefined) return "hang";
  // cut_after = k: the first k events were sent, then the connection dropped (the journal keeps those k only)
  if (d.cut_after !== null && d.cut_after !== undefined) return "cut";
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

function add(c, fresh, size) {
  const at = calls.findIndex((x) => x.seq === c.seq);
  if (at >= 0) {  // sent again: the server changed it (a stream that ended early keeps what was sent)
    c._chars = size || 0;
    c.at = calls[at].at;
    chars += c._chars - calls[at]._chars;
    calls[at] = c;
    redraw();
    if (c.seq === selected) show(c);
    return;
  }
  c._chars = size || 0;
  calls.push(c);
  chars += c._chars;
  addOption($("f-model"), c.model);
  addOption($("f-by"), c.by || "mockai's checks");
  if (matches(c)) {
    const li = row(c);
    if (fresh) li.classList.add("new");
    $("calls").prepend(li);  // newest first
  }
  trim();
  $("count").textContent = calls.length;
  listed();
  if (c.seq === selected) show(c);
}

// Keep the newest `keep` calls and at most `keepChars` characters of them (the newest call always stays): a page
// that kept every call grew without bound.
function trim() {
  let gone = 0;
  while (calls.length > 1 && (calls.length > keep || chars > keepChars)) {
    const old = calls.shift();
    chars -= old._chars;
    gone += 1;
    const last = $("calls").lastElementChild;  // the list is newest first: the oldest shown is the last row
    if (last && Number(last.dataset.seq) === old.seq) last.remove();
  }
  if (!gone) return;
  droppedCalls += gone;
  const banner = $("trimmed");
  banner.hidden = false;
  banner.textContent = `${droppedCalls} older call${droppedCalls === 1 ? " was" : "s were"} dropped from this page: ` +
    `it keeps the newest ${keep} calls (at most about ${Math.round(keepChars / 1048576)} MB of them). ` +
    "GET /_mockai/calls lists what the server's journal still holds.";
}

function filtering() {
  return ["f-model", "f-status", "f-by"].some((id) => $(id).value !== "") || $("f-text").value.trim() !== "";
}

// The list's state: the hint when there are no calls, and the filters when they hide some (they outlive a clear).
function listed() {
  const on = filtering();
  const shown = $("calls").children.length;
  $("empty").hidden = calls.length > 0;
  $("filtered").hidden = !on;
  if (on) {
    $("filtered-text").textContent = `Filters on: ${shown} of ${calls.length} call${calls.length === 1 ? "" : "s"} ` +
      "shown.";
  }
  for (const id of ["f-model", "f-status", "f-by", "f-text"]) {
    $(id).classList.toggle("on", $(id).value.trim() !== "");
  }
}

function redraw() {
  const list = $("calls");
  list.replaceChildren(...calls.filter(matches).reverse().map(row));
  listed();
}

function resetFilters() {
  for (const id of ["f-model", "f-status", "f-by", "f-text"]) $(id).value = "";
  redraw();
}

function clearAll() {
  calls.length = 0;
  chars = 0;
  droppedCalls = 0;
  selected = null;
  $("calls").replaceChildren();
  $("count").textContent = "0";
  $("trimmed").hidden = true;
  $("lagged").hidden = true;
  $("detail-body").hidden = true;
  $("detail-hint").hidden = false;
  listed();  // the filters stay: a page watching for errors keeps watching for them after a reset
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
  if (drop) badges.append(el("span", "badge fault", ENDED[c.ended] || "connection " + drop));
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
  if (cut !== null && ENDED[c.ended]) {
    summary += `; ${c.ended === "client" ? "the client left" : "the server stopped"} after ${cut} ` +
      `event${cut === 1 ? " was" : "s were"} sent`;
  } else if (cut !== null) {
    // cut_after = k: events 0 … k-1 were sent, then the connection was dropped
    summary += cut > 0
      ? `; the connection was cut after ${cut} event${cut === 1 ? "" : "s"} (the last one sent: event ${cut - 1}): ` +
        "the rest was never sent"
      : "; the connection was cut before any event was sent";
  }
  $("d-stream-summary").textContent = summary;
  const items = [];
  const cutline = () => el("li", "cutline", ENDED[c.ended] ? `✂ ${ENDED[c.ended]} here`
    : `✂ connection dropped here (fault ${c.fault})`);
  events.forEach((e, i) => {
    if (cut !== null && i === cut) items.push(cutline());  // a journal that kept the events never sent
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
  if (cut !== null && cut >= events.length) items.push(cutline());
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
  if (res.status === 401) { refused(); return; }
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

// The Scenario tab follows the state (a call, a reset, new rules) without a fetch per call: at most one fetch in
// flight, at most one a second; one more after it when something changed meanwhile.
const STATE_EVERY = 1000;  // ms between two fetches of the state
const STATE_POLL = 5000;   // ms: and this often while the tab is open (rules added from Python or another process)
let stateBusy = false, stateWanted = false, stateTimer = null, stateAt = -Infinity;

function stateChanged() {
  if (!$("view-scenario").hidden) refreshState();
}

function refreshState() {
  stateWanted = true;
  if (stopped || stateBusy || stateTimer !== null) return;
  const wait = stateAt + STATE_EVERY - Date.now();
  if (wait > 0) {
    stateTimer = setTimeout(() => { stateTimer = null; refreshState(); }, wait);
    return;
  }
  stateWanted = false;
  stateBusy = true;
  stateAt = Date.now();
  loadState().catch(() => {}).finally(() => {
    stateBusy = false;
    if (stateWanted && !$("view-scenario").hidden) refreshState();
  });
}

function showView(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === name);
  $("view-calls").hidden = name !== "calls";
  $("view-scenario").hidden = name !== "scenario";
  if (name === "scenario") refreshState();
}

// --- the live feed --------------------------------------------------------------------------------------------

let feed = null;

function connect() {
  if (stopped) return;
  const live = $("live");
  const source = feed = new EventSource("/_mockai/events");
  source.addEventListener("open", () => { live.textContent = "live"; live.className = "live on"; });
  source.addEventListener("error", () => {
    if (stopped) return;
    live.textContent = "reconnecting…";
    live.className = "live off";
    // A connection lost is retried by the browser; an answer other than the feed (a 401: the token was refused)
    // closes it for good: ask the server why, and try again unless it is the token.
    if (source.readyState === EventSource.CLOSED) probe();
  });
  source.addEventListener("clear", (e) => {
    const info = JSON.parse(e.data || "{}");
    if (info.keep > 0) keep = info.keep;
    if (info.keep_chars > 0) keepChars = info.keep_chars;
    clearAll();
    stateChanged();
  });
  source.addEventListener("state", () => stateChanged());
  source.addEventListener("call", (e) => {
    const c = JSON.parse(e.data);
    add(c, c.at !== null, e.data.length);  // the journal so far arrives without a time: only new calls flash
    stateChanged();
  });
  source.addEventListener("lagged", (e) => {
    const banner = $("lagged");
    banner.hidden = false;
    banner.textContent = `This page fell behind and missed ${JSON.parse(e.data).missed} calls: reload to see all.`;
  });
}

// Why the feed was closed: the page's own stylesheet, a small file behind the same protection, answers 401 when the
// token is refused.
async function probe() {
  let status = 0;
  try {
    status = (await fetch("/_mockai/inspector/inspector.css", { cache: "no-store" })).status;
  } catch (e) {
    status = 0;  // the server is away: try again
  }
  if (status === 401) refused();
  else setTimeout(connect, 2000);
}

// The server refused the page's control token (it restarted with another one, or the cookie is gone): retrying
// cannot help, signing in again does.
function refused() {
  if (stopped) return;
  stopped = true;
  if (feed) feed.close();
  const live = $("live");
  live.textContent = "token refused";
  live.className = "live refused";
  $("refused").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => showView(b.dataset.view));
  for (const b of document.querySelectorAll(".subtab")) b.addEventListener("click", () => showPane(b.dataset.pane));
  for (const id of ["f-model", "f-status", "f-by"]) $(id).addEventListener("change", redraw);
  $("f-text").addEventListener("input", redraw);
  $("f-reset").addEventListener("click", resetFilters);
  setInterval(() => { if (!document.hidden) stateChanged(); }, STATE_POLL);
  $("filters").addEventListener("submit", (e) => e.preventDefault());
  connect();
});

// relive observer: renders the snapshots the server pushes over SSE.
// The browser never polls: the only requests it makes after the stream is
// open are the ones a person asks for (an actor's detail, promote, abort).
"use strict";

const TOKEN = new URLSearchParams(location.search).get("token") || "";
const q = (path) => path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
let last = null;
let selectedActor = null;
const pending = {};

// An element with attributes and children (strings become text: nothing
// from the host is ever parsed as HTML).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function replace(target, ...children) {
  const t = typeof target === "string" ? document.getElementById(target) : target;
  t.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined));
}

const short = (hash) => (hash ? hash.slice(0, 12) : "");
const time = (ms) => new Date(ms).toLocaleTimeString();
const dur = (us) => (us >= 1000 ? (us / 1000).toFixed(1) + " ms" : us + " µs");

function renderModules(status) {
  const rows = status.modules.map((m) =>
    el("tr", { id: "module-" + m.name, "data-canaries": m.canaries ?? "" },
      el("td", {}, el("b", {}, m.name)),
      el("td", { class: "current" }, m.current.version),
      el("td", { class: "hash current-hash", title: m.current.hash }, short(m.current.hash)),
      el("td", { class: "current-actors" }, m.current.actors),
      el("td", { class: "old" }, m.old ? m.old.version : "—"),
      el("td", { class: "hash old-hash", title: m.old ? m.old.hash : "" }, m.old ? short(m.old.hash) : ""),
      el("td", { class: "old-actors" }, m.old ? m.old.actors : ""),
      el("td", { class: "file" }, m.file_changed ? "changed on disk" : "")));
  replace(document.querySelector("#modules tbody"), rows);

  const gradual = status.modules.filter((m) => m.canaries !== null && m.canaries !== undefined);
  document.getElementById("gradual-section").hidden = gradual.length === 0;
  replace("gradual", gradual.map((m) =>
    el("div", { class: "canary", id: "canary-" + m.name },
      el("div", {},
        el("b", {}, m.name), ": ", el("span", { class: "canaries" }, m.canaries),
        " canar", m.canaries === 1 ? "y" : "ies", " on ", el("b", {}, m.current.version),
        " (", m.current.actors, " actors), ", m.old ? m.old.actors : 0, " still on ",
        m.old ? m.old.version : "?"),
      el("div", {},
        el("button", { class: "promote", id: "promote-" + m.name, disabled: !!pending[m.name],
          onclick: () => act("promote", m.name) }, "Promote"),
        el("button", { class: "abort", id: "abort-" + m.name, disabled: !!pending[m.name],
          onclick: () => act("abort", m.name) }, "Abort")),
      el("div", { class: "action-result", id: "result-" + m.name }, pending[m.name] || ""))));
}

async function act(what, module) {
  pending[module] = what + "…";
  if (last) render(last);
  let text;
  try {
    const r = await fetch(q("/api/" + what + "/" + encodeURIComponent(module)), {
      method: "POST", headers: { "X-Relive-Token": TOKEN } });
    const body = await r.json();
    const past = { promote: "promoted", abort: "aborted" }[what];
    text = r.ok ? past : what + " refused: " + body.message;
  } catch (e) {
    text = what + " failed: " + e;
  }
  delete pending[module];
  const out = document.getElementById("last-action");
  out.textContent = module + ": " + text;
  if (last) render(last);
}

function chart(id, points) {
  const svg = document.getElementById(id);
  const max = Math.max(1, ...points);
  const n = Math.max(points.length - 1, 1);
  const coords = points.map((v, i) => `${(i / n) * 300},${60 - (v / max) * 56 - 2}`).join(" ");
  replace(svg, document.createElementNS("http://www.w3.org/2000/svg", "polyline"));
  svg.firstChild.setAttribute("points", coords);
  svg.setAttribute("data-max", max);
}

function renderRates(snap) {
  const s = snap.samples || [];
  const msgs = [], crashes = [];
  // Each rate over the last second at least (snapshots after events come
  // closer together than that).
  let j = 0;
  for (let i = 1; i < s.length; i++) {
    while (j + 1 < i && s[i].at_ms - s[j + 1].at_ms >= 1000) j++;
    const dt = Math.max((s[i].at_ms - s[j].at_ms) / 1000, 1);
    // Handled counts belong to live actors: a restart can lower the sum.
    msgs.push(Math.max(0, s[i].handled - s[j].handled) / dt);
    crashes.push(Math.max(0, s[i].crashes - s[j].crashes) / dt);
  }
  chart("chart-messages", msgs);
  chart("chart-crashes", crashes);
  document.getElementById("rate-messages").textContent = (msgs.at(-1) || 0).toFixed(1);
  document.getElementById("rate-crashes").textContent = (crashes.at(-1) || 0).toFixed(2);
  document.getElementById("crash-count").textContent = snap.crashes_total;
}

function renderTrees(status) {
  const byId = new Map(status.actors.map((a) => [a.id, a]));
  replace("trees", status.trees.map((t) =>
    el("div", { class: "tree", id: "tree-" + t.actor },
      el("h3", {}, "supervisor <", t.actor, "> ", el("small", {}, t.strategy)),
      el("table", {},
        el("thead", {}, el("tr", {}, ["child", "actor", "kind", "modules", "state", "restarts"].map((h) => el("th", {}, h)))),
        el("tbody", {}, t.children.map((c) => {
          const a = c.actor !== null ? byId.get(c.actor) : null;
          const state = c.actor === null ? "down" : a ? a.state : "running";
          return el("tr", { class: "child", id: "child-" + t.actor + "-" + c.id },
            el("td", {}, c.id),
            el("td", {}, c.actor === null ? "—" : "<" + c.actor + ">"),
            el("td", {}, c.kind),
            el("td", {}, c.modules.join(", ")),
            el("td", { class: "state-" + state }, state),
            el("td", { class: "restarts" }, c.restarts));
        }))))));
}

function renderTimeline(snap) {
  const entries = snap.history.slice().reverse();
  replace("timeline", entries.map((h) => {
    const outcome = h.refused ? "refused" : "ok";
    return el("li", { class: h.refused ? "refused" : h.action, "data-action": h.action, "data-outcome": outcome },
      el("span", { class: "when" }, new Date(h.at * 1000).toLocaleTimeString()), " ",
      el("b", {}, h.module), " ", el("span", { class: "action" }, h.action), " ",
      h.from ? h.from + " → " : "", el("span", { class: "to" }, h.to || ""),
      " · ", outcome, " · ", dur(h.duration_us),
      h.refused ? el("div", { class: "reason" }, h.refused) : null);
  }));
}

function renderCrashes(snap) {
  const crashes = snap.events.filter((e) => e.kind === "crashed" || e.kind === "escalated").reverse();
  replace("crashes", crashes.length === 0 ? [el("li", {}, "none")] : crashes.map((e) =>
    el("li", { class: "crash", "data-kind": e.kind },
      time(e.at_ms), " ", e.kind, " child ", el("b", {}, e.child), " of <", e.supervisor, ">",
      e.actor !== null && e.actor !== undefined ? " (actor <" + e.actor + ">)" : "", ": ",
      el("span", { class: "reason" }, e.reason))));
}

// Every event the observer saw (the host's kept ones from before it
// attached included), newest first.
function renderEventLog(snap) {
  const describe = (e) => [
    e.module, e.child ? "child " + e.child : null,
    e.from && e.to ? e.from + " → " + e.to : e.to || e.from,
    e.count !== null && e.count !== undefined ? e.count + (e.kind === "purged" ? " instance(s)" : " actor(s)") : null,
    e.actor !== null && e.actor !== undefined ? "<" + e.actor + ">" : null,
    e.hash ? short(e.hash) : null, e.reason,
  ].filter((x) => x !== null && x !== undefined && x !== "").join(" · ");
  replace("event-log", snap.events.slice(-60).reverse().map((e) =>
    el("li", { class: "event " + e.kind, "data-kind": e.kind, "data-seq": e.seq },
      "#", e.seq, " ", time(e.at_ms), " ", el("b", {}, e.kind), " ", describe(e))));
  document.getElementById("events-note").textContent = snap.events_missed
    ? `(${snap.events_missed} let go by the host before the observer read them)` : "";
}

function renderActors(status) {
  document.getElementById("actor-count").textContent = status.actor_count;
  document.getElementById("workers").textContent = status.workers;
  document.getElementById("handled-total").textContent = status.handled_total;
  document.getElementById("actors-note").textContent = status.actors.length < status.actor_count
    ? `(first ${status.actors.length} of ${status.actor_count})` : "";
  replace(document.querySelector("#actors tbody"), status.actors.map((a) =>
    el("tr", { id: "actor-" + a.id, onclick: () => showActor(a.id) },
      el("td", {}, "<" + a.id + ">"), el("td", {}, a.name || ""), el("td", {}, a.module || "native"),
      el("td", {}, a.version || ""), el("td", { class: "state-" + a.state }, a.state),
      el("td", { class: "mailbox" }, a.mailbox), el("td", { class: "handled" }, a.handled))));
}

async function showActor(id) {
  selectedActor = id;
  const box = document.getElementById("actor-detail");
  box.hidden = false;
  replace(box, el("div", {}, "loading <" + id + ">…"));
  try {
    const r = await fetch(q("/api/actor/" + id));
    const body = await r.json();
    if (!r.ok) {
      replace(box, el("div", { class: "reason" }, "<" + id + ">: " + body.message));
      return;
    }
    const s = body.stats.Stats;
    replace(box,
      el("h3", {}, "actor <", id, ">", s.suspended ? " (suspended)" : "", " ",
        el("button", { onclick: () => showActor(id) }, "refresh")),
      el("div", {}, "mailbox ", el("b", { id: "detail-mailbox" }, s.mailbox),
        " · messages in ", el("b", { id: "detail-handled" }, s.messages_in),
        " · out ", s.messages_out, " · turns ", s.turns),
      body.state_error
        ? el("div", { class: "reason" }, "state: " + body.state_error)
        : el("pre", { id: "detail-state" }, JSON.stringify(body.state, null, 2)));
  } catch (e) {
    replace(box, el("div", { class: "reason" }, String(e)));
  }
}

function render(snap) {
  last = snap;
  document.getElementById("host").textContent = snap.host;
  document.getElementById("updated").textContent = "updated " + time(snap.at_ms);
  replace("errors", (snap.errors || []).map((e) => el("div", {}, e)));
  if (snap.status) {
    renderModules(snap.status);
    renderTrees(snap.status);
    renderActors(snap.status);
  }
  renderRates(snap);
  renderTimeline(snap);
  renderCrashes(snap);
  renderEventLog(snap);
  document.body.setAttribute("data-seq", snap.events.length ? snap.events.at(-1).seq : 0);
  document.body.setAttribute("data-rendered", (Number(document.body.getAttribute("data-rendered")) || 0) + 1);
}

function connect() {
  const conn = document.getElementById("connection");
  const source = new EventSource(q("/api/events"));
  source.addEventListener("open", () => { conn.textContent = "live"; conn.className = "conn up"; });
  source.addEventListener("error", () => { conn.textContent = "reconnecting"; conn.className = "conn down"; });
  source.addEventListener("snapshot", (e) => {
    const snap = JSON.parse(e.data);
    if (snap) render(snap);
  });
}

connect();

// The web UI's script: reads the JSON API, renders with DOM nodes (text only, never
// HTML from data), posts actions with the session's CSRF token. No build step.
"use strict";

const body = document.body;
const MARKERS = {};
MARKERS[body.dataset.sensitive] = "(sensitive)";
MARKERS[body.dataset.unknown] = "(known after apply)";
const REFRESH_MS = 3000;

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "text") node.textContent = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function short(sha) { return sha ? sha.slice(0, 10) : "-"; }
function when(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("+00:00", "Z") : "-"; }
function shown(value) { return Object.prototype.hasOwnProperty.call(MARKERS, value) ? MARKERS[value] : value; }

function badge(status) {
  return el("span", {class: "badge status-" + String(status).toLowerCase(), text: status});
}

function notice(text, isError) {
  const node = document.getElementById("notice");
  node.textContent = text;
  node.className = isError ? "notice error" : "notice";
  node.hidden = !text;
}

class ApiError extends Error {
  constructor(status, message) { super(message); this.status = status; }
}

async function api(path, options) {
  const answer = await fetch(path, Object.assign({credentials: "same-origin"}, options || {}));
  if (answer.status === 401 && body.dataset.page !== "login") {
    window.location.assign("/login?next=" + encodeURIComponent(location.pathname));
    throw new ApiError(401, "log in first");
  }
  const doc = await answer.json().catch(() => ({}));
  if (!answer.ok) throw new ApiError(answer.status, doc.error || answer.statusText);
  return doc;
}

let sessionPromise = null;
function session() {
  sessionPromise = sessionPromise || api("/api/session");
  return sessionPromise;
}

async function post(path, payload, method) {
  const who = await session();
  const headers = {"Content-Type": "application/json"};
  if (who.csrf_token) headers["X-CSRF-Token"] = who.csrf_token;
  return api(path, {method: method || "POST", headers, body: JSON.stringify(payload || {})});
}

function replaceRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function every(ms, job) {
  const tick = () => job().catch((e) => notice(e.message, true));
  tick();
  return setInterval(tick, ms);
}

// ------------------------------------------------------------------ diffs

function renderChanges(container, changes, emptyText) {
  if (!changes.length) {
    container.replaceChildren(el("p", {class: "muted", text: emptyText}));
    return;
  }
  container.replaceChildren(...changes.map((change) => {
    const rows = change.values.map((v) => el("tr", {},
      el("td", {class: "path", text: v.path}),
      el("td", {class: "before", text: shown(v.before)}),
      el("td", {class: "arrow", text: "\u2192"}),
      el("td", {class: "after", text: shown(v.after)})));
    const unknown = change.unknown_paths.length
      ? el("p", {class: "muted", text: "(known after apply): " + change.unknown_paths.map((p) => p || "(whole value)").join(", ")})
      : null;
    return el("div", {class: "change action-" + change.action},
      el("div", {class: "address"}, el("code", {text: change.address}), " ", el("span", {class: "muted", text: change.description})),
      rows.length ? el("table", {class: "values"}, el("tbody", {}, ...rows)) : null,
      unknown);
  }));
}

function facts(container, pairs) {
  const nodes = [];
  for (const [label, value] of pairs) nodes.push(el("dt", {text: label}), el("dd", {}, value));
  container.replaceChildren(...nodes);
}

// ------------------------------------------------------------------ login

function localPath(next) {
  // Back where the login came from, on this origin only ("//host" and "/\\host" are
  // other origins to a browser).
  try {
    const url = new URL(next || "/", location.origin);
    return url.origin === location.origin ? url.pathname + url.search : "/";
  } catch (e) {
    return "/";
  }
}

function loginPage() {
  const form = document.getElementById("login");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    try {
      await api("/api/session", {
        method: "POST",
        headers: {"Content-Type": "application/json"},
        body: JSON.stringify({name: form.elements.name.value, password: form.elements.password.value}),
      });
      window.location.assign(localPath(new URLSearchParams(location.search).get("next")));
    } catch (e) {
      error.textContent = e.message;
      error.hidden = false;
    }
  });
}

// ------------------------------------------------------------------ overview

function overviewPage() {
  const tbody = document.querySelector("#stacks tbody");
  const filter = document.getElementById("status-filter");
  const search = document.getElementById("search");
  let stacks = [];
  const draw = () => {
    const query = search.value.trim().toLowerCase();
    replaceRows(tbody, stacks
      .filter((s) => !filter.value || s.status === filter.value)
      .filter((s) => !query || s.name.toLowerCase().includes(query))
      .map((s) => el("tr", {"data-stack": s.name},
        el("td", {}, el("a", {href: "/stacks/" + encodeURIComponent(s.name), text: s.name})),
        el("td", {}, badge(s.status)),
        el("td", {text: s.engine}),
        el("td", {}, el("code", {text: short(s.applied_commit)})),
        el("td", {}, el("code", {text: short(s.desired_commit)})),
        el("td", {text: when(s.last_drift_check)}),
        el("td", {class: "message", text: s.message}))));
  };
  filter.addEventListener("change", draw);
  search.addEventListener("input", draw);
  every(REFRESH_MS, async () => {
    stacks = await api("/api/stacks");
    draw();
    drawGraph(document.getElementById("graph"), await api("/api/graph"));
  });
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}

function drawGraph(container, graph) {
  // Columns by dependency depth: a stack stands right of everything it depends on.
  const deps = {};
  for (const node of graph.nodes) deps[node.name] = [];
  for (const edge of graph.edges) deps[edge.stack].push(edge.depends_on);
  const depth = {};
  const depthOf = (name, seen) => {
    if (depth[name] !== undefined) return depth[name];
    if (seen.has(name)) return 0;
    seen.add(name);
    depth[name] = deps[name].reduce((d, dep) => Math.max(d, depthOf(dep, seen) + 1), 0);
    return depth[name];
  };
  const columns = [];
  for (const node of graph.nodes) (columns[depthOf(node.name, new Set())] ||= []).push(node);
  const W = 170, H = 34, GAP_X = 70, GAP_Y = 18;
  const at = {};
  columns.forEach((column, x) => column.forEach((node, y) => {
    at[node.name] = {x: 10 + x * (W + GAP_X), y: 10 + y * (H + GAP_Y)};
  }));
  const rows = Math.max(1, ...columns.map((c) => c.length));
  const root = svg("svg", {
    width: 20 + columns.length * (W + GAP_X), height: 20 + rows * (H + GAP_Y),
    role: "img", "aria-label": "stack dependencies",
  });
  const marker = svg("marker", {id: "arrow", viewBox: "0 0 10 10", refX: "10", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto"});
  marker.append(svg("path", {d: "M0,0 L10,5 L0,10 z", class: "edge-head"}));
  root.append(svg("defs", {}), marker);
  for (const edge of graph.edges) {
    const from = at[edge.depends_on], to = at[edge.stack];
    root.append(svg("line", {
      x1: from.x + W, y1: from.y + H / 2, x2: to.x, y2: to.y + H / 2,
      class: "edge", "marker-end": "url(#arrow)",
    }));
  }
  for (const node of graph.nodes) {
    const p = at[node.name];
    const link = svg("a", {href: "/stacks/" + encodeURIComponent(node.name), class: "node status-" + node.status.toLowerCase(), "data-stack": node.name});
    link.append(svg("rect", {x: p.x, y: p.y, width: W, height: H, rx: 6}));
    link.append(svg("text", {x: p.x + 10, y: p.y + 21}, node.name + " \u00b7 " + node.status));
    root.append(link);
  }
  container.replaceChildren(graph.nodes.length ? root : el("p", {class: "muted", text: "No stacks."}));
}

// ------------------------------------------------------------------ a stack

function stackPage() {
  const name = body.dataset.stack;
  const base = "/api/stacks/" + encodeURIComponent(name);
  const canRollback = Boolean(body.dataset.canRollback);
  const act = async (action, payload) => {
    try {
      const accepted = await post(base + "/" + action, payload);
      notice(action + " accepted at " + short(accepted.commit) + " (" + accepted.trigger + ")", false);
      refresh();
    } catch (e) {
      notice(action + ": " + e.message, true);
    }
  };
  for (const button of document.querySelectorAll("#actions button[data-action]")) {
    button.addEventListener("click", () => act(button.dataset.action));
  }
  const refresh = () => draw().catch((e) => notice(e.message, true));
  const draw = async () => {
    const stack = await api(base);
    const status = document.getElementById("status");
    status.replaceWith(Object.assign(badge(stack.status), {id: "status"}));
    document.getElementById("message").textContent = stack.message;
    facts(document.getElementById("facts"), [
      ["Engine", stack.engine || "-"],
      ["Applied commit", el("code", {text: short(stack.applied_commit)})],
      ["Desired commit", el("code", {text: short(stack.desired_commit)})],
      ["Last drift check", when(stack.last_drift_check)],
      ["Depends on", stack.depends_on.join(", ") || "-"],
      ["Auto-apply", stack.auto_apply_paused ? "paused" : "on"],
    ]);
    renderChanges(document.getElementById("drift"), stack.drift, "No drift found.");
    renderChanges(document.getElementById("changes"), stack.changes, "No plan with changes since the last apply.");
    const runs = await api(base + "/runs?limit=20");
    replaceRows(document.querySelector("#history tbody"), runs.map((r) => el("tr", {"data-run": r.id},
      el("td", {}, el("a", {href: "/runs/" + encodeURIComponent(r.id), text: r.id})),
      el("td", {}, el("code", {text: short(r.commit.sha)})),
      el("td", {text: r.commit.author}),
      el("td", {text: r.commit.message.split("\n")[0]}),
      el("td", {text: r.kind}),
      el("td", {text: r.trigger}),
      el("td", {text: r.actor || "-"}),
      el("td", {}, badge(r.status)),
      el("td", {text: when(r.started_at)}),
      el("td", {}, canRollback && r.kind === "apply" && r.status === "applied"
        ? rollbackButton(r.commit.sha, act) : null))));
  };
  setInterval(refresh, REFRESH_MS);
  refresh();
}

function rollbackButton(sha, act) {
  const button = el("button", {type: "button", class: "small", "data-rollback": sha, text: "Roll back to this commit"});
  button.addEventListener("click", () => {
    if (window.confirm("Roll back to " + short(sha) + "?")) act("rollback", {commit: sha});
  });
  return button;
}

// ------------------------------------------------------------------ a run

function runPage() {
  const id = body.dataset.run;
  const draw = async () => {
    const run = await api("/api/runs/" + encodeURIComponent(id));
    document.getElementById("status").replaceWith(Object.assign(badge(run.status), {id: "status"}));
    facts(document.getElementById("facts"), [
      ["Stack", el("a", {href: "/stacks/" + encodeURIComponent(run.stack), text: run.stack})],
      ["Kind", run.kind + " (" + run.trigger + (run.actor ? ", by " + run.actor : "") + ")"],
      ["Commit", el("span", {}, el("code", {text: short(run.commit.sha)}), " " + run.commit.author + ": " + run.commit.message.split("\n")[0])],
      ["Counts", Object.entries(run.counts).filter(([, n]) => n).map(([k, n]) => n + " " + k).join(", ") || "none"],
      ["Started", when(run.started_at)],
      ["Duration", run.duration_s === null ? "-" : run.duration_s.toFixed(1) + " s"],
      ["Engine", run.engine_version || run.engine || "-"],
    ]);
    const error = document.getElementById("error");
    error.textContent = run.error || "";
    error.hidden = !run.error;
    renderChanges(document.getElementById("drift"), run.drift, "None.");
    renderChanges(document.getElementById("changes"), run.changes, "None.");
  };
  draw().catch((e) => notice(e.message, true));
  const log = document.getElementById("log");
  const state = document.getElementById("log-state");
  const source = new EventSource("/api/runs/" + encodeURIComponent(id) + "/log");
  source.onopen = () => { state.textContent = "live"; };
  source.onmessage = (event) => { log.append(event.data + "\n"); };
  source.addEventListener("end", (event) => {
    source.close();
    state.textContent = "ended: " + JSON.parse(event.data).status;
    draw().catch((e) => notice(e.message, true));
  });
  source.addEventListener("failure", (event) => {
    source.close();
    state.textContent = "unavailable: " + event.data;
  });
  source.onerror = () => { if (source.readyState === EventSource.CLOSED) state.textContent = "closed"; };
}

// ------------------------------------------------------------------ start

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    await post("/api/session", {}, "DELETE").catch(() => null);
    window.location.assign("/login");
  });
}
({login: loginPage, overview: overviewPage, stack: stackPage, run: runPage})[body.dataset.page]();

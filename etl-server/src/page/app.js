// The page of runs: plain JavaScript over the server's own API, compiled into
// the server. Every name and value from the API is put on the page as text
// (textContent, createTextNode, SVG text), never as markup.
"use strict";

const main = () => document.getElementById("main");
let refresh = null;

// An element: `el("td", {class: "x"}, "text", child…)`. Strings are text.
function el(tag, attrs, ...children) {
  // "title" is only ever made for the graph (the document's is in index.html).
  const svg = ["svg", "g", "rect", "text", "path", "defs", "marker", "title"].includes(tag);
  const node = svg ? document.createElementNS("http://www.w3.org/2000/svg", tag) : document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number" ? document.createTextNode(String(child)) : child);
  }
  return node;
}

function token() { return sessionStorage.getItem("etl-token") || ""; }

function notice(text, ok) {
  const box = document.getElementById("notice");
  box.textContent = text || "";
  box.className = ok ? "ok" : "";
  box.hidden = !text;
}

async function api(method, path, body) {
  const headers = { "Accept": "application/json", "X-Etl-Client": "page" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (token()) headers["Authorization"] = "Bearer " + token();
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: "omit" });
  const data = await response.json().catch(() => ({ error: { message: response.statusText } }));
  if (!response.ok) {
    const message = (data.error && data.error.message) || response.statusText;
    throw new Error(response.status === 401 ? message + " (enter the server token above)" : message);
  }
  return data;
}

const enc = encodeURIComponent;
function when(text) { return text ? text.replace("T", " ").replace(/\.\d+Z$/, "Z") : ""; }
function seconds(ms) { return ms === null || ms === undefined ? "" : (ms / 1000).toFixed(ms < 10000 ? 2 : 0) + " s"; }
// How long something still running has run so far: "12 s so far".
function elapsed(started) {
  const since = Date.parse(started);
  return el("span", { class: "muted elapsed" }, isNaN(since) ? "running" : seconds(Math.max(0, Date.now() - since)).replace(/\.\d+ s$/, " s") + " so far");
}
function badge(status) { return el("span", { class: "status " + status, "data-status": status }, status); }
function runLink(id) { return el("a", { href: "#/runs/" + enc(id), class: "run-link" }, id); }

async function act(what, fn) {
  try { await fn(); notice(""); } catch (e) { notice(what + ": " + e.message); }
}

// The workflows: enabled, last run, next run, trigger, switch.
async function workflowsView() {
  const workflows = await api("GET", "/api/workflows");
  const rows = workflows.map((w) => {
    const params = el("form", { class: "params", hidden: true, "data-workflow": w.name });
    for (const p of w.params) {
      // The server checks each value against its type; the pattern says so before sending.
      const pattern = { int: "-?[0-9]+", bool: "true|false", date: "[0-9]{4}-[0-9]{2}-[0-9]{2}" }[p.type];
      params.appendChild(el("label", {}, p.name + " ", el("input", {
        name: p.name, value: p.default === null ? "" : p.default, required: p.default === null,
        pattern, placeholder: p.type === "string" ? null : p.type, title: p.type === "string" ? null : "a value of type " + p.type,
      })));
    }
    params.appendChild(el("button", { type: "submit", class: "primary" }, "Start"));
    params.addEventListener("submit", (e) => { e.preventDefault(); start(w, Object.fromEntries(new FormData(params))); });
    const trigger = el("button", {
      class: "primary trigger", "data-workflow": w.name, disabled: !w.enabled,
      onclick: () => (w.params.length ? (params.hidden = !params.hidden) : start(w, {})),
    }, "Trigger");
    const toggle = el("button", {
      class: "toggle", "data-workflow": w.name,
      onclick: () => act(w.enabled ? "Disabling" : "Enabling", async () => {
        await api("POST", "/api/workflows/" + enc(w.name) + (w.enabled ? "/disable" : "/enable"));
        render();
      }),
    }, w.enabled ? "Disable" : "Enable");
    const last = w.last_run;
    return el("tr", { class: "workflow", "data-workflow": w.name },
      el("td", { class: "wrap" }, el("a", { href: "#/runs?workflow=" + enc(w.name) }, w.name), params),
      el("td", { class: "enabled" }, w.enabled ? "enabled" : "disabled"),
      el("td", { class: "hide-narrow" }, w.schedule ? w.schedule + (w.zone ? " (" + w.zone + ")" : "") : ""),
      el("td", {}, last ? [badge(last.status), " ", el("a", { href: "#/runs/" + enc(last.run_id) }, when(last.started_at))] : el("span", { class: "muted" }, "none")),
      el("td", { class: "hide-narrow next-run" }, w.enabled ? when(w.next_run) : ""),
      el("td", {}, el("div", { class: "actions" }, trigger, toggle)));
  });
  main().replaceChildren(
    el("h1", {}, "Workflows"),
    workflows.length === 0
      ? el("p", { class: "muted" }, "No workflow is registered yet: run a workflow's binary (run, worker, schedule or serve) against this store.")
      : el("div", { class: "table" }, el("table", {},
          el("thead", {}, el("tr", {}, ["Workflow", "State", "Schedule", "Last run", "Next run", ""].map((h, i) => el("th", { class: i === 2 || i === 4 ? "hide-narrow" : null }, h)))),
          el("tbody", {}, rows))));
}

async function start(workflow, params) {
  await act("Starting a run of " + workflow.name, async () => {
    const run = await api("POST", "/api/workflows/" + enc(workflow.name) + "/runs", { params });
    location.hash = "#/runs/" + enc(run.run_id);
  });
}

// The runs, newest first, refreshed while one runs.
async function runsView(query) {
  const search = new URLSearchParams(query);
  const path = "/api/runs?" + new URLSearchParams([...search].filter(([, v]) => v)).toString();
  const page = await api("GET", path);
  const workflows = await api("GET", "/api/workflows");
  const pick = (name, options) => {
    const select = el("select", { name, onchange: () => { search.set(name, select.value); search.delete("after"); location.hash = "#/runs?" + search; } },
      options.map(([value, label]) => el("option", { value, selected: (search.get(name) || "") === value }, label)));
    return select;
  };
  const rows = page.runs.map((r) => el("tr", { class: "run", "data-run": r.run_id, "data-status": r.status },
    el("td", { class: "wrap" }, runLink(r.run_id)),
    el("td", { class: "wrap" }, r.workflow),
    el("td", {}, badge(r.status)),
    el("td", { class: "hide-narrow" }, r.started_by || r.trigger),
    el("td", { class: "hide-narrow" }, when(r.started_at)),
    el("td", {}, r.status === "RUNNING" ? elapsed(r.started_at) : seconds(r.duration_ms))));
  const next = page.next ? (() => { const s = new URLSearchParams(search); s.set("after", page.next); return el("a", { href: "#/runs?" + s }, "Older runs →"); })() : null;
  main().replaceChildren(
    el("h1", {}, "Runs"),
    el("div", { class: "filters" },
      pick("workflow", [["", "every workflow"], ...workflows.map((w) => [w.name, w.name])]),
      pick("status", [["", "any status"], ...["RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"].map((s) => [s, s])])),
    page.runs.length === 0 ? el("p", { class: "muted" }, "No run.") :
      el("div", { class: "table" }, el("table", {},
        el("thead", {}, el("tr", {}, ["Run", "Workflow", "Status", "Started by", "Started", "Duration"].map((h, i) => el("th", { class: i === 3 || i === 4 ? "hide-narrow" : null }, h)))),
        el("tbody", {}, rows))),
    // replaceChildren writes a null as the text "null".
    ...(next ? [next] : []));
  if (page.runs.some((r) => r.status === "RUNNING")) refresh = setTimeout(render, 2000);
}

// One run: its graph drawn with each step's status, its steps, its buttons.
async function runView(runId) {
  const detail = await api("GET", "/api/runs/" + enc(runId));
  const run = detail.run;
  let graph = null;
  try { graph = await api("GET", "/api/workflows/" + enc(run.workflow)); } catch (e) { graph = null; }
  const buttons = [];
  if (run.status === "RUNNING") {
    buttons.push(el("button", { class: "cancel", disabled: run.cancel_requested, onclick: () => act("Cancelling", async () => { await api("POST", "/api/runs/" + enc(runId) + "/cancel"); render(); }) }, run.cancel_requested ? "Cancelling…" : "Cancel"));
  } else if (run.status !== "SUCCEEDED") {
    buttons.push(el("button", { class: "resume primary", onclick: () => act("Resuming", async () => { await api("POST", "/api/runs/" + enc(runId) + "/resume"); render(); }) }, "Resume"));
  }
  const steps = detail.steps.map((s) => el("tr", { class: "step", "data-step": s.step, "data-status": s.status },
    el("td", { class: "wrap" }, s.step),
    el("td", {}, badge(s.status)),
    el("td", { class: "attempts", title: (s.history || []).map(tried).join("\n") || null }, String(s.attempts)),
    el("td", {}, s.rows === null ? "" : String(s.rows)),
    el("td", { class: "hide-narrow" }, when(s.started_at)),
    el("td", {}, ["RUNNING", "RETRYING"].includes(s.status) && s.started_at ? elapsed(s.started_at) : seconds(s.duration_ms)),
    el("td", { class: "wrap" }, s.error ? el("pre", { class: "error step-error" }, s.error) : (s.reused_from ? el("span", { class: "muted" }, "reused from " + s.reused_from) : ""))));
  main().replaceChildren(
    el("h1", {}, run.workflow + " · " + run.run_id),
    el("p", { class: "summary" }, badge(run.status), " ",
      "started " + when(run.started_at) + " by " + (run.started_by || run.trigger),
      run.finished_at ? ", took " + seconds(run.duration_ms) : "",
      Object.keys(run.params).length ? " · " + Object.entries(run.params).map(([k, v]) => k + "=" + v).join(" ") : ""),
    el("div", { class: "actions" }, buttons),
    el("h2", {}, "Graph"),
    dag(graph ? graph.steps : detail.steps.map((s) => ({ name: s.step, inputs: [], after: [] })), detail.steps),
    el("h2", {}, "Steps"),
    el("div", { class: "table" }, el("table", {},
      el("thead", {}, el("tr", {}, ["Step", "Status", "Attempts", "Rows", "Started", "Duration", "Error"].map((h, i) => el("th", { class: i === 4 ? "hide-narrow" : null }, h)))),
      el("tbody", {}, steps))));
  if (run.status === "RUNNING") refresh = setTimeout(render, 1000);
}

// One attempt of a step, as a line of the attempts cell's tooltip.
function tried(a) {
  const end = a.finished_at ? when(a.finished_at) + " " + (a.status || "") + " after " + seconds(a.duration_ms) : "no end recorded";
  return "attempt " + a.attempt + ": " + when(a.started_at) + " → " + end + (a.error ? " · " + a.error : "");
}

// The graph in layers: a step sits one layer right of the deepest step it
// waits for.
function dag(graphSteps, runSteps) {
  const status = Object.fromEntries(runSteps.map((s) => [s.step, s.status]));
  const byName = Object.fromEntries(graphSteps.map((s) => [s.name, s]));
  const layer = {};
  const depth = (name, seen) => {
    if (layer[name] !== undefined) return layer[name];
    if (seen.has(name) || !byName[name]) return 0;
    seen.add(name);
    const needs = [...byName[name].inputs, ...byName[name].after];
    layer[name] = needs.length ? 1 + Math.max(...needs.map((n) => depth(n, seen))) : 0;
    return layer[name];
  };
  graphSteps.forEach((s) => depth(s.name, new Set()));
  const columns = [];
  graphSteps.forEach((s) => { (columns[layer[s.name]] = columns[layer[s.name]] || []).push(s.name); });
  const W = 150, H = 34, GX = 60, GY = 18, pos = {};
  columns.forEach((names, x) => names.forEach((name, y) => { pos[name] = { x: 10 + x * (W + GX), y: 10 + y * (H + GY) }; }));
  const width = 20 + columns.length * (W + GX) - GX;
  const height = 20 + Math.max(1, ...columns.map((c) => c.length)) * (H + GY) - GY;
  const edges = [];
  graphSteps.forEach((s) => [...s.inputs, ...s.after].forEach((from) => {
    if (!pos[from]) return;
    const a = pos[from], b = pos[s.name];
    const x1 = a.x + W, y1 = a.y + H / 2, x2 = b.x - 4, y2 = b.y + H / 2, mid = (x1 + x2) / 2;
    edges.push(el("path", { class: "edge", d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}` }));
  }));
  const nodes = graphSteps.map((s) => {
    const p = pos[s.name], st = status[s.name] || "PENDING";
    const label = s.name.length > 20 ? s.name.slice(0, 19) + "…" : s.name;
    // A cut name is read whole in the tooltip (and by a screen reader).
    return el("g", { class: "node " + st, "data-step": s.name, "data-status": st, "aria-label": s.name + ": " + st },
      el("title", {}, s.name + " · " + st),
      el("rect", { x: p.x, y: p.y, width: W, height: H }),
      el("text", { x: p.x + W / 2, y: p.y + H / 2 }, label));
  });
  return el("div", { class: "dag" }, el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": "the workflow's graph" },
    el("defs", {}, el("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "9", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto" }, el("path", { class: "arrowhead", d: "M0,0 L10,5 L0,10 z" }))),
    edges, nodes));
}

async function render() {
  clearTimeout(refresh);
  const hash = location.hash.replace(/^#/, "") || "/";
  const [path, query] = hash.split("?");
  try {
    if (path.startsWith("/runs/")) await runView(decodeURIComponent(path.slice(6)));
    else if (path === "/runs") await runsView(query || "");
    else await workflowsView();
  } catch (e) {
    notice(e.message);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const input = document.getElementById("token");
  input.value = token();
  document.getElementById("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("etl-token", input.value.trim());
    notice(input.value.trim() ? "Token set for this tab." : "Token cleared.", true);
    render();
  });
  // A notice belongs to the view it was said in.
  window.addEventListener("hashchange", () => { notice(""); render(); });
  render();
});

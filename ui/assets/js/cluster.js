// The cluster: summary tiles, agents (used/offered/total bars, attributes,
// health), frameworks (allocation, DRF share), and the task list with
// filters. Everything comes from one /master/state, polled every 5 s.
import { h, mount } from "./dom.js";
import { master, poll } from "./api.js";
import { scalars, num, mb, pct, resBar, stateBadge, badge, ago } from "./format.js";

export async function loadState() { return master("master/state"); }

export function allTasks(state) {
  const out = [];
  for (const fw of state.frameworks || []) {
    for (const t of fw.tasks || []) out.push({ ...t, _fw: fw });
    for (const t of fw.completed_tasks || []) out.push({ ...t, _fw: fw, _done: true });
  }
  for (const t of state.orphan_tasks || []) out.push({ ...t, _fw: null });
  return out;
}

export function clusterTotals(state) {
  const total = { cpus: 0, mem: 0, disk: 0 }, used = { cpus: 0, mem: 0, disk: 0 }, offered = { cpus: 0, mem: 0, disk: 0 };
  for (const s of state.slaves || []) {
    const t = scalars(s.resources), u = scalars(s.used_resources), o = scalars(s.offered_resources);
    for (const k of Object.keys(total)) { total[k] += t[k]; used[k] += u[k]; offered[k] += o[k]; }
  }
  return { total, used, offered };
}

function tile(label, value, sub) {
  return h("div", { class: "tile" }, h("div", { class: "label" }, label), h("div", { class: "value" }, value), sub ? h("div", { class: "sub" }, sub) : null);
}

export function clusterView(main) {
  const tiles = h("div", { class: "tiles" });
  const agents = h("div", { class: "table-wrap" });
  const frameworks = h("div", { class: "table-wrap" });
  const err = h("div");
  mount(main,
    h("div", { class: "page-head" }, h("h1", {}, "Cluster"), h("span", { class: "spacer" }),
      h("div", { class: "legend", "aria-hidden": "true" },
        h("span", {}, h("i", { style: { background: "var(--used)" } }), "used"),
        h("span", {}, h("i", { style: { background: "var(--offered)" } }), "offered"),
        h("span", {}, h("i", { style: { background: "var(--track)" } }), "free"))),
    err, tiles,
    h("section", { class: "card flush", "aria-labelledby": "agents-h" }, h("div", { class: "card-head" }, h("h2", { id: "agents-h" }, "Agents")), agents),
    h("section", { class: "card flush", "aria-labelledby": "fw-h" }, h("div", { class: "card-head" }, h("h2", { id: "fw-h" }, "Frameworks")), frameworks));

  return poll(async () => {
    let state;
    try { state = await loadState(); mount(err); } catch (e) { mount(err, h("div", { class: "alert bad" }, `Cannot load /master/state: ${e.message}`)); return; }
    const { total, used, offered } = clusterTotals(state);
    const tasks = allTasks(state);
    const running = tasks.filter((t) => t.state === "TASK_RUNNING").length;
    const activeAgents = (state.slaves || []).filter((s) => s.active).length;
    mount(tiles,
      tile("Agents", `${activeAgents} / ${(state.slaves || []).length}`, "active / registered"),
      tile("CPUs", `${num(used.cpus)} / ${num(total.cpus)}`, `${Math.round(pct(used.cpus, total.cpus))}% allocated`),
      tile("Memory", `${mb(used.mem)} / ${mb(total.mem)}`, `${Math.round(pct(used.mem, total.mem))}% allocated`),
      tile("Tasks running", String(running), `${tasks.length} known`),
      tile("Frameworks", String((state.frameworks || []).filter((f) => f.active).length), `${(state.frameworks || []).length} registered`));
    renderAgents(agents, state);
    renderFrameworks(frameworks, state, total);
  }, 5000);
}

function renderAgents(el, state) {
  const slaves = [...(state.slaves || [])].sort((a, b) => a.hostname.localeCompare(b.hostname));
  if (!slaves.length) { mount(el, h("div", { class: "empty" }, "No agents registered yet.")); return; }
  mount(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Agent"), h("th", {}, "Health"), h("th", {}, "Resources"), h("th", { class: "hide-sm" }, "Attributes"), h("th", { class: "hide-sm" }, "Registered"))),
    h("tbody", {}, slaves.map((s) => {
      const t = scalars(s.resources), u = scalars(s.used_resources), o = scalars(s.offered_resources);
      const attrs = Object.entries(s.attributes || {});
      return h("tr", {},
        h("td", {}, h("div", {}, h("strong", {}, s.hostname)), h("div", { class: "muted mono" }, s.id)),
        h("td", {}, s.active ? badge("healthy", "ok") : badge("disconnected", "bad")),
        h("td", {}, h("div", { class: "res" }, resBar("cpu", u.cpus, o.cpus, t.cpus), resBar("mem", u.mem, o.mem, t.mem, mb), resBar("disk", u.disk, o.disk, t.disk, mb))),
        h("td", { class: "hide-sm" }, attrs.length ? attrs.map(([k, v]) => h("span", { class: "chip" }, `${k}:${typeof v === "object" ? JSON.stringify(v) : v}`)) : h("span", { class: "muted" }, "none")),
        h("td", { class: "hide-sm muted" }, ago(s.registered_time)));
    }))));
}

// DRF share: the framework's largest share of any cluster resource.
export function drfShare(fw, total) {
  const u = scalars(fw.used_resources);
  return Math.max(...["cpus", "mem", "disk"].map((k) => (total[k] > 0 ? u[k] / total[k] : 0)));
}

function renderFrameworks(el, state, total) {
  const fws = state.frameworks || [];
  if (!fws.length) { mount(el, h("div", { class: "empty" }, "No frameworks registered.")); return; }
  mount(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Framework"), h("th", {}, "State"), h("th", { class: "hide-sm" }, "Role"), h("th", { class: "num" }, "Tasks"), h("th", { class: "num" }, "CPUs"), h("th", { class: "num" }, "Mem"), h("th", {}, "DRF share"))),
    h("tbody", {}, fws.map((f) => {
      const u = scalars(f.used_resources), share = drfShare(f, total);
      return h("tr", {},
        h("td", {}, h("a", { href: `#/tasks?framework=${encodeURIComponent(f.id)}` }, h("strong", {}, f.name)), h("div", { class: "muted mono" }, f.id)),
        h("td", {}, f.active ? badge("active", "ok") : badge("inactive", "warn")),
        h("td", { class: "hide-sm" }, h("span", { class: "chip" }, (f.roles || [f.role]).join(", ") || "*")),
        h("td", { class: "num" }, String((f.tasks || []).length)),
        h("td", { class: "num" }, num(u.cpus)), h("td", { class: "num" }, mb(u.mem)),
        h("td", {}, h("div", { class: "btns" }, h("div", { class: "bar", style: { width: "90px" } }, h("span", { class: "used", style: { width: `${share * 100}%` } })), h("span", { class: "muted" }, `${(share * 100).toFixed(1)}%`))));
    }))));
}

const STATES = ["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR"];

export function tasksView(main) {
  const params = new URLSearchParams(location.hash.split("?")[1] || "");
  const q = h("input", { type: "search", placeholder: "Filter by name or id", "aria-label": "Filter tasks by name or id", value: params.get("q") || "" });
  const st = h("select", { "aria-label": "State" }, h("option", { value: "" }, "All states"), h("option", { value: "active" }, "Active"), STATES.map((s) => h("option", { value: s }, s.replace("TASK_", "").toLowerCase())));
  st.value = params.get("state") || "active";
  const ag = h("select", { "aria-label": "Agent" }, h("option", { value: "" }, "All agents"));
  const fw = h("select", { "aria-label": "Framework" }, h("option", { value: "" }, "All frameworks"));
  const body = h("div", { class: "table-wrap" });
  const count = h("span", { class: "muted" });
  let last = null;
  const render = () => last && renderTasks(body, count, last, { q: q.value.trim().toLowerCase(), state: st.value, agent: ag.value, framework: fw.value });
  for (const el of [q, st, ag, fw]) el.addEventListener("input", render);
  mount(main,
    h("div", { class: "page-head" }, h("h1", {}, "Tasks"), count),
    h("div", { class: "card flush" }, h("div", { class: "card-head filters" }, q, st, ag, fw), body));
  const wantFw = params.get("framework") || "", wantAg = params.get("agent") || "";
  return poll(async () => {
    last = await loadState();
    fillSelect(ag, (last.slaves || []).map((s) => [s.id, s.hostname]), wantAg);
    fillSelect(fw, (last.frameworks || []).map((f) => [f.id, f.name]), wantFw);
    render();
  }, 5000);
}

function fillSelect(sel, items, want) {
  const cur = sel.value || want;
  const keep = sel.options[0];
  sel.replaceChildren(keep, ...items.map(([v, l]) => h("option", { value: v }, l)));
  sel.value = items.some(([v]) => v === cur) ? cur : "";
}

const ACTIVE = new Set(["TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE"]);

function renderTasks(el, count, state, f) {
  const hosts = Object.fromEntries((state.slaves || []).map((s) => [s.id, s.hostname]));
  let tasks = allTasks(state).filter((t) =>
    (!f.state || (f.state === "active" ? ACTIVE.has(t.state) : t.state === f.state)) &&
    (!f.agent || t.slave_id === f.agent) && (!f.framework || t.framework_id === f.framework) &&
    (!f.q || t.id.toLowerCase().includes(f.q) || (t.name || "").toLowerCase().includes(f.q)));
  const shown = tasks.slice(0, 500);
  count.textContent = `${tasks.length} task${tasks.length === 1 ? "" : "s"}${tasks.length > 500 ? " (first 500 shown)" : ""}`;
  if (!tasks.length) { mount(el, h("div", { class: "empty" }, "No tasks match these filters.")); return; }
  mount(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Task"), h("th", {}, "State"), h("th", { class: "hide-sm" }, "Framework"), h("th", { class: "hide-sm" }, "Agent"), h("th", { class: "num" }, "CPUs"), h("th", { class: "num" }, "Mem"), h("th", { class: "hide-sm" }, "Updated"))),
    h("tbody", {}, shown.map((t) => {
      const r = scalars(t.resources);
      const lastStatus = (t.statuses || []).at(-1);
      return h("tr", {},
        h("td", {}, h("a", { href: `#/task/${encodeURIComponent(t.id)}` }, t.name || t.id), h("div", { class: "muted mono" }, t.id)),
        h("td", {}, stateBadge(t.state)),
        h("td", { class: "hide-sm" }, t._fw ? t._fw.name : "–"),
        h("td", { class: "hide-sm" }, hosts[t.slave_id] || t.slave_id),
        h("td", { class: "num" }, num(r.cpus)), h("td", { class: "num" }, mb(r.mem)),
        h("td", { class: "hide-sm muted" }, lastStatus ? ago(lastStatus.timestamp) : "–"));
    }))));
}

// One task: its state history, its sandbox (browse files, follow stdout or
// stderr live) and small live charts of cpu and memory from the agent's
// /monitor/statistics.
import { h, mount, tabs } from "./dom.js";
import { agent, poll } from "./api.js";
import { loadState, allTasks } from "./cluster.js";
import { stateBadge, scalars, num, mb, bytes, ago } from "./format.js";
import { sparkline } from "./charts.js";

// The executor (and its sandbox directory) that runs a task, from the agent's /state.
export function findExecutor(agentState, taskId) {
  for (const fw of [...(agentState.frameworks || []), ...(agentState.completed_frameworks || [])]) {
    for (const ex of [...(fw.executors || []), ...(fw.completed_executors || [])]) {
      const ids = [...(ex.tasks || []), ...(ex.completed_tasks || []), ...(ex.queued_tasks || [])].map((t) => t.id);
      if (ex.id === taskId || ids.includes(taskId)) return ex;
    }
  }
  return null;
}

export function taskView(main, taskId) {
  const head = h("div", { class: "page-head" }, h("h1", {}, taskId));
  const summary = h("div");
  const body = h("div");
  let tab = "logs", task = null, executor = null, stopTab = null;
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/tasks" }, "Tasks"), " / task"), head, summary, body);

  const selectTab = (t) => {
    tab = t;
    if (stopTab) stopTab();
    stopTab = null;
    renderTab();
  };
  function renderTab() {
    const content = h("div");
    mount(body, tabs([["logs", "Logs"], ["files", "Sandbox"], ["stats", "Resources"], ["history", "State history"]], tab, selectTab), content);
    if (!task) return;
    if (tab === "history") return history(content, task);
    if (!executor) { mount(content, h("div", { class: "card empty" }, "Looking up the sandbox on the agent…")); return; }
    if (tab === "logs") stopTab = logs(content, task.slave_id, executor.directory);
    if (tab === "files") stopTab = files(content, task.slave_id, executor.directory, executor.directory);
    if (tab === "stats") stopTab = stats(content, task.slave_id, executor.id);
  }

  const stopState = poll(async () => {
    const state = await loadState();
    const found = allTasks(state).find((t) => t.id === taskId);
    if (!found) { mount(summary, h("div", { class: "alert warn" }, `The master does not know task ${taskId} (it may have been archived).`)); return; }
    const first = !task;
    task = found;
    const host = (state.slaves || []).find((s) => s.id === task.slave_id);
    const r = scalars(task.resources);
    mount(head, h("h1", {}, task.name || task.id), stateBadge(task.state));
    mount(summary, h("div", { class: "card" }, h("dl", { class: "kv" },
      h("dt", {}, "Task id"), h("dd", { class: "mono" }, task.id),
      h("dt", {}, "Framework"), h("dd", {}, task._fw ? `${task._fw.name} (${task._fw.id})` : task.framework_id),
      h("dt", {}, "Agent"), h("dd", {}, host ? `${host.hostname} (${host.id})` : task.slave_id),
      h("dt", {}, "Resources"), h("dd", {}, `${num(r.cpus)} cpus · ${mb(r.mem)} mem · ${mb(r.disk)} disk`))));
    if (!executor) {
      try {
        executor = findExecutor(await agent(task.slave_id, "state"), taskId);
      } catch (e) { console.warn(e); }
      if (executor || first) renderTab();
    } else if (tab === "history") renderTab();
  }, 5000);
  return () => { stopState(); if (stopTab) stopTab(); };
}

function history(el, task) {
  const st = [...(task.statuses || [])].sort((a, b) => a.timestamp - b.timestamp);
  if (!st.length) { mount(el, h("div", { class: "card empty" }, "No status updates yet.")); return; }
  mount(el, h("div", { class: "card" }, h("ol", { class: "timeline" }, st.map((s) =>
    h("li", {}, h("div", { class: "btns" }, stateBadge(s.state), h("span", { class: "muted" }, new Date(s.timestamp * 1000).toLocaleString()), h("span", { class: "muted" }, ago(s.timestamp))),
      s.message ? h("div", { class: "mono" }, s.message) : null,
      s.reason ? h("div", { class: "muted mono" }, s.reason) : null)))));
}

// Follows a file: reads new bytes from the end every 2 s while visible.
function logs(el, agentId, dir) {
  const which = h("select", { "aria-label": "Log file" }, h("option", { value: "stdout" }, "stdout"), h("option", { value: "stderr" }, "stderr"));
  const follow = h("input", { type: "checkbox", id: "follow", checked: true });
  const pre = h("pre", { class: "log", tabindex: "0", "aria-label": "Log output", "aria-live": "off" });
  const status = h("span", { class: "muted" });
  mount(el, h("div", { class: "card" }, h("div", { class: "btns", style: { marginBottom: "10px" } }, which,
    h("label", { for: "follow" }, follow, " Follow"), status), pre));
  let offset = null;
  const reset = () => { offset = null; pre.textContent = ""; };
  which.addEventListener("change", reset);
  return poll(async () => {
    const path = `${dir}/${which.value}`;
    try {
      if (offset === null) {
        const end = await agent(agentId, `files/read?path=${encodeURIComponent(path)}&offset=-1`);
        offset = Math.max(0, end.offset - 64 * 1024);
      }
      for (let i = 0; i < 8; i++) {
        const chunk = await agent(agentId, `files/read?path=${encodeURIComponent(path)}&offset=${offset}&length=65536`);
        if (!chunk.data) break;
        pre.append(chunk.data);
        offset += new TextEncoder().encode(chunk.data).length;
        if (chunk.data.length < 65536) break;
      }
      status.textContent = `${bytes(offset)} · ${follow.checked ? "following" : "paused"}`;
      if (follow.checked) pre.scrollTop = pre.scrollHeight;
    } catch (e) {
      status.textContent = e.status === 404 ? `${which.value} does not exist yet` : e.message;
    }
  }, 2000);
}

function files(el, agentId, root, dir) {
  const list = h("div", { class: "table-wrap" });
  const view = h("div");
  const crumbs = h("div", { class: "mono muted", style: { padding: "10px 16px", wordBreak: "break-all" } });
  mount(el, h("div", { class: "card flush" }, crumbs, list), view);
  const open = async (path) => {
    mount(crumbs, path.startsWith(root) ? ["sandbox", path.slice(root.length)].join("") : path);
    let entries;
    try { entries = await agent(agentId, `files/browse?path=${encodeURIComponent(path)}`); } catch (e) { mount(list, h("div", { class: "alert bad" }, e.message)); return; }
    entries.sort((a, b) => (b.mode || "").startsWith("d") - (a.mode || "").startsWith("d") || a.path.localeCompare(b.path));
    const rows = [];
    if (path !== root) rows.push(h("tr", {}, h("td", { colspan: 3 }, h("a", { href: "#", onclick: (e) => { e.preventDefault(); open(path.replace(/\/[^/]+$/, "")); } }, "../"))));
    for (const f of entries) {
      const name = f.path.split("/").pop();
      const isDir = (f.mode || "").startsWith("d");
      rows.push(h("tr", {},
        h("td", {}, h("a", { href: "#", onclick: (e) => { e.preventDefault(); isDir ? open(f.path) : show(f.path); } }, isDir ? `${name}/` : name)),
        h("td", { class: "num" }, isDir ? "" : bytes(f.size)),
        h("td", { class: "muted hide-sm" }, f.mtime ? ago(f.mtime) : "")));
    }
    mount(list, h("table", { class: "files" }, h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", { class: "num" }, "Size"), h("th", { class: "hide-sm" }, "Modified"))), h("tbody", {}, rows)));
  };
  const show = async (path) => {
    try {
      const end = await agent(agentId, `files/read?path=${encodeURIComponent(path)}&offset=-1`);
      const from = Math.max(0, end.offset - 256 * 1024);
      const chunk = await agent(agentId, `files/read?path=${encodeURIComponent(path)}&offset=${from}&length=${256 * 1024}`);
      mount(view, h("div", { class: "card" }, h("div", { class: "btns", style: { marginBottom: "8px" } }, h("strong", { class: "mono" }, path.split("/").pop()),
        h("a", { class: "btn small", href: `/ui/api/agent/${encodeURIComponent(agentId)}/files/download?path=${encodeURIComponent(path)}` }, "Download"),
        from > 0 ? h("span", { class: "muted" }, "(last 256 KB)") : null), h("pre", { class: "log" }, chunk.data)));
    } catch (e) { mount(view, h("div", { class: "alert bad" }, e.message)); }
  };
  open(dir);
  return null;
}

function stats(el, agentId, executorId) {
  const cpu = sparkline("CPU (cores)", (v) => v.toFixed(2));
  const mem = sparkline("Memory (RSS)", (v) => bytes(v));
  const note = h("p", { class: "muted" }, "Sampled every 3 s from the agent's /monitor/statistics.");
  mount(el, h("div", { class: "grid2" }, cpu.el, mem.el), note);
  let prev = null;
  return poll(async () => {
    const all = await agent(agentId, "monitor/statistics");
    const s = (all || []).find((x) => x.executor_id === executorId);
    if (!s) { note.textContent = "No statistics for this executor (it is not running)."; return; }
    const st = s.statistics;
    const cpuSecs = (st.cpus_user_time_secs || 0) + (st.cpus_system_time_secs || 0);
    if (prev) cpu.push(Math.max(0, (cpuSecs - prev.cpu) / Math.max(0.001, st.timestamp - prev.t)));
    prev = { cpu: cpuSecs, t: st.timestamp };
    mem.push(st.mem_rss_bytes ?? st.mem_total_bytes ?? 0);
    note.textContent = `Limits: ${num(st.cpus_limit)} cpus, ${bytes(st.mem_limit_bytes)} memory. Sampled every 3 s.`;
  }, 3000);
}

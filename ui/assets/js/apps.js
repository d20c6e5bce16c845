// Marathon apps: the list (status, health bar, one-button scale) and an app's
// page (instances with kill / kill & scale, versions with a diff, deployments
// with progress and rollback, the last task failure). Marathon's SSE stream
// triggers refreshes (at most one every 1.5 s); a slow poll is the fallback.
import { h, mount, toast, confirmDialog, busy, tabs } from "./dom.js";
import { marathon, poll, marathonEvents, throttle, ApiError } from "./api.js";
import { badge, num, mb, ago, stateBadge } from "./format.js";

const LIST = "v2/apps?embed=apps.counts&embed=apps.deployments&embed=apps.lastTaskFailure";

// Marathon UI's status rules.
export function appStatus(app, queue) {
  const q = (queue || []).find((e) => (e.app || {}).id === app.id);
  if ((app.deployments || []).length) return ["Deploying", "info"];
  if (q && q.delay && q.delay.overdue === false) return ["Delayed", "warn"];
  if (q) return ["Waiting", "warn"];
  if (app.instances === 0 && !app.tasksRunning) return ["Suspended", ""];
  return ["Running", "ok"];
}

export function healthBar(app) {
  const total = Math.max(app.instances || 0, (app.tasksRunning || 0) + (app.tasksStaged || 0), 1);
  const healthy = app.tasksHealthy || 0, unhealthy = app.tasksUnhealthy || 0;
  const hasChecks = (app.healthChecks || []).length > 0;
  const running = Math.max(0, (app.tasksRunning || 0) - (hasChecks ? healthy + unhealthy : 0));
  const seg = (cls, n) => n ? h("span", { class: cls, style: { width: `${(n / total) * 100}%` } }) : null;
  const label = hasChecks ? `${healthy} healthy, ${unhealthy} unhealthy, ${app.tasksStaged || 0} staged of ${app.instances}` : `${app.tasksRunning || 0} running, ${app.tasksStaged || 0} staged of ${app.instances}`;
  return h("div", { class: "bar", role: "img", "aria-label": label, title: label },
    seg("healthy", hasChecks ? healthy : 0), seg("running", running), seg("unhealthy", unhealthy), seg("staged", app.tasksStaged || 0));
}

// Runs a Marathon change; on a 409 (a deployment holds the lock) explains and offers ?force=true.
export async function withForce(what, call) {
  try { return await call(false); } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 409) throw e;
    const ids = ((e.body && e.body.deployments) || []).map((d) => d.id).join(", ");
    const ok = await confirmDialog(`A deployment is in progress`,
      h("div", {}, h("p", {}, e.message), h("p", {}, `Forcing will cancel the running deployment${ids ? ` (${ids})` : ""} where it stands and start this change (${what}) from the current state. Instances already started or stopped stay as they are; nothing is rolled back.`)),
      "Force the change", true);
    if (!ok) throw new Error("Cancelled: the deployment keeps the lock.");
    return call(true);
  }
}

function scaleControl(app, after) {
  const input = h("input", { type: "number", min: "0", value: String(app.instances), "aria-label": `Instances of ${app.id}` });
  const btn = h("button", { type: "button", class: "btn small", onclick: () => busy(btn, "Scaling…", async () => {
    const n = Number(input.value);
    if (!Number.isInteger(n) || n < 0) { toast("Instances must be a whole number ≥ 0", "bad"); return; }
    try {
      await withForce(`scale to ${n}`, (force) => marathon(`v2/apps${app.id}?force=${force}`, { method: "PUT", body: { instances: n } }));
      toast(`Scaling ${app.id} to ${n}`, "ok");
      after();
    } catch (e) { toast(e.message, "bad"); }
  }) }, "Scale");
  input.addEventListener("keydown", (e) => { if (e.key === "Enter") btn.click(); });
  return h("span", { class: "scale" }, input, btn);
}

export function appsView(main) {
  const q = h("input", { type: "search", placeholder: "Filter apps", "aria-label": "Filter apps by id" });
  const status = h("select", { "aria-label": "Status" }, ["", "Running", "Deploying", "Suspended", "Delayed", "Waiting"].map((s) => h("option", { value: s }, s || "All statuses")));
  const body = h("div", { class: "table-wrap" });
  const count = h("span", { class: "muted" });
  const err = h("div");
  let apps = [], queue = [];
  const render = () => renderList(body, count, apps, queue, q.value.trim().toLowerCase(), status.value, refresh);
  q.addEventListener("input", render);
  status.addEventListener("input", render);
  mount(main, h("div", { class: "page-head" }, h("h1", {}, "Apps"), count, h("span", { class: "spacer" }),
    h("a", { class: "btn primary", href: "#/apps/new" }, "+ Create app")), err,
    h("div", { class: "card flush" }, h("div", { class: "card-head filters" }, q, status), body));
  async function refresh() {
    try {
      const [a, qu] = await Promise.all([marathon(LIST), marathon("v2/queue")]);
      apps = a.apps || []; queue = qu.queue || [];
      mount(err);
      render();
    } catch (e) { mount(err, h("div", { class: "alert bad" }, `Cannot load apps: ${e.message}`)); }
  }
  const soon = throttle(refresh, 1500);
  const stopEvents = marathonEvents(() => soon());
  const stopPoll = poll(refresh, 10000);
  return () => { stopEvents(); stopPoll(); };
}

function renderList(el, count, apps, queue, q, want, refresh) {
  const rows = apps.map((a) => [a, appStatus(a, queue)]).filter(([a, [s]]) => (!q || a.id.toLowerCase().includes(q)) && (!want || s === want));
  count.textContent = `${rows.length} of ${apps.length}`;
  if (!apps.length) { mount(el, h("div", { class: "empty" }, "No apps yet. ", h("a", { href: "#/apps/new" }, "Create the first one."))); return; }
  const shown = rows.slice(0, 300);
  mount(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "App"), h("th", {}, "Status"), h("th", {}, "Health"), h("th", { class: "num" }, "Running"), h("th", { class: "num hide-sm" }, "CPUs"), h("th", { class: "num hide-sm" }, "Mem"), h("th", {}, "Scale"))),
    h("tbody", {}, shown.map(([a, [s, kind]]) => h("tr", { dataset: { app: a.id } },
      h("td", {}, h("a", { href: `#/app${a.id}` }, h("strong", {}, a.id)), a.lastTaskFailure ? h("div", { class: "muted", title: a.lastTaskFailure.message }, `last failure ${ago(a.lastTaskFailure.timestamp)}`) : null),
      h("td", {}, badge(s, kind)),
      h("td", { style: { minWidth: "120px" } }, healthBar(a)),
      h("td", { class: "num" }, `${a.tasksRunning || 0} / ${a.instances}`),
      h("td", { class: "num hide-sm" }, num(a.cpus)), h("td", { class: "num hide-sm" }, mb(a.mem)),
      h("td", {}, scaleControl(a, refresh)))))),
  rows.length > shown.length ? h("div", { class: "empty" }, `${rows.length - shown.length} more: narrow the filter.`) : null);
}

export function appView(main, id) {
  id = "/" + id.replace(/^\//, "");
  const head = h("div", { class: "page-head" });
  const deploys = h("div");
  const body = h("div");
  let tab = "instances", app = null, deployments = [];
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/apps" }, "Apps"), ` / ${id}`), head, deploys, body);
  const select = (t) => { tab = t; render(); };
  async function refresh() {
    try {
      const [a, d] = await Promise.all([marathon(`v2/apps${id}?embed=app.tasks&embed=app.counts&embed=app.deployments&embed=app.lastTaskFailure`), marathon("v2/deployments")]);
      app = a.app;
      deployments = (d || []).filter((x) => (x.affectedApps || []).includes(id));
      render();
    } catch (e) {
      mount(head, h("h1", {}, id));
      mount(body, h("div", { class: "alert bad" }, e.status === 404 ? `App ${id} does not exist.` : e.message));
    }
  }
  function render() {
    if (!app) return;
    const [s, kind] = appStatus(app, []);
    mount(head, h("h1", {}, app.id), badge(s, kind), h("span", { class: "spacer" }),
      h("div", { class: "btns" }, scaleControl(app, refresh),
        h("a", { class: "btn", href: `#/app-edit${app.id}` }, "Edit"),
        actionBtn("Restart", `Restart ${app.id}?`, "Every instance is replaced by a new one, keeping the health capacity the upgrade strategy asks for.", (f) => marathon(`v2/apps${id}/restart?force=${f}`, { method: "POST" })),
        actionBtn("Suspend", `Suspend ${app.id}?`, "Scales the app to 0 instances. Its definition stays; scale it up again to resume.", (f) => marathon(`v2/apps${id}?force=${f}`, { method: "PUT", body: { instances: 0 } })),
        actionBtn("Destroy", `Destroy ${app.id}?`, "Kills every instance and deletes the app and its versions. This cannot be undone.", (f) => marathon(`v2/apps${id}?force=${f}`, { method: "DELETE" }), true)));
    renderDeployments(deploys, deployments, refresh);
    const content = h("div");
    mount(body, tabs([["instances", `Instances (${(app.tasks || []).length})`], ["config", "Configuration"], ["versions", "Versions"], ["failure", "Last failure"]], tab, select), content);
    if (tab === "instances") instances(content, app, refresh);
    if (tab === "config") mount(content, h("div", { class: "card" }, h("pre", { class: "mono", style: { margin: 0, overflow: "auto" } }, JSON.stringify(stripStatus(app), null, 2))));
    if (tab === "versions") versions(content, app, refresh);
    if (tab === "failure") failure(content, app);
  }
  function actionBtn(label, title, text, call, danger = false) {
    const b = h("button", { type: "button", class: `btn ${danger ? "danger" : ""}`, onclick: async () => {
      if (!(await confirmDialog(title, h("p", {}, text), label, danger))) return;
      await busy(b, `${label}…`, async () => {
        try {
          await withForce(label.toLowerCase(), call);
          toast(`${label}: ${app.id}`, "ok");
          if (label === "Destroy") location.hash = "#/apps"; else refresh();
        } catch (e) { toast(e.message, "bad"); }
      });
    } }, label);
    return b;
  }
  const soon = throttle(refresh, 1500);
  const stopEvents = marathonEvents(() => soon());
  const stopPoll = poll(refresh, 10000);
  return () => { stopEvents(); stopPoll(); };
}

const STATUS_FIELDS = ["tasks", "tasksRunning", "tasksStaged", "tasksHealthy", "tasksUnhealthy", "deployments", "lastTaskFailure", "readinessCheckResults", "taskStats"];
export function stripStatus(app) {
  const out = { ...app };
  for (const k of STATUS_FIELDS) delete out[k];
  return out;
}

function renderDeployments(el, deployments, refresh) {
  if (!deployments.length) { mount(el); return; }
  mount(el, deployments.map((d) => {
    const done = Math.max(0, (d.currentStep || 1) - 1), total = d.totalSteps || 1;
    const actions = (d.currentActions || []).map((a) => `${a.action} ${a.app}`).join(", ");
    return h("div", { class: "card" }, h("div", { class: "btns" }, h("strong", {}, "Deployment in progress"), h("span", { class: "muted mono" }, d.id), h("span", { class: "spacer", style: { flex: 1 } }),
      h("button", { type: "button", class: "btn small", onclick: async () => {
        if (!(await confirmDialog("Roll back this deployment?", h("p", {}, "Marathon starts a new deployment that returns the app to the version before this one."), "Roll back"))) return;
        try { await marathon(`v2/deployments/${d.id}`, { method: "DELETE" }); toast("Rolling back", "ok"); refresh(); } catch (e) { toast(e.message, "bad"); }
      } }, "Roll back"),
      h("button", { type: "button", class: "btn small danger", onclick: async () => {
        if (!(await confirmDialog("Stop this deployment?", h("p", {}, "Stops the deployment where it stands, without rolling back. Instances already changed stay changed."), "Stop", true))) return;
        try { await marathon(`v2/deployments/${d.id}?force=true`, { method: "DELETE" }); toast("Deployment stopped", "ok"); refresh(); } catch (e) { toast(e.message, "bad"); }
      } }, "Stop")),
    h("div", { class: "muted", style: { margin: "8px 0 6px" } }, `Step ${d.currentStep || 1} of ${total}${actions ? `: ${actions}` : ""}`),
    h("div", { class: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": String(total), "aria-valuenow": String(done) }, h("span", { style: { width: `${(done / total) * 100}%` } })));
  }));
}

function taskHealth(t, app) {
  const r = t.healthCheckResults || [];
  if (!(app.healthChecks || []).length) return badge("no checks");
  if (!r.length) return badge("unknown", "warn");
  return r.every((x) => x.alive) ? badge("healthy", "ok") : badge("unhealthy", "bad");
}

function instances(el, app, refresh) {
  const tasks = app.tasks || [];
  if (!tasks.length) { mount(el, h("div", { class: "card empty" }, app.instances ? "No instances yet: waiting for offers." : "Suspended: 0 instances.")); return; }
  const kill = async (t, scale) => {
    const what = scale ? "Kill & scale down" : "Kill";
    const text = scale ? "Kills the instance and lowers the app's instance count by one, so it is not replaced." : "Kills the instance; Marathon starts a replacement to keep the instance count.";
    if (!(await confirmDialog(`${what}: ${t.id}?`, h("p", {}, text), what, true))) return;
    try {
      await marathon(`v2/apps${app.id}/tasks/${encodeURIComponent(t.id)}?scale=${scale}`, { method: "DELETE" });
      toast(`${what}: ${t.id}`, "ok");
      refresh();
    } catch (e) { toast(e.message, "bad"); }
  };
  mount(el, h("div", { class: "card flush" }, h("div", { class: "table-wrap" }, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Instance"), h("th", {}, "State"), h("th", {}, "Health"), h("th", { class: "hide-sm" }, "Host"), h("th", { class: "hide-sm" }, "Started"), h("th", {}, ""))),
    h("tbody", {}, tasks.map((t) => h("tr", { dataset: { task: t.id } },
      h("td", {}, h("a", { href: `#/task/${encodeURIComponent(t.id)}`, class: "mono" }, t.id), h("div", { class: "muted" }, `version ${t.version || "?"}`)),
      h("td", {}, stateBadge(t.state)),
      h("td", {}, taskHealth(t, app)),
      h("td", { class: "hide-sm" }, `${t.host}${(t.ports || []).length ? ":" + t.ports.join(",") : ""}`),
      h("td", { class: "hide-sm muted" }, ago(t.startedAt)),
      h("td", {}, h("div", { class: "btns" },
        h("button", { type: "button", class: "btn small", onclick: () => kill(t, false) }, "Kill"),
        h("button", { type: "button", class: "btn small danger", onclick: () => kill(t, true) }, "Kill & scale"))))))))));
}

// A line diff (LCS) of two JSON documents.
export function diffLines(a, b) {
  const x = a.split("\n"), y = b.split("\n");
  const m = x.length, n = y.length;
  const L = Array.from({ length: m + 1 }, () => new Uint16Array(n + 1));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--) L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < m && j < n) {
    if (x[i] === y[j]) { out.push([" ", x[i]]); i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) out.push(["-", x[i++]]); else out.push(["+", y[j++]]);
  }
  while (i < m) out.push(["-", x[i++]]);
  while (j < n) out.push(["+", y[j++]]);
  return out;
}

async function versions(el, app, refresh) {
  mount(el, h("div", { class: "card empty" }, "Loading versions…"));
  let list;
  try { list = (await marathon(`v2/apps${app.id}/versions`)).versions || []; } catch (e) { mount(el, h("div", { class: "alert bad" }, e.message)); return; }
  const diff = h("div");
  const cur = JSON.stringify(clean(stripStatus(app)), null, 2);
  const show = async (v) => {
    try {
      const old = await marathon(`v2/apps${app.id}/versions/${encodeURIComponent(v)}`);
      const lines = diffLines(cur, JSON.stringify(clean(old), null, 2));
      const changed = lines.filter(([k]) => k !== " ").length;
      mount(diff, h("div", { class: "card" }, h("div", { class: "btns", style: { marginBottom: "10px" } },
        h("strong", {}, `Current → ${v}`), h("span", { class: "muted" }, changed ? `${changed} changed lines` : "identical configuration"), h("span", { style: { flex: 1 } }),
        h("button", { type: "button", class: "btn primary small", onclick: async () => {
          if (!(await confirmDialog(`Apply version ${v}?`, h("p", {}, "Deploys this version of the app's configuration (a rollback). Instances are replaced following the upgrade strategy."), "Apply"))) return;
          try { await withForce("apply version", (f) => marathon(`v2/apps${app.id}?force=${f}`, { method: "PUT", body: { version: v } })); toast(`Applying ${v}`, "ok"); refresh(); } catch (e) { toast(e.message, "bad"); }
        } }, "Apply this version")),
      h("div", { class: "diff" }, lines.map(([k, t]) => h("div", { class: k === "+" ? "add" : k === "-" ? "del" : "" }, `${k} ${t}`)))));
    } catch (e) { mount(diff, h("div", { class: "alert bad" }, e.message)); }
  };
  mount(el, h("div", { class: "card flush" }, h("table", {}, h("thead", {}, h("tr", {}, h("th", {}, "Version"), h("th", {}, ""))),
    h("tbody", {}, list.map((v) => h("tr", {}, h("td", { class: "mono" }, v, v === app.version ? h("span", { class: "badge accent", style: { marginLeft: "8px" } }, "current") : null),
      h("td", {}, h("button", { type: "button", class: "btn small", onclick: () => show(v) }, "Diff")))))) ), diff);
}

function clean(app) { const o = { ...app }; delete o.version; delete o.versionInfo; return canonical(o); }

// The same value with object keys sorted, so a diff shows changes, not key order.
export function canonical(v) {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical(v[k])]));
  return v;
}

function failure(el, app) {
  const f = app.lastTaskFailure;
  if (!f) { mount(el, h("div", { class: "card empty" }, "No task of this app has failed.")); return; }
  mount(el, h("div", { class: "card" }, h("dl", { class: "kv" },
    h("dt", {}, "Task"), h("dd", { class: "mono" }, h("a", { href: `#/task/${encodeURIComponent(f.taskId)}` }, f.taskId)),
    h("dt", {}, "State"), h("dd", {}, stateBadge(f.state)),
    h("dt", {}, "When"), h("dd", {}, `${f.timestamp} (${ago(f.timestamp)})`),
    h("dt", {}, "Host"), h("dd", {}, f.host || "–"),
    h("dt", {}, "Version"), h("dd", { class: "mono" }, f.version || "–"),
    h("dt", {}, "Message"), h("dd", { class: "mono" }, f.message || "–"))));
}

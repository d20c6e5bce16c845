// Chronos jobs: the list (schedule in words and raw, next run in the job's
// zone, last status, counts), a job's page (run now, disable, delete, runs
// with links to their logs) and the form with a live schedule preview.
import { h, mount, toast, confirmDialog, busy } from "./dom.js";
import { chronos, api, poll } from "./api.js";
import { badge, inZone, ago } from "./format.js";

const STATUS = { success: "ok", failure: "bad", fresh: "" };

export function jobsView(main) {
  const q = h("input", { type: "search", placeholder: "Filter jobs", "aria-label": "Filter jobs by name" });
  const body = h("div", { class: "table-wrap" });
  const count = h("span", { class: "muted" });
  const err = h("div");
  let rows = [];
  const render = () => renderJobs(body, count, rows, q.value.trim().toLowerCase(), refresh);
  q.addEventListener("input", render);
  mount(main, h("div", { class: "page-head" }, h("h1", {}, "Jobs"), count, h("span", { class: "spacer" }),
    h("a", { class: "btn", href: "#/jobs/graph" }, "Dependency graph"), h("a", { class: "btn primary", href: "#/jobs/new" }, "+ Create job")), err,
    h("div", { class: "card flush" }, h("div", { class: "card-head filters" }, q), body));
  async function refresh() {
    try { rows = await chronos("v1/scheduler/jobs/overview"); mount(err); render(); } catch (e) { mount(err, h("div", { class: "alert bad" }, `Cannot load jobs: ${e.message}`)); }
  }
  return poll(refresh, 5000);
}

export async function runNow(name) {
  await chronos(`v1/scheduler/job/${encodeURIComponent(name)}`, { method: "PUT" });
  toast(`Started ${name}`, "ok");
}

function renderJobs(el, count, rows, q, refresh) {
  const list = rows.filter((r) => !q || r.name.toLowerCase().includes(q));
  count.textContent = `${list.length} of ${rows.length}`;
  if (!rows.length) { mount(el, h("div", { class: "empty" }, "No jobs yet. ", h("a", { href: "#/jobs/new" }, "Create the first one."))); return; }
  const shown = list.slice(0, 300);
  mount(el, h("table", {},
    h("thead", {}, h("tr", {}, h("th", {}, "Job"), h("th", {}, "Schedule"), h("th", { class: "hide-sm" }, "Next run"), h("th", {}, "Last"), h("th", { class: "num hide-sm" }, "OK / Err"), h("th", {}, ""))),
    h("tbody", {}, shown.map((r) => {
      const run = h("button", { type: "button", class: "btn small", onclick: () => busy(run, "Starting…", async () => { try { await runNow(r.name); refresh(); } catch (e) { toast(e.message, "bad"); } }) }, "Run now");
      return h("tr", { dataset: { job: r.name } },
        h("td", {}, h("a", { href: `#/job/${encodeURIComponent(r.name)}` }, h("strong", {}, r.name)), r.disabled ? h("span", { class: "badge warn", style: { marginLeft: "6px" } }, "disabled") : null,
          r.state !== "idle" ? h("div", { class: "muted" }, r.state) : null),
        h("td", {}, h("div", {}, r.pretty), r.schedule ? h("div", { class: "muted mono" }, r.schedule) : null),
        h("td", { class: "hide-sm" }, r.nextRunMillis ? [h("div", {}, inZone(r.nextRunMillis, r.scheduleTimeZone)), h("div", { class: "muted" }, ago(r.nextRunMillis))] : h("span", { class: "muted" }, "–")),
        h("td", {}, badge(r.lastStatus, STATUS[r.lastStatus] ?? "")),
        h("td", { class: "num hide-sm" }, `${r.successCount} / ${r.errorCount}`),
        h("td", {}, run));
    }))), list.length > shown.length ? h("div", { class: "empty" }, `${list.length - shown.length} more: narrow the filter.`) : null);
}

const RUN_KIND = { finished: "ok", succeeded: "ok", success: "ok", failed: "bad", failure: "bad", running: "info", pending: "warn", launched: "info" };

export function jobView(main, name) {
  const head = h("div", { class: "page-head" });
  const info = h("div");
  const runs = h("div");
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), ` / ${name}`), head, info, runs);
  const path = `v1/scheduler/job/${encodeURIComponent(name)}`;
  let job = null;
  async function refresh() {
    let next, history;
    try { [job, next, history] = await Promise.all([chronos(path), chronos(`${path}/next`), chronos(`${path}/runs`)]); } catch (e) { mount(info, h("div", { class: "alert bad" }, e.message)); return; }
    const run = h("button", { type: "button", class: "btn primary", onclick: () => busy(run, "Starting…", async () => { try { await runNow(name); refresh(); } catch (e) { toast(e.message, "bad"); } }) }, "Run now");
    const toggle = h("button", { type: "button", class: "btn", onclick: () => busy(toggle, "Saving…", async () => {
      const j = { ...job, disabled: !job.disabled };
      try { await chronos(`v1/scheduler/${(j.parents || []).length ? "dependency" : "iso8601"}`, { method: "POST", body: j }); toast(`${name} ${j.disabled ? "disabled" : "enabled"}`, "ok"); refresh(); } catch (e) { toast(e.message, "bad"); }
    }) }, job.disabled ? "Enable" : "Disable");
    const del = h("button", { type: "button", class: "btn danger", onclick: async () => {
      if (!(await confirmDialog(`Delete ${name}?`, h("p", {}, "The job, its schedule and its history are removed. Jobs that depend on it are not deleted."), "Delete", true))) return;
      try { await chronos(path, { method: "DELETE" }); toast(`Deleted ${name}`, "ok"); location.hash = "#/jobs"; } catch (e) { toast(e.message, "bad"); }
    } }, "Delete");
    mount(head, h("h1", {}, name), job.disabled ? badge("disabled", "warn") : null, h("span", { class: "spacer" }),
      h("div", { class: "btns" }, run, h("a", { class: "btn", href: `#/job-edit/${encodeURIComponent(name)}` }, "Edit"), toggle, del));
    mount(info, h("div", { class: "grid2" },
      h("div", { class: "card" }, h("h2", {}, "Definition"), h("dl", { class: "kv" },
        h("dt", {}, "Schedule"), h("dd", {}, next.description, job.schedule ? h("div", { class: "muted mono" }, job.schedule) : null),
        h("dt", {}, "Zone"), h("dd", {}, job.scheduleTimeZone || "UTC"),
        h("dt", {}, "Command"), h("dd", { class: "mono" }, job.command || "–"),
        h("dt", {}, "Resources"), h("dd", {}, `${job.cpus} cpus · ${job.mem} MB · ${job.disk} MB disk`),
        h("dt", {}, "Owner"), h("dd", {}, job.owner || "–"),
        h("dt", {}, "Counts"), h("dd", {}, `${job.successCount} succeeded · ${job.errorCount} failed`))),
      h("div", { class: "card" }, h("h2", {}, "Next runs"), (next.next || []).length
        ? h("ol", { class: "mono" }, next.next.map((t) => h("li", {}, inZone(Date.parse(t), job.scheduleTimeZone))))
        : h("p", { class: "muted" }, (job.parents || []).length ? `Runs after ${job.parents.join(", ")} succeed.` : "No future runs."))));
    mount(runs, h("div", { class: "card flush" }, h("div", { class: "card-head" }, h("h2", {}, "Run history")),
      history.length ? h("div", { class: "table-wrap" }, h("table", {},
        h("thead", {}, h("tr", {}, h("th", {}, "Scheduled"), h("th", {}, "State"), h("th", { class: "hide-sm" }, "Kind"), h("th", { class: "hide-sm" }, "Attempt"), h("th", {}, "Logs"))),
        h("tbody", {}, history.slice(0, 100).map((r) => h("tr", {},
          h("td", {}, inZone(r.scheduled, job.scheduleTimeZone), h("div", { class: "muted" }, ago(r.scheduled))),
          h("td", {}, badge(String(r.state).toLowerCase(), RUN_KIND[String(r.state).toLowerCase()] ?? ""), r.taskState ? h("div", { class: "muted mono" }, r.taskState) : null),
          h("td", { class: "hide-sm" }, String(r.kind)), h("td", { class: "hide-sm" }, String(r.attempt)),
          h("td", {}, r.taskId ? h("a", { href: `#/task/${encodeURIComponent(r.taskId)}` }, "stdout / stderr") : h("span", { class: "muted" }, "not launched"))))))) : h("div", { class: "empty" }, "This job has not run yet.")));
  }
  return poll(refresh, 5000);
}

function field(name, label, input, hint, span = "") {
  input.id = `f-${name}`;
  input.name = name;
  return h("div", { class: `field ${span}`, dataset: { field: name } }, h("label", { for: input.id }, label), input,
    hint ? h("span", { class: "hint" }, hint) : null, h("span", { class: "field-error", id: `e-${name}`, "aria-live": "polite" }));
}

export function jobFormView(main, editName) {
  const editing = editName !== undefined;
  const inp = (a) => h("input", a);
  const kind = h("select", {}, h("option", { value: "schedule" }, "On a schedule"), h("option", { value: "dependent" }, "After other jobs"));
  const zone = inp({ placeholder: "UTC", list: "zones", value: "" });
  const zones = h("datalist", { id: "zones" }, (Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : ["UTC"]).map((z) => h("option", { value: z })));
  const schedule = inp({ placeholder: "R/2026-01-01T02:00:00Z/P1D  or  0 2 * * *", autocomplete: "off", class: "mono" });
  const preview = h("div", { class: "preview", "aria-live": "polite" }, "Type a schedule to see its next runs.");
  const top = h("div");
  const form = h("form", { class: "form", novalidate: true },
    field("name", "Name", inp({ placeholder: "nightly-report", autocomplete: "off" }), "Letters, digits, - _ and .", "s6"),
    field("kind", "Runs", kind, null, "s6"),
    field("schedule", "Schedule", schedule, "ISO 8601 R[n]/start/period (R/2026-01-01T02:00:00Z/P1D) or cron (0 2 * * *).", "s8"),
    field("scheduleTimeZone", "Time zone", zone, "IANA name; empty means UTC.", "s4"),
    h("div", { class: "field", dataset: { field: "preview" } }, preview),
    field("parents", "Parents", inp({ placeholder: "extract, transform" }), "Runs after all of these succeed.", "s12"),
    field("command", "Command", h("textarea", { rows: "3", placeholder: "echo hello" }), "Run with /bin/sh -c."),
    field("cpus", "CPUs", inp({ type: "number", step: "0.05", value: "0.1" }), null, "s2"),
    field("mem", "Memory (MB)", inp({ type: "number", value: "64" }), null, "s2"),
    field("disk", "Disk (MB)", inp({ type: "number", value: "0" }), null, "s2"),
    field("retries", "Retries", inp({ type: "number", min: "0", value: "2" }), null, "s2"),
    field("epsilon", "Epsilon", inp({ value: "PT60S" }), "How late a run may start.", "s4"),
    field("owner", "Owner", inp({ placeholder: "ops@example.com" }), null, "s6"),
    field("description", "Description", inp({}), null, "s6"));
  const f = form.elements;
  const sync = () => {
    const dep = kind.value === "dependent";
    for (const n of ["schedule", "scheduleTimeZone", "preview"]) form.querySelector(`[data-field="${n}"]`).hidden = dep;
    form.querySelector('[data-field="parents"]').hidden = !dep;
  };
  kind.addEventListener("change", sync);
  let timer = null, seq = 0;
  const updatePreview = () => {
    clearTimeout(timer);
    timer = setTimeout(async () => {
      const my = ++seq;
      const s = schedule.value.trim();
      if (!s) { mount(preview, "Type a schedule to see its next runs."); return; }
      try {
        const p = await api(`schedule-preview?schedule=${encodeURIComponent(s)}&tz=${encodeURIComponent(zone.value.trim())}&count=5`);
        if (my !== seq) return;
        mount(preview, h("strong", {}, p.description), p.next.length ? h("ol", {}, p.next.map((n) => h("li", {}, n.local))) : h("div", { class: "muted" }, "No future runs."));
      } catch (e) { if (my === seq) mount(preview, h("span", { class: "field-error" }, e.message)); }
    }, 250);
  };
  schedule.addEventListener("input", updatePreview);
  zone.addEventListener("input", updatePreview);
  const save = h("button", { type: "submit", class: "btn primary" }, editing ? "Save" : "Create job");
  form.append(h("div", { class: "field btns" }, save, h("a", { class: "btn", href: editing ? `#/job/${encodeURIComponent(editName)}` : "#/jobs" }, "Cancel")));
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), editing ? ` / ${editName} / edit` : " / new"),
    h("div", { class: "page-head" }, h("h1", {}, editing ? `Edit ${editName}` : "Create a job")), top, h("div", { class: "card" }, form), zones);
  sync();
  let base = {};
  if (editing) {
    chronos(`v1/scheduler/job/${encodeURIComponent(editName)}`).then((j) => {
      base = j;
      for (const k of ["name", "schedule", "scheduleTimeZone", "command", "cpus", "mem", "disk", "retries", "epsilon", "owner", "description"]) if (f[k]) f[k].value = j[k] ?? "";
      f.parents.value = (j.parents || []).join(", ");
      kind.value = (j.parents || []).length ? "dependent" : "schedule";
      f.name.readOnly = true;
      sync(); updatePreview();
    }).catch((e) => mount(top, h("div", { class: "alert bad" }, e.message)));
  }
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    mount(top);
    for (const el of form.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of form.querySelectorAll(".invalid")) el.classList.remove("invalid");
    const dep = kind.value === "dependent";
    const job = { ...base, name: f.name.value.trim(), command: f.command.value, cpus: Number(f.cpus.value), mem: Number(f.mem.value), disk: Number(f.disk.value),
      retries: Number(f.retries.value), epsilon: f.epsilon.value.trim(), owner: f.owner.value.trim(), description: f.description.value };
    if (dep) { job.parents = f.parents.value.split(",").map((s) => s.trim()).filter(Boolean); delete job.schedule; delete job.scheduleTimeZone; }
    else { job.schedule = schedule.value.trim(); job.scheduleTimeZone = zone.value.trim(); delete job.parents; }
    await busy(save, "Saving…", async () => {
      try {
        await chronos(`v1/scheduler/${dep ? "dependency" : "iso8601"}`, { method: "POST", body: job });
        toast(`Saved ${job.name}`, "ok");
        location.hash = `#/job/${encodeURIComponent(job.name)}`;
      } catch (err) {
        // Chronos names the field at the start of its message ("schedule: …").
        const m = /^([A-Za-z]+)\b/.exec(err.message || "");
        const fieldName = m && f[m[1]] ? m[1] : /schedule|iso|period|cron/i.test(err.message) ? "schedule" : /zone/i.test(err.message) ? "scheduleTimeZone" : /parent/i.test(err.message) ? "parents" : null;
        if (fieldName) {
          document.getElementById(`e-${fieldName}`).textContent = err.message;
          form.querySelector(`[data-field="${fieldName}"]`).classList.add("invalid");
          f[fieldName].focus();
        }
        mount(top, h("div", { class: "alert bad", role: "alert" }, err.message));
      }
    });
  });
}

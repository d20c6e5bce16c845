// The app form (create and edit), with a JSON mode. Fields the form does not
// know are kept from the original definition. Marathon's 422 details are
// placed next to the field their path names.
import { h, mount, toast, busy } from "./dom.js";
import { marathon } from "./api.js";
import { withForce, stripStatus } from "./apps.js";

function field(name, label, input, hint, span = "") {
  input.id = `f-${name}`;
  input.name = name;
  return h("div", { class: `field ${span}`, dataset: { field: name } },
    h("label", { for: input.id }, label), input, hint ? h("span", { class: "hint" }, hint) : null,
    h("span", { class: "field-error", id: `e-${name}`, "aria-live": "polite" }));
}

const lines = (text) => text.split("\n").map((l) => l.trim()).filter(Boolean);
function kvLines(text, what) {
  const out = {};
  for (const l of lines(text)) {
    const i = l.indexOf("=");
    if (i <= 0) throw new FieldError(what, `"${l}" is not KEY=VALUE`);
    out[l.slice(0, i).trim()] = l.slice(i + 1);
  }
  return out;
}
class FieldError extends Error { constructor(field, msg) { super(msg); this.field = field; } }

// Form values → an app definition, on top of `base` (the original app).
export function formToApp(f, base = {}) {
  const app = { ...base };
  const numOf = (k, int) => {
    const v = f[k].value.trim();
    if (v === "") { delete app[k]; return; }
    const n = Number(v);
    if (isNaN(n) || (int && !Number.isInteger(n))) throw new FieldError(k, `"${v}" is not a ${int ? "whole " : ""}number`);
    app[k] = n;
  };
  app.id = f.id.value.trim();
  numOf("cpus"); numOf("mem"); numOf("disk"); numOf("instances", true);
  const cmd = f.cmd.value.trim();
  if (cmd) app.cmd = cmd; else delete app.cmd;
  const image = f.image.value.trim();
  if (image) app.container = { ...(base.container || {}), type: (base.container || {}).type || "MESOS", docker: { ...((base.container || {}).docker || {}), image } };
  else if (base.container && base.container.docker) delete app.container;
  const ports = f.ports.value.split(",").map((p) => p.trim()).filter(Boolean);
  app.portDefinitions = ports.map((p, i) => {
    const [port, name] = p.split("/");
    const n = Number(port);
    if (!Number.isInteger(n) || n < 0 || n > 65535) throw new FieldError("ports", `"${p}" is not a port number (0 picks one)`);
    const old = (base.portDefinitions || [])[i] || {};
    return { ...old, port: n, protocol: old.protocol || "tcp", ...(name ? { name } : {}) };
  });
  app.env = kvLines(f.env.value, "env");
  app.labels = kvLines(f.labels.value, "labels");
  app.constraints = lines(f.constraints.value).map((l) => l.split(":"));
  const proto = f.hcProtocol.value;
  if (proto) {
    const hc = { ...((base.healthChecks || [])[0] || {}), protocol: proto };
    for (const k of ["path", "command", "portIndex", "gracePeriodSeconds", "intervalSeconds", "maxConsecutiveFailures"]) delete hc[k];
    if (proto.includes("HTTP")) hc.path = f.hcPath.value.trim() || "/";
    if (proto === "COMMAND") hc.command = { value: f.hcCommand.value.trim() };
    else hc.portIndex = Number(f.hcPortIndex.value || 0);
    hc.gracePeriodSeconds = Number(f.hcGrace.value || 300);
    hc.intervalSeconds = Number(f.hcInterval.value || 60);
    hc.maxConsecutiveFailures = Number(f.hcMax.value || 3);
    app.healthChecks = [hc, ...(base.healthChecks || []).slice(1)];
  } else app.healthChecks = [];
  return app;
}

function appToForm(f, app) {
  f.id.value = app.id || "";
  for (const k of ["cpus", "mem", "disk", "instances"]) f[k].value = app[k] ?? "";
  f.cmd.value = app.cmd || "";
  f.image.value = ((app.container || {}).docker || {}).image || "";
  f.ports.value = (app.portDefinitions || []).map((p) => `${p.port}${p.name ? "/" + p.name : ""}`).join(", ");
  f.env.value = Object.entries(app.env || {}).map(([k, v]) => `${k}=${typeof v === "object" ? v.secret : v}`).join("\n");
  f.labels.value = Object.entries(app.labels || {}).map(([k, v]) => `${k}=${v}`).join("\n");
  f.constraints.value = (app.constraints || []).map((c) => c.join(":")).join("\n");
  const hc = (app.healthChecks || [])[0];
  f.hcProtocol.value = hc ? hc.protocol || "HTTP" : "";
  f.hcPath.value = hc && hc.path ? hc.path : "/";
  f.hcCommand.value = hc && hc.command ? hc.command.value : "";
  f.hcPortIndex.value = hc ? hc.portIndex ?? 0 : 0;
  f.hcGrace.value = hc ? hc.gracePeriodSeconds ?? 300 : 300;
  f.hcInterval.value = hc ? hc.intervalSeconds ?? 60 : 10;
  f.hcMax.value = hc ? hc.maxConsecutiveFailures ?? 3 : 3;
}

// Marathon detail path → form field.
export function fieldForPath(path) {
  const p = (path || "").replace(/^\/+/, "");
  const first = p.split(/[/(]/)[0];
  if (p.startsWith("container/docker/image")) return "image";
  if (first === "portDefinitions" || first === "ports") return "ports";
  if (first === "healthChecks") return "hcProtocol";
  if (first === "value" || first === "") return null;
  return ["id", "cpus", "mem", "disk", "instances", "cmd", "env", "labels", "constraints"].includes(first) ? (first === "cmd" ? "cmd" : first) : null;
}

export function appFormView(main, editId) {
  const editing = editId !== undefined;
  const id = editing ? "/" + editId.replace(/^\//, "") : null;
  const inp = (attrs) => h("input", attrs);
  const top = h("div");
  const hcSel = h("select", {}, ["", "HTTP", "HTTPS", "TCP", "COMMAND", "MESOS_HTTP", "MESOS_TCP"].map((p) => h("option", { value: p }, p || "None")));
  const form = h("form", { class: "form", novalidate: true },
    field("id", "ID", inp({ placeholder: "/team/web", required: true, autocomplete: "off" }), "A path: lower-case letters, digits, - and . per segment.", "s6"),
    field("instances", "Instances", inp({ type: "number", min: "0", value: "1" }), null, "s2"),
    field("cpus", "CPUs", inp({ type: "number", step: "0.05", min: "0", value: "0.1" }), null, "s2"),
    field("mem", "Memory (MB)", inp({ type: "number", min: "0", value: "128" }), null, "s2"),
    field("disk", "Disk (MB)", inp({ type: "number", min: "0", value: "0" }), null, "s2"),
    field("image", "Container image", inp({ placeholder: "optional, e.g. docker.io/library/nginx:1.27" }), "Leave empty to run the command on the host.", "s4"),
    field("ports", "Ports", inp({ placeholder: "0, 0/http" }), "Comma-separated; 0 lets Paddock pick one. PORT0… are set in the environment.", "s6"),
    field("cmd", "Command", h("textarea", { rows: "3", placeholder: "python3 -m http.server $PORT0" }), "Run with /bin/sh -c."),
    field("env", "Environment", h("textarea", { rows: "3", placeholder: "KEY=value" }), "One KEY=value per line.", "s4"),
    field("labels", "Labels", h("textarea", { rows: "3", placeholder: "team=web" }), "One key=value per line.", "s4"),
    field("constraints", "Constraints", h("textarea", { rows: "3", placeholder: "hostname:UNIQUE\nrack:LIKE:r[12]" }), "One field:OPERATOR[:value] per line.", "s4"),
    h("fieldset", {}, h("legend", {}, "Health check"), h("div", { class: "form" },
      field("hcProtocol", "Protocol", hcSel, null, "s3"),
      field("hcPath", "Path", inp({ value: "/" }), "HTTP only", "s3"),
      field("hcPortIndex", "Port index", inp({ type: "number", min: "0", value: "0" }), null, "s2"),
      field("hcCommand", "Command", inp({ placeholder: "COMMAND only" }), null, "s4"),
      field("hcGrace", "Grace (s)", inp({ type: "number", min: "0", value: "300" }), null, "s3"),
      field("hcInterval", "Interval (s)", inp({ type: "number", min: "1", value: "10" }), null, "s3"),
      field("hcMax", "Max failures", inp({ type: "number", min: "0", value: "3" }), null, "s3"))));
  const json = h("textarea", { rows: "24", "aria-label": "App definition as JSON", id: "f-json" });
  const jsonErr = h("div", { class: "field-error", id: "e-json" });
  const jsonPane = h("div", { hidden: true }, json, jsonErr);
  let mode = "form", base = {};
  const modeBtn = h("button", { type: "button", class: "btn", "aria-pressed": "false", onclick: () => {
    clearErrors();
    try {
      if (mode === "form") { json.value = JSON.stringify(formToApp(form.elements, base), null, 2); mode = "json"; }
      else { base = JSON.parse(json.value); appToForm(form.elements, base); mode = "form"; }
    } catch (e) { showError(e); return; }
    form.hidden = mode === "json"; jsonPane.hidden = mode === "form";
    modeBtn.textContent = mode === "json" ? "Form mode" : "JSON mode";
    modeBtn.setAttribute("aria-pressed", String(mode === "json"));
  } }, "JSON mode");
  const save = h("button", { type: "submit", class: "btn primary", form: "appform" }, editing ? "Save & deploy" : "Create app");
  const wrapper = h("form", { id: "appform", onsubmit: (e) => { e.preventDefault(); submit(); } });
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/apps" }, "Apps"), editing ? ` / ${id} / edit` : " / new"),
    h("div", { class: "page-head" }, h("h1", {}, editing ? `Edit ${id}` : "Create an app"), h("span", { class: "spacer" }), modeBtn),
    top, h("div", { class: "card" }, form, jsonPane), wrapper,
    h("div", { class: "btns" }, save, h("a", { class: "btn", href: editing ? `#/app${id}` : "#/apps" }, "Cancel")));
  form.addEventListener("submit", (e) => { e.preventDefault(); submit(); });
  form.addEventListener("keydown", (e) => { if (e.key === "Enter" && e.target.tagName === "INPUT") { e.preventDefault(); submit(); } });
  if (editing) {
    marathon(`v2/apps${id}`).then((r) => { base = stripStatus(r.app); delete base.version; delete base.versionInfo; appToForm(form.elements, base); })
      .catch((e) => mount(top, h("div", { class: "alert bad" }, e.message)));
  }

  function clearErrors() {
    mount(top);
    for (const el of main.querySelectorAll(".field-error")) el.textContent = "";
    for (const el of main.querySelectorAll(".field.invalid")) el.classList.remove("invalid");
  }
  function fieldError(name, text) {
    const el = document.getElementById(`e-${name}`);
    if (!el) return false;
    el.textContent = el.textContent ? `${el.textContent}\n${text}` : text;
    el.closest(".field") && el.closest(".field").classList.add("invalid");
    return true;
  }
  function showError(e) {
    if (e instanceof FieldError && fieldError(e.field, e.message)) return;
    const details = e.body && Array.isArray(e.body.details) ? e.body.details : [];
    const unplaced = [];
    for (const d of details) {
      const text = `${d.path}: ${(d.errors || []).join("; ")}`;
      const f = mode === "form" ? fieldForPath(d.path) : "json";
      if (!f || !fieldError(f, text)) unplaced.push(text);
    }
    mount(top, h("div", { class: "alert bad", role: "alert" }, h("strong", {}, e.message), unplaced.length ? "\n" + unplaced.join("\n") : details.length ? " (see the fields below)" : ""));
    const firstBad = main.querySelector(".field.invalid input, .field.invalid textarea, .field.invalid select");
    if (firstBad) firstBad.focus();
  }
  async function submit() {
    clearErrors();
    let app;
    try { app = mode === "json" ? JSON.parse(json.value) : formToApp(form.elements, base); } catch (e) { if (mode === "json") jsonErr.textContent = `Not valid JSON: ${e.message}`; showError(e); return; }
    await busy(save, editing ? "Deploying…" : "Creating…", async () => {
      try {
        if (editing) await withForce("update", (f) => marathon(`v2/apps${id}?force=${f}`, { method: "PUT", body: app }));
        else await marathon("v2/apps", { method: "POST", body: app });
        toast(editing ? `Deploying ${app.id || id}` : `Created ${app.id}`, "ok");
        const target = editing ? id : "/" + String(app.id).replace(/^\//, "");
        location.hash = `#/app${target}`;
      } catch (e) { showError(e); }
    });
  }
}

// Formatting helpers shared by the views.
import { h } from "./dom.js";

export function mb(v) {
  if (v == null || isNaN(v)) return "–";
  if (v >= 1024 * 1024) return `${(v / 1024 / 1024).toFixed(1)} TB`;
  return v >= 1024 ? `${(v / 1024).toFixed(v >= 10240 ? 0 : 1)} GB` : `${Math.round(v)} MB`;
}
export function bytes(v) {
  if (v == null) return "–";
  const u = ["B", "KB", "MB", "GB", "TB"];
  let i = 0;
  while (v >= 1024 && i < u.length - 1) { v /= 1024; i++; }
  return `${v.toFixed(i && v < 10 ? 1 : 0)} ${u[i]}`;
}
export function num(v, d = 2) {
  if (v == null || isNaN(v)) return "–";
  return Number.isInteger(v) ? String(v) : v.toFixed(d).replace(/\.?0+$/, "");
}
export function pct(a, b) { return b > 0 ? Math.min(100, (a / b) * 100) : 0; }

export function ago(when) {
  if (!when) return "–";
  const t = typeof when === "number" ? (when < 1e12 ? when * 1000 : when) : Date.parse(when);
  if (isNaN(t)) return String(when);
  const s = Math.round((Date.now() - t) / 1000);
  const abs = Math.abs(s);
  const unit = abs < 60 ? [abs, "s"] : abs < 3600 ? [Math.round(abs / 60), "m"] : abs < 86400 ? [Math.round(abs / 3600), "h"] : [Math.round(abs / 86400), "d"];
  return s >= 0 ? `${unit[0]}${unit[1]} ago` : `in ${unit[0]}${unit[1]}`;
}

export function inZone(ms, zone) {
  if (ms == null) return "–";
  try {
    return new Intl.DateTimeFormat(undefined, {
      timeZone: zone || "UTC", weekday: "short", year: "numeric", month: "short", day: "numeric",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short",
    }).format(new Date(ms));
  } catch {
    return new Date(ms).toISOString();
  }
}

// Scalar resources from a Mesos resource list or map.
export function scalars(res) {
  const out = { cpus: 0, mem: 0, disk: 0, gpus: 0 };
  if (!res) return out;
  if (Array.isArray(res)) {
    for (const r of res) if (r.scalar && r.name in out) out[r.name] += r.scalar.value;
  } else {
    for (const k of Object.keys(out)) out[k] = Number(res[k] || 0);
  }
  return out;
}

const STATE_KIND = {
  TASK_RUNNING: "ok", TASK_FINISHED: "accent", TASK_STAGING: "warn", TASK_STARTING: "warn",
  TASK_KILLING: "warn", TASK_FAILED: "bad", TASK_KILLED: "", TASK_LOST: "bad", TASK_ERROR: "bad",
  TASK_DROPPED: "bad", TASK_GONE: "bad", TASK_UNREACHABLE: "warn", TASK_UNKNOWN: "",
};
export function stateBadge(state) {
  return h("span", { class: `badge ${STATE_KIND[state] ?? ""}` }, (state || "?").replace(/^TASK_/, "").toLowerCase());
}
export function badge(text, kind = "") { return h("span", { class: `badge ${kind}` }, text); }

// used/offered/total bar with a caption.
export function resBar(label, used, offered, total, fmt = num) {
  const u = pct(used, total), o = pct(offered, total);
  return [
    h("span", { class: "k" }, label),
    h("div", { class: "bar", role: "img", "aria-label": `${label}: ${fmt(used)} used, ${fmt(offered)} offered of ${fmt(total)}` },
      h("span", { class: "used", style: { width: `${u}%` } }),
      h("span", { class: "offered", style: { width: `${Math.min(o, 100 - u)}%` } })),
    h("span", { class: "v" }, `${fmt(used)} used · ${fmt(offered)} offered / ${fmt(total)}`),
  ];
}

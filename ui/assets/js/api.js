// Talking to the daemons through the UI's same-origin proxy (/ui/api/...).
// Errors keep the API's own message and body so views can show them verbatim.

export class ApiError extends Error {
  constructor(status, body, text) {
    super(messageOf(body, text, status));
    this.status = status;
    this.body = body;
  }
}

function messageOf(body, text, status) {
  if (body && typeof body === "object") {
    if (body.message) return body.message;
    if (body.error) return body.error;
  }
  return text || `HTTP ${status}`;
}

export async function api(path, { method = "GET", body, signal } = {}) {
  const opts = { method, signal, headers: { Accept: "application/json" } };
  if (body !== undefined) {
    opts.body = typeof body === "string" ? body : JSON.stringify(body);
    opts.headers["Content-Type"] = "application/json";
  }
  const resp = await fetch(`/ui/api/${path}`, opts);
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = null; }
  }
  if (!resp.ok) throw new ApiError(resp.status, data, text);
  return data ?? text;
}

export const master = (p, o) => api(`master/${p}`, o);
export const marathon = (p, o) => api(`marathon/${p}`, o);
export const chronos = (p, o) => api(`chronos/${p}`, o);
export const agent = (id, p, o) => api(`agent/${encodeURIComponent(id)}/${p}`, o);

// Calls fn now and then every `ms` after the previous call finished (never
// two at once), skipping while the tab is hidden. Returns a stop function.
export function poll(fn, ms) {
  let stopped = false;
  let timer = null;
  const tick = async () => {
    timer = null;
    if (stopped) return;
    if (!document.hidden) {
      try { await fn(); } catch (e) { console.warn("poll", e); }
    }
    if (!stopped) timer = setTimeout(tick, ms);
  };
  const onVisible = () => { if (!document.hidden && timer) { clearTimeout(timer); tick(); } };
  document.addEventListener("visibilitychange", onVisible);
  tick();
  return () => { stopped = true; if (timer) clearTimeout(timer); document.removeEventListener("visibilitychange", onVisible); };
}

// One shared EventSource on Marathon's /v2/events. Listeners get the event
// type and its parsed data; the live indicator in the header follows it.
const listeners = new Set();
let source = null;
export function marathonEvents(fn) {
  listeners.add(fn);
  if (!source) {
    source = new EventSource("/ui/api/marathon/v2/events");
    source.onopen = () => setLive(true, "live");
    source.onerror = () => setLive(false, "reconnecting");
    source.onmessage = (e) => dispatch("message", e.data);
    for (const t of ["status_update_event", "deployment_info", "deployment_success", "deployment_failed",
      "deployment_step_success", "deployment_step_failure", "instance_health_changed_event",
      "health_status_changed_event", "app_terminated_event", "api_post_event", "group_change_success",
      "instance_changed_event", "failed_health_check_event", "unhealthy_instance_kill_event"]) {
      source.addEventListener(t, (e) => dispatch(t, e.data));
    }
  }
  return () => {
    listeners.delete(fn);
    // Close the stream when no view needs it (checked after navigation settles).
    setTimeout(() => {
      if (!listeners.size && source) { source.close(); source = null; setLive(null, "auto-refresh"); }
    }, 0);
  };
}

function dispatch(type, raw) {
  let data = null;
  try { data = JSON.parse(raw); } catch { data = raw; }
  for (const fn of listeners) fn(type, data);
}

export function setLive(on, text) {
  const el = document.getElementById("live");
  if (!el) return;
  el.classList.toggle("on", on === true);
  el.classList.toggle("off", on === false);
  el.querySelector(".live-text").textContent = text;
}

// Coalesces bursts of calls: fn runs at most once per `ms`.
export function throttle(fn, ms) {
  let last = 0, timer = null;
  return () => {
    const wait = Math.max(0, last + ms - Date.now());
    if (timer) return;
    timer = setTimeout(() => { timer = null; last = Date.now(); fn(); }, wait);
  };
}

// A tiny DOM helper: h("div", {class: "x", onclick: fn}, "text", child...).
// Strings become text nodes, so API data is never parsed as HTML.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "style" && typeof v === "object") Object.assign(el.style, v);
    else if (k === "dataset") Object.assign(el.dataset, v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else if (c instanceof Node) el.appendChild(c);
    else el.appendChild(document.createTextNode(String(c)));
  }
}

// Replaces the children of el. Table cells get a data-label from their
// column header, which the phone layout shows in front of each value.
export function mount(el, ...children) {
  el.replaceChildren();
  append(el, children);
  for (const table of el.querySelectorAll("table")) labelCells(table);
  return el;
}

function labelCells(table) {
  const heads = [...table.querySelectorAll("thead th")].map((th) => th.textContent.trim());
  if (!heads.some(Boolean)) return;
  for (const tr of table.tBodies[0] ? table.tBodies[0].rows : []) {
    [...tr.cells].forEach((td, i) => { if (heads[i] && i > 0) td.dataset.label = heads[i]; });
  }
}

// SVG elements need their namespace.
export function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, String(v));
  }
  for (const c of children.flat()) if (c != null) el.appendChild(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

export function toast(message, kind = "") {
  const t = h("div", { class: `toast ${kind}` }, message);
  document.getElementById("toasts").appendChild(t);
  setTimeout(() => t.remove(), kind === "bad" ? 9000 : 4000);
}

// A confirmation dialog; resolves true when the user confirms.
export function confirmDialog(title, body, okLabel = "OK", danger = false) {
  const dlg = document.getElementById("confirm");
  mount(document.getElementById("confirm-title"), title);
  mount(document.getElementById("confirm-body"), body);
  const ok = document.getElementById("confirm-ok");
  ok.textContent = okLabel;
  ok.className = danger ? "btn primary danger-fill" : "btn primary";
  if (danger) ok.style.background = "var(--bad)", ok.style.borderColor = "var(--bad)";
  else ok.style.background = "", ok.style.borderColor = "";
  dlg.returnValue = "";
  dlg.showModal();
  ok.focus();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

// Runs an async action with the button disabled and its label showing progress.
export async function busy(button, label, fn) {
  const old = button.textContent;
  button.disabled = true;
  button.textContent = label;
  try { return await fn(); } finally { button.disabled = false; button.textContent = old; }
}

export function tabs(names, current, onSelect) {
  return h("div", { class: "tabs", role: "tablist" },
    names.map(([key, label]) => h("button", {
      type: "button", role: "tab", "aria-selected": String(key === current),
      onclick: () => onSelect(key),
    }, label)));
}

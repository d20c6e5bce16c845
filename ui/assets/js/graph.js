// The job dependency graph, drawn as SVG with a layered layout: a job's
// layer is one more than its deepest parent; within a layer, jobs are
// ordered by the average position of their parents to cut crossings.
import { h, mount, svg } from "./dom.js";
import { chronos, poll } from "./api.js";

export function layout(rows) {
  const byName = new Map(rows.map((r) => [r.name, r]));
  const depth = new Map();
  const visiting = new Set();
  const d = (n) => {
    if (depth.has(n)) return depth.get(n);
    if (visiting.has(n)) return 0;
    visiting.add(n);
    const parents = (byName.get(n) || {}).parents || [];
    const v = parents.length ? 1 + Math.max(...parents.filter((p) => byName.has(p)).map(d), -1) : 0;
    visiting.delete(n);
    depth.set(n, v);
    return v;
  };
  rows.forEach((r) => d(r.name));
  const layers = [];
  for (const r of rows) (layers[depth.get(r.name)] ||= []).push(r);
  const pos = new Map();
  layers.forEach((layer, li) => {
    if (li > 0) {
      const avg = (r) => { const ps = (r.parents || []).filter((p) => pos.has(p)); return ps.length ? ps.reduce((s, p) => s + pos.get(p), 0) / ps.length : 0; };
      layer.sort((a, b) => avg(a) - avg(b) || a.name.localeCompare(b.name));
    } else layer.sort((a, b) => a.name.localeCompare(b.name));
    // A child sits level with its parents when that row is free, else lower.
    let next = 0;
    for (const r of layer) {
      const ps = (r.parents || []).filter((p) => pos.has(p));
      const want = li > 0 && ps.length ? Math.round(ps.reduce((s, p) => s + pos.get(p), 0) / ps.length) : next;
      const slot = Math.max(next, want);
      pos.set(r.name, slot);
      next = slot + 1;
    }
  });
  return { layers, pos };
}

export function graphView(main) {
  const box = h("div", { class: "card graph" });
  const onlyDeps = h("input", { type: "checkbox", id: "only-deps", checked: true });
  mount(main, h("div", { class: "crumbs" }, h("a", { href: "#/jobs" }, "Jobs"), " / dependency graph"),
    h("div", { class: "page-head" }, h("h1", {}, "Dependency graph"), h("span", { class: "spacer" }), h("label", { for: "only-deps" }, onlyDeps, " Only jobs with dependencies")), box);
  let rows = [];
  const draw = () => {
    let list = rows;
    if (onlyDeps.checked) {
      const linked = new Set();
      for (const r of rows) if ((r.parents || []).length) { linked.add(r.name); r.parents.forEach((p) => linked.add(p)); }
      list = rows.filter((r) => linked.has(r.name));
    }
    render(box, list);
  };
  onlyDeps.addEventListener("change", draw);
  return poll(async () => { rows = await chronos("v1/scheduler/jobs/overview"); draw(); }, 5000);
}

function render(box, rows) {
  if (!rows.length) { mount(box, h("div", { class: "empty" }, "No dependencies yet: a job created with parents appears here, linked to them.")); return; }
  const { layers, pos } = layout(rows);
  const W = 190, H = 46, GX = 70, GY = 18;
  const x = (li) => 20 + li * (W + GX);
  const maxRows = Math.max(...[...pos.values()]) + 1;
  const y = (i) => 20 + i * (H + GY);
  const layerOf = new Map();
  layers.forEach((l, li) => l.forEach((r) => layerOf.set(r.name, li)));
  const edges = [], nodes = [];
  for (const r of rows) for (const p of r.parents || []) {
    if (!layerOf.has(p)) continue;
    const x1 = x(layerOf.get(p)) + W, y1 = y(pos.get(p)) + H / 2, x2 = x(layerOf.get(r.name)), y2 = y(pos.get(r.name)) + H / 2;
    const mx = (x1 + x2) / 2;
    edges.push(svg("path", { class: "edge", d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2 - 6},${y2}`, "marker-end": "url(#arrow)" }));
  }
  for (const r of rows) {
    const li = layerOf.get(r.name), cls = r.state !== "idle" ? "running" : r.lastStatus;
    const a = svg("a", { href: `#/job/${encodeURIComponent(r.name)}`, class: `node ${cls}`, "aria-label": `${r.name}, last ${r.lastStatus}` },
      svg("rect", { x: x(li), y: y(pos.get(r.name)), width: W, height: H, rx: 8 }),
      svg("text", { x: x(li) + 12, y: y(pos.get(r.name)) + 19 }, r.name.length > 24 ? r.name.slice(0, 23) + "…" : r.name),
      svg("text", { class: "sub", x: x(li) + 12, y: y(pos.get(r.name)) + 35 }, `${r.lastStatus} · ${r.state}`));
    nodes.push(a);
  }
  const width = 40 + layers.length * (W + GX) - GX, height = 40 + maxRows * (H + GY) - GY;
  mount(box, svg("svg", { viewBox: `0 0 ${width} ${height}`, style: `max-width:${width}px`, role: "img", "aria-label": "Job dependency graph" },
    svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: "8", refY: "5", markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "currentColor", class: "muted" }))),
    edges, nodes));
}

// A small live line chart (SVG sparkline) that keeps the last N points.
import { h, svg } from "./dom.js";

export function sparkline(title, fmt, max = 60) {
  const points = [];
  const value = h("span", { class: "muted" }, "–");
  const chart = svg("svg", { class: "spark", viewBox: "0 0 300 64", preserveAspectRatio: "none", role: "img", "aria-label": title });
  const area = svg("path", { class: "area" });
  const line = svg("path", { class: "line" });
  chart.append(area, line);
  const el = h("div", { class: "card" }, h("div", { class: "btns", style: { justifyContent: "space-between" } },
    h("strong", {}, title), value), chart);
  function push(v) {
    points.push(v);
    if (points.length > max) points.shift();
    value.textContent = fmt(v);
    const top = Math.max(...points, 1e-9) * 1.15;
    const step = 300 / Math.max(1, max - 1);
    const xy = points.map((p, i) => [300 - (points.length - 1 - i) * step, 62 - (p / top) * 58]);
    const d = xy.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
    line.setAttribute("d", d);
    if (xy.length) area.setAttribute("d", `${d}L${xy[xy.length - 1][0]},64L${xy[0][0]},64Z`);
  }
  return { el, push };
}

// Entry point: hash routing (#/cluster, #/apps/…), the theme toggle and the
// nav. Each view is a function mount(main, params) that returns a cleanup
// function (stops its polling) called when the user navigates away.
import { h, mount } from "./dom.js";
import { setLive } from "./api.js";
import { clusterView, tasksView } from "./cluster.js";
import { taskView } from "./task.js";
import { appsView, appView } from "./apps.js";
import { appFormView } from "./appform.js";
import { jobsView, jobView, jobFormView } from "./jobs.js";
import { graphView } from "./graph.js";

const routes = [
  [/^#\/cluster$/, clusterView, "cluster"],
  [/^#\/tasks$/, tasksView, "tasks"],
  [/^#\/task\/(.+)$/, taskView, "tasks"],
  [/^#\/apps$/, appsView, "apps"],
  [/^#\/apps\/new$/, appFormView, "apps"],
  [/^#\/app-edit\/(.+)$/, appFormView, "apps"],
  [/^#\/app\/(.+)$/, appView, "apps"],
  [/^#\/jobs$/, jobsView, "jobs"],
  [/^#\/jobs\/new$/, jobFormView, "jobs"],
  [/^#\/jobs\/graph$/, graphView, "jobs"],
  [/^#\/job-edit\/(.+)$/, jobFormView, "jobs"],
  [/^#\/job\/(.+)$/, jobView, "jobs"],
];

let cleanup = null;
const main = document.getElementById("main");

function route() {
  const hash = location.hash || "#/cluster";
  if (cleanup) { try { cleanup(); } catch (e) { console.warn(e); } cleanup = null; }
  for (const [re, view, nav] of routes) {
    const m = hash.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll("[data-nav]")) {
      if (a.dataset.nav === nav) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
    }
    const params = m.slice(1).map((p) => decodeURIComponent(p));
    mount(main);
    cleanup = view(main, ...params) || null;
    return;
  }
  mount(main, h("div", { class: "card empty" }, "No such page. ", h("a", { href: "#/cluster" }, "Go to the cluster.")));
}

function initTheme() {
  const btn = document.getElementById("theme");
  btn.addEventListener("click", () => {
    const dark = matchMedia("(prefers-color-scheme: dark)").matches;
    const cur = document.documentElement.dataset.theme || (dark ? "dark" : "light");
    const next = cur === "dark" ? "light" : "dark";
    document.documentElement.dataset.theme = next;
    localStorage.setItem("paddock-theme", next);
  });
}

async function init() {
  initTheme();
  try {
    const cfg = await (await fetch("/ui/config.json")).json();
    document.querySelector('[data-nav="apps"]').hidden = !cfg.marathon;
    document.querySelector('[data-nav="jobs"]').hidden = !cfg.chronos;
  } catch { /* the nav keeps its defaults */ }
  setLive(null, "auto-refresh");
  window.addEventListener("hashchange", route);
  route();
}
init();

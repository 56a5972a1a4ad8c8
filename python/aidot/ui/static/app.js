// The single-page app: routes on the path (history API), one module per page.
import { get } from "./api.js";
import { clear, h, errorBox } from "./dom.js";
import { runsPage } from "./pages/runs.js";
import { runPage } from "./pages/run.js";
import { comparePage } from "./pages/compare.js";
import { studiesPage, studyPage } from "./pages/studies.js";
import { modelsPage, modelPage } from "./pages/models.js";
import { datasetsPage, datasetPage } from "./pages/datasets.js";
import { servingPage } from "./pages/serving.js";

const routes = [
  [/^\/$/, "runs", () => runsPage],
  [/^\/runs\/([^/]+)$/, "runs", (id) => (ctx) => runPage(ctx, id)],
  [/^\/compare$/, "runs", () => comparePage],
  [/^\/studies$/, "studies", () => studiesPage],
  [/^\/studies\/([^/]+)$/, "studies", (name) => (ctx) => studyPage(ctx, name)],
  [/^\/models$/, "models", () => modelsPage],
  [/^\/models\/([^/]+)$/, "models", (name) => (ctx) => modelPage(ctx, name, null)],
  [/^\/models\/([^/]+)\/versions\/(\d+)$/, "models", (name, v) => (ctx) => modelPage(ctx, name, Number(v))],
  [/^\/datasets$/, "datasets", () => datasetsPage],
  [/^\/datasets\/([^/]+)$/, "datasets", (name) => (ctx) => datasetPage(ctx, name)],
  [/^\/serving$/, "serving", () => servingPage],
];

let about = null;
let generation = 0;
const cleanups = [];

// What a page gets: where to draw, the query, a way to navigate, and a hook to stop its
// timers when the user leaves.
function context(main, myGeneration) {
  return {
    main,
    about,
    query: new URLSearchParams(location.search),
    navigate,
    current: () => myGeneration === generation,
    onLeave: (fn) => cleanups.push(fn),
  };
}

export function navigate(href, { replace = false } = {}) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  render();
}

export function notFound(main, message) {
  clear(main,
    h("section", { class: "card notfound" },
      h("h1", {}, "Not found"),
      errorBox(message),
      h("p", {}, h("a", { href: "/" }, "Back to the runs"))));
  document.title = "Not found · aidot";
}

async function render() {
  while (cleanups.length) cleanups.pop()();
  const myGeneration = ++generation;
  const main = document.getElementById("page");
  const path = location.pathname.replace(/\/+$/, "") || "/";
  let page = null;
  let section = null;
  for (const [pattern, name, make] of routes) {
    const match = path.match(pattern);
    if (match) {
      page = make(...match.slice(1).map(decodeURIComponent));
      section = name;
      break;
    }
  }
  for (const a of document.querySelectorAll("nav a")) {
    a.classList.toggle("active", a.dataset.section === section);
  }
  if (!page) return notFound(main, `There is no page at ${path}.`);
  if (about && about.problem) return;
  clear(main, h("p", { class: "muted" }, "Loading…"));
  try {
    await page(context(main, myGeneration));
  } catch (error) {
    if (myGeneration !== generation) return;
    if (error.status === 404) notFound(main, error.message);
    else clear(main, errorBox(error.message));
  }
}

function showProblem(problem) {
  const banner = document.getElementById("banner");
  banner.hidden = false;
  banner.className = "banner error";
  banner.textContent = problem.kind === "newer_workspace"
    ? `This workspace was written by a newer aidot than this one (${about.version}). ` +
      `Upgrade aidot (pip install -U aidot) to open it. Details: ${problem.error}`
    : `The workspace cannot be opened: ${problem.error}`;
  clear(document.getElementById("page"));
}

document.addEventListener("click", (event) => {
  const a = event.target.closest("a");
  if (!a || a.target || a.hasAttribute("download") || event.ctrlKey || event.metaKey || event.shiftKey) return;
  const href = a.getAttribute("href");
  if (!href || !href.startsWith("/") || href.startsWith("/api/") || href.startsWith("/static/")) return;
  event.preventDefault();
  navigate(href);
});
window.addEventListener("popstate", render);

(async () => {
  try {
    about = await get("/api/about");
    document.getElementById("workspace").textContent = `${about.workspace.db} · aidot ${about.version}`;
    if (about.problem) showProblem(about.problem);
  } catch (error) {
    document.getElementById("page").replaceChildren(errorBox(`The UI server did not answer: ${error.message}`));
    return;
  }
  render();
})();

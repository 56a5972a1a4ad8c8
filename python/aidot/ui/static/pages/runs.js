// Experiments and runs: a table paged, sorted and filtered on the server, with a column
// picker, status badges, a compare selection and live updates while runs are running.
import { get } from "../api.js";
import { badge, clear, duration, errorBox, h, link, num, table, time } from "../dom.js";

const PAGE = 50;
const LIVE_MS = 3000;

export async function runsPage(ctx) {
  const { main, query } = ctx;
  document.title = "Runs · aidot";
  const experiments = await get("/api/experiments");
  const state = {
    experiment: query.get("experiment") || (experiments[0] ? experiments[0].id : ""),
    filter: query.get("filter") || "",
    order: query.get("order") || "",
    offset: Number(query.get("offset") || 0),
    columns: null,
    keys: { params: [], metrics: [], tags: [] },
    selected: new Set(),
  };
  const filterInput = h("input", { type: "search", class: "filter", value: state.filter, spellcheck: "false",
    placeholder: "metrics.loss < 0.1 and params.lr = '0.01'", "aria-label": "filter" });
  const filterError = h("div", { class: "filter-error" });
  const pager = h("div", { class: "pager" });
  const tableBox = h("div", { class: "table-box" });
  const picker = h("details", { class: "picker" }, h("summary", {}, "Columns"));
  const compare = h("button", { type: "button", disabled: true, onclick: () =>
    ctx.navigate(`/compare?runs=${[...state.selected].join(",")}`) }, "Compare");
  const side = h("aside", { class: "experiments" }, h("h2", {}, "Experiments"),
    experiments.length ? h("ul", {}, experiments.map((e) => h("li", {},
      h("a", { href: `/?experiment=${e.id}`, class: e.id === state.experiment ? "active" : null },
        e.name, " ", h("span", { class: "muted" }, `(${num(e.runs)})`))))) : h("p", { class: "muted" }, "No experiments yet."));
  clear(main, h("div", { class: "runs-layout" }, side, h("div", { class: "runs-main" },
    h("form", { class: "toolbar", onsubmit: (e) => { e.preventDefault(); state.filter = filterInput.value; state.offset = 0; load(); } },
      filterInput, h("button", { type: "submit" }, "Search"), picker, compare),
    filterError, pager, tableBox)));
  if (!experiments.length) return;

  const chosen = query.get("cols");
  // Without a choice in the URL, the first page's own keys pick the columns (see load).
  state.columns = chosen ? chosen.split(",").filter(Boolean) : null;
  // Every key of every run, for the picker, costs a scan of the experiment: fetched beside
  // the first page rather than before it.
  get(`/api/experiments/${encodeURIComponent(state.experiment)}/columns`).then((keys) => {
    if (!ctx.current()) return;
    state.keys = keys;
    drawPicker();
  });

  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));

  function syncUrl() {
    const q = new URLSearchParams();
    q.set("experiment", state.experiment);
    if (state.filter) q.set("filter", state.filter);
    if (state.order) q.set("order", state.order);
    if (state.offset) q.set("offset", state.offset);
    if (state.columns !== null) q.set("cols", state.columns.join(","));
    history.replaceState(null, "", `/?${q}`);
  }

  function defaultColumns(runs) {
    const keys = (kind) => [...new Set(runs.flatMap((r) => Object.keys(r[kind])))].sort();
    return [...keys("params").slice(0, 5).map((k) => `params.${k}`),
      ...keys("metrics").filter((k) => !k.startsWith("system/")).slice(0, 5).map((k) => `metrics.${k}`)];
  }

  function drawPicker() {
    clear(picker, h("summary", {}, "Columns"));
    for (const kind of ["params", "metrics", "tags"]) {
      picker.append(h("div", { class: "picker-group" }, h("strong", {}, kind),
        state.keys[kind].map((key) => {
          const id = `${kind}.${key}`;
          const columns = state.columns || [];
          return h("label", {}, h("input", { type: "checkbox", checked: columns.includes(id), onchange: (e) => {
            state.columns = e.target.checked ? [...(state.columns || []), id] : (state.columns || []).filter((c) => c !== id);
            load();
          } }), key);
        })));
    }
  }

  function sortBy(target) {
    const [current, dir] = state.order.split(" ");
    state.order = current === target && dir === "DESC" ? `${target} ASC` : `${target} DESC`;
    state.offset = 0;
    load();
  }

  function header(title, target) {
    const [current, dir] = state.order.split(" ");
    const arrow = current === target ? (dir === "ASC" ? " ▲" : " ▼") : "";
    return { title: title + arrow, onclick: () => sortBy(target), hint: `sort by ${target}` };
  }

  async function load() {
    clearTimeout(timer);
    syncUrl();
    let page;
    try {
      page = await get("/api/runs", { experiment: state.experiment, filter: state.filter,
        order_by: state.order, offset: state.offset, limit: PAGE });
    } catch (error) {
      if (error.kind === "bad_filter" || error.status === 400) {
        clear(filterError, errorBox(error.message));
        filterInput.setAttribute("aria-invalid", "true");
        return;
      }
      throw error;
    }
    if (!ctx.current()) return;
    if (state.columns === null) {
      state.columns = defaultColumns(page.runs);
      syncUrl();
      drawPicker();
    }
    clear(filterError);
    filterInput.removeAttribute("aria-invalid");
    drawPager(page);
    drawTable(page.runs);
    if (page.runs.some((r) => r.status === "RUNNING")) timer = setTimeout(load, LIVE_MS);
  }

  function drawPager(page) {
    const last = Math.min(page.offset + PAGE, page.total);
    clear(pager,
      h("button", { type: "button", disabled: page.offset === 0, onclick: () => { state.offset = Math.max(0, state.offset - PAGE); load(); } }, "‹ Previous"),
      h("span", { class: "count" }, page.total ? `${num(page.offset + 1)}–${num(last)} of ${num(page.total)} runs` : "No runs match"),
      h("button", { type: "button", disabled: last >= page.total, onclick: () => { state.offset += PAGE; load(); } }, "Next ›"));
  }

  function drawTable(runs) {
    const columns = [
      { title: "", value: (r) => h("input", { type: "checkbox", "aria-label": `select ${r.name}`, checked: state.selected.has(r.id), onchange: (e) => {
        if (e.target.checked) state.selected.add(r.id); else state.selected.delete(r.id);
        compare.disabled = state.selected.size < 2;
        compare.textContent = `Compare (${state.selected.size})`;
      } }) },
      { ...header("Run", "attributes.name"), value: (r) => link(`/runs/${r.id}`, r.name) },
      { title: "Status", value: (r) => badge(r.status) },
      { ...header("Started", "attributes.start_time"), value: (r) => time(r.start_time) },
      { title: "Duration", value: (r) => duration((r.end_time || Date.now()) - r.start_time) },
      ...state.columns.map((column) => {
        const [kind, ...rest] = column.split(".");
        const key = rest.join(".");
        const cell = kind === "metrics" ? (r) => (key in r.metrics ? num(r.metrics[key]) : "")
          : (r) => (r[kind] && key in r[kind] ? r[kind][key] : "");
        return { ...header(key, column), value: cell, class: kind === "metrics" ? "number" : null };
      }),
    ];
    clear(tableBox, table(columns, runs, { kind: "runs", rowAttrs: (r) => ({ dataset: { run: r.id } }) }));
  }

  await load();
}

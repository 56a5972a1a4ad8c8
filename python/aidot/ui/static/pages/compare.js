// Several runs: one chart per metric with a line per run, and params side by side with the
// differences highlighted.
import { get } from "../api.js";
import { clear, h, link, num, section } from "../dom.js";
import { color, metricChart } from "../charts.js";

export async function comparePage(ctx) {
  const { main, query } = ctx;
  const ids = (query.get("runs") || "").split(",").filter(Boolean);
  document.title = "Compare runs · aidot";
  if (ids.length < 1) {
    clear(main, h("p", {}, "Select runs in the runs table and press Compare."));
    return;
  }
  const runs = await Promise.all(ids.map((id) => get(`/api/runs/${encodeURIComponent(id)}`)));
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r.metrics)))].filter((k) => !k.startsWith("system/")).sort();
  const paramKeys = [...new Set(runs.flatMap((r) => Object.keys(r.params)))].sort();
  const differs = (key) => new Set(runs.map((r) => r.params[key])).size > 1;
  const legend = h("p", { class: "legend" }, runs.map((r, i) =>
    h("span", { class: "legend-item" }, h("span", { class: "swatch", style: `background:${color(i)}` }), link(`/runs/${r.id}`, r.name))));
  const params = h("table", { class: "grid compare-params" },
    h("thead", {}, h("tr", {}, h("th", {}, "param"), runs.map((r) => h("th", {}, r.name)))),
    h("tbody", {}, paramKeys.map((key) => h("tr", { class: differs(key) ? "diff" : null },
      h("th", {}, key), runs.map((r) => h("td", {}, r.params[key] ?? "")))),
    h("tr", { class: "metrics-head" }, h("th", { colspan: runs.length + 1 }, "latest metrics")),
    keys.map((key) => h("tr", {}, h("th", {}, key), runs.map((r) => h("td", { class: "number" }, key in r.metrics ? num(r.metrics[key]) : ""))))));
  const charts = h("div", { class: "charts" });
  clear(main, h("h1", {}, `Comparing ${runs.length} runs`), legend,
    section("Params and metrics", params), section("Metrics", charts));
  for (const key of keys) {
    const series = await Promise.all(runs.map(async (r) => (key in r.metrics
      ? { label: r.name, ...(await get(`/api/runs/${encodeURIComponent(r.id)}/metric`, { key, max_points: 2000 })) }
      : { label: r.name, steps: [], values: [], timestamps: [] })));
    if (!ctx.current()) return;
    charts.append(h("figure", { class: "metric", dataset: { metric: key } }, h("figcaption", {}, key),
      metricChart(series.map(({ mins, maxs, ...rest }) => rest), { width: 540 })));
  }
}

// Tuning studies: the list, and one study's optimization history, parallel coordinates,
// parameter importance and trial table.
import { get } from "../api.js";
import { badge, clear, duration, h, link, num, section, table } from "../dom.js";
import { bars, historyChart, parallelCoordinates } from "../charts.js";

export async function studiesPage(ctx) {
  document.title = "Studies · aidot";
  const studies = await get("/api/studies");
  clear(ctx.main, h("h1", {}, "Studies"), studies.length ? table([
    { title: "Study", value: (s) => link(`/studies/${encodeURIComponent(s.name)}`, s.name) },
    { title: "Directions", value: (s) => s.directions.join(", ").toLowerCase() },
    { title: "Trials", value: (s) => num(s.trials), class: "number" },
    { title: "States", value: (s) => Object.entries(s.states).map(([k, v]) => h("span", {}, badge(k), ` ${v} `)) },
    { title: "Best", value: (s) => (s.best_values ? s.best_values.map(num).join(", ") : ""), class: "number" },
  ], studies) : h("p", { class: "muted" }, "No studies yet: create one with aidot.create_study()."));
}

export async function studyPage(ctx, name) {
  const study = await get(`/api/studies/${encodeURIComponent(name)}`);
  if (!ctx.current()) return;
  document.title = `${study.name} · aidot`;
  const objectives = study.metric_names || study.directions.map((d, i) => (study.directions.length > 1 ? `objective ${i}` : "objective"));
  const complete = study.trials.filter((t) => t.state === "COMPLETE" && t.values);
  const importance = h("div", {}, h("p", { class: "muted" }, "Computing…"));
  const histories = h("div", { class: "charts" });
  objectives.forEach((label, k) => {
    const minimize = study.directions[k] === "MINIMIZE";
    let best = null;
    const numbers = [], values = [], bestSoFar = [];
    for (const t of complete) {
      const v = t.values[k];
      if (v === null) continue;
      best = best === null ? v : (minimize ? Math.min(best, v) : Math.max(best, v));
      numbers.push(t.number); values.push(v); bestSoFar.push(best);
    }
    histories.append(h("figure", { class: "history" }, h("figcaption", {}, `${label} (${study.directions[k].toLowerCase()})`),
      numbers.length ? historyChart(numbers, values, bestSoFar, { label }) : h("p", { class: "muted" }, "No finished trial yet.")));
  });
  const axes = [...study.param_names.map((p) => ({ name: p, values: complete.map((t) => (p in t.params ? t.params[p] : null)) })),
    { name: objectives[0], values: complete.map((t) => t.values[0]) }];
  const columns = [
    { title: "#", value: (t) => t.number, class: "number" },
    { title: "State", value: (t) => badge(t.state) },
    ...objectives.map((label, k) => ({ title: label, value: (t) => (t.values ? num(t.values[k]) : ""), class: "number" })),
    ...study.param_names.map((p) => ({ title: p, value: (t) => (p in t.params ? num(t.params[p]) : ""), class: "number" })),
    { title: "Duration", value: (t) => (t.duration_s === null ? "" : duration(t.duration_s * 1000)) },
    { title: "Run", value: (t) => (t.run_id ? link(`/runs/${t.run_id}`, "run") : "") },
  ];
  clear(ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, study.name),
      h("p", { class: "muted" }, `${study.trials.length} trials · ${study.directions.join(", ").toLowerCase()}`,
        study.sampler ? ` · sampler ${study.sampler.name || JSON.stringify(study.sampler)}` : "",
        study.run_id ? [" · ", link(`/runs/${study.run_id}`, "study run")] : null),
      study.best_values ? h("p", { class: "best" }, `Best value ${study.best_values.map(num).join(", ")}`) : null),
    section("Optimization history", histories),
    h("div", { class: "columns" },
      section("Parallel coordinates", complete.length && study.param_names.length ? parallelCoordinates(axes) : h("p", { class: "muted" }, "No finished trial yet.")),
      section("Parameter importance", importance)),
    section("Trials", h("div", { class: "table-box" }, table(columns, study.trials, { rowAttrs: (t) => ({ class: t.best ? "best" : null, dataset: { trial: t.number } }) }))));
  try {
    const reply = await get(`/api/studies/${encodeURIComponent(name)}/importance`);
    if (!ctx.current()) return;
    const items = Object.entries(reply.importance);
    clear(importance, items.length ? bars(items) : h("p", { class: "muted" }, reply.note || "Not enough trials."));
  } catch (error) {
    clear(importance, h("p", { class: "muted" }, error.message));
  }
}

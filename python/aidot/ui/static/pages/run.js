// One run: params, tags, context, metric charts, system metrics, artifacts, inputs,
// checkpoints and the model versions registered from it.
import { artifactUrl, del, get, post, write } from "../api.js";
import { badge, bytes, clear, duration, errorBox, h, keyValues, link, num, section, table, time } from "../dom.js";
import { metricChart } from "../charts.js";

const CHART_POINTS = 2000;
const LIVE_MS = 5000;

export async function runPage(ctx, runId) {
  const { main } = ctx;
  const run = await get(`/api/runs/${encodeURIComponent(runId)}`);
  if (!ctx.current()) return;
  document.title = `${run.name} · aidot`;
  const canWrite = ctx.about.writable || ctx.about.token_accepted;
  const chartOptions = { xMode: "step", log: false, smoothing: 0 };
  const metricKeys = Object.keys(run.metrics).sort();
  const trainingKeys = metricKeys.filter((k) => !k.startsWith("system/"));
  const systemKeys = metricKeys.filter((k) => k.startsWith("system/"));
  const charts = h("div", { class: "charts" });
  const systemCharts = h("div", { class: "charts" });
  const artifacts = h("div", {});
  const preview = h("div", { class: "preview" });

  const controls = h("div", { class: "chart-controls" },
    h("label", {}, "x axis ", h("select", { "aria-label": "x axis", onchange: (e) => { chartOptions.xMode = e.target.value; drawCharts(); } },
      h("option", { value: "step" }, "step"), h("option", { value: "time" }, "time"))),
    h("label", {}, h("input", { type: "checkbox", "aria-label": "log scale", onchange: (e) => { chartOptions.log = e.target.checked; drawCharts(); } }), " log scale"),
    h("label", {}, "smoothing ", h("input", { type: "range", min: 0, max: 0.99, step: 0.01, value: 0, "aria-label": "smoothing",
      oninput: (e) => { chartOptions.smoothing = Number(e.target.value); drawCharts(); } })),
    h("span", { class: "muted" }, "drag to zoom, wheel to zoom, shift+wheel to pan, double-click to reset"));

  const histories = new Map();
  async function fetchHistories() {
    await Promise.all(metricKeys.map(async (key) => {
      histories.set(key, await get(`/api/runs/${encodeURIComponent(runId)}/metric`, { key, max_points: CHART_POINTS }));
    }));
  }
  function chartFor(key) {
    const history = histories.get(key);
    if (!history) return null;
    const note = history.downsampled ? ` (${num(history.values.length)} of ${num(history.total_points)} points, min/max kept)` : ` (${num(history.total_points)} points)`;
    return h("figure", { class: "metric", dataset: { metric: key } }, h("figcaption", {}, key, h("span", { class: "muted" }, note)),
      metricChart([{ label: key, ...history }], { ...chartOptions, width: 540 }));
  }
  function drawCharts() {
    clear(charts, trainingKeys.length ? trainingKeys.map(chartFor) : h("p", { class: "muted" }, "No metrics logged."));
    clear(systemCharts, systemKeys.length ? systemKeys.map(chartFor) : h("p", { class: "muted" }, "No system metrics (a TrainingMonitor records them)."));
  }

  const tagsBox = h("div", {}, keyValues(run.tags));
  const tagForm = canWrite ? h("form", { class: "inline-form", onsubmit: async (e) => {
    e.preventDefault();
    const form = e.target;
    try {
      const reply = await write(() => post(`/api/runs/${encodeURIComponent(runId)}/tags`, { key: form.key.value, value: form.value.value }));
      clear(tagsBox, keyValues(reply.tags));
      form.reset();
    } catch (error) {
      tagsBox.append(errorBox(error.message));
    }
  } }, h("input", { name: "key", placeholder: "tag", required: true, "aria-label": "tag name" }),
  h("input", { name: "value", placeholder: "value", required: true, "aria-label": "tag value" }),
  h("button", { type: "submit" }, "Set tag")) : null;

  const deleted = run.lifecycle === "deleted";
  const lifecycleButton = !canWrite ? null : deleted
    ? h("button", { type: "button", class: "restore", onclick: () => change(`Restore run ${run.name}?`,
      () => post(`/api/runs/${encodeURIComponent(runId)}/restore`, {}), location.pathname) }, "Restore")
    : h("button", { type: "button", class: "delete", onclick: () => change(
      `Delete run ${run.name}? It disappears from the tables; its data is kept and it can be restored.`,
      () => del(`/api/runs/${encodeURIComponent(runId)}`), `/?experiment=${run.experiment.id}`) }, "Delete");
  const status = h("div", { class: "status-line", role: "status" });
  async function change(question, action, then) {
    if (!window.confirm(question)) return;
    try {
      await write(action);
      ctx.navigate(then, { replace: true });
    } catch (error) {
      clear(status, errorBox(error.message));
    }
  }

  clear(main,
    h("div", { class: "page-head" },
      h("h1", {}, run.name, " ", badge(run.status), deleted ? [" ", badge("deleted")] : null, " ", lifecycleButton),
      status,
      h("p", { class: "muted" }, `run ${run.id} · experiment `, link(`/?experiment=${run.experiment.id}`, run.experiment.name),
        ` · started ${time(run.start_time)} · ${duration((run.end_time || Date.now()) - run.start_time)}`,
        run.parent_id ? [" · parent ", link(`/runs/${run.parent_id}`, run.parent_id)] : null,
        run.children ? [" · ", link(`/?experiment=${run.experiment.id}&filter=${encodeURIComponent(`attributes.parent_id = '${run.id}'`)}`, `${run.children} child runs`)] : null)),
    h("div", { class: "columns" },
      section("Params", keyValues(run.params)),
      section("Latest metrics", keyValues(run.metrics)),
      section("Tags", tagsBox, tagForm)),
    section("Metrics", controls, charts),
    section("System metrics", systemCharts),
    h("div", { class: "columns" },
      section("Input datasets", run.inputs.length ? table([
        { title: "Dataset version", value: (d) => link(`/datasets/${encodeURIComponent(d.ref.split("@")[0])}`, d.ref) },
        { title: "Files", value: (d) => num(d.files), class: "number" },
        { title: "Size", value: (d) => bytes(d.bytes), class: "number" }], run.inputs) : h("p", { class: "muted" }, "none")),
      section("Model versions", run.model_versions.length ? table([
        { title: "Model", value: (v) => link(`/models/${encodeURIComponent(v.name)}/versions/${v.version}`, `${v.name} v${v.version}`) },
        { title: "Stage", value: (v) => badge(v.stage) },
        { title: "Aliases", value: (v) => v.aliases.join(", ") }], run.model_versions) : h("p", { class: "muted" }, "none"))),
    section("Checkpoints", run.checkpoints.length ? table([
      { title: "Step", value: (c) => c.step ?? "", class: "number" },
      { title: "Epoch", value: (c) => c.epoch ?? "", class: "number" },
      { title: "Metrics", value: (c) => Object.entries(c.metrics).map(([k, v]) => `${k}=${num(v)}`).join(", ") },
      { title: "Size", value: (c) => bytes(c.size), class: "number" },
      { title: "Saved", value: (c) => time(c.created_at) }], run.checkpoints) : h("p", { class: "muted" }, "none")),
    section("Artifacts", artifacts, preview),
    section("Context", h("pre", { class: "context" }, JSON.stringify(run.context, null, 2))));

  await fetchHistories();
  if (!ctx.current()) return;
  drawCharts();
  drawArtifacts(await get(`/api/runs/${encodeURIComponent(runId)}/artifacts`));

  function drawArtifacts(files) {
    if (!files.length) return clear(artifacts, h("p", { class: "muted" }, "none"));
    clear(artifacts, table([
      { title: "Path", value: (a) => h("a", { href: "#", onclick: (e) => { e.preventDefault(); showPreview(a); } }, a.path) },
      { title: "Size", value: (a) => bytes(a.size), class: "number" },
      { title: "", value: (a) => h("a", { href: artifactUrl(runId, a.path, true), download: a.path.split("/").pop() }, "download") }], files));
  }

  async function showPreview(artifact) {
    const src = artifactUrl(runId, artifact.path);
    clear(preview, h("h3", {}, artifact.path));
    if (/\.(png|jpe?g|gif|webp|svg)$/i.test(artifact.path)) {
      preview.append(h("img", { src, alt: artifact.path }));
    } else if (artifact.size > 1024 * 1024) {
      preview.append(h("p", { class: "muted" }, `${bytes(artifact.size)}: too large to preview; download it.`));
    } else {
      const text = await (await fetch(src)).text();
      preview.append(h("pre", { class: "artifact-text" }, text));
    }
  }

  if (run.status === "RUNNING") {
    const timer = setInterval(async () => {
      await fetchHistories();
      if (ctx.current()) drawCharts();
    }, LIVE_MS);
    ctx.onLeave(() => clearInterval(timer));
  }
}

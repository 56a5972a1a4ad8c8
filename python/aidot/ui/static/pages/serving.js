// Live metrics of a running aidot inference server: latency percentiles, throughput, batch
// sizes and queue depth, polled once a second through the UI server.
import { get } from "../api.js";
import { clear, errorBox, h, ms, num } from "../dom.js";

const POLL_MS = 1000;
const KEEP = 300;

export async function servingPage(ctx) {
  document.title = "Serving · aidot";
  const url = ctx.query.get("url") || localStorage.getItem("aidot-serving-url") || "";
  const input = h("input", { type: "url", name: "url", value: url, placeholder: "http://127.0.0.1:8000", "aria-label": "server URL", required: true });
  const out = h("div", {});
  clear(ctx.main, h("h1", {}, "Serving"),
    h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); ctx.navigate(`/serving?url=${encodeURIComponent(input.value)}`); } },
      input, h("button", { type: "submit" }, "Watch")),
    out);
  if (!url) {
    out.append(h("p", { class: "muted" }, "Enter the URL of a running aidot server (aidot serve, or aidot.serve(...).url)."));
    return;
  }
  localStorage.setItem("aidot-serving-url", url);
  const history = new Map(); // model -> {t, p50, p95, p99, rps, batch, queue}
  const charts = new Map();
  let timer = null;
  ctx.onLeave(() => clearTimeout(timer));

  async function poll() {
    let data;
    try {
      data = await get("/api/serving/metrics", { url });
    } catch (error) {
      if (!ctx.current()) return;
      clear(out, errorBox(error.message));
      charts.clear();
      timer = setTimeout(poll, POLL_MS * 3);
      return;
    }
    if (!ctx.current()) return;
    const now = Date.now() / 1000;
    for (const [model, m] of Object.entries(data.models)) {
      if (!history.has(model)) history.set(model, { t: [], p50: [], p95: [], p99: [], rps: [], batch: [], queue: [] });
      const series = history.get(model);
      const push = (key, value) => { series[key].push(value); if (series[key].length > KEEP) series[key].shift(); };
      push("t", now); push("p50", m.end_to_end.p50_ms); push("p95", m.end_to_end.p95_ms); push("p99", m.end_to_end.p99_ms);
      push("rps", m.requests_per_second); push("batch", m.batch_size_mean); push("queue", m.queue_depth);
      draw(model, m, series);
    }
    if (!Object.keys(data.models).length) clear(out, h("p", { class: "muted" }, "The server has no models loaded."));
    timer = setTimeout(poll, POLL_MS);
  }

  function draw(model, m, series) {
    if (!charts.has(model)) {
      const box = h("section", { class: "card", dataset: { model } });
      const numbers = h("div", { class: "numbers" });
      const plots = h("div", { class: "charts" });
      const make = (title, labels, unit) => {
        const el = h("figure", { class: "metric" }, h("figcaption", {}, title));
        const plot = new uPlot({ width: 420, height: 180, series: [{}, ...labels.map((label, i) => ({ label, stroke: ["#2563eb", "#ea580c", "#dc2626"][i], width: 1.5 }))],
          axes: [{}, { values: (u, ticks) => ticks.map((t) => `${num(t)}${unit}`), size: 70 }] }, [[]].concat(labels.map(() => [])), el);
        plots.append(el);
        return plot;
      };
      const entry = { box, numbers, latency: make("end-to-end latency", ["p50", "p95", "p99"], " ms"),
        rps: make("throughput", ["requests/s"], ""), batch: make("mean batch size", ["batch"], ""), queue: make("queue depth", ["queued"], "") };
      box.append(h("h2", {}, model), numbers, plots);
      if (charts.size === 0) clear(out);
      out.append(box);
      charts.set(model, entry);
    }
    const entry = charts.get(model);
    clear(entry.numbers, ...[["p50", ms(m.end_to_end.p50_ms)], ["p95", ms(m.end_to_end.p95_ms)],
      ["p99", ms(m.end_to_end.p99_ms)], ["requests/s", num(Math.round(m.requests_per_second))], ["requests", num(m.requests_total)],
      ["batch utilization", `${(100 * m.batch_utilization).toFixed(1)} %`], ["queue", num(m.queue_depth)]]
      .map(([label, value]) => h("div", { class: "number-box", dataset: { stat: label } }, h("span", { class: "value" }, value), h("span", { class: "label" }, label))));
    entry.latency.setData([series.t, series.p50, series.p95, series.p99]);
    entry.rps.setData([series.t, series.rps]);
    entry.batch.setData([series.t, series.batch]);
    entry.queue.setData([series.t, series.queue]);
  }

  await poll();
}

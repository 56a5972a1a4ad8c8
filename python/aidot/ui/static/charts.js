// Charts: line charts of metric series (uPlot, vendored), a parallel-coordinates plot, bars
// and the lineage graph (SVG). uPlot is loaded by index.html as the global `uPlot`.
import { h, num } from "./dom.js";

const PALETTE = ["#2563eb", "#dc2626", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#be185d",
  "#4d7c0f", "#a16207", "#475569"];
export const color = (i) => PALETTE[i % PALETTE.length];

// TensorBoard's smoothing: an exponential moving average, debiased at the start.
export function smooth(values, weight) {
  if (!weight) return values;
  const out = new Array(values.length);
  let last = 0;
  let n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v === null || !isFinite(v)) { out[i] = v; continue; }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

// Wheel zooms the x axis around the cursor; shift+wheel pans. Drag selects a range to zoom
// into (uPlot's own), double-click resets.
function wheelZoom() {
  return {
    hooks: {
      ready(u) {
        u.over.addEventListener("wheel", (event) => {
          event.preventDefault();
          const { min, max } = u.scales.x;
          if (min === null || max === null) return;
          const range = max - min;
          if (event.shiftKey) {
            const shift = range * 0.1 * Math.sign(event.deltaY || event.deltaX);
            u.setScale("x", { min: min + shift, max: max + shift });
            return;
          }
          const at = u.posToVal(event.offsetX, "x");
          const factor = event.deltaY < 0 ? 0.8 : 1.25;
          u.setScale("x", { min: at - (at - min) * factor, max: at + (max - at) * factor });
        }, { passive: false });
      },
    },
  };
}

// series: [{label, steps, timestamps, values, mins?, maxs?}]; options: {xMode, log, smoothing}
export function metricChart(series, { xMode = "step", log = false, smoothing = 0, height = 220, width } = {}) {
  const box = h("div", { class: "chart" });
  const xOf = (s) => (xMode === "time" ? s.timestamps.map((t) => t / 1000) : s.steps);
  const clean = (ys) => (log ? ys.map((v) => (v !== null && v > 0 ? v : null)) : ys);
  const tables = [];
  const uSeries = [{ label: xMode === "time" ? "time" : "step" }];
  const bands = [];
  series.forEach((s, i) => {
    const xs = xOf(s);
    tables.push([xs, clean(smooth(s.values, smoothing))]);
    uSeries.push({ label: s.label, stroke: color(i), width: 1.5, spanGaps: true, points: { show: false } });
    if (s.mins && series.length === 1) {
      tables.push([xs, clean(s.mins)], [xs, clean(s.maxs)]);
      const faint = `${color(i)}33`;
      uSeries.push({ label: "min", stroke: faint, width: 1, points: { show: false } },
        { label: "max", stroke: faint, width: 1, points: { show: false } });
      bands.push({ series: [3, 2], fill: `${color(i)}1a` });
    }
  });
  const data = tables.length === 1 ? tables[0] : uPlot.join(tables);
  const options = {
    width: width || 560,
    height,
    series: uSeries,
    bands,
    scales: { x: { time: xMode === "time" }, y: log ? { distr: 3 } : {} },
    axes: [{}, { values: (u, ticks) => ticks.map(num), size: 64 }],
    cursor: { drag: { x: true, y: false } },
    legend: { show: true, live: true },
    plugins: [wheelZoom()],
  };
  box.plot = new uPlot(options, data, box);
  return box;
}

// Points (trial values) with a line through the best so far.
export function historyChart(numbers, values, best, { label = "objective", width } = {}) {
  const box = h("div", { class: "chart" });
  const options = {
    width: width || 640,
    height: 260,
    series: [
      { label: "trial" },
      { label, stroke: color(0), fill: color(0), paths: () => null, points: { show: true, size: 6, fill: color(0) } },
      { label: "best so far", stroke: color(1), width: 2, points: { show: false } },
    ],
    scales: { x: { time: false } },
    axes: [{}, { values: (u, ticks) => ticks.map(num), size: 64 }],
    cursor: { drag: { x: true, y: false } },
    plugins: [wheelZoom()],
  };
  box.plot = new uPlot(options, [numbers, values, best], box);
  return box;
}

const SVG = "http://www.w3.org/2000/svg";
function s(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

// axes: [{name, values: [...per row]}]; the last axis colours the lines (low blue, high red).
export function parallelCoordinates(axes, { width = 800, height = 320 } = {}) {
  const pad = { top: 28, bottom: 24, left: 40, right: 60 };
  const rows = axes.length ? axes[0].values.length : 0;
  const x = (i) => pad.left + (i * (width - pad.left - pad.right)) / Math.max(1, axes.length - 1);
  const scales = axes.map((axis) => {
    const present = axis.values.filter((v) => v !== null && v !== undefined);
    if (present.every((v) => typeof v === "number")) {
      const lo = Math.min(...present);
      const hi = Math.max(...present);
      return { kind: "number", lo, hi, y: (v) => (hi === lo ? 0.5 : (v - lo) / (hi - lo)) };
    }
    const cats = [...new Set(present.map(String))].sort();
    return { kind: "category", cats, y: (v) => (cats.length === 1 ? 0.5 : cats.indexOf(String(v)) / (cats.length - 1)) };
  });
  const yPix = (f) => height - pad.bottom - f * (height - pad.top - pad.bottom);
  const svg = s("svg", { class: "parcoords", viewBox: `0 0 ${width} ${height}`, width, height });
  const colorScale = scales[scales.length - 1];
  const lines = s("g", { class: "lines" });
  for (let r = 0; r < rows; r++) {
    const points = [];
    let missing = false;
    axes.forEach((axis, i) => {
      const v = axis.values[r];
      if (v === null || v === undefined) { missing = true; return; }
      points.push(`${x(i).toFixed(1)},${yPix(scales[i].y(v)).toFixed(1)}`);
    });
    if (missing && points.length < 2) continue;
    const last = axes[axes.length - 1].values[r];
    const t = last === null || last === undefined ? 0.5 : colorScale.y(last);
    const hue = 240 - 240 * t;
    lines.append(s("polyline", { points: points.join(" "), stroke: `hsl(${hue},70%,45%)` }));
  }
  svg.append(lines);
  axes.forEach((axis, i) => {
    const g = s("g", { class: "axis" });
    g.append(s("line", { x1: x(i), x2: x(i), y1: yPix(0), y2: yPix(1) }));
    g.append(s("text", { x: x(i), y: pad.top - 10, "text-anchor": "middle", class: "axis-name" }, axis.name));
    const sc = scales[i];
    const ticks = sc.kind === "number" ? [sc.lo, sc.hi] : sc.cats;
    for (const tick of ticks) {
      if (tick === undefined || !isFinite(sc.y(tick))) continue;
      g.append(s("text", { x: x(i) + 4, y: yPix(sc.y(tick)) + 4, class: "tick" }, typeof tick === "number" ? num(tick) : tick));
    }
    svg.append(g);
  });
  return svg;
}

export function bars(items) {
  const max = Math.max(0, ...items.map(([, v]) => v));
  return h("div", { class: "bars" }, items.map(([label, value]) =>
    h("div", { class: "bar-row" },
      h("span", { class: "bar-label" }, label),
      h("span", { class: "bar", style: `width:${max > 0 ? (100 * value) / max : 0}%` }),
      h("span", { class: "bar-value" }, num(value)))));
}

const KIND_ORDER = ["data", "run", "checkpoint", "version", "replaced"];

// nodes: [{id, kind, label}], edges: [{from, to}] drawn left to right by kind.
export function lineageGraph(nodes, edges, { hrefOf } = {}) {
  const columns = KIND_ORDER.map((kind) => nodes.filter((n) => n.kind === kind)).filter((c) => c.length);
  const nodeW = 180, nodeH = 44, gapX = 70, gapY = 18;
  const width = columns.length * nodeW + (columns.length - 1) * gapX + 20;
  const tallest = Math.max(...columns.map((c) => c.length));
  const height = tallest * nodeH + (tallest - 1) * gapY + 20;
  const place = new Map();
  columns.forEach((col, ci) => {
    const top = (height - (col.length * nodeH + (col.length - 1) * gapY)) / 2;
    col.forEach((node, ri) => place.set(node.id, { x: 10 + ci * (nodeW + gapX), y: top + ri * (nodeH + gapY) }));
  });
  const svg = s("svg", { class: "lineage", viewBox: `0 0 ${width} ${height}`, width, height });
  svg.append(s("defs", {}, s("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    s("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#64748b" }))));
  for (const edge of edges) {
    const a = place.get(edge.from), b = place.get(edge.to);
    if (!a || !b) continue;
    const x1 = a.x + nodeW, y1 = a.y + nodeH / 2, x2 = b.x, y2 = b.y + nodeH / 2;
    const mid = (x1 + x2) / 2;
    svg.append(s("path", { d: `M ${x1} ${y1} C ${mid} ${y1}, ${mid} ${y2}, ${x2} ${y2}`, class: "edge", "marker-end": "url(#arrow)" }));
  }
  for (const node of nodes) {
    const p = place.get(node.id);
    const g = s("g", { class: `node node-${node.kind}`, "data-id": node.id });
    g.append(s("rect", { x: p.x, y: p.y, width: nodeW, height: nodeH, rx: 6 }));
    g.append(s("text", { x: p.x + 10, y: p.y + 17, class: "node-kind" }, node.kind));
    g.append(s("text", { x: p.x + 10, y: p.y + 34, class: "node-label" }, node.label.length > 24 ? `${node.label.slice(0, 23)}…` : node.label));
    const href = hrefOf && hrefOf(node);
    if (href) {
      const a = s("a", { href });
      a.append(g);
      svg.append(a);
    } else svg.append(g);
  }
  return svg;
}

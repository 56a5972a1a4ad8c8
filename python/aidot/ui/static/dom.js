// Small helpers to build the page: an element builder, formatters and a table.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") el.style.cssText = value;
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

// Empties `el`, then appends `children` (nested arrays flattened, null skipped).
export function clear(el, ...children) {
  while (el.firstChild) el.firstChild.remove();
  append(el, children);
  return el;
}

export function link(href, ...children) {
  return h("a", { href }, ...children);
}

export function badge(text, kind = text) {
  return h("span", { class: `badge badge-${String(kind).toLowerCase()}` }, text);
}

export function time(ms) {
  if (ms === null || ms === undefined) return "";
  const d = new Date(ms);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ` +
    `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

export function duration(ms) {
  if (ms === null || ms === undefined || !isFinite(ms)) return "";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
  return `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`;
}

export function num(value) {
  if (value === null || value === undefined) return "NaN";
  if (typeof value !== "number") return String(value);
  if (Number.isInteger(value)) return value.toLocaleString("en-US");
  const abs = Math.abs(value);
  if (abs !== 0 && (abs < 1e-3 || abs >= 1e6)) return value.toExponential(4);
  return Number(value.toPrecision(6)).toString();
}

// Milliseconds with the precision a latency deserves: 0.38 ms, 12.4 ms, 153 ms.
export function ms(value) {
  if (value === null || value === undefined || !isFinite(value)) return "";
  const digits = value < 10 ? 2 : value < 100 ? 1 : 0;
  return `${value.toFixed(digits)} ms`;
}

export function bytes(n) {
  if (n === null || n === undefined) return "";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

// A table from column specs {title, value(row) -> Node|string, class?, onclick?, hint?}.
// A header with an onclick is marked sortable; `kind` adds a class to the table.
export function table(columns, rows, { rowAttrs, kind } = {}) {
  const head = h("thead", {}, h("tr", {}, columns.map((c) =>
    h("th", { class: [c.class, c.onclick ? "sortable" : null].filter(Boolean).join(" ") || null,
      onclick: c.onclick, title: c.hint }, c.title))));
  const body = h("tbody", {}, rows.map((row) =>
    h("tr", rowAttrs ? rowAttrs(row) : {}, columns.map((c) => h("td", { class: c.class }, c.value(row))))));
  return h("table", { class: kind ? `grid ${kind}` : "grid" }, head, body);
}

export function keyValues(object, { highlight } = {}) {
  const keys = Object.keys(object || {}).sort();
  if (!keys.length) return h("p", { class: "muted" }, "none");
  return h("table", { class: "grid kv" }, h("tbody", {}, keys.map((k) =>
    h("tr", { class: highlight && highlight(k) ? "diff" : null },
      h("th", {}, k), h("td", {}, typeof object[k] === "number" || object[k] === null ? num(object[k]) : String(object[k]))))));
}

export function section(title, ...children) {
  return h("section", { class: "card" }, h("h2", {}, title), ...children);
}

export function errorBox(message) {
  return h("p", { class: "error", role: "alert" }, message);
}

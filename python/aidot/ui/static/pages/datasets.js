// Datasets: the list, one dataset's versions, a version's files (paged) and a diff between
// two versions.
import { get } from "../api.js";
import { bytes, clear, errorBox, h, link, num, section, table, time } from "../dom.js";

const FILES_PAGE = 200;

export async function datasetsPage(ctx) {
  document.title = "Datasets · aidot";
  const datasets = await get("/api/datasets");
  clear(ctx.main, h("h1", {}, "Datasets"), datasets.length ? table([
    { title: "Dataset", value: (d) => link(`/datasets/${encodeURIComponent(d.name)}`, d.name) },
    { title: "Latest", value: (d) => `v${d.version}` },
    { title: "Files", value: (d) => num(d.files), class: "number" },
    { title: "Size", value: (d) => bytes(d.bytes), class: "number" },
    { title: "Message", value: (d) => d.message },
    { title: "Added", value: (d) => time(d.created_at) },
  ], datasets) : h("p", { class: "muted" }, "No datasets yet: aidot data add PATH --name NAME."));
}

export async function datasetPage(ctx, name) {
  const versions = await get(`/api/datasets/${encodeURIComponent(name)}`);
  if (!ctx.current()) return;
  document.title = `${name} · aidot`;
  const enc = encodeURIComponent(name);
  const chosen = Number(ctx.query.get("version")) || versions[0].version;
  const files = h("div", {});
  const diffBox = h("div", {});
  const pick = (id, value) => h("select", { id, "aria-label": id }, versions.map((v) =>
    h("option", { value: v.version, selected: v.version === value }, `v${v.version}${v.tags.length ? ` (${v.tags.join(", ")})` : ""}`)));
  const older = pick("from", versions[Math.min(1, versions.length - 1)].version);
  const newer = pick("to", versions[0].version);
  clear(ctx.main,
    h("h1", {}, name),
    section("Versions", table([
      { title: "Version", value: (v) => link(`/datasets/${enc}?version=${v.version}`, `v${v.version}`) },
      { title: "Tags", value: (v) => v.tags.join(", ") },
      { title: "Files", value: (v) => num(v.files), class: "number" },
      { title: "Size", value: (v) => bytes(v.bytes), class: "number" },
      { title: "Message", value: (v) => v.message },
      { title: "Source", value: (v) => v.source },
      { title: "Added", value: (v) => time(v.created_at) },
    ], versions, { rowAttrs: (v) => ({ class: v.version === chosen ? "selected" : null }) })),
    section(`Files of v${chosen}`, files),
    section("Diff", h("form", { class: "inline-form", onsubmit: (e) => { e.preventDefault(); diff(); } },
      older, " → ", newer, h("button", { type: "submit" }, "Compare")), diffBox));

  async function showFiles(offset) {
    const page = await get(`/api/datasets/${enc}/versions/${chosen}/files`, { offset, limit: FILES_PAGE });
    if (!ctx.current()) return;
    const last = Math.min(offset + FILES_PAGE, page.total);
    clear(files,
      h("div", { class: "pager" },
        h("button", { type: "button", disabled: offset === 0, onclick: () => showFiles(Math.max(0, offset - FILES_PAGE)) }, "‹ Previous"),
        h("span", { class: "count" }, `${num(offset + 1)}–${num(last)} of ${num(page.total)} files`),
        h("button", { type: "button", disabled: last >= page.total, onclick: () => showFiles(offset + FILES_PAGE) }, "Next ›")),
      table([
        { title: "Path", value: (f) => f.path },
        { title: "Size", value: (f) => bytes(f.size), class: "number" },
        { title: "Digest", value: (f) => h("code", {}, f.digest.slice(0, 16)) },
      ], page.files));
  }

  async function diff() {
    try {
      const changes = await get(`/api/datasets/${enc}/diff`, { from: older.value, to: newer.value });
      const list = (title, paths, kind) => h("div", { class: `changes changes-${kind}` }, h("h3", {}, `${title} (${num(paths.length)})`),
        h("ul", {}, paths.slice(0, 500).map((p) => h("li", {}, p)), paths.length > 500 ? h("li", { class: "muted" }, `… ${num(paths.length - 500)} more`) : null));
      clear(diffBox, h("div", { class: "columns" }, list("Added", changes.added, "added"),
        list("Modified", changes.modified, "modified"), list("Deleted", changes.deleted, "deleted")));
    } catch (error) {
      clear(diffBox, errorBox(error.message));
    }
  }

  await showFiles(0);
  if (versions.length > 1) await diff();
}

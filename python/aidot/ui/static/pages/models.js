// The model registry: models, versions with stage badges and aliases, stage and alias actions
// (confirmed first), the audit history and a version's lineage graph.
import { del, get, post, write } from "../api.js";
import { badge, clear, errorBox, h, link, num, section, table, time } from "../dom.js";
import { lineageGraph } from "../charts.js";

const STAGES = ["Development", "Staging", "Production", "Archived"];

export async function modelsPage(ctx) {
  document.title = "Models · aidot";
  const models = await get("/api/models");
  clear(ctx.main, h("h1", {}, "Models"), models.length ? table([
    { title: "Model", value: (m) => link(`/models/${encodeURIComponent(m.name)}`, m.name) },
    { title: "Latest version", value: (m) => m.latest_version, class: "number" },
    { title: "Stages", value: (m) => Object.entries(m.stages).map(([stage, n]) => h("span", {}, badge(stage), ` ${n} `)) },
    { title: "Description", value: (m) => m.description },
    { title: "Created", value: (m) => time(m.created_at) },
  ], models) : h("p", { class: "muted" }, "No registered models yet."));
}

export async function modelPage(ctx, name, selected) {
  const model = await get(`/api/models/${encodeURIComponent(name)}`);
  if (!ctx.current()) return;
  document.title = `${model.name} · aidot`;
  const enc = encodeURIComponent(name);
  const canWrite = ctx.about.writable || ctx.about.token_accepted;
  const status = h("div", { class: "status-line", role: "status" });
  const reload = () => ctx.navigate(location.pathname, { replace: true });

  async function act(question, action) {
    if (!window.confirm(question)) return;
    try {
      await write(action);
      reload();
    } catch (error) {
      clear(status, errorBox(error.message));
    }
  }

  function actions(v) {
    if (!canWrite) return "";
    const stageSelect = h("select", { "aria-label": `stage for v${v.version}` },
      STAGES.filter((s) => s !== v.stage).map((s) => h("option", { value: s }, s)));
    return h("span", { class: "actions" }, stageSelect,
      h("button", { type: "button", onclick: () => act(`Move ${name} v${v.version} from ${v.stage} to ${stageSelect.value}?`,
        () => post(`/api/models/${enc}/versions/${v.version}/stage`, { stage: stageSelect.value, comment: "from aidot ui" })) }, "Move"),
      h("button", { type: "button", onclick: () => {
        const alias = window.prompt(`Alias to point at ${name} v${v.version}:`);
        if (alias) act(`Point alias @${alias} at ${name} v${v.version}?`, () => post(`/api/models/${enc}/aliases`, { alias, version: v.version }));
      } }, "Alias…"));
  }

  const lineage = h("div", { class: "lineage-box" });
  clear(ctx.main,
    h("div", { class: "page-head" }, h("h1", {}, model.name), model.description ? h("p", {}, model.description) : null),
    status,
    section("Versions", table([
      { title: "Version", value: (v) => link(`/models/${enc}/versions/${v.version}`, `v${v.version}`) },
      { title: "Stage", value: (v) => badge(v.stage) },
      { title: "Aliases", value: (v) => v.aliases.map((a) => h("span", { class: "alias" }, `@${a}`,
        canWrite ? h("button", { type: "button", class: "link", title: `remove @${a}`, onclick: () =>
          act(`Remove alias @${a} from ${name}?`, () => del(`/api/models/${enc}/aliases/${encodeURIComponent(a)}`)) }, "×") : null)) },
      { title: "Format", value: (v) => v.format || "" },
      { title: "Metrics", value: (v) => Object.entries(v.metrics).map(([k, x]) => `${k}=${num(x)}`).join(", ") },
      { title: "Run", value: (v) => (v.run_id ? link(`/runs/${v.run_id}`, "run") : "") },
      { title: "Created", value: (v) => time(v.created_at) },
      { title: "", value: actions },
    ], model.versions, { rowAttrs: (v) => ({ class: v.version === selected ? "selected" : null, dataset: { version: v.version } }) })),
    section(selected ? `Lineage of v${selected}` : "Lineage", lineage),
    section("History", table([
      { title: "When", value: (e) => time(e.at) },
      { title: "Version", value: (e) => `v${e.version}` },
      { title: "Event", value: (e) => e.event },
      { title: "Change", value: (e) => (e.previous ? `${e.previous} → ${e.target}` : e.target) },
      { title: "By", value: (e) => e.actor },
      { title: "Comment", value: (e) => e.comment },
    ], [...model.history].reverse())));
  const version = selected || (model.versions[0] && model.versions[0].version);
  if (!version) return;
  if (selected && !model.versions.some((v) => v.version === selected)) {
    throw Object.assign(new Error(`model ${name} has no version ${selected}`), { status: 404 });
  }
  const graph = await get(`/api/models/${enc}/versions/${version}/lineage`);
  if (!ctx.current()) return;
  clear(lineage, h("p", { class: "muted" }, `v${version}: data → run → checkpoint → version`),
    lineageGraph(graph.nodes, graph.edges, { hrefOf: (node) => {
      const [kind, rest] = [node.id.split(":")[0], node.id.slice(node.id.indexOf(":") + 1)];
      if (kind === "run") return `/runs/${rest}`;
      if (kind === "data") return `/datasets/${encodeURIComponent(rest.split("@")[0])}`;
      if (kind === "version") return `/models/${encodeURIComponent(rest.split("/")[0])}/versions/${rest.split("/")[1]}`;
      return null;
    } }));
}

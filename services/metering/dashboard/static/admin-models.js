// tollgate-console-module
// Admin: the models the router serves, with their catalog prices (per million tokens) and
// the channels serving each.

import { $, api, count, el, fillTable, usd } from "./api.js";
import { registerPage } from "./console.js";

function build(mount) {
  mount.append(el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h2", {}, "Models & prices"),
      el("span", { class: "note" }, "the catalog as the router serves it; prices per million tokens")),
    el("div", { class: "table-wrap" }, el("table", { class: "data", id: "models-catalog" },
      el("thead", {}, el("tr", {}, ["Model", "Aliases", "Input", "Output", "Cached input", "Context", "Price version", "Channels"].map((h) => el("th", {}, h)))),
      el("tbody")))));
}

async function load() {
  const [models, channels] = await Promise.all([api("/console/api/admin/models"), api("/console/api/admin/channels")]);
  const serving = new Map();
  for (const c of channels.channels) for (const m of c.models) serving.set(m, [...(serving.get(m) || []), `${c.channel_id} (${c.state})`]);
  const rows = [...models.models].sort((a, b) => a.id.localeCompare(b.id));
  fillTable($("models-catalog"), rows.map((m) => el("tr", { dataset: { model: m.id } },
    el("td", { class: "mono" }, m.id), el("td", { class: "wrap" }, m.aliases.join(", ")),
    el("td", { class: "num" }, usd(m.price?.input_per_mtok_micros)), el("td", { class: "num" }, usd(m.price?.output_per_mtok_micros)),
    el("td", { class: "num" }, usd(m.price?.cached_input_per_mtok_micros)), el("td", { class: "num" }, m.context_length ? count(m.context_length) : "—"),
    el("td", {}, m.price?.version || "—"), el("td", { class: "wrap" }, (serving.get(m.id) || []).join(", ")),
  )), "No models.");
}

registerPage("admin-models", { init: (_ctx, mount) => build(mount), load });

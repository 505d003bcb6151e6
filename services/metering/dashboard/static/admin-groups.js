// tollgate-console-module
// Admin: the pricing groups (the catalog's multiplier and visible models per group) and
// moving an account into a group. Endpoints: services/metering/console/budgets.py.

import { $, api, el, fillTable } from "./api.js";
import { registerPage } from "./console.js";

function build(ctx, mount) {
  mount.append(el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h2", {}, "Pricing groups"),
      el("span", { class: "note" }, "an account pays the catalog's prices times its group's multiplier and sees only its models")),
    el("div", { class: "table-wrap" }, el("table", { class: "data", id: "groups-table" },
      el("thead", {}, el("tr", {}, ["Group", "Multiplier", "Models"].map((h) => el("th", {}, h)))), el("tbody"))),
    el("form", { id: "group-form", class: "filters", autocomplete: "off",
      onsubmit: (event) => { event.preventDefault(); ctx.run("groups", () => setGroup(ctx)); } },
    el("input", { id: "group-account", placeholder: "acct_…", size: 28, required: true, "aria-label": "Account id", spellcheck: "false" }),
    el("select", { id: "group-name", "aria-label": "Group" }),
    el("button", { type: "submit", id: "group-button" }, "Move to group"),
    el("output", { id: "group-result", class: "note", role: "status" }))));
}

async function setGroup(ctx) {
  const account = $("group-account").value.trim();
  const group = $("group-name").value;
  await api(`/console/api/accounts/${encodeURIComponent(account)}/group`, { method: "PUT", body: { group } });
  $("group-result").textContent = `${account} is now in group ${group}.`;
  await load(ctx);
}

async function load(ctx) {
  const listed = await api("/console/api/groups");
  fillTable($("groups-table"), listed.data.map((g) => el("tr", { dataset: { group: g.name } },
    el("td", {}, g.name), el("td", { class: "num", title: g.multiplier }, `×${g.multiplier_numerator / (g.multiplier_denominator || 1)}`), el("td", { class: "wrap" }, g.models.join(", ") || "every model"),
  )), "No groups: every account is in the default group.");
  const select = $("group-name");
  const chosen = select.value;
  select.replaceChildren(...listed.data.map((g) => el("option", { value: g.name }, g.name)));
  if (chosen) select.value = chosen;
  if (!$("group-account").value && ctx.account()) $("group-account").value = ctx.account();
}

registerPage("admin-groups", { init: (ctx, mount) => build(ctx, mount), load });

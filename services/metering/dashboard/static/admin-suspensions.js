// tollgate-console-module
// Admin: the suspension records of every account (rule or manual action, with its reason and
// figures), each with the organisation that owns the account. The decisions on reactivation
// requests are on the risk page's queue (/console/risk). Endpoints: risk.py, identity.py.

import { $, api, el, fillTable, utc } from "./api.js";
import { registerPage } from "./console.js";

function build(mount) {
  mount.append(el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h2", {}, "Suspensions and their records"),
      el("span", { class: "note" }, "every warning, throttle and suspension; ", el("a", { href: "/console/risk", id: "suspensions-queue" }, "the reactivation queue"))),
    el("div", { class: "table-wrap" }, el("table", { class: "data", id: "suspensions-table" },
      el("thead", {}, el("tr", {}, ["When (UTC)", "Organisation", "Account", "Rule", "Action", "Reason"].map((h) => el("th", {}, h)))),
      el("tbody")))));
}

async function load() {
  const [records, orgs] = await Promise.all([
    api("/console/api/risk/records", { params: { limit: 500 } }), api("/console/api/identity/admin/orgs", { params: { limit: 1000 } }),
  ]);
  const owner = new Map(orgs.orgs.map((o) => [o.account_id, o.name]));
  fillTable($("suspensions-table"), records.records.map((r) => el("tr", { dataset: { account: r.account_id, action: r.action }, class: r.action === "warn" ? "" : "failed" },
    el("td", {}, utc(r.created_at_ms)), el("td", {}, owner.get(r.account_id) || "—"), el("td", { class: "mono" }, r.account_id),
    el("td", {}, r.rule), el("td", {}, r.action), el("td", { class: "wrap" }, r.reason),
  )), "No records: nothing was ever flagged.");
}

registerPage("admin-suspensions", { init: (_ctx, mount) => build(mount), load });

// tollgate-console-module
// The console's way to risk control and tickets (their page is /console/risk, risk.js): the
// user's "Tickets" entry shows the account's standing and opens the page (a console session
// or the signed-in key carries over); the admin's "Risk queue" entry shows the queue's length.

import { $, api, el } from "./api.js";
import { registerPage } from "./console.js";

function build(mount, title, note, id) {
  mount.append(el("section", { class: "card" },
    el("div", { class: "card-head" }, el("h2", {}, title), el("span", { class: "note" }, note)),
    el("p", { class: "balance", id: `${id}-summary` }, "—"),
    el("p", {}, el("a", { href: "/console/risk", id: `${id}-open`, class: "navlink" }, "Open risk & tickets"))));
}

registerPage("tickets", {
  init: (_ctx, mount) => build(mount, "Tickets & account standing", "report a problem with request ids; ask for reactivation", "tickets"),
  async load() {
    const s = await api("/console/api/risk/standing");
    const open = s.open_request && s.open_request.id;
    $("tickets-summary").replaceChildren("Status ", el("strong", { id: "tickets-status" }, s.status), " ", s.status_reason || "",
      open ? ` · reactivation request #${s.open_request.id} waiting` : "");
  },
});

registerPage("admin-risk", {
  init: (_ctx, mount) => build(mount, "Risk queue", "reactivation requests, suspension records, the rules in force", "risk"),
  async load() {
    const queue = await api("/console/api/risk/reactivations", { params: { status: "pending" } });
    $("risk-summary").textContent = `${queue.requests.length} reactivation request(s) waiting`;
  },
});

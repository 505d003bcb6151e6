// tollgate-console-module
// The console's "Members & roles" entry: the signed-in member's organisation and role, and the
// way to its page (/console/members: members, invitations, teams, budgets, single sign-on).
// Signed in with an API key there is no member: the entry says how to sign in as one.

import { $, el } from "./api.js";
import { registerPage } from "./console.js";
import { call, hasSession } from "./session.js";

registerPage("members", {
  init(_ctx, mount) {
    mount.append(el("section", { class: "card" },
      el("div", { class: "card-head" }, el("h2", {}, "Members & roles"),
        el("span", { class: "note" }, "members, invitations, teams, budgets per member and per team, single sign-on")),
      el("p", { class: "balance", id: "members-summary" }, "—"),
      el("p", {}, el("a", { href: "/console/members", id: "members-open", class: "navlink" }, "Open Members & roles"))));
  },
  async load() {
    if (!hasSession()) {
      $("members-summary").textContent = "Signed in with a key or the admin token: log in with email and password to manage an organisation.";
      return;
    }
    const me = (await call("/console/api/identity/session")).session;
    $("members-summary").replaceChildren(el("strong", { id: "members-org" }, me.org_name), ` · you are ${me.role}`);
  },
});

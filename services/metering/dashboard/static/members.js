// Members & roles: the signed-in member's organisation, invitations and teams.

import { $, el } from "./api.js";
import { call, signOutSession } from "./session.js";

const API = "/console/api/identity";
const ROLES = ["owner", "admin", "developer", "billing", "viewer"];
const MANAGERS = new Set(["owner", "admin"]);

const state = { me: null, members: [], teams: [] };

function banner(text) {
  $("banner").textContent = text || "";
  $("banner").hidden = !text;
}

async function act(work) {
  banner("");
  try {
    await work();
    await load();
  } catch (err) {
    banner(err.message);
  }
}

function fill(table, rows, empty) {
  const body = $(table).tBodies[0];
  const columns = $(table).tHead.rows[0].cells.length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: columns }, empty))]));
}

function memberRow(m, manage, teamNames) {
  const isMe = m.member_id === state.me.member_id;
  const role = manage && !isMe
    ? el("select", { "aria-label": `Role of ${m.email}`, class: "role-select", "data-member": m.member_id,
      onchange: (e) => act(() => call(`${API}/members/${m.member_id}/role`, { method: "POST", body: { role: e.target.value } })) },
    ROLES.map((r) => el("option", { value: r, selected: r === m.role }, r)))
    : m.role;
  const remove = manage && !isMe
    ? el("button", { type: "button", class: "small secondary", onclick: () => act(() => call(`${API}/members/${m.member_id}/remove`, { method: "POST" })) }, "Remove")
    : null;
  return el("tr", { "data-email": m.email }, el("td", {}, m.email, isMe ? " (you)" : ""), el("td", {}, m.name || "—"),
    el("td", { class: "role" }, role), el("td", {}, (m.team_ids || []).map((t) => teamNames.get(t) || t).join(", ") || "—"),
    el("td", {}, el("code", {}, m.member_id)), el("td", {}, remove));
}

function teamRow(t, manage, emails) {
  const names = (t.member_ids || []).map((id) => emails.get(id) || id);
  const add = manage ? el("select", { "aria-label": `Add to ${t.name}`,
    onchange: (e) => e.target.value && act(() => call(`${API}/teams/${t.team_id}/members`, { method: "POST", body: { member_id: e.target.value, member: true } })) },
  el("option", { value: "" }, "Add member…"),
  state.members.filter((m) => !(t.member_ids || []).includes(m.member_id)).map((m) => el("option", { value: m.member_id }, m.email))) : null;
  const del = manage ? el("button", { type: "button", class: "small secondary", onclick: () => act(() => call(`${API}/teams/${t.team_id}/delete`, { method: "POST" })) }, "Delete") : null;
  return el("tr", { "data-team": t.name }, el("td", {}, t.name), el("td", {}, names.join(", ") || "—"), el("td", {}, add, " ", del));
}

async function load() {
  const [members, teams] = await Promise.all([call(`${API}/members`), call(`${API}/teams`)]);
  state.members = members.members || [];
  state.teams = teams.teams || [];
  const manage = MANAGERS.has(state.me.role);
  const teamNames = new Map(state.teams.map((t) => [t.team_id, t.name]));
  const emails = new Map(state.members.map((m) => [m.member_id, m.email]));
  fill("members-table", state.members.map((m) => memberRow(m, manage, teamNames)), "No members.");
  fill("teams-table", state.teams.map((t) => teamRow(t, manage, emails)), "No teams yet.");
  if (manage) {
    const open = (await call(`${API}/invitations`)).invitations || [];
    fill("invitations-table", open.map((i) => el("tr", { "data-email": i.email }, el("td", {}, i.email), el("td", {}, i.role),
      el("td", {}, new Date(Number(i.expires_at_ms)).toISOString().slice(0, 10)),
      el("td", {}, el("button", { type: "button", class: "small secondary",
        onclick: () => act(() => call(`${API}/invitations/${i.invitation_id}/revoke`, { method: "POST" })) }, "Revoke")))), "None.");
  }
  document.body.dataset.state = "ready";
}

async function loadOidc() {
  const org = await call(`${API}/org`);
  $("oidc-issuer").value = org.oidc_issuer || "";
  $("oidc-client").value = org.oidc_client_id || "";
  $("oidc-domain").value = org.oidc_email_domain || "";
  $("oidc-role").value = org.oidc_default_role || "developer";
  $("oidc-status").textContent = org.oidc_issuer ? "on" : "off";
}

function bindOidc() {
  $("oidc-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      await call(`${API}/org/oidc`, { method: "POST", body: {
        issuer: $("oidc-issuer").value.trim(), client_id: $("oidc-client").value.trim(),
        email_domain: $("oidc-domain").value.trim(), default_role: $("oidc-role").value,
      } });
      await loadOidc();
    });
  });
}

async function main() {
  let session;
  try {
    session = await call(`${API}/session`);
  } catch {
    $("signed-out").hidden = false;
    document.body.dataset.state = "signed-out";
    return;
  }
  state.me = session.session;
  $("who").textContent = `${state.me.email} · ${state.me.role}`;
  $("org-name").textContent = state.me.org_name;
  $("org-account").textContent = state.me.account_id;
  $("my-role").textContent = state.me.role;
  for (const node of document.querySelectorAll(".manage-only")) node.hidden = !MANAGERS.has(state.me.role);
  for (const node of document.querySelectorAll(".owner-only")) node.hidden = state.me.role !== "owner";
  $("org-id").textContent = state.me.org_id;
  if (state.me.role === "owner") await loadOidc();
  $("members-main").hidden = false;
  const mine = (await call(`${API}/orgs`).catch(() => ({ orgs: [] }))).orgs || [];
  if (mine.length > 1) {
    const select = $("org-switch");
    select.replaceChildren(...mine.map((o) => el("option", { value: o.org_id, selected: o.org_id === state.me.org_id }, `${o.name} (${o.role})`)));
    select.hidden = false;
    select.addEventListener("change", () => act(async () => {
      await call(`${API}/switch`, { method: "POST", body: { org_id: select.value } });
      window.location.reload();
    }));
  }
  $("sign-out").addEventListener("click", async () => {
    await signOutSession();
    window.location.assign("/console/login");
  });
  $("invite-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      const email = $("invite-email").value.trim();
      await call(`${API}/members/invite`, { method: "POST", body: { email, role: $("invite-role").value } });
      $("invite-email").value = "";
      banner("");
    });
  });
  bindOidc();
  $("team-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(async () => {
      await call(`${API}/teams`, { method: "POST", body: { name: $("team-name").value.trim() } });
      $("team-name").value = "";
    });
  });
  try {
    await load();
  } catch (err) {
    banner(err.message);
  }
}

main();

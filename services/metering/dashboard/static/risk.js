// The risk-control console page (/console/risk): a user's standing, suspension records and
// reactivation request; the admin's risk queue, every record and the rules in force; tickets
// (tickets.js). Endpoints: services/metering/console/risk.py.

import { $, api, ApiError, credential, el, fillTable, utc } from "./api.js";
import { hasSession, signOutSession } from "./session.js";
import * as tickets from "./tickets.js";

const ctx = { admin: false, role: "", errors: new Map() };
const APPEALS = new Set(["owner", "admin"]); // the roles that may ask for reactivation (risk.appeal); a key may too

function showErrors() {
  $("banner").replaceChildren(...[...ctx.errors.values()].map((m) => el("div", {}, m)));
  $("banner").hidden = ctx.errors.size === 0;
}

ctx.run = async (panel, load) => {
  try {
    await load();
    ctx.errors.delete(panel);
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return signOut(`Signed out: ${err.message}`);
    ctx.errors.set(panel, `${panel}: ${err.message}`);
  }
  showErrors();
};

// A period in seconds, as people say it.
function period(seconds) {
  if (seconds >= 86400) return `${Math.round(seconds / 86400)} days`;
  if (seconds >= 3600) return `${Math.round(seconds / 3600)} hours`;
  return `${Math.round(seconds / 60)} minutes`;
}

function figures(text) {
  try {
    return Object.entries(JSON.parse(text || "{}")).map(([k, v]) => `${k}=${v}`).join(", ");
  } catch {
    return text;
  }
}

async function loadRecords() {
  const account = ctx.admin ? $("records-account").value.trim() : "";
  const listed = await api("/console/api/risk/records", { params: { account_id: account, limit: 200 } });
  fillTable($("records"), listed.records.map((r) => el("tr", { class: r.action === "warn" ? "" : "failed", dataset: { action: r.action } },
    el("td", {}, utc(r.created_at_ms)),
    el("td", { class: "mono" }, r.account_id),
    el("td", {}, r.rule),
    el("td", {}, r.action),
    el("td", { class: "wrap" }, r.reason),
    el("td", { class: "wrap mono" }, figures(r.figures)),
  )), "No records: nothing was ever flagged.");
}

async function loadStanding() {
  const s = await api("/console/api/risk/standing");
  $("standing-status").textContent = s.status;
  $("standing-reason").textContent = s.status_reason;
  $("standing-policy").textContent = s.deactivate_after
    ? `${s.records_in_period} of ${s.deactivate_after} records within ${period(s.period_s)} lead to permanent deactivation`
    : "";
  $("standing-throttle").hidden = !s.throttle_rpm;
  $("standing-throttle").textContent = s.throttle_rpm ? `Limited to ${s.throttle_rpm} requests/min until ${utc(s.throttle_until_ms)}` : "";
  const open = s.open_request && s.open_request.id ? s.open_request : null;
  const mayAsk = !ctx.role || APPEALS.has(ctx.role);
  $("reactivation").hidden = s.status !== "suspended" || Boolean(open) || !mayAsk;
  $("reactivation-open").hidden = !open && (s.status !== "suspended" || mayAsk);
  $("reactivation-open").textContent = open
    ? `Request #${open.id} sent ${utc(open.created_at_ms)} is waiting for an operator's decision.`
    : s.status === "suspended" && !mayAsk ? "Your organisation's owner or an admin can ask for reactivation." : "";
  const mine = await api("/console/api/risk/reactivations");
  fillTable($("my-requests"), mine.requests.map((r) => el("tr", {},
    el("td", {}, r.id), el("td", {}, utc(r.created_at_ms)), el("td", { class: "wrap" }, r.message),
    el("td", { class: "state" }, r.status), el("td", { class: "wrap" }, r.note || "—"),
  )), "No reactivation requests.");
}

function decisionCell(request) {
  const note = el("input", { placeholder: "note (required to reject)", size: 24, dataset: { note: request.id } });
  const decide = (approve) => ctx.run("queue", async () => {
    await api(`/console/api/risk/reactivations/${request.id}/decide`, { method: "POST", body: { approve, note: note.value } });
    await Promise.all([loadQueue(), loadRecords()]);
  });
  return el("td", { class: "decision" }, note,
    el("button", { type: "button", class: "small", dataset: { approve: request.id }, onclick: () => decide(true) }, "Reactivate"),
    el("button", { type: "button", class: "small secondary", dataset: { reject: request.id }, onclick: () => decide(false) }, "Reject"));
}

async function loadQueue() {
  const queue = await api("/console/api/risk/reactivations", { params: { status: "pending" } });
  fillTable($("queue"), queue.requests.map((r) => el("tr", { dataset: { request: r.id, account: r.account_id } },
    el("td", {}, r.id), el("td", { class: "mono" }, r.account_id), el("td", { class: "wrap" }, r.status_reason),
    el("td", { class: "wrap" }, r.message), el("td", {}, utc(r.created_at_ms)), decisionCell(r),
  )), "The queue is empty.");
}

async function loadRules() {
  const r = await api("/console/api/risk/rules");
  $("rules-source").textContent = `${r.source}; ${r.deactivate_after ? `${r.deactivate_after} records in ${period(r.period_s)} deactivate` : "no deactivation"}`;
  $("rules-error").textContent = r.error;
  fillTable($("rules"), r.rules.map((x) => el("tr", {}, el("td", {}, x.name), el("td", {}, x.kind), el("td", {}, x.action), el("td", { class: "wrap" }, x.description))),
    "No rules: nothing is watched.");
}

async function refresh() {
  document.body.dataset.state = "loading";
  const tasks = [ctx.run("records", loadRecords), ctx.run("tickets", () => tickets.loadTickets(ctx))];
  if (ctx.admin) tasks.push(ctx.run("queue", loadQueue), ctx.run("rules", loadRules));
  else tasks.push(ctx.run("standing", loadStanding));
  await Promise.all(tasks);
  document.body.dataset.state = "ready";
}

async function enter() {
  const who = await api("/v1/whoami");
  ctx.admin = Boolean(who.admin);
  ctx.role = who.role || "";
  $("who").textContent = ctx.admin ? "admin" : who.role ? `${who.role} · ${who.account_id}` : who.account_id;
  for (const node of document.querySelectorAll(".admin-only")) node.hidden = !ctx.admin;
  for (const node of document.querySelectorAll(".user-only")) node.hidden = ctx.admin;
  $("signin").hidden = true;
  $("console").hidden = false;
  $("controls").hidden = false;
  await refresh();
}

async function signOut(message) {
  if (!credential.get() && hasSession()) {
    await signOutSession(); // a console session: end it on the server too
    window.location.assign("/console/login");
    return;
  }
  credential.clear();
  sessionStorage.setItem("tollgate.signout", message);
  window.location.reload();
}

function bind() {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("credential").value.trim();
    $("signin-error").textContent = "";
    try {
      await api("/v1/whoami", { token: value });
    } catch (err) {
      $("signin-error").textContent = `Not accepted: ${err.message}`;
      return;
    }
    credential.set(value);
    $("credential").value = "";
    await enter();
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  $("refresh").addEventListener("click", () => refresh());
  $("records-account").addEventListener("change", () => ctx.run("records", loadRecords));
  $("reactivation-form").addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.run("standing", async () => {
      await api("/console/api/risk/reactivation", { method: "POST", body: { message: $("reactivation-message").value } });
      $("reactivation-form").reset();
      await loadStanding();
    });
  });
  tickets.bind(ctx);
}

bind();
const left = sessionStorage.getItem("tollgate.signout");
if (left) {
  $("signin-error").textContent = left;
  sessionStorage.removeItem("tollgate.signout");
}
document.body.dataset.state = "signed-out";
// A key or token from this tab's sign-in, or the console session (cookie) from /console/login.
if (credential.get() || hasSession()) enter().catch((err) => signOut(`Signed out: ${err.message}`));

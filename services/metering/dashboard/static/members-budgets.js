// Members & roles: budgets per member and per team (on top of each key's caps). Every member
// sees them with today's and this month's spend; an owner or admin sets and removes them.
// Endpoints: services/metering/console/budgets.py (GET/PUT /console/api/budgets).

import { $, el, usd } from "./api.js";
import { call } from "./session.js";

const MANAGERS = new Set(["owner", "admin"]);
const limit = (micros) => (Number(micros) ? usd(micros) : "none");

const state = { manage: false, names: new Map(), subjects: { member: [], team: [] } };

function say(text, failed = false) {
  $("budget-result").textContent = text;
  $("budget-result").dataset.state = failed ? "failed" : "ok";
}

// "12.5" dollars -> 12500000 micro-USD ("" = no limit)
function micros(value) {
  const dollars = Number(value || 0);
  if (!Number.isFinite(dollars) || dollars < 0) throw new Error("A budget is a positive amount in USD.");
  return Math.round(dollars * 1e6);
}

function fillSubjects() {
  const scope = $("budget-scope").value;
  $("budget-subject").replaceChildren(...state.subjects[scope].map(([id, label]) => el("option", { value: id }, label)));
}

async function save(body) {
  await call("/console/api/budgets", { method: "PUT", body });
  await loadBudgets();
}

async function loadBudgets() {
  const listed = await call("/console/api/budgets");
  const rows = (listed.budgets || []).map((b) => el("tr", { "data-scope": b.scope, "data-subject": b.subject_id },
    el("td", {}, b.scope), el("td", {}, state.names.get(b.subject_id) || b.subject_id),
    el("td", { class: "num" }, limit(b.day_micros)), el("td", { class: "num" }, usd(b.spent_day_micros)),
    el("td", { class: "num" }, limit(b.month_micros)), el("td", { class: "num" }, usd(b.spent_month_micros)),
    el("td", {}, state.manage ? el("button", { type: "button", class: "small secondary",
      onclick: () => save({ scope: b.scope, subject_id: b.subject_id, day_micros: 0, month_micros: 0 }).catch((e) => say(e.message, true)) }, "Remove") : null)));
  const body = $("budgets-table").tBodies[0];
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: 7 }, "No budgets: only each key's own caps apply."))]));
}

async function main() {
  let me;
  try {
    me = (await call("/console/api/identity/session")).session;
  } catch {
    return; // members.js shows the signed-out note
  }
  state.manage = MANAGERS.has(me.role);
  $("budget-form").hidden = !state.manage;
  const [members, teams] = await Promise.all([call("/console/api/identity/members"), call("/console/api/identity/teams")]);
  state.subjects.member = (members.members || []).map((m) => [m.member_id, m.email]);
  state.subjects.team = (teams.teams || []).map((t) => [t.team_id, t.name]);
  state.names = new Map([...state.subjects.member, ...state.subjects.team]);
  fillSubjects();
  $("budget-scope").addEventListener("change", fillSubjects);
  $("budget-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = { scope: $("budget-scope").value, subject_id: $("budget-subject").value,
        day_micros: micros($("budget-day").value), month_micros: micros($("budget-month").value) };
      await save(body);
      say(`Saved: ${state.names.get(body.subject_id) || body.subject_id} — ${limit(body.day_micros)} a day, ${limit(body.month_micros)} a month.`);
    } catch (err) {
      say(err.message, true);
    }
  });
  try {
    await loadBudgets();
  } catch (err) {
    say(err.message, true);
  }
  $("budgets-card").dataset.state = "ready";
}

main();

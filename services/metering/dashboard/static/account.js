// One account's balance, statement, ledger and keys (through metering's accounts endpoints,
// which forward the signed-in credential to the accounts service).

import { $, api, count, el, fillTable, usd, utc } from "./api.js";

const LEDGER_PAGE = 20;

export async function loadBilling(ctx) {
  const account = await api("/v1/account", { params: { account_id: ctx.account() } });
  $("balance").textContent = usd(account.balance_micros);
  $("stat-balance").textContent = usd(account.balance_micros);
  $("account-name").textContent = `${account.name} · ${account.account_id}${account.status === "active" ? "" : ` · ${account.status}`}`;
  await Promise.all([loadStatement(ctx), loadLedger(ctx, false)]);
}

export async function loadStatement(ctx) {
  const month = $("statement-month").value;
  const statement = await api("/v1/statement", { params: { month, account_id: ctx.account() } });
  $("statement-label").textContent = statement.month;
  fillTable($("statement-table"), statement.lines.map((l) => el("tr", {},
    el("td", {}, l.model), el("td", {}, ctx.keyName(l.key_id)), el("td", { class: "num" }, count(l.requests)),
    el("td", { class: "num" }, count(l.prompt_tokens)), el("td", { class: "num" }, count(l.completion_tokens)),
    el("td", { class: "num" }, usd(l.cost_micros)),
  )), "No usage this month.");
  $("statement-total").textContent = usd(statement.total_cost_micros);
}

export async function loadLedger(ctx, older) {
  const table = $("ledger-table");
  const rows = older ? [...table.tBodies[0].querySelectorAll("tr[data-entry-id]")] : [];
  const before = older && rows.length ? rows[rows.length - 1].dataset.entryId : "";
  const page = await api("/v1/ledger", { params: { account_id: ctx.account(), limit: LEDGER_PAGE, before } });
  const fresh = page.entries.map((e) => el("tr", { dataset: { entryId: e.id }, class: e.amount_micros < 0 ? "debit" : "credit" },
    el("td", { class: "num" }, e.id), el("td", {}, utc(e.effective_at_ms || e.created_at_ms)), el("td", {}, e.kind),
    el("td", { class: "num" }, usd(e.amount_micros)), el("td", {}, e.key_id ? ctx.keyName(e.key_id) : "—"),
    el("td", { class: "mono wrap" }, e.note || e.reference.replace(/^usage:/, "")),
  ));
  fillTable(table, [...rows, ...fresh], "No ledger entries.");
  $("ledger-more").hidden = page.entries.length < LEDGER_PAGE;
}

// -- keys -------------------------------------------------------------------------------

function keyStatus(k) {
  const now = Date.now();
  if (k.revoked_at_ms) return ["revoked", `revoked ${utc(k.revoked_at_ms)}`];
  if (k.expires_at_ms && k.expires_at_ms <= now) return ["expired", `expired ${utc(k.expires_at_ms)}`];
  if (k.expires_at_ms) return ["expiring", `active until ${utc(k.expires_at_ms)}`];
  return ["active", "active"];
}

function limits(k) {
  const parts = [];
  if (k.allowed_models.length) parts.push(`models ${k.allowed_models.join(", ")}`);
  if (k.rpm_limit) parts.push(`${count(k.rpm_limit)} RPM`);
  if (k.tpm_limit) parts.push(`${count(k.tpm_limit)} TPM`);
  if (k.spend_cap_day_micros) parts.push(`${usd(k.spend_cap_day_micros)}/day`);
  if (k.spend_cap_month_micros) parts.push(`${usd(k.spend_cap_month_micros)}/month`);
  if (k.require_zdr) parts.push("ZDR only");
  return parts.join(" · ") || "none";
}

// A button that asks once more before acting ("Revoke" -> "Revoke? confirm" for 5 s).
function confirmButton(label, action) {
  let armed = null;
  const button = el("button", { type: "button", class: "secondary small" }, label);
  button.addEventListener("click", async () => {
    if (!armed) {
      button.textContent = `${label}? Confirm`;
      button.classList.add("armed");
      armed = setTimeout(() => { armed = null; button.textContent = label; button.classList.remove("armed"); }, 5000);
      return;
    }
    clearTimeout(armed);
    armed = null;
    button.disabled = true;
    await action();
  });
  return button;
}

export async function loadKeys(ctx) {
  const listed = await api("/v1/keys", { params: { account_id: ctx.account() } });
  ctx.setKeys(listed.keys);
  const mine = ctx.ownPrefix();
  const keys = [...listed.keys].sort((a, b) => Number(Boolean(a.revoked_at_ms)) - Number(Boolean(b.revoked_at_ms)) || b.created_at_ms - a.created_at_ms);
  fillTable($("keys-table"), keys.map((k) => {
    const [state, text] = keyStatus(k);
    const usable = state === "active" || state === "expiring";
    const self = usable && mine && k.prefix === mine;
    return el("tr", { dataset: { keyId: k.key_id, state }, class: state },
      el("td", {}, k.name || "—", self ? el("span", { class: "badge" }, "this session") : null,
        k.name.startsWith("console-playground") ? el("span", { class: "badge", title: "the console's Playground calls the gateway with it" }, "playground") : null),
      el("td", { class: "mono" }, `${k.prefix}…`), el("td", {}, utc(k.created_at_ms)), el("td", {}, utc(k.last_used_at_ms)),
      el("td", { class: "wrap" }, limits(k)), el("td", { class: "state" }, text),
      el("td", { class: "actions" }, usable ? [
        confirmButton("Rotate", () => rotateKey(ctx, k, self)),
        confirmButton("Revoke", () => revokeKey(ctx, k, self)),
      ] : null),
    );
  }), "No keys.");
}

function showSecret(secret, label) {
  $("new-key-secret").textContent = secret;
  $("secret-box").querySelector("p").textContent = `${label} Copy it now — it will not be shown again.`;
  $("secret-box").hidden = false;
}

// The new key's optional limits (empty fields: the defaults, or the signed-in key's own).
function newKeyLimits() {
  const number = (id) => Number($(id).value || 0);
  const limits = {};
  const models = $("new-key-models").value.split(",").map((m) => m.trim()).filter(Boolean);
  if (models.length) limits.allowed_models = models;
  if (number("new-key-rpm") > 0) limits.rpm_limit = Math.round(number("new-key-rpm"));
  if (number("new-key-days") > 0) limits.expires_at_ms = Date.now() + Math.round(number("new-key-days") * 86_400_000);
  if (number("new-key-day-cap") > 0) limits.spend_cap_day_micros = Math.round(number("new-key-day-cap") * 1e6);
  if (number("new-key-month-cap") > 0) limits.spend_cap_month_micros = Math.round(number("new-key-month-cap") * 1e6);
  return limits;
}

export async function createKey(ctx) {
  const name = $("new-key-name").value.trim();
  const body = { name, ...newKeyLimits() };
  const created = await api("/v1/keys", { method: "POST", params: { account_id: ctx.account() }, body });
  $("new-key-name").value = "";
  for (const id of ["new-key-models", "new-key-rpm", "new-key-days", "new-key-day-cap", "new-key-month-cap"]) $(id).value = "";
  showSecret(created.secret, `New key “${created.key.name}” (${created.key.prefix}…).`);
  await ctx.reloadKeys();
}

async function rotateKey(ctx, key, self) {
  try {
    const grace = Number($("rotate-grace").value);
    const rotated = await api(`/v1/keys/${encodeURIComponent(key.key_id)}/rotate`, { method: "POST", body: { grace_s: grace } });
    showSecret(rotated.new_key.secret, `Replacement for “${key.name}” (${rotated.new_key.key.prefix}…).`);
    if (self) ctx.replaceCredential(rotated.new_key.secret);
  } catch (err) {
    ctx.fail("keys", err);
  }
  await ctx.reloadKeys();
}

async function revokeKey(ctx, key, self) {
  try {
    await api(`/v1/keys/${encodeURIComponent(key.key_id)}/revoke`, { method: "POST" });
  } catch (err) {
    ctx.fail("keys", err);
  }
  if (self) ctx.signOut("You revoked the key this session was signed in with.");
  else await ctx.reloadKeys();
}

export function clearSecret() {
  $("new-key-secret").textContent = "";
  $("secret-box").hidden = true;
}

export async function copySecret() {
  const text = $("new-key-secret").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("copy-secret").textContent = "Copied";
  } catch {
    const range = document.createRange();
    range.selectNodeContents($("new-key-secret"));
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
  }
}

// The console: sign-in, the shared controls, the navigation (console.js) and loading every panel.

import * as account from "./account.js";
import { $, api, ApiError, credential, el } from "./api.js";
import "./billing.js";
import "./channels.js";
import * as charts from "./charts.js";
import "./codes.js";
import { loadModules, registerPage, registry } from "./console.js";
import "./playground.js";
import { hasSession, signOutSession } from "./session.js";
import * as usage from "./usage.js";

// The dashboard's panels, loaded together by refresh(): their pages need nothing more.
registerPage("statistics", {});
registerPage("tokens", {});

// Range -> how long, and the bucket its charts use.
const RANGES = {
  "24h": [24 * 3600e3, "hour"],
  "7d": [7 * 24 * 3600e3, "hour"],
  "30d": [30 * 24 * 3600e3, "day"],
  "90d": [90 * 24 * 3600e3, "day"],
  "365d": [365 * 24 * 3600e3, "month"],
};

function createContext() {
  const ctx = {
    admin: false,
    ownAccount: "",
    keys: new Map(), // key_id -> key, for labels
    errors: new Map(), // panel -> message
    generation: 0,
    usage: { rows: [], range: null },
  };
  // The account_id parameter: the admin's pick ("" = every account; the account-only panels
  // then wait for a pick), or "" for a user key, which the server scopes to its own account.
  ctx.account = () => (ctx.admin ? $("account-select").value : "");
  ctx.hasAccount = () => !ctx.admin || Boolean($("account-select").value);
  ctx.range = () => {
    const [span, bucket] = RANGES[$("range-select").value] || RANGES["24h"];
    const end = Date.now() + 60e3;
    return { start: new Date(end - span).toISOString(), end: new Date(end).toISOString(), bucket };
  };
  ctx.setKeys = (keys) => {
    ctx.keys = new Map(keys.map((k) => [k.key_id, k]));
    const select = $("filter-key");
    const chosen = select.value;
    select.replaceChildren(el("option", { value: "" }, "Any key"),
      ...keys.map((k) => el("option", { value: k.key_id }, `${k.name || k.key_id} (${k.prefix}…)`)));
    select.value = ctx.keys.has(chosen) ? chosen : "";
  };
  ctx.keyName = (keyId) => ctx.keys.get(keyId)?.name || keyId || "—";
  ctx.keyLabel = (keyId) => {
    const k = ctx.keys.get(keyId);
    return k ? `${k.name} (${k.prefix}…)` : keyId || "—";
  };
  // The signed-in key's display prefix ("sk-" and 7 characters), to mark it in the key list.
  ctx.ownPrefix = () => (ctx.admin ? "" : credential.get().slice(0, 10));
  ctx.fail = (panel, err) => {
    if (err instanceof ApiError && err.status === 401) {
      ctx.signOut(`Signed out: ${err.message}`);
      return;
    }
    ctx.errors.set(panel, `${panel}: ${err.message}`);
    showErrors(ctx);
  };
  ctx.ok = (panel) => {
    ctx.errors.delete(panel);
    showErrors(ctx);
  };
  ctx.run = (panel, load) => run(ctx, panel, load);
  ctx.reloadKeys = () => run(ctx, "keys", () => account.loadKeys(ctx));
  ctx.replaceCredential = (secret) => credential.set(secret);
  ctx.signOut = (message = "") => signOut(message);
  return ctx;
}

function showErrors(ctx) {
  const banner = $("banner");
  banner.replaceChildren(...[...ctx.errors.values()].map((m) => el("div", {}, m)));
  banner.hidden = ctx.errors.size === 0;
}

async function run(ctx, panel, load) {
  try {
    await load();
    ctx.ok(panel);
  } catch (err) {
    ctx.fail(panel, err);
  }
}

// Reload every panel; document.body.dataset.state is "ready" once all have answered.
async function refresh(ctx) {
  const generation = ++ctx.generation;
  document.body.dataset.state = "loading";
  const needsAccount = !ctx.hasAccount();
  for (const node of document.querySelectorAll(".needs-account")) node.hidden = !needsAccount;
  for (const node of document.querySelectorAll(".account-only")) node.hidden = needsAccount;
  const tasks = [run(ctx, "usage", () => usage.loadUsage(ctx)), run(ctx, "rankings", () => usage.loadRankings())];
  if (document.body.dataset.page) tasks.push(registry.load(ctx, document.body.dataset.page));
  if (needsAccount) {
    ctx.setKeys([]);
    $("stat-balance").textContent = "—";
    tasks.push(run(ctx, "requests", () => usage.loadRequests(ctx)));
  } else {
    // Keys first: the log, statement and ledger label key ids with their names.
    await run(ctx, "keys", () => account.loadKeys(ctx));
    tasks.push(run(ctx, "billing", () => account.loadBilling(ctx)), run(ctx, "requests", () => usage.loadRequests(ctx)));
  }
  await Promise.all(tasks);
  if (generation === ctx.generation) document.body.dataset.state = "ready";
}

async function loadAccounts() {
  const listed = await api("/v1/accounts", { params: { limit: 1000 } });
  $("account-select").replaceChildren(el("option", { value: "" }, "All accounts"),
    ...listed.accounts.map((a) => el("option", { value: a.account_id }, `${a.name} (${a.account_id})`)));
}

async function enter(ctx) {
  const who = await api("/v1/whoami");
  ctx.admin = Boolean(who.admin);
  ctx.ownAccount = who.account_id || "";
  $("who").textContent = ctx.admin ? "admin" : who.role ? `${who.role} · ${ctx.ownAccount}` : ctx.ownAccount;
  $("members-link").hidden = !who.role;
  $("account-picker").hidden = !ctx.admin;
  if (ctx.admin) await run(ctx, "accounts", loadAccounts);
  await run(ctx, "modules", loadModules);
  registry.drawNav(ctx.admin);
  $("signin").hidden = true;
  $("console").hidden = false;
  $("controls").hidden = false;
  await openPage(ctx, false);
  await refresh(ctx);
}

// Show the page the location names (the default one when it names none the viewer may open).
async function openPage(ctx, settle = true) {
  const generation = ++ctx.generation;
  if (settle) document.body.dataset.state = "loading";
  await registry.show(ctx, registry.current(ctx.admin), !settle);
  if (settle && generation === ctx.generation) document.body.dataset.state = "ready";
}

async function signOut(message) {
  if (!credential.get() && hasSession()) {
    await signOutSession(); // a console session: end it on the server too
    window.location.assign("/console/login");
    return;
  }
  credential.clear();
  sessionStorage.setItem("tollgate.signout", message);
  window.location.reload(); // drops every figure of the old session
}

function bind(ctx) {
  $("signin-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const value = $("credential").value.trim();
    $("signin-error").textContent = "";
    try {
      await api("/v1/whoami", { token: value });
    } catch (err) {
      $("signin-error").textContent = err instanceof ApiError && err.status === 401 ? `Not accepted: ${err.message}` : `Could not sign in: ${err.message}`;
      return;
    }
    credential.set(value);
    $("credential").value = "";
    await enter(ctx);
  });
  $("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", () => {
    if (!$("console").hidden) openPage(ctx);
  });
  $("refresh").addEventListener("click", () => refresh(ctx));
  $("range-select").addEventListener("change", () => refresh(ctx));
  $("account-select").addEventListener("change", () => refresh(ctx));
  $("usage-metric").addEventListener("change", () => usage.drawUsage(ctx));
  for (const id of ["rank-window", "rank-by"]) $(id).addEventListener("change", () => run(ctx, "rankings", () => usage.loadRankings()));
  $("log-filters").addEventListener("submit", (event) => {
    event.preventDefault();
    run(ctx, "requests", () => usage.loadRequests(ctx));
  });
  $("filter-key").addEventListener("change", () => run(ctx, "requests", () => usage.loadRequests(ctx)));
  $("filter-status").addEventListener("change", () => run(ctx, "requests", () => usage.loadRequests(ctx)));
  $("statement-month").addEventListener("change", () => run(ctx, "billing", () => account.loadStatement(ctx)));
  $("ledger-more").addEventListener("click", () => run(ctx, "billing", () => account.loadLedger(ctx, true)));
  $("create-key").addEventListener("submit", (event) => {
    event.preventDefault();
    run(ctx, "keys", () => account.createKey(ctx));
  });
  $("copy-secret").addEventListener("click", account.copySecret);
  $("dismiss-secret").addEventListener("click", account.clearSecret);
  let resizing = null;
  window.addEventListener("resize", () => {
    clearTimeout(resizing);
    resizing = setTimeout(charts.resize, 150);
  });
}

async function main() {
  const ctx = createContext();
  bind(ctx);
  $("statement-month").value = new Date().toISOString().slice(0, 7);
  const farewell = sessionStorage.getItem("tollgate.signout");
  sessionStorage.removeItem("tollgate.signout");
  if (farewell) $("signin-error").textContent = farewell;
  if (!credential.get() && !hasSession()) {
    document.body.dataset.state = "signed-out";
    $("credential").focus();
    return;
  }
  try {
    await enter(ctx);
  } catch (err) {
    credential.clear();
    $("signin").hidden = false;
    $("console").hidden = true;
    $("signin-error").textContent = `Signed out: ${err.message}`;
    document.body.dataset.state = "signed-out";
  }
}

main();

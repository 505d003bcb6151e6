// Admin: redemption codes (minted with an amount and an expiry, shown once; listed; revoked).

import { $, api, el, fillTable, usd, utc } from "./api.js";
import { registerPage } from "./console.js";

const DAY_MS = 86_400_000;

function revokeButton(ctx, code) {
  return el("button", {
    type: "button", class: "secondary small",
    onclick: async (event) => {
      event.target.disabled = true;
      await ctx.run("codes", async () => {
        await api(`/console/api/billing/codes/${encodeURIComponent(code.code_id)}/revoke`, { method: "POST" });
        await loadCodes(ctx);
      });
    },
  }, "Revoke");
}

async function loadCodes(ctx) {
  const listed = await api("/console/api/billing/codes", { params: { status: $("codes-status").value, limit: 200 } });
  fillTable($("codes-table"), listed.codes.map((c) => el("tr", { dataset: { codeId: c.code_id, status: c.status }, class: c.status },
    el("td", { class: "mono" }, `${c.prefix}…`), el("td", { class: "num" }, usd(c.amount_micros)), el("td", { class: "state" }, c.status),
    el("td", {}, utc(c.created_at_ms)), el("td", {}, c.expires_at_ms ? utc(c.expires_at_ms) : "never"),
    el("td", { class: "mono" }, c.redeemed_by || "—"), el("td", { class: "wrap" }, c.note || ""),
    el("td", { class: "actions" }, c.status === "active" && ctx ? revokeButton(ctx, c) : null),
  )), "No codes.");
}

async function createCodes(ctx) {
  const days = Number($("codes-days").value || 0);
  const body = {
    count: Number($("codes-count").value),
    amount_micros: Math.round(Number($("codes-amount").value) * 1e6),
    expires_at_ms: days > 0 ? Date.now() + days * DAY_MS : 0,
    note: $("codes-note").value.trim(),
  };
  const created = await api("/console/api/billing/codes", { method: "POST", body });
  $("codes-secret-list").textContent = created.codes.map((c) => c.secret).join("\n");
  $("codes-secrets").hidden = false;
  $("codes-note").value = "";
  await loadCodes(ctx);
}

registerPage("admin-codes", {
  init(ctx) {
    $("codes-form").addEventListener("submit", (event) => {
      event.preventDefault();
      ctx.run("codes", () => createCodes(ctx));
    });
    $("codes-status").addEventListener("change", () => ctx.run("codes", () => loadCodes(ctx)));
    $("codes-dismiss").addEventListener("click", () => {
      $("codes-secret-list").textContent = "";
      $("codes-secrets").hidden = true;
    });
  },
  load: (ctx) => loadCodes(ctx),
});

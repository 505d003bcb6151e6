// Billing: recharge by redemption code (the balance, statement and ledger are account.js's).

import * as account from "./account.js";
import { $, api, ApiError, usd } from "./api.js";
import { registerPage } from "./console.js";

async function redeem(ctx) {
  const input = $("redeem-code");
  const result = $("redeem-result");
  const code = input.value.trim();
  if (!code) return;
  $("redeem-button").disabled = true;
  result.textContent = "";
  result.className = "note";
  try {
    const done = await api("/console/api/billing/redeem", { method: "POST", params: { account_id: ctx.account() }, body: { code } });
    input.value = "";
    result.textContent = `Redeemed ${usd(done.amount_micros)}. Balance ${usd(done.balance_micros)}.`;
    result.classList.add("ok");
    await ctx.run("billing", () => account.loadBilling(ctx));
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) ctx.fail("billing", err);
    result.textContent = err.message;
    result.classList.add("error");
  } finally {
    $("redeem-button").disabled = false;
  }
}

registerPage("billing", {
  init(ctx) {
    $("redeem-form").addEventListener("submit", (event) => {
      event.preventDefault();
      redeem(ctx);
    });
  },
});

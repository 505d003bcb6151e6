// Billing: recharge by redemption code (the balance, statement and ledger are account.js's).

import * as account from "./account.js";
import { $, api, ApiError, authHeaders, el, usd } from "./api.js";
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

// The month's statement as CSV (the same lines as the table), saved by the browser.
async function downloadStatement(ctx) {
  const month = $("statement-month").value;
  const query = new URLSearchParams({ format: "csv", month });
  if (ctx.account()) query.set("account_id", ctx.account());
  const response = await fetch(`/v1/statement?${query}`, { headers: authHeaders(), cache: "no-store" });
  if (!response.ok) {
    const failed = await response.json().catch(() => null);
    throw new ApiError(response.status, failed);
  }
  const url = URL.createObjectURL(await response.blob());
  const link = el("a", { href: url, download: `statement-${month}.csv` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

registerPage("billing", {
  init(ctx) {
    $("statement-csv").addEventListener("click", () => ctx.run("billing", () => downloadStatement(ctx)));
    $("redeem-form").addEventListener("submit", (event) => {
      event.preventDefault();
      redeem(ctx);
    });
  },
});

// Admin: channels — health from the router, enable / disable, a test request through the edge.

import { $, api, count, el, fillTable, ms, percent } from "./api.js";
import { registerPage } from "./console.js";

function action(ctx, label, act, secondary = true) {
  return el("button", {
    type: "button", class: secondary ? "secondary small" : "small",
    onclick: async (event) => {
      event.target.disabled = true;
      await ctx.run("channels", act);
      event.target.disabled = false;
    },
  }, label);
}

async function setEnabled(ctx, channelId, enabled) {
  const reason = $("channel-reason").value.trim() || (enabled ? "" : "disabled from the console");
  await api(`/console/api/admin/channels/${encodeURIComponent(channelId)}/enabled`, { method: "POST", body: { enabled, reason } });
  await loadChannels(ctx);
}

async function testChannel(ctx, channelId) {
  const box = $("channel-test");
  box.hidden = false;
  box.dataset.state = "running";
  box.replaceChildren(el("p", { class: "note" }, `Testing ${channelId}…`));
  if (!ctx.account()) {
    box.dataset.state = "failed";
    box.replaceChildren(el("p", { class: "error" }, "Choose an account (top right) to bill the test request to."));
    return;
  }
  const result = await api(`/console/api/admin/channels/${encodeURIComponent(channelId)}/test`, {
    method: "POST", params: { account_id: ctx.account() }, body: {},
  });
  box.dataset.state = result.ok ? "ok" : "failed";
  box.dataset.channel = channelId;
  box.replaceChildren(el("p", { class: result.ok ? "" : "error" },
    result.ok ? `${channelId} answered ${result.model} in ${ms(result.latency_ms)} (HTTP ${result.status}, request ${result.request_id})`
      : `${channelId} failed: HTTP ${result.status} ${result.error}`));
}

async function loadChannels(ctx) {
  const listed = await api("/console/api/admin/channels");
  const channels = [...listed.channels].sort((a, b) => a.channel_id.localeCompare(b.channel_id));
  fillTable($("channels-table"), channels.map((c) => el("tr", { dataset: { channel: c.channel_id, state: c.state }, class: c.state },
    el("td", { class: "mono" }, c.channel_id), el("td", {}, c.provider), el("td", { class: "state" }, c.state),
    el("td", { class: "num" }, percent(c.error_rate)), el("td", { class: "num" }, count(c.samples)), el("td", { class: "num" }, ms(c.latency_ewma_ms)),
    el("td", { class: "wrap" }, c.models.join(", ")), el("td", { class: "wrap" }, c.disabled_reason || ""),
    el("td", { class: "actions" },
      c.state === "disabled" ? action(ctx, "Enable", () => setEnabled(ctx, c.channel_id, true), false)
        : action(ctx, "Disable", () => setEnabled(ctx, c.channel_id, false)),
      action(ctx, "Test", () => testChannel(ctx, c.channel_id))),
  )), "No channels.");
}

registerPage("admin-channels", { load: (ctx) => loadChannels(ctx) });

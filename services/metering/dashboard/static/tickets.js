// Tickets: open one naming request ids, list them, show a ticket's diagnostics (technical
// metadata only) and close it. Endpoints: services/metering/console/risk.py.

import { $, api, el, fillTable, ms, utc } from "./api.js";

let shown = "";

function attemptsText(log) {
  return (log || []).map((a) => `${a.channel_id}: ${a.error}${a.status ? ` (${a.status})` : ""}`).join("; ") || "—";
}

export async function showTicket(ctx, ticketId) {
  const ticket = await api(`/console/api/tickets/${encodeURIComponent(ticketId)}`);
  shown = ticket.ticket_id;
  $("ticket-detail").hidden = false;
  $("ticket-title").textContent = `${ticket.subject} — ${ticket.status}`;
  $("ticket-close").hidden = ticket.status !== "open";
  fillTable($("diagnostics"), ticket.diagnostics.map((d) => el("tr", { class: d.status >= 400 ? "failed" : "", dataset: { request: d.request_id } },
    el("td", { class: "mono" }, d.request_id),
    el("td", {}, d.found ? utc(d.occurred_at_ms) : "not seen yet"),
    el("td", {}, d.model || "—"),
    el("td", {}, d.channel_id || "—"),
    el("td", { class: "num" }, d.found ? d.status : "—"),
    el("td", {}, d.error_code || "—"),
    el("td", { class: "num" }, d.found ? d.attempts : "—"),
    el("td", { class: "num" }, d.found ? ms(d.latency_ms) : "—"),
    el("td", { class: "wrap" }, attemptsText(d.attempt_log)),
  )), "This ticket names no request (or its metadata has expired).");
}

export async function loadTickets(ctx) {
  const listed = await api("/console/api/tickets");
  fillTable($("tickets"), listed.tickets.map((t) => el("tr", {
    class: "clickable", dataset: { ticket: t.ticket_id },
    onclick: () => ctx.run("ticket", () => showTicket(ctx, t.ticket_id)),
  },
  el("td", { class: "mono" }, t.ticket_id),
  el("td", { class: "mono" }, t.account_id),
  el("td", {}, t.subject),
  el("td", {}, t.status),
  el("td", {}, utc(t.created_at_ms)),
  el("td", {}, utc(t.keep_until_ms)),
  )), "No tickets.");
  if (shown) await showTicket(ctx, shown);
}

export function bind(ctx) {
  $("ticket-form").addEventListener("submit", (event) => {
    event.preventDefault();
    ctx.run("tickets", async () => {
      const ids = $("ticket-requests").value.split(/[\s,]+/).filter(Boolean);
      const ticket = await api("/console/api/tickets", {
        method: "POST",
        body: { subject: $("ticket-subject").value, description: $("ticket-description").value, request_ids: ids },
      });
      $("ticket-form").reset();
      shown = ticket.ticket_id;
      await loadTickets(ctx);
    });
  });
  $("ticket-close").addEventListener("click", () => ctx.run("tickets", async () => {
    await api(`/console/api/tickets/${encodeURIComponent(shown)}/close`, { method: "POST" });
    await loadTickets(ctx);
  }));
}

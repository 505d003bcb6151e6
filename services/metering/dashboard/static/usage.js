// Usage (stat cards, charts, per-model table), model rankings and the request log.

import { $, api, count, el, fillTable, ms, percent, usd, utc } from "./api.js";
import * as charts from "./charts.js";
import { unitsText, usedText } from "./units.js";

const tokens = (r) => Number(r.prompt_tokens || 0) + Number(r.completion_tokens || 0);

// Four reads of /v1/usage over the chosen range: per bucket and model (charts), per bucket
// (latency), per model (table) and the range's totals (cards).
export async function loadUsage(ctx) {
  const range = ctx.range();
  const base = { ...range, account_id: ctx.account() };
  const [byBucketModel, byBucket, byModel, total] = await Promise.all([
    api("/v1/usage", { params: { ...base, group_by: "model" } }),
    api("/v1/usage", { params: base }),
    api("/v1/usage", { params: { ...base, bucket: "none", group_by: "model" } }),
    api("/v1/usage", { params: { ...base, bucket: "none" } }),
  ]);
  const totals = total.data[0] || {};
  $("stat-requests").textContent = count(totals.requests);
  $("stat-errors").textContent = count(totals.errors);
  $("stat-tokens").textContent = count(tokens(totals));
  $("stat-tokens-split").textContent = `${count(totals.prompt_tokens)} in · ${count(totals.completion_tokens)} out`;
  $("stat-cost").textContent = usd(totals.cost_micros);
  $("stat-p95").textContent = ms(totals.latency_ms_p95);
  $("stat-ttft").textContent = totals.ttft_ms_p95 ? `TTFT p95 ${ms(totals.ttft_ms_p95)}` : "";

  ctx.usage = { rows: byBucketModel.data, range };
  drawUsage(ctx);
  charts.byModel($("chart-cost"), byBucketModel.data, (r) => Number(r.cost_micros || 0), range, { money: true });
  charts.latency($("chart-latency"), byBucket.data, range);

  const rows = [...byModel.data].sort((a, b) => Number(b.cost_micros) - Number(a.cost_micros) || Number(b.requests) - Number(a.requests));
  fillTable($("models-table"), rows.map((r) => el("tr", { dataset: { model: r.model } },
    el("td", {}, r.model || "(none)"), el("td", { class: "num" }, count(r.requests)), el("td", { class: "num" }, count(r.errors)),
    el("td", { class: "num" }, count(tokens(r))), el("td", { class: "num" }, usd(r.cost_micros)),
    el("td", { class: "num" }, [r.latency_ms_p50, r.latency_ms_p95, r.latency_ms_p99].map((v) => count(v)).join(" / "), " ms"),
    el("td", { class: "num" }, ms(r.ttft_ms_p50)), el("td", { class: "num", dataset: { units: "" } }, unitsText(r.units)),
  )), "No usage in this range.");
  $("model-names").replaceChildren(...rows.map((r) => el("option", { value: r.model })));
}

// Chart metrics beyond a row's own columns: tokens summed, and units beyond tokens (audio in seconds).
const METRICS = {
  tokens,
  images: (r) => Number((r.units || {}).image || 0),
  audio_s: (r) => Number((r.units || {}).audio_ms || 0) / 1000,
};

const UNIT_METRICS = new Set(["images", "audio_s"]);

export function drawUsage(ctx) {
  const metric = $("usage-metric").value;
  const value = METRICS[metric] || ((r) => Number(r[metric] || 0));
  const { range } = ctx.usage;
  const rows = UNIT_METRICS.has(metric) ? ctx.usage.rows.filter((r) => value(r) > 0) : ctx.usage.rows; // only models that used the unit
  charts.byModel($("chart-usage"), rows, value, range, { yTitle: $("usage-metric").selectedOptions[0].textContent.toLowerCase() });
}

export async function loadRankings() {
  const ranked = await api("/v1/rankings", { params: { window: $("rank-window").value, by: $("rank-by").value } });
  fillTable($("rankings-models"), ranked.models.map((m, i) => el("tr", { dataset: { model: m.model } },
    el("td", { class: "num" }, i + 1), el("td", {}, m.model), el("td", { class: "num" }, count(m.tokens)),
    el("td", { class: "num" }, count(m.requests)), el("td", { class: "num" }, count(m.accounts)), el("td", { class: "num" }, unitsText(m.units)),
  )), "No traffic in this window.");
  fillTable($("rankings-channels"), ranked.channels.map((c) => el("tr", { dataset: { channel: c.channel_id } },
    el("td", {}, c.channel_id), el("td", {}, c.provider), el("td", { class: "num" }, count(c.requests)),
    el("td", { class: "num" }, percent(c.error_rate)), el("td", { class: "num" }, ms(c.latency_ms_p50)),
    el("td", { class: "num" }, Number(c.tokens_per_s || 0).toFixed(1)),
  )), "No traffic in this window.");
}

// -- the request log ------------------------------------------------------------------

const LOG_PAGE = 50;

function logParams(ctx) {
  return {
    limit: LOG_PAGE, account_id: ctx.account(),
    key_id: $("filter-key").value, model: $("filter-model").value.trim(), status: $("filter-status").value,
  };
}

function requestRow(ctx, r) {
  const failed = Number(r.status) >= 400;
  return el("tr", { dataset: { requestId: r.request_id }, class: failed ? "failed clickable" : "clickable", onclick: () => showRequest(ctx, r.request_id) },
    el("td", {}, utc(r.occurred_at)), el("td", { class: "mono" }, r.request_id), el("td", { title: ctx.keyLabel(r.key_id) }, ctx.keyName(r.key_id)),
    el("td", { class: "wrap" }, r.model_served || r.model_requested), el("td", { class: "wrap" }, r.channel_id || "—"),
    el("td", { class: "num wrap" }, r.error_code ? `${r.status} ${r.error_code}` : r.status),
    el("td", { class: "num" }, count(r.prompt_tokens)), el("td", { class: "num" }, count(r.completion_tokens)),
    el("td", { class: "num" }, usd(r.cost_micros)), el("td", { class: "num" }, ms(r.latency_ms)), el("td", { class: "num" }, ms(r.ttft_ms)),
  );
}

export async function loadRequests(ctx) {
  const found = await api("/v1/requests", { params: logParams(ctx) });
  fillTable($("requests-table"), found.data.map((r) => requestRow(ctx, r)), "No requests match.");
  $("request-detail").hidden = true;
}

const DETAIL_FIELDS = [
  ["request_id", "Request"], ["occurred_at", "Time (UTC)"], ["account_id", "Account"], ["key_id", "Key"], ["endpoint", "Endpoint"],
  ["model_requested", "Model requested"], ["model_served", "Model served"], ["provider", "Provider"], ["channel_id", "Channel"],
  ["stream", "Stream"], ["status", "Status"], ["error_code", "Error"], ["attempts", "Attempts"], ["prompt_tokens", "Prompt tokens"],
  ["cached_tokens", "Cached tokens"], ["completion_tokens", "Completion tokens"], ["reasoning_tokens", "Reasoning tokens"],
  ["cost_micros", "Cost"], ["price_version", "Price version"], ["latency_ms", "Latency"], ["ttft_ms", "Time to first token"],
  ["upstream_latency_ms", "Upstream latency"], ["gateway_overhead_ms", "Gateway overhead"], ["client_app", "Client app"], ["zdr", "ZDR"],
  ["units", "Other units"],
];

async function showRequest(ctx, requestId) {
  const box = $("request-detail");
  try {
    const r = await api(`/v1/requests/${encodeURIComponent(requestId)}`, { params: { account_id: ctx.account() } });
    const shown = (name) => {
      const v = r[name];
      if (name === "cost_micros") return usd(v);
      if (name === "units") return usedText(v);
      if (name === "occurred_at") return utc(v);
      if (name.endsWith("_ms")) return ms(v);
      if (name.endsWith("_tokens")) return count(v);
      return v === "" || v === undefined || v === null ? "—" : String(v);
    };
    box.replaceChildren(
      el("div", { class: "card-head" }, el("h3", {}, `Request ${r.request_id}`), el("button", { type: "button", class: "secondary", onclick: () => { box.hidden = true; } }, "Close")),
      el("dl", {}, DETAIL_FIELDS.filter(([name]) => name in r).map(([name, label]) => [el("dt", {}, label), el("dd", { dataset: { field: name } }, shown(name))])),
    );
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
  } catch (err) {
    ctx.fail("request", err);
  }
}

// Charts with Plotly (plotly.min.js from the plotly package, served by metering itself).

const PALETTE = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#db2777", "#65a30d", "#475569", "#ea580c"];

const LAYOUT = {
  margin: { l: 56, r: 16, t: 8, b: 40 },
  height: 280,
  barmode: "stack",
  paper_bgcolor: "rgba(0,0,0,0)",
  plot_bgcolor: "rgba(0,0,0,0)",
  font: { family: "system-ui, sans-serif", size: 12, color: "#334155" },
  legend: { orientation: "h", y: -0.18 },
  xaxis: { type: "date", gridcolor: "#e2e8f0", title: { text: "" } },
  yaxis: { gridcolor: "#e2e8f0", rangemode: "tozero" },
  colorway: PALETTE,
};
const CONFIG = { displayModeBar: false, responsive: true }; // drag to zoom, double-click to reset

const BUCKET_MS = { hour: 3600e3, day: 86400e3, month: 30 * 86400e3 };

// Plotly takes "YYYY-MM-DD HH:MM:SS.sss" (no zone) and shows it as is: every time here is UTC.
const plotTime = (value) => new Date(value).toISOString().replace("T", " ").replace("Z", "");
// A bucket's bar sits in the middle of the bucket.
const middle = (iso, bucket) => plotTime(new Date(iso).getTime() + BUCKET_MS[bucket] / 2);

// The x axis spans the whole chosen range, to the end of its last bucket, however few buckets have data.
function timeAxis(range) {
  const size = BUCKET_MS[range.bucket];
  const end = Math.ceil(new Date(range.end).getTime() / size) * size;
  return { range: [plotTime(range.start), plotTime(end)] };
}

function render(node, traces, layout = {}) {
  if (!window.Plotly) {
    node.textContent = "The charting library did not load.";
    return;
  }
  window.Plotly.purge(node);
  node.replaceChildren();
  if (!traces.length) {
    node.append(Object.assign(document.createElement("p"), { className: "note empty", textContent: "No usage in this range." }));
    return;
  }
  window.Plotly.newPlot(node, traces, { ...LAYOUT, ...layout, xaxis: { ...LAYOUT.xaxis, ...(layout.xaxis || {}) }, yaxis: { ...LAYOUT.yaxis, ...(layout.yaxis || {}) } }, CONFIG);
}

// Stacked bars of `value(row)` per bucket, one trace per model.
export function byModel(node, rows, value, range, { yTitle = "", money = false } = {}) {
  const models = [...new Set(rows.map((r) => r.model || "(none)"))].sort();
  const traces = models.map((model) => {
    const mine = rows.filter((r) => (r.model || "(none)") === model);
    return {
      type: "bar",
      name: model,
      x: mine.map((r) => middle(r.bucket, range.bucket)),
      y: mine.map((r) => (money ? value(r) / 1e6 : value(r))),
      width: mine.map(() => BUCKET_MS[range.bucket] * 0.8),
      hovertemplate: money ? "%{x}<br>%{fullData.name}: $%{y:.6f}<extra></extra>" : "%{x}<br>%{fullData.name}: %{y:,}<extra></extra>",
    };
  });
  render(node, traces, { xaxis: timeAxis(range), yaxis: { title: { text: yTitle }, tickprefix: money ? "$" : "", tickformat: money ? ",.6~f" : ",~r" } });
}

// p50/p95/p99 of latency (solid) and time to first token (dotted) per bucket.
export function latency(node, rows, range) {
  const x = rows.map((r) => middle(r.bucket, range.bucket));
  const line = (metric, q, color, dash) => ({
    type: "scatter",
    mode: "lines+markers",
    name: `${metric === "latency_ms" ? "latency" : "TTFT"} p${q}`,
    x,
    y: rows.map((r) => r[`${metric}_p${q}`]),
    line: { color, dash, width: 2 },
    hovertemplate: "%{x}<br>%{fullData.name}: %{y:,.0f} ms<extra></extra>",
  });
  const traces = rows.length
    ? [
        line("latency_ms", 50, "#2563eb", "solid"), line("latency_ms", 95, "#d97706", "solid"), line("latency_ms", 99, "#dc2626", "solid"),
        line("ttft_ms", 50, "#2563eb", "dot"), line("ttft_ms", 95, "#d97706", "dot"), line("ttft_ms", 99, "#dc2626", "dot"),
      ]
    : [];
  render(node, traces, { xaxis: timeAxis(range), yaxis: { title: { text: "ms" } } });
}

export function resize() {
  if (!window.Plotly) return;
  for (const node of document.querySelectorAll(".chart.js-plotly-plot")) window.Plotly.Plots.resize(node);
}

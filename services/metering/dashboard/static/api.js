// The metering JSON API, the signed-in credential, and how numbers are shown.

import { csrfToken } from "./session.js";

const CREDENTIAL = "tollgate.credential";

export const credential = {
  get: () => sessionStorage.getItem(CREDENTIAL) || "",
  set: (value) => sessionStorage.setItem(CREDENTIAL, value),
  clear: () => sessionStorage.removeItem(CREDENTIAL),
};

export class ApiError extends Error {
  constructor(status, body) {
    const error = (body && body.error) || {};
    super(error.message || `HTTP ${status}`);
    this.status = status;
    this.code = error.code || null;
  }
}

// The headers that present the signed-in credential (one place: every console request uses them).
// A key or admin token goes as a bearer; a console session (cookie) sends its CSRF token on every unsafe request.
export function authHeaders(token, method = "GET") {
  const bearer = token || credential.get();
  if (bearer) return { Authorization: `Bearer ${bearer}` };
  return method !== "GET" && csrfToken() ? { "x-csrf-token": csrfToken() } : {};
}

// GET (or POST with `body`) a JSON endpoint with the credential; `params` skips empty values.
export async function api(path, { params = {}, method = "GET", body, token } = {}) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") query.set(name, String(value));
  }
  const url = query.toString() ? `${path}?${query}` : path;
  const headers = { ...authHeaders(token, method), Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(url, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

// -- formatting (money arrives as integer micro-USD) ---------------------------------

const integer = new Intl.NumberFormat("en-US", { maximumFractionDigits: 0 });

export function usd(micros) {
  const value = Number(micros || 0);
  const sign = value < 0 ? "-" : "";
  return `${sign}$${(Math.abs(value) / 1e6).toFixed(6)}`;
}

export const count = (n) => integer.format(Number(n || 0));
export const ms = (n) => (n ? `${integer.format(Math.round(Number(n)))} ms` : "—");
export const percent = (x) => `${(Number(x || 0) * 100).toFixed(1)}%`;

// "2026-11-23T14:05:01.123Z" or integer ms -> "2026-11-23 14:05:01" (UTC).
export function utc(value) {
  if (value === undefined || value === null || value === "" || value === 0) return "—";
  const date = typeof value === "number" ? new Date(value) : new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toISOString().replace("T", " ").slice(0, 19);
}

// -- DOM helpers (text always goes in as text, never as HTML) -------------------------

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

// Replace a table body's rows; `empty` is shown in one full-width row when there are none.
export function fillTable(table, rows, empty = "Nothing yet.") {
  const body = table.tBodies[0];
  const columns = table.tHead.rows[0].cells.length;
  body.replaceChildren(...(rows.length ? rows : [el("tr", { class: "empty" }, el("td", { colspan: columns }, empty))]));
}

export const $ = (id) => document.getElementById(id);

// The console session (cookie) as the page sees it: the CSRF cookie's value, and signing out.
// The session token itself is an HttpOnly cookie this script never reads.

export function csrfToken() {
  const match = document.cookie.split("; ").find((part) => part.startsWith("tollgate_csrf="));
  return match ? decodeURIComponent(match.slice("tollgate_csrf=".length)) : "";
}

export const hasSession = () => Boolean(csrfToken());

// JSON to/from the console API with the session cookie and, on unsafe methods, the CSRF header.
export async function call(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken()) headers["x-csrf-token"] = csrfToken();
  const response = await fetch(path, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: "no-store", credentials: "same-origin",
  });
  const data = await response.json().catch(() => null);
  if (!response.ok) {
    const error = new Error((data && data.error && data.error.message) || `HTTP ${response.status}`);
    error.status = response.status;
    error.code = data && data.error ? data.error.code : null;
    throw error;
  }
  return data;
}

export async function signOutSession() {
  await call("/console/api/identity/logout", { method: "POST" }).catch(() => null);
}

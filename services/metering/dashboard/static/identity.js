// The console's visitor pages: register, verify, log in, reset and invitation (one page, by path).

import { call, hasSession } from "./session.js";

const $ = (id) => document.getElementById(id);
const API = "/console/api/identity";
const params = new URLSearchParams(window.location.search);
const token = params.get("token") || "";

function show(page) {
  for (const node of document.querySelectorAll("[data-page]")) node.hidden = node.dataset.page !== page;
}

function message(text, link) {
  $("message").replaceChildren(text);
  if (link) {
    const a = document.createElement("a");
    a.href = link.href;
    a.textContent = link.text;
    a.id = link.id || "";
    $("message").append(" ", a);
  }
  $("message-card").hidden = false;
  document.body.dataset.state = "done";
}

function fail(err) {
  $("error").textContent = err.message;
  document.body.dataset.state = "error";
}

function submit(form, handler) {
  $(form).addEventListener("submit", async (event) => {
    event.preventDefault();
    $("error").textContent = "";
    const button = event.target.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await handler();
    } catch (err) {
      fail(err);
    } finally {
      button.disabled = false;
    }
  });
}

const usd = (micros) => `$${(Number(micros || 0) / 1e6).toFixed(2)}`;

async function verify() {
  show("verify");
  try {
    const reply = await call(`${API}/verify`, { method: "POST", body: { token } });
    $("verify-card").hidden = true;
    const quota = reply.free_quota_micros ? ` Your free quota of ${usd(reply.free_quota_micros)} is on your account.` : "";
    message(`Email address ${reply.email} confirmed.${quota}`, { href: "/console/login", text: "Log in", id: "to-login" });
  } catch (err) {
    $("verify-card").hidden = true;
    fail(err);
  }
}

async function invitation() {
  show("invite");
  let info;
  try {
    info = await call(`${API}/invitation?token=${encodeURIComponent(token)}`);
  } catch (err) {
    $("invite-form").hidden = true;
    fail(err);
    return;
  }
  $("invite-title").textContent = `Join ${info.org_name}`;
  const signedIn = hasSession();
  const how = signedIn ? "Accept it as the user signed in here."
    : info.user_exists ? "Enter your password to accept it." : "Choose your name and a password to create your user.";
  $("invite-text").textContent = `${info.email} is invited as ${info.role}. ${how}`;
  $("invite-password").hidden = signedIn;
  $("invite-password").required = !signedIn;
  $("invite-password").placeholder = info.user_exists ? "Your password" : "Password (10 characters or more)";
  $("invite-name").hidden = signedIn || info.user_exists;
  document.body.dataset.state = "ready";
  submit("invite-form", async () => {
    await call(`${API}/invitation/accept`, {
      method: "POST", body: { token, password: $("invite-password").value, name: $("invite-name").value },
    });
    window.location.assign("/console/members");
  });
}

function main() {
  const page = window.location.pathname.split("/").pop();
  if (params.get("sso_error")) $("error").textContent = params.get("sso_error");
  submit("register-form", async () => {
    const email = $("register-email").value.trim();
    await call(`${API}/register`, {
      method: "POST",
      body: { email, password: $("register-password").value, name: $("register-name").value, org_name: $("register-org").value },
    });
    $("register-form").hidden = true;
    message(`Almost done: we sent a confirmation link to ${email}. Open it to activate your account.`);
  });
  submit("login-form", async () => {
    try {
      await call(`${API}/login`, { method: "POST", body: { email: $("login-email").value.trim(), password: $("login-password").value } });
    } catch (err) {
      $("resend-button").hidden = err.code !== "email_not_verified";
      throw err;
    }
    window.location.assign(params.get("next") === "members" ? "/console/members" : "/dashboard");
  });
  $("resend-button").addEventListener("click", async () => {
    const email = $("login-email").value.trim();
    try {
      await call(`${API}/verify/resend`, { method: "POST", body: { email } });
      $("resend-button").hidden = true;
      $("error").textContent = "";
      message(`A new confirmation link is on its way to ${email}.`);
    } catch (err) {
      fail(err);
    }
  });
  $("sso-button").addEventListener("click", () => {
    window.location.assign(`${API}/oidc/start?org_id=${encodeURIComponent($("sso-org").value.trim())}`);
  });
  submit("reset-request-form", async () => {
    const email = $("reset-email").value.trim();
    await call(`${API}/password-reset`, { method: "POST", body: { email } });
    $("reset-request-form").hidden = true;
    message(`If ${email} belongs to a user, a link to choose a new password is on its way.`);
  });
  submit("reset-form", async () => {
    await call(`${API}/password-reset/confirm`, { method: "POST", body: { token, password: $("reset-password").value } });
    $("reset-form").hidden = true;
    message("Your password is changed, and every session of your user has ended.", { href: "/console/login", text: "Log in" });
  });
  if (page === "verify") verify();
  else if (page === "invite") invitation();
  else {
    show(page === "reset" && token ? "reset-token" : page);
    document.body.dataset.state = "ready";
  }
}

main();

// The account page of the example app. The tokens travel in HttpOnly
// cookies that this script cannot read; it reads only the csrf_token cookie
// and echoes it in X-CSRF-Token on requests that change something.
"use strict";

const API = "/admin";
const $ = (id) => document.getElementById(id);

const MESSAGES = {
  bad_credentials: "Wrong username or password.",
  too_many_attempts: "Too many attempts. Wait a moment and try again.",
  current_password_mismatch: "Your current password is not right.",
  passwords_do_not_match: "The new passwords do not match.",
  password_too_short: "The new password is too short.",
  password_too_long: "The new password is too long.",
  same_password: "The new password must differ from the current one.",
  csrf_failed: "Your session could not be verified. Please sign in again.",
  bad_code: "That code is not right. Try the current one.",
  fresh_login_required: "Sign in again to change your two-step settings.",
  unauthorized: "Your sign-in expired. Please start again.",
  service_unavailable: "The service is unavailable. Try again shortly.",
  fresh_login_required: "For your security, sign in again before creating a token.",
};
const say = (code) => MESSAGES[code] || "Something went wrong (" + (code || "network error") + ").";

function csrfToken() {
  const found = document.cookie.split("; ").find((part) => part.startsWith("csrf_token="));
  return found ? decodeURIComponent(found.slice("csrf_token=".length)) : "";
}

// One JSON request; unsafe methods carry the CSRF header. A 401 on a
// guarded call tries one refresh (from the refresh cookie) and retries.
async function call(method, path, body, retry = true) {
  const headers = { "Content-Type": "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  let response;
  try {
    response = await fetch(API + path, {
      method, headers, credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { status: 0, body: {} };
  }
  const data = await response.json().catch(() => ({}));
  if (response.status === 401 && retry && !path.startsWith("/login") && path !== "/refresh") {
    const refreshed = await call("POST", "/refresh", {}, false);
    if (refreshed.status === 200) return call(method, path, body, false);
  }
  return { status: response.status, body: data };
}

function notify(text, bad = false) {
  const notice = $("notice");
  notice.textContent = text;
  notice.classList.toggle("bad", bad);
  notice.hidden = !text;
}

function showError(id, text) {
  $(id).textContent = text || "";
  $(id).hidden = !text;
}

function showSignedOut(text) {
  for (const id of ["signed-in", "forgot", "reset"]) $(id).hidden = true;
  $("who").hidden = true;
  $("signed-out").hidden = false;
  $("signed-out-text").textContent = text || "Use your administrator account.";
  document.body.dataset.state = "signed-out";
  $("password").value = "";
  $("new-token").hidden = true;
  $("new-token-value").value = "";
  showLoginStep(false);
}

// Between the password and the code: the mfa_token lives in this variable only.
let mfaToken = null;
let mfaMethods = [];

function showLoginStep(code) {
  $("login-form").hidden = code;
  $("mfa-form").hidden = !code;
  document.body.dataset.step = code ? "code" : "password";
  if (code) $("mfa-code").focus();
}

async function showSignedIn() {
  const me = await call("GET", "/me");
  if (me.status !== 200) return showSignedOut();
  $("who-name").textContent = me.body.data.username;
  $("avatar").textContent = me.body.data.username.slice(0, 1);
  $("who").hidden = false;
  $("signed-out").hidden = true;
  $("signed-in").hidden = false;
  document.body.dataset.state = "signed-in";
  await Promise.all([loadSessions(), loadMfa()]);
  await loadTokens();
  await loadActivity();
}

function device(userAgent) {
  if (!userAgent) return { name: "Unknown device", mobile: false };
  const ua = userAgent;
  const browser = /Edg\//.test(ua) ? "Edge" : /Firefox\//.test(ua) ? "Firefox"
    : /Chrome\//.test(ua) ? "Chrome" : /Safari\//.test(ua) ? "Safari"
    : /curl\//.test(ua) ? "curl" : /python/i.test(ua) ? "Python client" : "Browser";
  const os = /Android/.test(ua) ? "Android" : /iPhone|iPad/.test(ua) ? "iOS"
    : /Windows/.test(ua) ? "Windows" : /Mac OS X/.test(ua) ? "macOS" : /Linux/.test(ua) ? "Linux" : "";
  const mobile = /Android|iPhone|iPad|Mobile/.test(ua);
  return { name: os ? browser + " on " + os : browser, mobile };
}

const SVG = "http://www.w3.org/2000/svg";
const SHAPES = {
  desktop: [["rect", { x: 3, y: 4, width: 18, height: 12, rx: 2 }], ["path", { d: "M8 20h8M12 16v4" }]],
  mobile: [["rect", { x: 7, y: 2, width: 10, height: 20, rx: 2 }], ["path", { d: "M11 18h2" }]],
};

function deviceIcon(mobile) {
  const svg = document.createElementNS(SVG, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  for (const [tag, attributes] of SHAPES[mobile ? "mobile" : "desktop"]) {
    const shape = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attributes)) shape.setAttribute(name, value);
    svg.append(shape);
  }
  return svg;
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  if (seconds < 60) return "just now";
  if (seconds < 3600) return Math.floor(seconds / 60) + " min ago";
  if (seconds < 86400) return Math.floor(seconds / 3600) + " h ago";
  return new Date(iso).toLocaleDateString();
}

function sessionItem(session) {
  const item = document.createElement("li");
  item.className = "session";
  item.dataset.id = session.id;
  item.dataset.current = String(session.current);
  const what = device(session.user_agent);

  const icon = document.createElement("span");
  icon.className = "device-icon";
  icon.append(deviceIcon(what.mobile));

  const main = document.createElement("div");
  main.className = "session-main";
  const name = document.createElement("div");
  name.className = "device";
  name.textContent = what.name;
  if (session.current) {
    const badge = document.createElement("span");
    badge.className = "badge";
    badge.textContent = "This device";
    name.append(badge);
  }
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [session.ip || "unknown IP", "last active " + ago(session.last_used_at),
    "signed in " + ago(session.created_at)].join(" · ");
  meta.title = session.user_agent || "";
  main.append(name, meta);

  const button = document.createElement("button");
  button.type = "button";
  button.className = "sign-out-session";
  button.textContent = "Sign out";
  button.addEventListener("click", () => revoke(session, button));
  item.append(icon, main, button);
  return item;
}

async function loadSessions() {
  const answer = await call("GET", "/sessions");
  if (answer.status !== 200) return showSignedOut();
  const sessions = answer.body.data.slice().sort((a, b) => Number(b.current) - Number(a.current));
  $("sessions").replaceChildren(...sessions.map(sessionItem));
}

const ENDED = {
  logout_all: "Signed out everywhere",
  revoked: "A session was signed out",
  password_changed: "Other sessions signed out after a password change",
  password_reset: "Signed out: an administrator reset your password",
  deactivated: "Signed out: the account was disabled",
  refresh_reuse: "A session was ended: its refresh token was used twice",
  idle: "A session ended after a time without use",
  session_limit: "An old session was signed out (too many sessions)",
};

function describe(event) {
  const from = device(event.user_agent).name;
  switch (event.kind) {
    case "user_logged_in": return "New sign-in from " + from;
    case "login_failed":
      return event.reason === "locked_out" ? "Sign-in blocked after too many attempts" : "Failed sign-in from " + from;
    case "user_logged_out": return "Signed out on " + from;
    case "sessions_ended": return ENDED[event.reason] || "Sessions ended (" + event.reason + ")";
    case "password_changed": return "Password changed";
    default: return event.kind.replace(/_/g, " ").replace(/^./, (c) => c.toUpperCase());
  }
}

function activityItem(event) {
  const item = document.createElement("li");
  item.className = "session";
  item.dataset.kind = event.kind;
  const icon = document.createElement("span");
  icon.className = "device-icon";
  icon.append(deviceIcon(device(event.user_agent).mobile));
  const main = document.createElement("div");
  main.className = "session-main";
  const what = document.createElement("div");
  what.className = "device";
  what.textContent = describe(event);
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [event.ip || "unknown IP", ago(event.time)].join(" · ");
  meta.title = event.user_agent || "";
  main.append(what, meta);
  item.append(icon, main);
  return item;
}

async function loadActivity() {
  const answer = await call("GET", "/events?limit=10");
  if (answer.status !== 200) return;
  $("activity").replaceChildren(...answer.body.data.map(activityItem));
}

async function revoke(session, button) {
  button.disabled = true;
  const answer = await call("DELETE", "/sessions/" + encodeURIComponent(session.id));
  if (answer.status !== 200 && answer.status !== 404) {
    button.disabled = false;
    return notify(say(answer.body.message), true);
  }
  if (session.current) return showSignedOut("You signed out of this device.");
  notify("That session was signed out.");
  await loadSessions();
  await loadActivity();
}

function tokenItem(token) {
  const item = document.createElement("li");
  item.className = "session token";
  item.dataset.id = token.id;
  const main = document.createElement("div");
  main.className = "session-main";
  const name = document.createElement("div");
  name.className = "device";
  name.textContent = token.name;
  const meta = document.createElement("div");
  meta.className = "meta";
  meta.textContent = [token.scopes.join(" "), "last used " + ago(token.last_used_at),
    "expires " + new Date(token.expires_at).toLocaleDateString()].join(" · ");
  main.append(name, meta);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "revoke-token";
  button.textContent = "Revoke";
  button.addEventListener("click", () => revokeToken(token, button));
  item.append(main, button);
  return item;
}

async function loadTokens() {
  const answer = await call("GET", "/tokens");
  if (answer.status !== 200) return;
  $("tokens").replaceChildren(...answer.body.data.map(tokenItem));
  $("no-tokens").hidden = answer.body.data.length > 0;
}

async function revokeToken(token, button) {
  button.disabled = true;
  const answer = await call("DELETE", "/tokens/" + encodeURIComponent(token.id));
  if (answer.status !== 200 && answer.status !== 404) {
    button.disabled = false;
    return notify(say(answer.body.message), true);
  }
  notify("The token " + token.name + " was revoked.");
  await loadTokens();
}

async function createToken(event) {
  event.preventDefault();
  showError("token-error", "");
  $("token-button").disabled = true;
  const body = {
    name: $("token-name").value,
    scopes: $("token-scopes").value.split(/[\s,]+/).filter(Boolean),
    expires_in_days: Number($("token-days").value),
  };
  const answer = await call("POST", "/tokens", body);
  $("token-button").disabled = false;
  if (answer.status !== 201) {
    const errors = answer.body.errors ? Object.values(answer.body.errors).join(" ") : "";
    return showError("token-error", errors || say(answer.body.message));
  }
  // Shown once: kept in this input only, never stored anywhere.
  $("new-token-value").value = answer.body.data.token;
  $("new-token").hidden = false;
  $("new-token-value").select();
  $("token-form").reset();
  await loadTokens();
}

async function signIn(event) {
  event.preventDefault();
  showError("login-error", "");
  $("login-button").disabled = true;
  const answer = await call("POST", "/login", { username: $("username").value, password: $("password").value });
  $("login-button").disabled = false;
  if (answer.status !== 200) return showError("login-error", say(answer.body.message));
  notify("");
  $("password").value = "";
  if (answer.body.message === "mfa_required") {
    mfaToken = answer.body.data.mfa_token;
    mfaMethods = answer.body.data.methods;
    $("mfa-code").value = "";
    return showLoginStep(true);
  }
  await signedInWithCookies();
}

async function signedInWithCookies() {
  if (!csrfToken()) {
    // Secure cookies over plain HTTP on a host other than localhost.
    return showError("login-error", "This browser refused the session cookies: use HTTPS or http://localhost.");
  }
  await showSignedIn();
}

async function verifyCode(event) {
  event.preventDefault();
  showError("mfa-error", "");
  const value = $("mfa-code").value.trim();
  const body = /^[0-9]{6}$/.test(value) ? { mfa_token: mfaToken, code: value }
    : { mfa_token: mfaToken, recovery_code: value };
  $("mfa-button").disabled = true;
  const answer = await call("POST", "/login/mfa", body);
  $("mfa-button").disabled = false;
  if (answer.status === 401) {
    mfaToken = null;
    showLoginStep(false);
    return showError("login-error", say("unauthorized"));
  }
  if (answer.status !== 200) return showError("mfa-error", say(answer.body.message));
  mfaToken = null;
  $("mfa-code").value = "";
  await signedInWithCookies();
}

// The two-step card: off, scanning, showing the recovery codes once, on.
function showMfa(step) {
  for (const id of ["mfa-off", "mfa-scan", "mfa-codes", "mfa-on"]) $(id).hidden = id !== "mfa-" + step;
  $("mfa-card").dataset.step = step;
  showError("mfa-card-error", "");
}

async function loadMfa() {
  const answer = await call("GET", "/mfa");
  if (answer.status === 200) showMfa(answer.body.data.methods.includes("totp") ? "on" : "off");
}

async function beginMfa() {
  const answer = await call("POST", "/mfa/totp", {});
  if (answer.status !== 200) return showError("mfa-card-error", say(answer.body.message));
  const svg = new DOMParser().parseFromString(answer.body.data.qr_svg, "image/svg+xml").documentElement;
  $("mfa-qr").replaceChildren(document.importNode(svg, true));
  $("mfa-secret").textContent = answer.body.data.secret;
  $("mfa-confirm-code").value = "";
  showMfa("scan");
}

async function confirmMfa(event) {
  event.preventDefault();
  const answer = await call("POST", "/mfa/totp/confirm", { code: $("mfa-confirm-code").value.trim() });
  if (answer.status !== 200) return showError("mfa-card-error", say(answer.body.message));
  $("mfa-qr").replaceChildren();
  $("mfa-secret").textContent = "";
  $("recovery-codes").replaceChildren(...answer.body.data.recovery_codes.map((code) => {
    const item = document.createElement("li");
    item.textContent = code;
    return item;
  }));
  showMfa("codes");
}

async function codesSaved() {
  $("recovery-codes").replaceChildren();
  showMfa("on");
  notify("Two-step sign-in is on. Your other sessions were signed out.");
  await loadSessions();
}

async function disableMfa(event) {
  event.preventDefault();
  const value = $("mfa-disable-code").value.trim();
  const body = /^[0-9]{6}$/.test(value) ? { code: value } : { recovery_code: value };
  const answer = await call("POST", "/mfa/disable", body);
  if (answer.status !== 200) return showError("mfa-card-error", say(answer.body.message));
  $("mfa-disable-code").value = "";
  showMfa("off");
  notify("Two-step sign-in is off.");
}

async function signOut() {
  await call("POST", "/logout", undefined, false);
  notify("");
  showSignedOut("You are signed out.");
}

async function signOutEverywhere() {
  const answer = await call("POST", "/logout-all");
  if (answer.status !== 200) return notify(say(answer.body.message), true);
  notify("");
  showSignedOut("You are signed out on every device.");
}

const UPDATE_PASSWORD = `mutation ($input: UpdatePasswordInput!) { update_password(input: $input) { ok } }`;

async function changePassword(event) {
  event.preventDefault();
  showError("password-error", "");
  $("password-button").disabled = true;
  const input = {
    current_password: $("current-password").value,
    new_password: $("new-password").value,
    password_confirmed: $("confirm-password").value,
  };
  const answer = await call("POST", "/graphql", { query: UPDATE_PASSWORD, variables: { input } });
  $("password-button").disabled = false;
  const errors = answer.body.errors;
  if (answer.status !== 200 || errors) return showError("password-error", say(errors && errors[0].message));
  $("password-form").reset();
  notify("Your password was changed. Your other sessions were signed out.");
  await loadSessions();
  await loadActivity();
}

document.addEventListener("DOMContentLoaded", () => {
  $("login-form").addEventListener("submit", signIn);
  $("mfa-form").addEventListener("submit", verifyCode);
  $("mfa-begin").addEventListener("click", beginMfa);
  $("mfa-scan").addEventListener("submit", confirmMfa);
  $("codes-saved").addEventListener("click", codesSaved);
  $("mfa-on").addEventListener("submit", disableMfa);
  $("password-form").addEventListener("submit", changePassword);
  $("token-form").addEventListener("submit", createToken);
  $("sign-out").addEventListener("click", signOut);
  $("sign-out-everywhere").addEventListener("click", signOutEverywhere);
  // A mailed link (recovery.js) opens its own form instead.
  // The csrf_token cookie lives as long as the session: without it there is
  // no session to show, and no request to make (nor a 401 in the console).
  if (typeof openMailedLink === "function" && openMailedLink()) return;
  if (csrfToken()) showSignedIn();
  else showSignedOut();
});

// Passkeys on the account page: "Sign in with a passkey" (no username),
// "Add a passkey" and the list with remove buttons. Uses call(), $, say(),
// notify() and showSignedIn() of page.js; the browser's WebAuthn JSON
// helpers turn the server's options into credentials and back.
"use strict";

Object.assign(MESSAGES, {
  fresh_login_required: "Sign in again (within 5 minutes) to change your passkeys.",
  not_found: "Passkeys are not enabled on this server.",
});

function passkeysSupported() {
  return Boolean(window.PublicKeyCredential && PublicKeyCredential.parseRequestOptionsFromJSON);
}

async function passkeySignIn() {
  showError("login-error", "");
  const begin = await call("POST", "/passkeys/login/begin", {}, false);
  if (begin.status !== 200) return showError("login-error", say(begin.body.message));
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(begin.body.data);
    credential = await navigator.credentials.get({ publicKey });
  } catch (error) {
    return showError("login-error", "No passkey was used.");
  }
  const answer = await call("POST", "/passkeys/login/finish", { credential: credential.toJSON() }, false);
  if (answer.status !== 200) return showError("login-error", say(answer.body.message));
  notify("");
  await showSignedIn();
}

// The second step of a password login, with a passkey instead of a code.
async function passkeySecondFactor() {
  showError("mfa-error", "");
  const begin = await call("POST", "/passkeys/login/begin", { mfa_token: mfaToken }, false);
  if (begin.status !== 200) return showError("mfa-error", say(begin.body.message));
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseRequestOptionsFromJSON(begin.body.data);
    credential = await navigator.credentials.get({ publicKey });
  } catch (error) {
    return showError("mfa-error", "No passkey was used.");
  }
  const answer = await call("POST", "/login/mfa", { mfa_token: mfaToken, passkey: credential.toJSON() }, false);
  if (answer.status !== 200) return showError("mfa-error", say(answer.body.message));
  mfaToken = null;
  await signedInWithCookies();
}

async function addPasskey(event) {
  event.preventDefault();
  showError("passkey-error", "");
  const begin = await call("POST", "/passkeys/register/begin", {});
  if (begin.status !== 200) return showError("passkey-error", say(begin.body.message));
  let credential;
  try {
    const publicKey = PublicKeyCredential.parseCreationOptionsFromJSON(begin.body.data);
    credential = await navigator.credentials.create({ publicKey });
  } catch (error) {
    return showError("passkey-error", "No passkey was created.");
  }
  const name = $("passkey-name").value.trim() || "This device";
  const answer = await call("POST", "/passkeys/register/finish", { credential: credential.toJSON(), name });
  if (answer.status !== 201) return showError("passkey-error", say(answer.body.message));
  notify("Passkey added: you can sign in with it without a password.");
  await loadPasskeys();
}

function passkeyItem(passkey) {
  const item = document.createElement("li");
  item.className = "passkey";
  item.dataset.id = passkey.id;
  const main = document.createElement("div");
  main.className = "session-main";
  const title = document.createElement("strong");
  title.textContent = passkey.name;
  const detail = document.createElement("span");
  detail.className = "muted";
  detail.textContent = passkey.last_used_at ? "last used " + ago(passkey.last_used_at) : "never used yet";
  main.append(title, detail);
  const button = document.createElement("button");
  button.type = "button";
  button.className = "remove-passkey";
  button.textContent = "Remove";
  button.addEventListener("click", () => removePasskey(passkey, button));
  item.append(main, button);
  return item;
}

async function loadPasskeys() {
  const answer = await call("GET", "/passkeys");
  if (answer.status !== 200) return;
  $("passkeys").replaceChildren(...answer.body.data.map(passkeyItem));
  $("no-passkeys").hidden = answer.body.data.length > 0;
}

async function removePasskey(passkey, button) {
  button.disabled = true;
  const answer = await call("DELETE", "/passkeys/" + encodeURIComponent(passkey.id));
  if (answer.status !== 200) {
    button.disabled = false;
    return notify(say(answer.body.message), true);
  }
  notify("Passkey removed.");
  await loadPasskeys();
}

document.addEventListener("DOMContentLoaded", () => {
  if (!passkeysSupported()) {
    $("passkey-sign-in").hidden = true;
    $("passkeys-card").hidden = true;
    return;
  }
  $("passkey-sign-in").addEventListener("click", passkeySignIn);
  $("mfa-passkey").addEventListener("click", passkeySecondFactor);
  // Offer the passkey on the second step when the password step says the user has one.
  new MutationObserver(() => {
    $("mfa-passkey").hidden = $("mfa-form").hidden || !mfaMethods.includes("passkey");
  }).observe($("mfa-form"), { attributes: true, attributeFilter: ["hidden"] });
  $("passkey-form").addEventListener("submit", addPasskey);
  // page.js marks the body signed-in once the account is shown.
  new MutationObserver(() => {
    if (document.body.dataset.state === "signed-in") loadPasskeys();
  }).observe(document.body, { attributes: true, attributeFilter: ["data-state"] });
});

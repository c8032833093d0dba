// Account recovery on the example page (loaded after page.js, whose helpers
// it uses): "Forgot password?", the form a reset link opens (#reset=TOKEN),
// the confirmation link of a new address (#confirm-email=TOKEN) and the
// address change of a signed-in user. The token lives in the fragment, so
// it never reaches a server log or a Referer header.
"use strict";

Object.assign(MESSAGES, {
  invalid_token: "This link no longer works: it was used, replaced by a newer one, or expired. Ask for a new one.",
  email_invalid: "That is not an e-mail address.",
  email_taken: "Another account has this address.",
  same_email: "This is already your address.",
  fresh_login_required: "For your security, sign out and in again before changing your address.",
  not_found: "Account recovery is not enabled on this server.",
});

function show(id, state) {
  for (const section of ["signed-out", "signed-in", "forgot", "reset"]) $(section).hidden = section !== id;
  document.body.dataset.state = state;
}

// The token of a link "#NAME=TOKEN", dropped from the address bar at once.
function takeLinkToken(name) {
  const prefix = "#" + name + "=";
  if (!location.hash.startsWith(prefix)) return null;
  const token = decodeURIComponent(location.hash.slice(prefix.length));
  history.replaceState(null, "", location.pathname + location.search);
  return token;
}

let resetToken = null;

// Called by page.js at start-up: true when a mailed link was opened.
function openMailedLink() {
  resetToken = takeLinkToken("reset");
  if (resetToken) {
    show("reset", "reset");
    $("reset-password").focus();
    return true;
  }
  const confirmation = takeLinkToken("confirm-email");
  if (confirmation) {
    confirmEmail(confirmation);
    return true;
  }
  return false;
}

async function askForLink(event) {
  event.preventDefault();
  showError("forgot-error", "");
  $("forgot-button").disabled = true;
  const answer = await call("POST", "/forgot-password", { email: $("forgot-email").value }, false);
  $("forgot-button").disabled = false;
  if (answer.status !== 202) return showError("forgot-error", say(answer.body.message));
  $("forgot-form").reset();
  showSignedOut("Check your inbox: if an account has this address, a link to choose a new password is on its way.");
  document.body.dataset.state = "link-sent";
}

async function resetPassword(event) {
  event.preventDefault();
  showError("reset-error", "");
  $("reset-button").disabled = true;
  const body = {
    token: resetToken,
    new_password: $("reset-password").value,
    password_confirmed: $("reset-confirm").value,
  };
  const answer = await call("POST", "/reset-password", body, false);
  $("reset-button").disabled = false;
  if (answer.status !== 200) return showError("reset-error", say(answer.body.message));
  resetToken = null;
  $("reset-form").reset();
  showSignedOut("Your password was changed and every session signed out. Sign in with the new one.");
  document.body.dataset.state = "password-reset";
}

async function confirmEmail(token) {
  const answer = await call("POST", "/confirm-email", { token }, false);
  await showSignedIn();
  if (answer.status !== 200) return notify(say(answer.body.message), true);
  notify("Your e-mail address is now " + answer.body.data.email + ".");
}

async function changeEmail(event) {
  event.preventDefault();
  showError("email-error", "");
  $("email-button").disabled = true;
  const email = $("new-email").value;
  const answer = await call("POST", "/email", { email });
  $("email-button").disabled = false;
  if (answer.status !== 202) return showError("email-error", say(answer.body.message));
  $("email-form").reset();
  notify("A confirmation link was sent to " + email + ". Your address changes once you open it.");
}

document.addEventListener("DOMContentLoaded", () => {
  $("forgot-link").addEventListener("click", () => {
    showError("forgot-error", "");
    show("forgot", "forgot");
    $("forgot-email").focus();
  });
  $("forgot-back").addEventListener("click", () => showSignedOut());
  $("forgot-form").addEventListener("submit", askForLink);
  $("reset-form").addEventListener("submit", resetPassword);
  $("email-form").addEventListener("submit", changeEmail);
  // A link opened in a tab that already shows the page changes only the fragment.
  window.addEventListener("hashchange", openMailedLink);
});

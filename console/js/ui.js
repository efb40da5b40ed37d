// @ts-check
/** What every view shares: the environment's navigation and how an API failure is shown. */
import * as api from "./api.js";
import { h, notice } from "./dom.js";

/** @param {string} p @param {string} e */
export function envNav(p, e) {
  const base = `#/p/${encodeURIComponent(p)}/e/${encodeURIComponent(e)}`;
  return h("nav", { class: "row", "aria-label": "Environment" },
    h("a", { href: `${base}/flags` }, "Flags"),
    h("a", { href: `${base}/changes` }, "Change requests"),
    h("a", { href: `${base}/rollouts` }, "Rollouts"),
    h("a", { href: `${base}/stale` }, "Stale flags"),
    h("a", { href: `${base}/audit` }, "Audit log"),
    h("a", { href: `${base}/keys` }, "SDK keys"),
    h("a", { href: `${base}/settings` }, "Settings"));
}

/** Show an API failure as what it is: 401 sends back to sign-in, 403 says "not allowed". */
export function showError(/** @type {any} */ err) {
  if (err instanceof api.SignedOut) return; // the sign-in view is already showing
  if (err instanceof api.ApiError) {
    if (err.status === 401) {
      api.signOut();
      // The sign-in view says why (the hash change clears the notice area first).
      location.hash = "#/signin?rejected";
      notice("Your token was rejected (401): sign in again.", true);
      return;
    }
    const what = err.status === 403 ? "Not allowed (403)" : `Error ${err.status}`;
    const details = err.details.map((d) => `${d.path}: ${d.message}`).join("; ");
    notice(`${what}: ${err.message}${details ? ` — ${details}` : ""}`, true);
    return;
  }
  notice(`Request failed: ${err && err.message ? err.message : err}`, true);
}


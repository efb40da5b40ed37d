// @ts-check
/** Stale flags of an environment (docs/insights.md): every configured flag with a reason to
 * remove it — not evaluated, one variation to everyone, past its expiry date, no code
 * references — over the last N days, as the API's ``insights/stale`` answers. */
import * as api from "./api.js";
import { h, render } from "./dom.js";
import { envNav, showError } from "./ui.js";

/** The API's reason codes in words (the API owns the rules; these only name them). */
export const STALE_REASONS = /** @type {Record<string, string>} */ ({
  not_evaluated: "not evaluated",
  single_variation: "one variation to everyone",
  expired: "past its expiry date",
  no_code_references: "no code references",
});

/** @param {HTMLElement} main @param {string} p @param {string} e @param {number} [days] */
export async function stalePage(main, p, e, days = 30) {
  const res = await api.get(`${api.envPath(p, e)}/insights/stale?days=${encodeURIComponent(days)}`);
  const input = h("input", { id: "stale-days", type: "number", min: 1, max: 90, value: String(res.days) });
  const refs = res.code_references === null
    ? "No code references uploaded for this project yet (vexil refs --upload), so none is judged."
    : `Code references: ${res.code_references.flags} flags are named in the uploaded code.`;
  const base = `#/p/${encodeURIComponent(p)}/e/${encodeURIComponent(e)}/flags/`;
  render(main, h("h1", null, `Stale flags in ${e}`), envNav(p, e),
    h("form", { class: "row", onsubmit: (/** @type {Event} */ ev) => {
      ev.preventDefault();
      stalePage(main, p, e, Number(/** @type {HTMLInputElement} */ (input).value)).catch(showError);
    } }, h("label", { for: "stale-days" }, "Over the last (days, 1–90)"), input,
    h("button", { type: "submit", id: "stale-run" }, "Show")),
    h("p", { id: "stale-summary" }, `${res.items.length} of ${res.flags_total} flags look removable `,
      `(evaluations since ${res.since}). `, h("span", { class: "muted" }, refs)),
    h("table", { id: "stale" }, h("thead", null, h("tr", null,
      ["Flag", "Why", "Evaluations", "Served (by variation)", "Last evaluated", "Expires", "Configuration changed"]
        .map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, res.items.map((/** @type {any} */ f) => h("tr", { "data-flag": f.key, "data-reasons": f.reasons.join(" ") },
      h("td", null, h("a", { href: base + encodeURIComponent(f.key) }, f.key)),
      h("td", null, f.reasons.map((/** @type {string} */ r) => STALE_REASONS[r] || r).join("; ")),
      h("td", null, f.evaluations.toLocaleString("en-US")),
      h("td", null, variationsText(f.variations) || "—"), h("td", null, f.last_evaluated || "—"),
      h("td", null, f.expires || "—"), h("td", null, f.configuration_updated_at || "—"))))),
    res.items.length ? null : h("p", null, "No stale flag: every flag was evaluated with more than one variation, is not expired and is referenced."));
}

/** ``on 1,204 · off 3`` @param {Record<string, number>} variations */
function variationsText(variations) {
  return Object.entries(variations || {}).map(([v, n]) => `${v} ${n.toLocaleString("en-US")}`).join(" · ");
}

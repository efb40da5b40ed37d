// @ts-check
/** The dry-run impact panel: a sample (generated or uploaded), the API's impact operation,
 * and its answer as per-variation counts and a table of contexts that change. */
import * as api from "./api.js";
import { decidedBy } from "./describe.js";
import { h, render } from "./dom.js";

const DEFAULT_ATTRIBUTES = JSON.stringify(
  { country: { values: ["DE", "FR", "US", "GB", "NL"], weights: [3, 2, 4, 2, 1] } });

/** Parse an uploaded sample: a JSON array of contexts, or CSV whose header names attributes
 * (``targetingKey`` among them). Throws on anything else. @param {string} name
 * @param {string} text @returns {object[]} */
export function parseSample(name, text) {
  if (name.endsWith(".json") || text.trimStart().startsWith("[")) {
    const value = JSON.parse(text);
    if (!Array.isArray(value)) throw new Error("a JSON sample is an array of contexts");
    return value;
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim());
  const header = (lines.shift() || "").split(",").map((c) => c.trim());
  return lines.map((line) => {
    const cells = line.split(",");
    /** @type {Record<string, string>} */
    const context = {};
    header.forEach((col, i) => { if (cells[i] !== undefined && cells[i] !== "") context[col] = cells[i].trim(); });
    return context;
  });
}

/**
 * A sample form and a result area. ``proposal()`` gives the flag key and the config to try
 * (or throws to say it cannot be built); ``onResult(ok, err, warnings)`` learns whether it
 * compiled, the error (its details name fields) or the linter's warnings.
 * @param {string} project @param {string} env
 * @param {() => {flag: string, config: any, rules: any[]}} proposal
 * @param {(ok: boolean, err?: any, warnings?: {path: string, message: string}[]) => void} [onResult]
 */
export function impactPanel(project, env, proposal, onResult = () => {}) {
  const size = h("input", { id: "impact-n", type: "number", min: 1, max: 10000, value: 1000 });
  const attrs = h("textarea", { id: "impact-attributes", rows: 4, value: DEFAULT_ATTRIBUTES,
    "aria-describedby": "impact-attr-help" });
  const upload = h("input", { id: "impact-upload", type: "file", accept: ".json,.csv,application/json,text/csv" });
  const out = h("div", { id: "impact-result", "aria-live": "polite" });
  /** @type {object[] | null} */
  let uploaded = null;
  upload.addEventListener("change", async () => {
    const file = /** @type {HTMLInputElement} */ (upload).files?.[0];
    if (!file) { uploaded = null; return; }
    try {
      uploaded = parseSample(file.name, await file.text());
      render(out, h("p", null, `${uploaded.length} contexts loaded from ${file.name}.`));
    } catch (err) {
      uploaded = null;
      render(out, h("p", { class: "err" }, `Could not read ${file.name}: ${/** @type {any} */ (err).message}`));
    }
  });
  const run = async () => {
    let sample;
    try {
      sample = uploaded ? { contexts: uploaded } : {
        generate: Number(/** @type {HTMLInputElement} */ (size).value), seed: 1,
        attributes: JSON.parse(/** @type {HTMLTextAreaElement} */ (attrs).value || "{}"),
      };
    } catch (err) {
      render(out, h("p", { class: "err" }, "The attribute distributions are not valid JSON."));
      onResult(false);
      return;
    }
    let p;
    try { p = proposal(); } catch (err) {
      render(out, h("p", { class: "err" }, /** @type {any} */ (err).message));
      onResult(false);
      return;
    }
    render(out, h("p", null, "Evaluating…"));
    try {
      const res = await api.call("POST", `${api.envPath(project, env)}/impact`,
        { body: { flag: p.flag, config: p.config, sample, max_changed: 20 } });
      render(out, resultView(res.body, p.rules));
      onResult(true, undefined, res.body.warnings);
    } catch (err) {
      const e = /** @type {any} */ (err);
      render(out, h("div", { class: "err" }, h("p", null, `Not accepted (${e.status || "?"}): ${e.message}`),
        h("ul", { class: "problems" }, (e.details || []).map(
          (/** @type {any} */ d) => h("li", null, h("code", null, d.path), ` ${d.message}`)))));
      onResult(false, err);
    }
  };
  const panel = h("section", { class: "panel", "aria-labelledby": "impact-h" },
    h("h2", { id: "impact-h" }, "Dry-run impact"),
    h("div", { class: "row" },
      h("label", { for: "impact-n" }, "Synthetic contexts"), size,
      h("label", { for: "impact-upload" }, "or upload contexts (JSON/CSV)"), upload),
    h("label", { for: "impact-attributes" }, "Attribute distributions (JSON)"), attrs,
    h("p", { id: "impact-attr-help", class: "muted" },
      '{"attr": {"values": [...], "weights": [...]}} · {"attr": {"min": 0, "max": 99}} · {"attr": {"value": x}}'),
    h("button", { id: "impact-run", type: "button", onclick: run }, "Check and preview impact"),
    out);
  return { panel, run };
}

/** A bar as wide as ``share`` (CSSOM, not a style attribute: the CSP forbids inline styles).
 * @param {number} share */
function bar(share) {
  const el = h("span", { class: "bar", "aria-hidden": "true" });
  el.style.width = `${Math.round(share * 200)}px`;
  return el;
}

/** @param {any} r @param {any[]} rules */
function resultView(r, rules) {
  const names = [...new Set([...Object.keys(r.before), ...Object.keys(r.after)])].sort();
  const total = r.sample_size || 1;
  const row = (/** @type {string} */ n) => {
    const b = r.before[n] || 0, a = r.after[n] || 0;
    return h("tr", { "data-variation": n }, h("th", { scope: "row" }, n),
      h("td", { class: "before" }, String(b)), h("td", { class: "after" }, String(a)),
      h("td", null, `${a - b >= 0 ? "+" : ""}${a - b}`),
      h("td", null, bar(a / total), ` ${((a / total) * 100).toFixed(1)} %`));
  };
  return h("div", null,
    h("p", { id: "impact-summary" },
      `${r.changed_count} of ${r.sample_size} contexts change variation (flag version ${r.base_version} → proposal).`),
    r.warnings.length ? h("ul", { class: "warn", id: "impact-warnings" }, r.warnings.map(
      (/** @type {any} */ w) => h("li", null, h("code", null, w.path), ` ${w.message}`))) : null,
    h("table", { id: "impact-counts" }, h("caption", null, "Contexts served each variation"),
      h("thead", null, h("tr", null, ["Variation", "Before", "After", "Change", "After share"].map(
        (t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, names.map(row))),
    r.changed.length ? h("table", { id: "impact-changed" },
      h("caption", null, `Contexts that change${r.changed_truncated ? ` (first ${r.changed.length})` : ""}`),
      h("thead", null, h("tr", null, ["Context", "Before", "After", "Decided by"].map(
        (t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, r.changed.map((/** @type {any} */ c) => h("tr", null,
        h("td", null, h("code", null, JSON.stringify(c.context))),
        h("td", null, c.before.variant ?? "—"), h("td", null, c.after.variant ?? "—"),
        h("td", null, decidedBy(c.after, rules)))))) : null);
}

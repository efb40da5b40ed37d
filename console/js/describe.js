// @ts-check
/** Flag configuration in words: clauses as sentences, rollouts as percentages. Pure
 * functions (no DOM), so they are easy to read and to test. */

/** Weights are in 0.001 % units: 100000 is 100 %. */
export const WEIGHT_TOTAL = 100000;

/** The operators the flag format defines (docs/flag-format.md), as phrases. */
export const OPERATORS = /** @type {Record<string, string>} */ ({
  in: "is one of", starts_with: "starts with", ends_with: "ends with", contains: "contains",
  matches: "matches the pattern", lt: "is less than", lte: "is at most", gt: "is greater than",
  gte: "is at least", before: "is before", after: "is after", semver_eq: "is version",
  semver_lt: "is a version below", semver_gt: "is a version above", exists: "is present",
  segment_match: "is in segment",
});

/** @param {number} weight @returns {string} e.g. ``12.345 %`` */
export function percent(weight) {
  return `${(weight / 1000).toFixed(3).replace(/\.?0+$/, "")} %`;
}

/** A percentage typed by a person (``12.5``) as a weight (``12500``), or NaN.
 * @param {string} text */
export function weightOf(text) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 100) return NaN;
  return Math.round(value * 1000);
}

/** ``user's country is one of DE, FR``; groups as ``(… or …)``, ``(… and …)``, ``not (…)``
 * @param {any} clause @returns {string} */
export function clauseSentence(clause) {
  if (!clause || typeof clause !== "object") return "?";
  if (Array.isArray(clause.any)) return `(${clause.any.map(clauseSentence).join(" or ") || "nothing"})`;
  if (Array.isArray(clause.all)) return `(${clause.all.map(clauseSentence).join(" and ") || "anyone"})`;
  if ("not" in clause) return `not (${clauseSentence(clause.not)})`;
  const kind = clause.context_kind && clause.context_kind !== "user" ? `${clause.context_kind}'s ` : "";
  const op = clause.op || "?";
  if (op === "segment_match") {
    return `${clause.negate ? "not " : ""}in segment ${(clause.values || []).join(" or ")}`;
  }
  const phrase = OPERATORS[op] || op;
  const values = op === "exists" ? "" : ` ${(clause.values || []).map(String).join(", ")}`;
  const not = clause.negate ? "not: " : "";
  const subject = clause.now ? "now" : `${kind}${clause.attribute}`;
  const anyCase = clause.case_insensitive ? " (any case)" : "";
  const absent = clause.when_absent ? " (or absent)" : "";
  return `${not}${subject} ${phrase}${values}${anyCase}${absent}`;
}

/** ``serve on`` or ``serve on 10 %, off 90 %`` @param {any} serve @returns {string} */
export function serveText(serve) {
  if (!serve) return "nothing";
  if (serve.variation !== undefined) return `serve ${serve.variation}`;
  const rollout = serve.rollout || {};
  const parts = (rollout.variations || []).map(
    (/** @type {any} */ v) => `${v.variation} ${percent(v.weight)}`);
  return `split ${parts.join(", ")} by ${rollout.bucket_by || "key"}`;
}

/** The rule a decision names, in words. @param {any} decision @param {any[]} rules */
export function decidedBy(decision, rules) {
  if (!decision) return "";
  const reason = decision.reason;
  if (decision.rule_index !== null && decision.rule_index !== undefined) {
    const rule = rules[decision.rule_index] || {};
    return `rule ${decision.rule_index + 1}${rule.id ? ` (${rule.id})` : ""}`;
  }
  return /** @type {Record<string, string>} */ ({ DISABLED: "flag off", TARGETING_MATCH: "individual target", DEFAULT: "default",
            STATIC: "default", SPLIT: "default rollout", NOT_CONFIGURED: "not configured",
            ERROR: `error ${decision.error_code || ""}` })[reason] || reason;
}

/** Per-field differences of two JSON objects (top-level fields, as the API stores them).
 * @param {any} before @param {any} after @returns {{field: string, before: any, after: any}[]} */
export function fieldDiff(before, after) {
  const names = new Set([...Object.keys(before || {}), ...Object.keys(after || {})]);
  const out = [];
  for (const name of [...names].sort()) {
    const a = before ? before[name] : undefined;
    const b = after ? after[name] : undefined;
    if (JSON.stringify(a) !== JSON.stringify(b)) out.push({ field: name, before: a, after: b });
  }
  return out;
}

/** How the audit log names a caller: ``{token_id, name}`` → ``name``. @param {any} actor */
export function actorName(actor) {
  if (!actor) return "—";
  if (typeof actor === "string") return actor;
  return actor.name || actor.token_id || JSON.stringify(actor);
}

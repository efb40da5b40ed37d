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
  segment_match: "is in segment", not_in: "is none of", equals: "equals",
  semver_lte: "is a version at most", semver_gte: "is a version at least",
  ip_in_cidr: "is an address in", in_bucket: "falls in buckets",
});

/** Operators whose values are not a plain list a person types (the rule form leaves them to
 * the JSON editor): ``in_bucket`` takes ``[start, end]`` ranges, a salt and bucketing. */
export const STRUCTURED_OPERATORS = ["in_bucket"];

/** @typedef {{type?: string, members?: number | null}} SegmentInfo what a sentence says of a
 * segment: list segments are named with their size. */

/** A percentage as the API gives it (``12.5``) in words: ``12.5 %``. @param {number} value */
export function percentText(value) {
  return `${Number(value).toFixed(3).replace(/\.?0+$/, "")} %`;
}

/** @param {number} weight @param {number} [total] the rollout's buckets
 * @returns {string} e.g. ``12.345 %`` */
export function percent(weight, total = WEIGHT_TOTAL) {
  return `${(weight * 100 / total).toFixed(3).replace(/\.?0+$/, "")} %`;
}

/** The number of buckets a rollout's weights count (``bucketing.buckets``, else 100000).
 * @param {any} rollout @returns {number} */
export function bucketsOf(rollout) {
  return (rollout && rollout.bucketing && rollout.bucketing.buckets) || WEIGHT_TOTAL;
}

/** A percentage typed by a person (``12.5``) as a weight (``12500``), or NaN.
 * @param {string} text @param {number} [total] the rollout's buckets */
export function weightOf(text, total = WEIGHT_TOTAL) {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0 || value > 100) return NaN;
  return Math.round(value * (total / 100));  // total / 100 is exactly 1000 by default
}

/** ``user's country is one of DE, FR``; groups as ``(… or …)``, ``(… and …)``, ``not (…)``.
 * ``segments`` (optional) names each segment's type and size: a list segment reads
 * ``in segment beta (list, 800,000 members)``.
 * @param {any} clause @param {Record<string, SegmentInfo>} [segments] @returns {string} */
export function clauseSentence(clause, segments = {}) {
  if (!clause || typeof clause !== "object") return "?";
  const inner = (/** @type {any} */ c) => clauseSentence(c, segments);
  if (Array.isArray(clause.any)) return `(${clause.any.map(inner).join(" or ") || "nothing"})`;
  if (Array.isArray(clause.all)) return `(${clause.all.map(inner).join(" and ") || "anyone"})`;
  if ("not" in clause) return `not (${inner(clause.not)})`;
  const kind = clause.context_kind && clause.context_kind !== "user" ? `${clause.context_kind}'s ` : "";
  const op = clause.op || "?";
  if (op === "segment_match") {
    const named = (clause.values || []).map((/** @type {string} */ key) => segmentName(key, segments[key]));
    return `${clause.negate ? "not " : ""}in segment ${named.join(" or ")}`;
  }
  const phrase = OPERATORS[op] || op;
  const values = op === "exists" ? "" : op === "in_bucket" ? ` ${bucketRanges(clause)}`
    : ` ${(clause.values || []).map(String).join(", ")}`;
  const not = clause.negate ? "not: " : "";
  const subject = clause.now ? "now" : `${kind}${clause.attribute}`;
  const anyCase = clause.case_insensitive ? " (any case)" : "";
  const dialect = clause.semver ? ` (${clause.semver} version syntax)` : "";
  const absent = clause.when_absent ? " (or absent)" : "";
  return `${not}${subject} ${phrase}${values}${anyCase}${dialect}${absent}`;
}

/** ``beta (list, 800,000 members)``; a rules segment is its key alone.
 * @param {string} key @param {SegmentInfo | undefined} info */
function segmentName(key, info) {
  if (!info || info.type !== "list") return key;
  const size = typeof info.members === "number" ? `${info.members.toLocaleString("en-US")} members` : "size unknown";
  return `${key} (list, ${size})`;
}

/** An ``in_bucket`` clause's ranges as a share of the buckets and where they come from:
 * ``0–400, 700–800 of 1000 (50 %; growthbook-v1 hash, salt "__checkout")``.
 * @param {any} clause */
export function bucketRanges(clause) {
  const bucketing = clause.bucketing || {};
  const total = bucketing.buckets || WEIGHT_TOTAL;
  const ranges = (clause.values || []).filter((/** @type {any} */ r) => Array.isArray(r) && r.length === 2);
  const covered = ranges.reduce((/** @type {number} */ n, /** @type {number[]} */ r) => n + Math.max(0, r[1] - r[0]), 0);
  const how = [`${bucketing.hash || "vexil"} hash`, clause.salt !== undefined ? `salt "${clause.salt}"` : null,
    bucketing.seed !== undefined ? `seed ${bucketing.seed}` : null].filter(Boolean).join(", ");
  const list = ranges.map((/** @type {number[]} */ r) => `${r[0]}–${r[1]}`).join(", ") || "none";
  return `${list} of ${total} (${percent(covered, total)}; ${how})`;
}

/** ``serve on`` or ``serve on 10 %, off 90 %`` @param {any} serve @returns {string} */
export function serveText(serve) {
  if (!serve) return "nothing";
  if (serve.variation !== undefined) return `serve ${serve.variation}`;
  const rollout = serve.rollout || {};
  const total = bucketsOf(rollout);
  // An entry without a variation is a gap: those contexts are not served by this rollout.
  const parts = (rollout.variations || []).map((/** @type {any} */ v) =>
    `${v.variation === undefined ? "nobody" : v.variation} ${percent(v.weight, total)}`);
  const hash = rollout.bucketing && rollout.bucketing.hash;
  return `split ${parts.join(", ")} by ${rollout.bucket_by || "key"}` +
    (hash && hash !== "vexil" ? ` (${hash} bucketing)` : "");
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

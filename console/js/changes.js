// @ts-check
/** Change requests: the queue of an environment and one request's page (readable diff, the
 * impact of its content, who wrote and approved it, and the buttons the API's four-eyes
 * rules govern — the console only shows what the API then answers). */
import * as api from "./api.js";
import { actorName, clauseSentence, fieldDiff, serveText } from "./describe.js";
import { h, notice, render } from "./dom.js";
import { impactPanel } from "./impact.js";
import { envNav, showError } from "./ui.js";

/** @param {HTMLElement} main @param {string} p @param {string} e */
export async function changeList(main, p, e) {
  const items = await api.all(`${api.envPath(p, e)}/change-requests?limit=100`);
  items.sort((a, b) => (a.created_at < b.created_at ? 1 : -1));
  render(main, h("h1", null, `Change requests in ${e}`), envNav(p, e),
    h("table", { id: "change-requests" }, h("thead", null, h("tr", null,
      ["Request", "Operation", "Status", "Author", "Approvals", "Created"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, items.map((cr) => h("tr", { "data-cr": cr.id, "data-status": cr.status },
      h("td", null, h("a", { href: `#/p/${p}/e/${e}/changes/${encodeURIComponent(cr.id)}` }, cr.id)),
      h("td", null, `${cr.operation.type} ${cr.operation.flag || cr.operation.segment || ""}`),
      h("td", null, cr.status), h("td", null, actorName(cr.author)),
      h("td", null, String((cr.approvals || []).length)), h("td", null, cr.created_at))))),
    items.length ? null : h("p", null, "No change requests."));
}

/** @param {HTMLElement} main @param {string} p @param {string} e @param {string} id */
export async function changePage(main, p, e, id) {
  const crPath = `${api.envPath(p, e)}/change-requests/${encodeURIComponent(id)}`;
  const cr = await api.get(crPath);
  const op = cr.operation;
  /** @type {any} */
  let current = null;
  // Operations whose body is a flag configuration in this environment (the impact applies).
  const writesConfig = ["flag.config.put", "flag.restore", "flag.promote"].includes(op.type);
  try {
    if (writesConfig && op.body) {
      current = (await api.get(`${api.envPath(p, e)}/flags/${encodeURIComponent(op.flag)}`)).config;
    } else if (op.type === "flag.definition.put") {
      // The stored definition, without the fields the API adds to its view.
      const { key, version, updated_at, ...definition } = await api.get(`/v1/projects/${encodeURIComponent(p)}/flags/${encodeURIComponent(op.flag)}`);
      current = definition;
    } else if (op.type === "environment.patch") {
      const env = await api.get(api.envPath(p, e));
      current = { name: env.name, protected: env.protected };
    }
  } catch (err) {
    if (!(err instanceof api.ApiError) || err.status !== 404) throw err;
    current = null; // not there yet: everything is new
  }
  /** @param {string} verb */
  const act = (verb) => async () => {
    try {
      const reason = /** @type {HTMLInputElement} */ (document.getElementById("cr-reason")).value;
      await api.call("POST", `${crPath}/${verb}`, { body: reason ? { reason } : {}, ifMatch: cr.version });
      notice(`Change request ${id}: ${verb} done.`);
      await changePage(main, p, e, id);
    } catch (err) { showError(err); }
  };
  const open = cr.status === "pending" || cr.status === "approved";
  const diff = op.body ? fieldDiff(current, op.body) : [];
  const summary = op.type === "changeset" ? await changesetSummary(p, op) : rolloutSummary(op);
  const impact = writesConfig && op.body
    ? impactPanel(p, e, () => ({ flag: op.flag, config: op.body, rules: op.body.rules || [] })) : null;
  render(main, h("h1", null, `Change request ${id}`), envNav(p, e),
    h("p", null, h("strong", { id: "cr-status" }, cr.status), ` · ${op.type} ${op.flag || op.segment || ""}`,
      h("span", { class: "muted" }, ` · base version ${op.base_version ?? "—"} · hash ${String(cr.change_hash).slice(0, 12)}…`)),
    h("p", { id: "cr-authors" }, `Author ${actorName(cr.author)}; written by ${cr.authors.map(actorName).join(", ")}.`,
      cr.reason ? ` Reason: ${cr.reason}` : ""),
    h("h2", null, "What changes"),
    summary || (diff.length ? h("table", { id: "cr-diff" }, h("thead", null, h("tr", null,
      ["Field", "Before", "After"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, diff.map((d) => h("tr", null, h("th", { scope: "row" }, d.field),
      h("td", { class: "diff-del" }, h("pre", null, d.before === undefined ? "(absent)" : JSON.stringify(d.before, null, 1))),
      h("td", { class: "diff-add" }, h("pre", null, d.after === undefined ? "(absent)" : JSON.stringify(d.after, null, 1)))))))
      : h("pre", null, JSON.stringify(op, null, 2))),
    h("h2", null, "Approvals"),
    h("ul", { id: "cr-approvals" }, (cr.approvals || []).map((/** @type {any} */ a) =>
      h("li", null, `${actorName(a)} at ${a.at || "?"}`))),
    (cr.approvals || []).length ? null : h("p", { class: "muted" }, "No approvals yet."),
    open ? h("div", { class: "panel row" },
      h("label", { for: "cr-reason" }, "Reason (recorded in the audit log)"), h("input", { id: "cr-reason", size: 40 }),
      h("button", { id: "cr-approve", type: "button", onclick: act("approve") }, "Approve"),
      h("button", { id: "cr-reject", type: "button", class: "danger", onclick: act("reject") }, "Reject"),
      h("button", { id: "cr-apply", type: "button", class: "secondary", onclick: act("apply") }, "Apply")) : null,
    impact ? impact.panel : null);
}

/** What a changeset request changes, flag by flag: each item (a flag's definition, its
 * configuration in the changeset's environment, a segment) as new / changed / deleted, with
 * the changed fields in words where the console has words for them (on/off, the default, the
 * rules as sentences) and as JSON otherwise. "Before" is what the API serves now, read from
 * the lists (no per-item read, so a new item is simply absent).
 * @param {string} p @param {any} op @returns {Promise<HTMLElement>} */
async function changesetSummary(p, op) {
  const env = String(op.environment);
  const changes = op.changes || [];
  const configs = changes.some((/** @type {any} */ c) => c.kind === "config")
    ? await api.all(`${api.envPath(p, env)}/flags?limit=100`) : [];
  const definitions = changes.some((/** @type {any} */ c) => c.kind === "definition")
    ? await api.all(`/v1/projects/${encodeURIComponent(p)}/flags?limit=100`) : [];
  const segments = changes.some((/** @type {any} */ c) => c.kind === "segment")
    ? await api.all(`${api.envPath(p, env)}/segments?limit=100`) : [];
  /** @param {any} c */
  const before = (c) => {
    if (c.kind === "config") return (configs.find((f) => f.key === c.key) || {}).config;
    if (c.kind === "definition") return strip(definitions.find((f) => f.key === c.key));
    return strip(segments.find((sg) => sg.key === c.key));
  };
  // One entry per flag (its definition and configuration together), segments after.
  const order = (/** @type {any} */ c) => `${c.kind === "segment" ? 1 : 0}${c.key}${c.kind === "definition" ? 0 : 1}`;
  const sorted = [...changes].sort((a, b) => (order(a) < order(b) ? -1 : 1));
  return h("div", { id: "cr-changeset" },
    h("p", null, `One changeset: ${changes.length} change${changes.length === 1 ? "" : "s"} applied to ${env} together (all or none).`),
    h("ul", { class: "changeset" }, sorted.map((/** @type {any} */ c) => changeItem(c, before(c), env))));
}

/** A stored item without the fields the API adds to its view. @param {any} item */
function strip(item) {
  if (!item) return undefined;
  const { key, version, updated_at, project, environment, ...body } = item;
  return body;
}

/** One change of a changeset, in words. @param {any} c @param {any} was @param {string} env */
function changeItem(c, was, env) {
  const what = c.kind === "config" ? `configuration of flag ${c.key} in ${env}`
    : c.kind === "definition" ? `definition of flag ${c.key} (every environment)` : `segment ${c.key} in ${env}`;
  const verb = c.action === "delete" ? "deleted" : was === undefined ? "new" : "changed";
  const fields = c.action === "delete" ? [] : fieldDiff(was, c.body).map((d) => h("li", null, fieldWords(c.kind, d)));
  return h("li", { "data-change": `${c.kind}:${c.key}`, "data-verb": verb },
    h("strong", null, `${c.key}`), ` — ${what}: ${verb}`,
    h("span", { class: "muted" }, ` (from version ${c.base_version})`),
    fields.length ? h("ul", null, fields) : verb === "changed" ? h("p", { class: "muted" }, "No field changes.") : null);
}

/** A changed field in words: ``turned on``, ``default: serve off → split on 10 %…``, the
 * rules as sentences; anything else as JSON before → after.
 * @param {string} kind @param {{field: string, before: any, after: any}} d @returns {string} */
function fieldWords(kind, d) {
  const json = (/** @type {any} */ v) => (v === undefined ? "(absent)" : JSON.stringify(v));
  if (kind !== "config") return `${d.field}: ${json(d.before)} → ${json(d.after)}`;
  if (d.field === "enabled") return d.after ? "turned on" : "turned off";
  if (d.field === "default") {
    const words = (/** @type {any} */ v) => (v === undefined ? "(none: the application's default)" : serveText(v));
    return `default: ${words(d.before)} → ${words(d.after)}`;
  }
  if (d.field === "rules") {
    const rules = (/** @type {any} */ list) => (list || []).map((/** @type {any} */ r) =>
      `If ${(r.clauses || []).map((/** @type {any} */ cl) => clauseSentence(cl)).join(" and ") || "anyone"}: ${serveText(r.serve)}`)
      .join("; ") || "none";
    return `rules: ${rules(d.before)} → ${rules(d.after)}`;
  }
  if (d.field === "targets") {
    const targets = (/** @type {any} */ list) => (list || []).map((/** @type {any} */ t) =>
      `${t.variation} to ${t.values.join(", ")}`).join("; ") || "none";
    return `individual targets: ${targets(d.before)} → ${targets(d.after)}`;
  }
  return `${d.field}: ${json(d.before)} → ${json(d.after)}`;
}

/** A rollout request in words: the plan reviewers approve (start) or the early finish
 * (complete); null for any other operation. @param {any} op @returns {HTMLElement | null} */
function rolloutSummary(op) {
  if (op.type === "rollout.complete") {
    return h("p", { id: "cr-rollout" }, `Complete the guarded rollout of ${op.flag} (started ${op.started_at}) now: `,
      "its target is served to everyone, skipping the remaining steps and bakes.");
  }
  if (op.type !== "rollout.start" || !op.body) return null;
  const b = op.body;
  const st = b.strategy || {};
  const steps = st.kind === "custom" ? `steps ${(st.percents || []).join(", ")} %`
    : st.kind === "linear" ? `steps of ${st.step_percent} %`
      : `from ${st.start_percent} %, ×${st.factor} each step`;
  return h("div", { id: "cr-rollout" },
    h("p", null, `Start a guarded rollout of ${op.flag}: serve ${b.target} to a growing share, `,
      `strategy ${st.key || st.kind} (${st.kind}, ${steps}, each step baking ${st.bake_seconds} s`,
      st.final_bake_seconds ? `, ${st.final_bake_seconds} s at 100 %` : "", ").",
      b.bucket_by ? ` Bucketed by ${b.bucket_by}.` : ""),
    h("p", null, `Rolled back automatically when any of these CloudWatch alarms is in ALARM: ${(b.guards || []).join(", ")}.`),
    h("p", { class: "muted" }, "Once applied, the controller makes every step without further approval."));
}

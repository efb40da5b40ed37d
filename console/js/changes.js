// @ts-check
/** Change requests: the queue of an environment and one request's page (readable diff, the
 * impact of its content, who wrote and approved it, and the buttons the API's four-eyes
 * rules govern — the console only shows what the API then answers). */
import * as api from "./api.js";
import { actorName, fieldDiff } from "./describe.js";
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
  const impact = writesConfig && op.body
    ? impactPanel(p, e, () => ({ flag: op.flag, config: op.body, rules: op.body.rules || [] })) : null;
  render(main, h("h1", null, `Change request ${id}`), envNav(p, e),
    h("p", null, h("strong", { id: "cr-status" }, cr.status), ` · ${op.type} ${op.flag || op.segment || ""}`,
      h("span", { class: "muted" }, ` · base version ${op.base_version ?? "—"} · hash ${String(cr.change_hash).slice(0, 12)}…`)),
    h("p", { id: "cr-authors" }, `Author ${actorName(cr.author)}; written by ${cr.authors.map(actorName).join(", ")}.`,
      cr.reason ? ` Reason: ${cr.reason}` : ""),
    h("h2", null, "What changes"),
    diff.length ? h("table", { id: "cr-diff" }, h("thead", null, h("tr", null,
      ["Field", "Before", "After"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, diff.map((d) => h("tr", null, h("th", { scope: "row" }, d.field),
      h("td", { class: "diff-del" }, h("pre", null, d.before === undefined ? "(absent)" : JSON.stringify(d.before, null, 1))),
      h("td", { class: "diff-add" }, h("pre", null, d.after === undefined ? "(absent)" : JSON.stringify(d.after, null, 1)))))))
      : h("pre", null, JSON.stringify(op, null, 2)),
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

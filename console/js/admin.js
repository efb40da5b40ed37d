// @ts-check
/** The environment's audit log (filter, verify the chain), its SDK keys (create — the secret
 * shown once —, list, revoke) and its protection. */
import * as api from "./api.js";
import { actorName } from "./describe.js";
import { h, notice, render } from "./dom.js";
import { envNav, showError } from "./ui.js";

/** @param {HTMLElement} main @param {string} p @param {string} e */
export async function auditPage(main, p, e) {
  const q = `project=${encodeURIComponent(p)}&environment=${encodeURIComponent(e)}`;
  const records = (await api.all(`/v1/audit?${q}&limit=200`)).reverse();
  const filter = h("input", { id: "audit-filter", type: "search", placeholder: "action, actor, resource" });
  const tbody = h("tbody");
  const verdict = h("div", { id: "audit-verify", "aria-live": "polite" });
  const draw = () => {
    const text = /** @type {HTMLInputElement} */ (filter).value.trim().toLowerCase();
    const shown = records.filter((r) => !text || [r.action, actorName(r.actor), r.resource, r.reason || ""]
      .some((v) => String(v).toLowerCase().includes(text)));
    render(tbody, shown.map((r) => h("tr", { "data-seq": r.seq },
      h("td", null, String(r.seq)), h("td", null, r.at), h("td", null, actorName(r.actor)),
      h("td", null, r.action), h("td", null, r.outcome), h("td", null, r.resource),
      h("td", null, r.reason || ""))));
  };
  filter.addEventListener("input", draw);
  const verify = async () => {
    try {
      const res = (await api.call("POST", "/v1/audit/verify", { body: { project: p, environment: e } })).body;
      const brk = res.first_break;
      render(verdict, h("p", { class: res.ok ? "on" : "err" }, res.ok
        ? `Chain verified: ${res.checked} records, no break.`
        : `Chain BROKEN at ${brk ? JSON.stringify(brk) : "?"} (${res.checked} records checked).`));
    } catch (err) { showError(err); }
  };
  render(main, h("h1", null, `Audit log of ${e}`), envNav(p, e),
    h("div", { class: "row" }, h("label", { for: "audit-filter" }, "Filter"), filter,
      h("button", { id: "audit-verify-run", type: "button", onclick: verify }, "Verify the chain")),
    verdict,
    h("table", { id: "audit" }, h("thead", null, h("tr", null,
      ["#", "At", "Actor", "Action", "Outcome", "Resource", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
    tbody));
  draw();
}

/** @param {HTMLElement} main @param {string} p @param {string} e */
export async function keysPage(main, p, e) {
  const base = `${api.envPath(p, e)}/sdk-keys`;
  const keys = (await api.get(base)).items;
  const kind = h("select", { id: "key-kind" }, h("option", { value: "server" }, "server"),
    h("option", { value: "client" }, "client"));
  const created = h("div", { id: "key-created", "aria-live": "polite" });
  const create = async () => {
    try {
      const res = (await api.call("POST", base, { body: { kind: /** @type {HTMLSelectElement} */ (kind).value } })).body;
      await keysPage(main, p, e);
      render(/** @type {HTMLElement} */ (document.getElementById("key-created")), h("div", { class: "panel" },
        h("p", null, `SDK key ${res.key_id} created. Copy it now: it is shown once and never again.`),
        h("p", { class: "secret", id: "key-secret" }, res.key)));
    } catch (err) { showError(err); }
  };
  /** @param {string} id */
  const revoke = (id) => async () => {
    if (!window.confirm(`Revoke SDK key ${id}? Readers using it stop receiving new bundles.`)) return;
    try {
      await api.call("DELETE", `${base}/${encodeURIComponent(id)}`, { body: {} });
      notice(`SDK key ${id} revoked.`);
      await keysPage(main, p, e);
    } catch (err) { showError(err); }
  };
  render(main, h("h1", null, `SDK keys of ${e}`), envNav(p, e),
    h("div", { class: "panel row" }, h("label", { for: "key-kind" }, "Kind"), kind,
      h("button", { id: "key-create", type: "button", onclick: create }, "Create SDK key")),
    created,
    h("table", { id: "sdk-keys" }, h("thead", null, h("tr", null,
      ["Key id", "Kind", "Scope", "Created", "Revoked", ""].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, keys.map((/** @type {any} */ k) => h("tr", { "data-key": k.key_id },
      h("td", null, k.key_id), h("td", null, k.kind), h("td", null, k.scope ? JSON.stringify(k.scope) : "all flags"),
      h("td", null, k.created_at || ""), h("td", null, k.revoked_at || ""),
      h("td", null, k.revoked_at ? null : h("button", { type: "button", class: "danger",
        "aria-label": `Revoke ${k.key_id}`, onclick: revoke(k.key_id) }, "Revoke")))))));
}

/** @param {HTMLElement} main @param {string} p @param {string} e */
export async function settingsPage(main, p, e) {
  const env = await api.get(api.envPath(p, e));
  const flip = async () => {
    try {
      const res = await api.call("PATCH", api.envPath(p, e), { body: { protected: !env.protected }, ifMatch: env.version });
      if (res.status === 202) {
        notice(`Change request ${res.body.change_request.id} filed: unprotecting needs a second person's approval.`);
      } else {
        notice(`${e} is now ${res.body.protected ? "protected" : "unprotected"}.`);
      }
      await settingsPage(main, p, e);
    } catch (err) { showError(err); }
  };
  render(main, h("h1", null, `Settings of ${e}`), envNav(p, e),
    h("p", { id: "env-protected" }, env.protected
      ? "Protected: configuration changes become change requests that someone else must approve."
      : "Open: editors' changes apply at once."),
    h("p", null, `Revision ${env.revision ?? 0} · audit records ${env.audit_seq ?? 0}`),
    h("button", { id: "protect-toggle", type: "button", class: env.protected ? "danger" : "", onclick: flip },
      env.protected ? "Unprotect" : "Protect"));
}

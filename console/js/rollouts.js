// @ts-check
/** A flag's guarded rollout in one environment (docs/rollouts.md): where it stands (step,
 * percent on the target, when the next step is due), what the guards said, its history, the
 * actions (pause, resume, complete, abort) and the form that starts one. The API decides
 * every permission: a 403 is shown as such, and a 202 (a protected environment) links the
 * change request it filed. Only tokens whose role can never write (viewer, auditor) see no
 * action buttons. */
import * as api from "./api.js";
import { actorName, percentText } from "./describe.js";
import { h, notice, render } from "./dom.js";
import { envNav, showError } from "./ui.js";

/** Roles that may never write (docs/roles.md): no action buttons for them. */
const READ_ONLY_ROLES = ["viewer", "auditor"];
/** Rollout states in which the controller (or a person) can still act. */
const ACTIVE = ["running", "paused"];
/** How often a running rollout's status is read again (the local controller ticks every
 * second, AWS's every minute). */
const POLL_MS = 2000;

/**
 * The rollout section of a flag's page; it redraws itself after every action.
 * @param {string} p @param {string} e @param {string} key @param {any} def the definition
 * @param {any} config the flag's configuration here (what it serves now)
 * @param {() => void} flagChanged called when an action changed the flag's configuration
 *   (the caller redraws the flag page)
 * @returns {HTMLElement}
 */
export function rolloutSection(p, e, key, def, config, flagChanged) {
  const section = h("section", { id: "rollout", "aria-labelledby": "rollout-h" });
  const url = `${api.envPath(p, e)}/flags/${encodeURIComponent(key)}/rollout`;
  /** @type {HTMLElement | null} the change request an action filed (kept across redraws) */
  let filed = null;
  let shown = "";
  let polls = 0;
  let timer = 0;
  let wasShown = false;
  /** @type {any} */
  let me = null;
  // While the rollout runs, the controller steps it (every tick): look again every
  // POLL_MS, redraw only when something changed (a reason being typed survives), and stop
  // once the section has left the page (another view) or the rollout stopped running.
  const poll = () => {
    timer = 0;
    polls++;
    // Not on the page: left (it was there before), or never put there (a slow first view).
    if (!section.isConnected && (wasShown || polls > 3)) return;
    wasShown = wasShown || section.isConnected;
    void draw(false);
  };
  const draw = async (/** @type {boolean} */ force) => {
    try {
      const rollout = await current(p, e, key);
      me = me || await api.get("/v1/tokens/self");
      const canAct = !READ_ONLY_ROLES.includes(me.role);
      if (rollout && rollout.status === "running" && !timer) timer = window.setTimeout(poll, POLL_MS);
      const seen = JSON.stringify(rollout);
      if (!force && seen === shown) return;
      shown = seen;
      /** @param {string} verb @param {any} body */
      const act = async (verb, body) => {
        try {
          const res = await actOnShown(p, e, key, url, rollout, verb, body);
          if (!res) { await draw(true); return; }
          filed = changeRequestFiled(p, e, res, `${verb} of the rollout of ${key}`);
          if (!filed) {
            notice(`Rollout of ${key} in ${e}: ${verb} done (${res.body.status}).`);
            flagChanged();  // redraws the whole flag page, this section included
            return;
          }
        } catch (err) { showError(err); }
        await draw(true);
      };
      const typed = /** @type {HTMLInputElement | null} */ (section.querySelector("#rollout-reason-input"));
      render(section, h("h2", { id: "rollout-h" }, "Guarded rollout"),
        rollout ? statusView(rollout) : h("p", { id: "rollout-none", class: "muted" }, `No guarded rollout of ${key} in ${e}.`),
        filed,
        rollout && canAct && ACTIVE.includes(rollout.status) ? actions(rollout, act, typed ? typed.value : "") : null,
        canAct && (!rollout || !ACTIVE.includes(rollout.status))
          ? await startForm(p, e, url, key, def, config, flagChanged) : null);
    } catch (err) { showError(err); }
  };
  render(section, h("h2", { id: "rollout-h" }, "Guarded rollout"), h("p", null, "Loading…"));
  void draw(true);
  return section;
}

/** The flag's latest rollout, or null when it never had one. Read from the environment's
 * list (a 200 either way) rather than the flag's own route, whose 404 for "never had one"
 * is no error here. @param {string} p @param {string} e @param {string} key
 * @returns {Promise<any>} */
async function current(p, e, key) {
  const items = (await api.get(`${api.envPath(p, e)}/rollouts`)).items;
  return items.find((/** @type {any} */ r) => r.flag === key) || null;
}

/** Send ``verb`` for the rollout the person saw. The controller rewrites the rollout at every
 * step and guard change (its version moves every tick while it runs), so the version shown is
 * soon stale: read it again and send with the fresh version as long as it is still the
 * rollout the person saw in the state they saw (same start, same status) — once more if a
 * tick slipped in between. A later step does not change what pause, abort or complete mean
 * (stop, roll back, finish), so it does not stop the action. Otherwise nothing is sent, the
 * person is told and looks again (answers null).
 * @param {string} p @param {string} e @param {string} key @param {string} url @param {any} shown
 * @param {string} verb @param {any} body @returns {Promise<api.Answer | null>} */
async function actOnShown(p, e, key, url, shown, verb, body) {
  for (let attempt = 0; ; attempt++) {
    const fresh = await current(p, e, key);
    if (!fresh || fresh.started_at !== shown.started_at || fresh.status !== shown.status) {
      notice(`The rollout of ${key} moved on since it was shown (now ${fresh ? `${fresh.status}, step ${fresh.steps_done}` : "gone"}): nothing was sent; look again.`, true);
      return null;
    }
    try {
      return await api.call("POST", `${url}/${verb}`, { body, ifMatch: fresh.version });
    } catch (err) {
      if (!(err instanceof api.ApiError) || err.status !== 412 || attempt > 0) throw err;
    }
  }
}

/** A 202 from a protected environment: say so, and answer the link to the change request
 * it filed (null for any other answer).
 * @param {string} p @param {string} e @param {api.Answer} res @param {string} what
 * @returns {HTMLElement | null} */
function changeRequestFiled(p, e, res, what) {
  if (res.status !== 202 || !res.body || !res.body.change_request) return null;
  const cr = res.body.change_request;
  const href = `#/p/${encodeURIComponent(p)}/e/${encodeURIComponent(e)}/changes/${encodeURIComponent(cr.id)}`;
  notice(`Change request ${cr.id} filed (202): ${e} is protected, so the ${what} waits for a second person's approval.`);
  return h("p", { id: "rollout-filed", class: "panel" }, `Waiting for approval (202): the ${what} is `,
    h("a", { href, id: "rollout-cr-link" }, `change request ${cr.id}`), ".");
}

/** Status line, guards, plan and history. @param {any} r */
function statusView(r) {
  const guards = Object.keys(r.guard_states || {}).length ? r.guard_states
    : Object.fromEntries((r.guards || []).map((/** @type {string} */ g) => [g, "not read yet"]));
  return h("div", { id: "rollout-view" },
    h("p", { id: "rollout-status" }, h("strong", { class: `rollout-${r.status}` }, r.status),
      ` · ${r.target} for ${percentText(r.percent)} of contexts (the rest: ${r.control})`,
      ` · step ${r.steps_done} of ${r.steps_total}`,
      r.next_step_at ? ` · next step at ${r.next_step_at}` : ""),
    r.reason ? h("p", { id: "rollout-reason" }, r.reason) : null,
    h("p", { class: "muted" }, "This section follows the controller; the configuration above is as the page loaded it."),
    r.change_request ? h("p", { id: "rollout-cr" }, "Started by change request ",
      h("a", { href: `#/p/${encodeURIComponent(r.project)}/e/${encodeURIComponent(r.environment)}/changes/${encodeURIComponent(r.change_request)}` }, r.change_request)) : null,
    h("p", { class: "muted" }, `Strategy ${r.strategy.key || r.strategy.kind}: `,
      (r.plan || []).map((/** @type {number} */ w) => percentText(w / 1000)).join(" → "),
      `, each step bakes ${seconds(r.strategy.bake_seconds)}`,
      r.strategy.final_bake_seconds ? `, ${seconds(r.strategy.final_bake_seconds)} at 100 %` : "",
      ` · started ${r.started_at} by ${actorName(r.started_by)}`),
    h("table", { id: "rollout-guards" }, h("caption", null, "Guards (CloudWatch alarms, as the controller last read them)"),
      h("thead", null, h("tr", null, ["Alarm", "State"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, Object.entries(guards).map(([name, state]) => h("tr", { "data-guard": name },
        h("td", null, name), h("td", { class: state === "OK" ? "on" : state === "ALARM" ? "err" : "muted" }, String(state)))))),
    h("details", { open: true }, h("summary", null, "History"),
      h("table", { id: "rollout-history" }, h("thead", null, h("tr", null,
        ["At", "Event", "By", "Percent"].map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", null, [...(r.history || [])].reverse().map((/** @type {any} */ ev) => h("tr", { "data-event": ev.event },
        h("td", null, ev.at), h("td", null, ev.event), h("td", null, actorName(ev.by)),
        h("td", null, percentText(ev.percent))))))));
}

/** Pause/resume/complete/abort as the rollout's state allows (the API checks the rest).
 * @param {any} r @param {(verb: string, body: any) => Promise<void>} act
 * @param {string} reasonText what was typed as the reason before a redraw */
function actions(r, act, reasonText) {
  const reason = h("input", { id: "rollout-reason-input", size: 30, value: reasonText });
  const keep = h("input", { id: "rollout-keep", type: "checkbox" });
  const why = () => {
    const text = /** @type {HTMLInputElement} */ (reason).value.trim();
    return text ? { reason: text } : {};
  };
  return h("div", { class: "panel row", id: "rollout-actions" },
    h("label", { for: "rollout-reason-input" }, "Reason (audit log)"), reason,
    r.status === "running" ? h("button", { id: "rollout-pause", type: "button", class: "secondary",
      onclick: () => act("pause", why()) }, "Pause") : null,
    r.status === "paused" ? h("button", { id: "rollout-resume", type: "button",
      onclick: () => act("resume", why()) }, "Resume") : null,
    h("button", { id: "rollout-complete", type: "button", class: "secondary",
      onclick: () => act("complete", why()) }, `Complete now (${r.target} for everyone)`),
    h("label", null, keep, " keep the flag as it is"),
    h("button", { id: "rollout-abort", type: "button", class: "danger", onclick: () => act("abort",
      { ...why(), rollback: !/** @type {HTMLInputElement} */ (keep).checked }) }, "Abort"));
}

/** The form that starts a rollout: strategy, target variation, guards.
 * @param {string} p @param {string} e @param {string} url @param {string} key @param {any} def
 * @param {any} config @param {() => void} started */
async function startForm(p, e, url, key, def, config, started) {
  const strategies = (await api.get(`/v1/projects/${encodeURIComponent(p)}/strategies`)).items;
  if (!strategies.length) {
    return h("p", { id: "rollout-no-strategy", class: "muted" },
      "No release strategy in this project yet: create one with vexil strategies create.");
  }
  const strategy = h("select", { id: "rollout-strategy" }, strategies.map((/** @type {any} */ s) =>
    h("option", { value: s.key }, `${s.key}: ${s.steps.map(percentText).join(" → ")}, bake ${seconds(s.bake_seconds)}`)));
  // The target is what the flag does not serve yet: preselect the first such variation.
  const serving = config && config.default ? config.default.variation : undefined;
  const names = Object.keys(def.variations);
  const preselected = names.find((v) => v !== serving);
  const target = h("select", { id: "rollout-target" },
    names.map((v) => h("option", { value: v, selected: v === preselected }, v)));
  const guards = h("input", { id: "rollout-guards-input", size: 50, placeholder: "checkout-5xx, arn:aws:cloudwatch:…:alarm:checkout-p99" });
  // Optional, as in a flag's rollout: whose key is bucketed (default the user's key).
  const kind = h("input", { id: "rollout-context-kind", size: 12, placeholder: "user" });
  const bucketBy = h("input", { id: "rollout-bucket-by", size: 16, placeholder: "key" });
  const start = async () => {
    const list = /** @type {HTMLInputElement} */ (guards).value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      /** @type {Record<string, any>} */
      const body = { strategy: /** @type {HTMLSelectElement} */ (strategy).value,
        target: /** @type {HTMLSelectElement} */ (target).value, guards: list };
      const kindText = /** @type {HTMLInputElement} */ (kind).value.trim();
      const byText = /** @type {HTMLInputElement} */ (bucketBy).value.trim();
      if (kindText) body.context_kind = kindText;
      if (byText) body.bucket_by = byText;
      const res = await api.call("POST", url, { body });
      if (changeRequestFiled(p, e, res, `start of a rollout of ${key}`)) {
        // The request's page shows the plan the reviewers approve.
        location.hash = `#/p/${encodeURIComponent(p)}/e/${encodeURIComponent(e)}/changes/${encodeURIComponent(res.body.change_request.id)}`;
        return;
      }
      notice(`Rollout of ${key} in ${e} started: ${res.body.target} for ${percentText(res.body.percent)} of contexts.`);
      started();
    } catch (err) { showError(err); }
  };
  return h("fieldset", { id: "rollout-start" }, h("legend", null, "Start a guarded rollout"),
    h("label", null, "Strategy ", strategy), h("label", null, "Target variation ", target),
    h("label", null, "Guards (CloudWatch alarm names or ARNs, comma-separated) ", guards),
    h("label", null, "Context kind (optional) ", kind), h("label", null, "Bucket by (optional) ", bucketBy),
    h("button", { id: "rollout-start-run", type: "button", onclick: start }, "Start rollout"));
}

/** ``90 s``, ``30 min``, ``2 h`` @param {number} s */
function seconds(s) {
  if (s >= 3600 && s % 3600 === 0) return `${s / 3600} h`;
  if (s >= 60 && s % 60 === 0) return `${s / 60} min`;
  return `${s} s`;
}

/** Every flag's latest guarded rollout in an environment, active ones first: state, share
 * on the target, step, next step, guards not OK — the release manager's overview.
 * @param {HTMLElement} main @param {string} p @param {string} e */
export async function rolloutList(main, p, e) {
  const items = (await api.get(`${api.envPath(p, e)}/rollouts`)).items;
  const rank = (/** @type {any} */ r) => (ACTIVE.includes(r.status) ? 0 : 1);
  items.sort((/** @type {any} */ a, /** @type {any} */ b) => rank(a) - rank(b)
    || (a.started_at < b.started_at ? 1 : -1));
  const base = `#/p/${encodeURIComponent(p)}/e/${encodeURIComponent(e)}/flags/`;
  render(main, h("h1", null, `Guarded rollouts in ${e}`), envNav(p, e),
    h("table", { id: "rollouts" }, h("thead", null, h("tr", null,
      ["Flag", "State", "Target", "Step", "Next step", "Guards not OK", "Started"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", null, items.map((/** @type {any} */ r) => {
      const bad = Object.entries(r.guard_states || {}).filter(([, state]) => state !== "OK");
      return h("tr", { "data-flag": r.flag, "data-status": r.status },
        h("td", null, h("a", { href: base + encodeURIComponent(r.flag) }, r.flag)),
        h("td", null, h("strong", { class: `rollout-${r.status}` }, r.status), r.reason ? h("div", { class: "muted" }, r.reason) : null),
        h("td", null, `${r.target} for ${percentText(r.percent)}`),
        h("td", null, `${r.steps_done} of ${r.steps_total}`), h("td", null, r.next_step_at || "—"),
        h("td", { class: bad.length ? "err" : "" }, bad.map(([g, state]) => `${g}: ${state}`).join(", ") || "none"),
        h("td", null, `${r.started_at} by ${actorName(r.started_by)}`));
    }))),
    items.length ? null : h("p", null, `No guarded rollout in ${e} yet: start one from a flag's page.`));
}

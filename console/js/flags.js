// @ts-check
/** Flags of an environment: the list (search, tags, kind, on/off, last change) and the flag
 * page (definition; targets, rules as sentences, rollout weights, schedule; edits through
 * forms or JSON; every edit compiled and previewed by the API before Save is enabled). */
import * as api from "./api.js";
import { OPERATORS, STRUCTURED_OPERATORS, WEIGHT_TOTAL, bucketsOf, clauseSentence, percent, percentText, serveText,
  weightOf } from "./describe.js";
import { h, notice, render } from "./dom.js";
import { impactPanel } from "./impact.js";
import { rolloutSection } from "./rollouts.js";
import { envNav, showError } from "./ui.js";

/** @param {HTMLElement} main @param {string} p @param {string} e */
export async function flagList(main, p, e) {
  const flags = await api.all(`${api.envPath(p, e)}/flags?limit=100`);
  // On/off in every environment of the project, this one first.
  const envs = (await api.get(`/v1/projects/${encodeURIComponent(p)}/environments`)).items
    .map((/** @type {any} */ x) => String(x.environment)).filter((/** @type {string} */ x) => x !== e);
  /** @type {Record<string, Record<string, boolean>>} */
  const states = {};
  for (const other of envs) {
    states[other] = {};
    for (const f of await api.all(`${api.envPath(p, other)}/flags?limit=100`)) states[other][f.key] = f.config.enabled;
  }
  // Flags with an active guarded rollout here carry a badge (state and the target's share).
  /** @type {Record<string, any>} */
  const ramps = {};
  for (const r of (await api.get(`${api.envPath(p, e)}/rollouts`)).items) {
    if (r.status === "running" || r.status === "paused") ramps[r.flag] = r;
  }
  /** @param {boolean | undefined} on */
  const cell = (on) => h("td", { class: on === undefined ? "muted" : on ? "on" : "off" },
    on === undefined ? "not configured" : on ? "On" : "Off");
  const search = h("input", { id: "flag-search", type: "search", placeholder: "key, tag or description" });
  const tbody = h("tbody");
  const draw = () => {
    const q = /** @type {HTMLInputElement} */ (search).value.trim().toLowerCase();
    const shown = flags.filter((f) => !q || f.key.includes(q)
      || (f.definition.tags || []).some((/** @type {string} */ t) => t.toLowerCase().includes(q))
      || (f.definition.description || "").toLowerCase().includes(q));
    render(tbody, shown.map((f) => h("tr", { "data-flag": f.key },
      h("td", null, h("a", { href: `#/p/${p}/e/${e}/flags/${encodeURIComponent(f.key)}` }, f.key),
        ramps[f.key] ? h("span", { class: "tag rollout-badge" },
          ` rollout ${ramps[f.key].status}: ${ramps[f.key].target} ${percentText(ramps[f.key].percent)}`) : null,
        h("div", { class: "muted" }, f.definition.description || "")),
      h("td", null, f.definition.kind),
      h("td", null, (f.definition.tags || []).map((/** @type {string} */ t) => h("span", { class: "tag" }, t))),
      cell(f.config.enabled), envs.map((/** @type {string} */ other) => cell(states[other][f.key])),
      h("td", null, f.updated_at || "", h("span", { class: "muted" }, ` v${f.version}`)))));
  };
  search.addEventListener("input", draw);
  render(main, h("h1", null, `Flags in ${e}`), envNav(p, e),
    h("p", null, h("label", { for: "flag-search" }, "Search flags"), " ", search),
    h("table", { id: "flags" }, h("thead", null, h("tr", null,
      ["Flag", "Kind", "Tags", e, ...envs, `Last change in ${e}`].map((t) => h("th", { scope: "col" }, t)))),
    tbody));
  draw();
}

/** @param {HTMLElement} main @param {string} p @param {string} e @param {string} key */
export async function flagPage(main, p, e, key) {
  const path = `${api.envPath(p, e)}/flags/${encodeURIComponent(key)}`;
  const flag = (await api.call("GET", path)).body;
  const env = await api.get(api.envPath(p, e));
  const def = flag.definition;
  const segments = await segmentInfo(p, e, flag.config);
  /** @type {any} */
  let draft = structuredClone(flag.config);
  let checked = false;
  const save = h("button", { id: "save", type: "button", disabled: true }, "Save");
  const status = h("p", { id: "save-status", class: "muted" }, "Edit, then check the change before saving.");
  const form = h("div", { id: "editor" });
  const json = h("textarea", { id: "config-json", "aria-describedby": "json-help" });
  const markDirty = () => {
    checked = false;
    /** @type {HTMLButtonElement} */ (save).disabled = true;
    status.textContent = "Changed: check the change (compile and impact) before saving.";
  };
  const redraw = () => {
    /** @type {HTMLTextAreaElement} */ (json).value = JSON.stringify(draft, null, 2);
    render(form, editor(def, draft, () => { markDirty(); redraw(); }));
  };
  const { panel, run } = impactPanel(p, e, () => ({ flag: key, config: draft, rules: draft.rules || [] }),
    (ok, err, warnings) => {
      checked = ok;
      markProblems(form, ok ? [] : (err && err.details) || [], warnings || []);
      /** @type {HTMLButtonElement} */ (save).disabled = !ok;
      status.textContent = ok ? "Compiles. Review the impact, then save."
        : "Not accepted: fix the problems listed below.";
    });
  save.addEventListener("click", async () => {
    if (!checked) return;
    try {
      const res = await api.call("PUT", path, { body: draft, ifMatch: flag.version });
      if (res.status === 202) {
        const cr = res.body.change_request;
        notice(`Change request ${cr.id} filed: ${e} is protected, so a second person must approve it.`);
        location.hash = `#/p/${p}/e/${e}/changes/${encodeURIComponent(cr.id)}`;
      } else {
        notice(`Saved: ${key} is at version ${res.body.version} in ${e}.`);
        flagPage(main, p, e, key);
      }
    } catch (err) { showError(err); }
  });
  const toggle = h("button", { id: "toggle", type: "button", class: flag.config.enabled ? "danger" : "",
    onclick: async () => {
      try {
        const body = { ...flag.config, enabled: !flag.config.enabled };
        const res = await api.call("PUT", path, { body, ifMatch: flag.version });
        if (res.status === 202) {
          const cr = res.body.change_request;
          notice(`Change request ${cr.id} filed: ${e} is protected.`);
          location.hash = `#/p/${p}/e/${e}/changes/${encodeURIComponent(cr.id)}`;
          return;
        }
        notice(`${key} is now ${res.body.config.enabled ? "ON" : "OFF"} in ${e} (version ${res.body.version}).`);
        await flagPage(main, p, e, key);
      } catch (err) { showError(err); }
    } }, flag.config.enabled ? `Turn off in ${e}` : `Turn on in ${e}`);
  json.addEventListener("input", markDirty);
  const applyJson = h("button", { type: "button", class: "secondary", id: "apply-json", onclick: () => {
    try { draft = JSON.parse(/** @type {HTMLTextAreaElement} */ (json).value); markDirty(); redraw(); }
    catch (err) { notice(`The JSON is not valid: ${/** @type {any} */ (err).message}`, true); }
  } }, "Use this JSON");
  render(main,
    h("h1", null, key, " ", h("span", { id: "flag-state", class: flag.config.enabled ? "on" : "off" },
      flag.config.enabled ? "ON" : "OFF"), h("span", { class: "muted" }, ` in ${e} · version ${flag.version}`),
      env.protected ? h("span", { class: "tag" }, "protected: changes need approval") : null),
    envNav(p, e),
    h("p", null, toggle),
    definitionView(def),
    h("h2", null, "Configuration"), readable(def, flag.config, segments),
    rolloutSection(p, e, key, def, flag.config, () => { flagPage(main, p, e, key).catch(showError); }),
    h("h2", null, "Edit"), form,
    h("details", null, h("summary", null, "JSON editor (everything the form does not cover)"),
      h("p", { id: "json-help", class: "muted" }, "The configuration as the API stores it; the API compiles it on check."),
      h("label", { for: "config-json" }, `Configuration of ${key} in ${e} (JSON)`), json, applyJson),
    panel,
    h("div", { class: "row" }, save, status));
  redraw();
  void run;
}

/** @param {any} def */
function definitionView(def) {
  return h("section", { "aria-labelledby": "def-h" }, h("h2", { id: "def-h" }, "Definition"),
    h("p", null, def.description || h("span", { class: "muted" }, "No description.")),
    h("p", null, `Kind ${def.kind} · tags `, (def.tags || []).map((/** @type {string} */ t) => h("span", { class: "tag" }, t))),
    h("table", null, h("thead", null, h("tr", null, h("th", { scope: "col" }, "Variation"), h("th", { scope: "col" }, "Value"))),
      h("tbody", null, Object.entries(def.variations).map(([name, value]) =>
        h("tr", null, h("td", null, name), h("td", null, h("code", null, JSON.stringify(value))))))),
    def.schema ? h("details", null, h("summary", null, "JSON schema of the value"),
      h("pre", null, JSON.stringify(def.schema, null, 2))) : null);
}

/** The segments a configuration's clauses name (at any depth of a group), with the size of
 * each list segment, for the sentences. A segment that is gone is left out (the sentence
 * then names its key alone; the compiler reports it on check).
 * @param {string} p @param {string} e @param {any} cfg
 * @returns {Promise<Record<string, import("./describe.js").SegmentInfo>>} */
async function segmentInfo(p, e, cfg) {
  /** @type {Set<string>} */
  const keys = new Set();
  const visit = (/** @type {any} */ c) => {
    if (!c || typeof c !== "object") return;
    for (const group of [c.any, c.all]) if (Array.isArray(group)) group.forEach(visit);
    if (c.not) visit(c.not);
    if (c.op === "segment_match") for (const k of c.values || []) keys.add(String(k));
  };
  for (const rule of cfg.rules || []) (rule.clauses || []).forEach(visit);
  /** @type {Record<string, import("./describe.js").SegmentInfo>} */
  const out = {};
  for (const key of keys) {
    const path = `${api.envPath(p, e)}/segments/${encodeURIComponent(key)}`;
    try {
      const seg = await api.get(path);
      out[key] = { type: seg.type || "rules",
        members: seg.type === "list" ? (await api.get(`${path}/members`)).members : null };
    } catch (err) {
      if (!(err instanceof api.ApiError) || err.status !== 404) throw err;
    }
  }
  return out;
}

/** The configuration as sentences. @param {any} def @param {any} cfg
 * @param {Record<string, import("./describe.js").SegmentInfo>} segments */
function readable(def, cfg, segments) {
  const rollout = cfg.default && cfg.default.rollout;
  return h("div", { id: "readable" },
    h("p", null, cfg.enabled ? "On." : `Off: serves ${cfg.off_variation}.`),
    (cfg.targets || []).length ? h("ul", null, cfg.targets.map((/** @type {any} */ t) =>
      h("li", null, `Serve ${t.variation} to ${t.context_kind || "user"} ${t.values.join(", ")}`))) : null,
    h("ol", { id: "rules" }, (cfg.rules || []).map((/** @type {any} */ r) => h("li", null,
      `${r.id ? `[${r.id}] ` : ""}If ${(r.clauses || []).map((/** @type {any} */ c) => clauseSentence(c, segments)).join(" and ") || "anyone"}: ${serveText(r.serve)}`))),
    h("p", null, `Otherwise: ${cfg.default ? serveText(cfg.default) : "the application's own default"}.`),
    rollout && rollout.schedule ? h("ol", { class: "timeline", "aria-label": "Rollout schedule" },
      rollout.schedule.map((/** @type {any} */ s) => h("li", null, `${s.at}: `,
        s.weights.map((/** @type {number} */ w, /** @type {number} */ i) =>
          `${rollout.variations[i].variation ?? "nobody"} ${percent(w, bucketsOf(rollout))}`).join(", ")))) : null);
}

/**
 * Forms for the common edits; each change calls ``changed``.
 * @param {any} def @param {any} draft @param {() => void} changed
 */
function editor(def, draft, changed) {
  const variations = Object.keys(def.variations);
  const rollout = draft.default && draft.default.rollout;
  const parts = [];
  if (rollout) {
    // Weights count the rollout's own buckets (bucketing.buckets, 100000 by default); an
    // entry without a variation is a gap ("nobody": those contexts are not served).
    const total = bucketsOf(rollout);
    const step = total === WEIGHT_TOTAL ? "0.001" : String(100 / total);
    parts.push(h("fieldset", { id: "weights", "data-path": "default" }, h("legend", null, `Default rollout (percent, ${percent(1, total)} steps)`),
      rollout.variations.map((/** @type {any} */ v, /** @type {number} */ i) => h("label", null, `${v.variation ?? "nobody"} `,
        h("input", { type: "number", step, min: 0, max: 100, id: v.variation === undefined ? `weight-gap-${i}` : `weight-${v.variation}`,
          value: (v.weight * 100 / total).toString(), onchange: (/** @type {Event} */ ev) => {
            const w = weightOf(/** @type {HTMLInputElement} */ (ev.target).value, total);
            rollout.variations[i].weight = Number.isNaN(w) ? -1 : w;
            // Two entries: the other takes the rest, so the weights keep summing to 100 %.
            if (rollout.variations.length === 2 && !Number.isNaN(w)) rollout.variations[1 - i].weight = total - w;
            changed();
          } }), " %"))));
  } else {
    parts.push(h("p", { "data-path": "default" }, "Default: ", h("label", null, "serve ", h("select", { id: "default-variation",
      onchange: (/** @type {Event} */ ev) => {
        draft.default = { variation: /** @type {HTMLSelectElement} */ (ev.target).value }; changed();
      } }, variations.map((v) => h("option", { value: v, selected: draft.default && draft.default.variation === v }, v))))));
  }
  parts.push(h("fieldset", { id: "targets", "data-path": "targets" }, h("legend", null, "Individual targets (targeting keys, comma-separated)"),
    variations.map((v) => {
      const current = (draft.targets || []).find((/** @type {any} */ t) => t.variation === v && (t.context_kind || "user") === "user");
      return h("label", null, `${v} `, h("input", { id: `targets-${v}`, size: 40, value: current ? current.values.join(", ") : "",
        onchange: (/** @type {Event} */ ev) => {
          const values = /** @type {HTMLInputElement} */ (ev.target).value.split(",").map((s) => s.trim()).filter(Boolean);
          const others = (draft.targets || []).filter((/** @type {any} */ t) => !(t.variation === v && (t.context_kind || "user") === "user"));
          draft.targets = values.length ? [...others, { context_kind: "user", values, variation: v }] : others;
          changed();
        } }));
    })));
  const attr = h("input", { id: "rule-attribute", value: "country" });
  const op = h("select", { id: "rule-op" }, Object.entries(OPERATORS)
    .filter(([k]) => !STRUCTURED_OPERATORS.includes(k)).map(([k, phrase]) => h("option", { value: k }, `${k} (${phrase})`)));
  const values = h("input", { id: "rule-values", size: 30, placeholder: "DE, FR" });
  const serve = h("select", { id: "rule-serve" }, variations.map((v) => h("option", { value: v }, v)));
  parts.push(h("fieldset", { id: "add-rule", "data-path": "rules" }, h("legend", null, "Add a rule"),
    h("label", null, "Attribute ", attr), h("label", null, "Operator ", op),
    h("label", null, "Values ", values), h("label", null, "Serve ", serve),
    h("button", { type: "button", class: "secondary", id: "rule-add", onclick: () => {
      const opName = /** @type {HTMLSelectElement} */ (op).value;
      const list = /** @type {HTMLInputElement} */ (values).value.split(",").map((s) => s.trim()).filter(Boolean);
      const clause = opName === "segment_match" ? { op: opName, values: list }
        : { attribute: /** @type {HTMLInputElement} */ (attr).value.trim(), op: opName, values: list.map(numeric(opName)) };
      draft.rules = [...(draft.rules || []), { clauses: [clause], serve: { variation: /** @type {HTMLSelectElement} */ (serve).value } }];
      changed();
    } }, "Add rule")));
  return parts;
}

/** Numeric operators take numbers: convert what the person typed. @param {string} op */
function numeric(op) {
  return (/** @type {string} */ v) => (["lt", "lte", "gt", "gte"].includes(op) && v !== "" && !Number.isNaN(Number(v)) ? Number(v) : v);
}

/** Put each error (and lint warning) next to the form part its path names
 * (``default.rollout…`` → the weights, ``rules[1]…`` → the rules, ``targets…``).
 * @param {HTMLElement} form @param {{path: string, message: string}[]} errors
 * @param {{path: string, message: string}[]} warnings */
function markProblems(form, errors, warnings) {
  for (const old of form.querySelectorAll(".field-problem")) old.remove();
  const place = (/** @type {{path: string, message: string}} */ d, /** @type {string} */ kind) => {
    const top = d.path.split(/[.[]/)[0];
    const part = form.querySelector(`[data-path="${CSS.escape(top)}"]`) || form.querySelector("[data-path]");
    if (part) {
      part.append(h("span", { class: `field-problem ${kind}`, role: kind === "err" ? "alert" : null },
        `${kind === "err" ? "Error" : "Warning"} ${d.path}: ${d.message}`));
    }
  };
  for (const d of errors) place(d, "err");
  for (const d of warnings) place(d, "warn");
}

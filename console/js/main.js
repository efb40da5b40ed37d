// @ts-check
/** The console's entry point: sign-in, the header, and a hash router over the views.
 * Routes (``#/...``) carry only resource names, never the token. */
import * as api from "./api.js";
import { byId, h, notice, render } from "./dom.js";
import { flagList, flagPage } from "./flags.js";
import { changeList, changePage } from "./changes.js";
import { auditPage, keysPage, settingsPage } from "./admin.js";
import { stalePage } from "./stale.js";
import { rolloutList } from "./rollouts.js";
import { showError } from "./ui.js";

/** @typedef {{name: string, role: string, projects: string[], environments: string[]}} Me */
/** @type {Me | null} */
let me = null;

function signInView() {
  const input = h("input", { id: "token", type: "password", autocomplete: "off",
    spellcheck: "false", required: true, size: 60 });
  const form = h("form", { class: "panel", onsubmit: async (/** @type {Event} */ ev) => {
    ev.preventDefault();
    api.setToken(/** @type {HTMLInputElement} */ (input).value.trim());
    /** @type {HTMLInputElement} */ (input).value = "";
    try {
      await loadMe();
      notice(`Signed in as ${me && me.name}.`);
      location.hash = "#/";
    } catch (err) { showError(err); }
  } },
  h("h1", null, "Sign in"),
  h("p", null, "Paste an API token (vxl_tok_…). It is kept in this tab only and cleared when you sign out or close the tab."),
  h("label", { for: "token" }, "API token"), " ", input, " ",
  h("button", { type: "submit" }, "Sign in"));
  render(byId("main"), form);
  input.focus();
}

async function loadMe() {
  me = (await api.call("GET", "/v1/tokens/self")).body;
  renderWho();
}

function renderWho() {
  const who = byId("who");
  if (!me) { render(who); return; }
  const scope = `projects ${me.projects.join(", ") || "none"}; environments ${me.environments.join(", ") || "none"}`;
  render(who, h("span", { id: "whoami", title: scope }, `${me.name} · ${me.role}`),
    h("span", { class: "muted" }, ` (${scope})`),
    h("button", { class: "secondary", id: "signout", onclick: () => {
      api.signOut(); me = null; renderWho(); notice("Signed out."); location.hash = "#/signin";
    } }, "Sign out"));
}

/** @param {HTMLElement} main */
async function projectsView(main) {
  const projects = (await api.get("/v1/projects")).items;
  const sections = [];
  for (const p of projects) {
    const key = p.key || p.project;
    const envs = (await api.get(`/v1/projects/${encodeURIComponent(key)}/environments`)).items;
    sections.push(h("section", null, h("h2", null, `Project ${key}`),
      h("ul", null, envs.map((/** @type {any} */ e) => h("li", null,
        h("a", { href: `#/p/${encodeURIComponent(key)}/e/${encodeURIComponent(e.environment)}/flags` },
          e.name || e.environment),
        e.protected ? h("span", { class: "tag" }, "protected") : null,
        h("span", { class: "muted" }, ` revision ${e.revision ?? 0}`))))));
  }
  render(main, h("h1", null, "Projects"),
    sections.length ? sections : h("p", null, "No project in this token's scope."));
}

/** @param {string[]} parts */
function crumbs(parts) {
  const out = [h("a", { href: "#/" }, "Projects")];
  if (parts[0] === "p" && parts[1]) out.push(h("span", null, `› ${parts[1]}`));
  if (parts[2] === "e" && parts[3]) {
    out.push(h("a", { href: `#/p/${parts[1]}/e/${parts[3]}/flags` }, `› ${parts[3]}`));
  }
  render(byId("crumbs"), out);
}

async function route() {
  const path = location.hash.replace(/^#\/?/, "");
  const parts = path.split("?")[0].split("/").filter(Boolean).map(decodeURIComponent);
  if (parts[0] === "signin" || !api.token()) {
    me = null;
    renderWho();
    render(byId("crumbs"));
    signInView();
    return;
  }
  if (!me) await loadMe();
  crumbs(parts);
  const [, p, , e, section, id] = parts;
  // Each navigation renders into its own container, shown only if no later navigation
  // started meanwhile: a slow view never overwrites the one the user went to next.
  const mine = ++navigations;
  const main = byId("main");
  const view = h("div");
  render(main, h("p", null, "Loading…"));
  if (parts[0] !== "p" || !p || !e) await projectsView(view);
  else if (section === "flags" && id) await flagPage(view, p, e, id);
  else if (section === "changes" && id) await changePage(view, p, e, id);
  else if (section === "changes") await changeList(view, p, e);
  else if (section === "audit") await auditPage(view, p, e);
  else if (section === "stale") await stalePage(view, p, e);
  else if (section === "rollouts") await rolloutList(view, p, e);
  else if (section === "keys") await keysPage(view, p, e);
  else if (section === "settings") await settingsPage(view, p, e);
  else await flagList(view, p, e);
  if (mine === navigations) render(main, view);
}

let navigations = 0;

async function navigate() {
  try {
    await route();
    // Focus moves to the new content (screen readers announce it), unless the view already
    // put it on a control there (the sign-in field).
    const main = byId("main");
    if (!main.contains(document.activeElement)) main.focus({ preventScroll: true });
  } catch (err) { showError(err); }
}

async function start() {
  try {
    await api.loadConfig();
  } catch (err) {
    notice("Could not read config.json (the API's address).", true);
    return;
  }
  window.addEventListener("hashchange", () => {
    if (!location.hash.endsWith("?rejected")) notice("");
    navigate();
  });
  await navigate();
}

start();

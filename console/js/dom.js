// @ts-check
/** Building DOM without innerHTML: every text is a text node, so no API value can inject
 * markup (and the CSP forbids inline script anyway). */

/**
 * ``h("a", {href: "#/x", class: "y"}, "text", child)``: an element; ``on*`` attributes take
 * functions (event listeners), ``null``/``false`` attributes are left out.
 * @param {string} tag @param {Record<string, any> | null} [attrs]
 * @param {...(Node | string | number | null | undefined | false | (Node | string)[])} children
 * @returns {HTMLElement}
 */
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith("on") && typeof value === "function") {
      el.addEventListener(name.slice(2), value);
    } else if (name === "value" && "value" in el) {
      /** @type {any} */ (el).value = value;
    } else if (value === true) {
      el.setAttribute(name, "");
    } else {
      el.setAttribute(name, String(value));
    }
  }
  append(el, children);
  return el;
}

/** @param {Element} el @param {any[]} children */
function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

/** Replace ``el``'s content. @param {Element} el @param {...any} children */
export function render(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

/** @param {string} id @returns {HTMLElement} */
export function byId(id) {
  const el = document.getElementById(id);
  if (!el) throw new Error(`no #${id}`);
  return el;
}

/** Show a message in the live region (errors styled as such). @param {string} text
 * @param {boolean} [isError] */
export function notice(text, isError = false) {
  const el = byId("notice");
  el.className = isError ? "error" : "";
  el.textContent = text;
}

/** A labelled input: the label wraps it, so screen readers name it.
 * @param {string} label @param {Record<string, any>} attrs */
export function field(label, attrs) {
  return h("label", null, label + " ", h("input", attrs));
}

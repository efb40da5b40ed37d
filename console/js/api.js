// @ts-check
/** The control-plane API as the signed-in token sees it. The token lives in sessionStorage
 * only (gone when the tab closes), is sent only in the Authorization header, and is never put
 * in a URL, the page, or a log. The console decides no permission itself: it shows what the
 * API answers. */

const TOKEN_KEY = "vexil.token";

/** @typedef {{path: string, message: string}} Detail */
/** @typedef {{status: number, body: any, etag: string | null, location: string | null}} Answer */

/** An API answer that is not 2xx: status, message and the details naming fields. */
export class ApiError extends Error {
  /** @param {number} status @param {any} body */
  constructor(status, body) {
    const message = (body && (body.message || (body.error && body.error.message))) || `HTTP ${status}`;
    super(message);
    /** @type {number} */ this.status = status;
    /** @type {any} */ this.body = body;
    /** @type {Detail[]} */
    this.details = (body && (body.details || (body.error && body.error.details))) || [];
  }
}

/** A view still loading when its user signed out: nothing is sent without a token. */
export class SignedOut extends Error {}

/** @type {string} */
let apiBase = "";

/** Read ``config.json`` (written by whoever serves the console) for the API's URL. */
export async function loadConfig() {
  const resp = await fetch("config.json", { cache: "no-store" });
  const config = await resp.json();
  apiBase = String(config.api).replace(/\/+$/, "");
  return config;
}

/** @returns {string | null} */
export function token() { return sessionStorage.getItem(TOKEN_KEY); }
/** @param {string} value */
export function setToken(value) { sessionStorage.setItem(TOKEN_KEY, value); }
export function signOut() { sessionStorage.removeItem(TOKEN_KEY); }

/**
 * One request. Resolves with status, decoded body and ETag for 2xx; rejects with ApiError
 * otherwise (401/403 included: the caller shows them as such).
 * @param {string} method @param {string} path
 * @param {{body?: any, ifMatch?: number | null, reason?: string}} [opts]
 * @returns {Promise<Answer>}
 */
export async function call(method, path, opts = {}) {
  /** @type {Record<string, string>} */
  const headers = {};
  const t = token();
  if (!t) throw new SignedOut("signed out");
  headers.Authorization = `Bearer ${t}`;
  if (opts.body !== undefined) headers["Content-Type"] = "application/json";
  if (opts.ifMatch !== undefined && opts.ifMatch !== null) headers["If-Match"] = `"${opts.ifMatch}"`;
  if (opts.reason) headers["X-Vexil-Reason"] = opts.reason;
  const resp = await fetch(apiBase + path, {
    method, headers, credentials: "omit", cache: "no-store",
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
  const text = await resp.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = { message: text }; }
  if (!resp.ok) throw new ApiError(resp.status, body);
  return { status: resp.status, body, etag: resp.headers.get("ETag"), location: resp.headers.get("Location") };
}

/** @param {string} path */
export async function get(path) { return (await call("GET", path)).body; }

/** Every page of a paginated list (bounded: at most ``maxPages`` pages).
 * @param {string} path @param {number} [maxPages] @returns {Promise<any[]>} */
export async function all(path, maxPages = 20) {
  const items = [];
  let cursor = null;
  for (let i = 0; i < maxPages; i++) {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(cursor ? `${path}${sep}cursor=${encodeURIComponent(cursor)}` : path);
    items.push(...page.items);
    cursor = page.next_cursor;
    if (!cursor) break;
  }
  return items;
}

/** URL path of an environment. @param {string} p @param {string} e */
export function envPath(p, e) {
  return `/v1/projects/${encodeURIComponent(p)}/environments/${encodeURIComponent(e)}`;
}

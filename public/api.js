// What every part of the management page shares: element lookup, the user's API key, one call to the service's public
// API, and the page's two ways of saying something went wrong. The page's events, sent on `document`:
// `endpoints-changed` (an endpoint was created, changed or deleted: the list reloads), `endpoints-listed` (the list was
// loaded, as its detail: the charts take each endpoint's stored rate limit and drop deleted endpoints),
// `inference-done` (a try-out answered) and `traffic-refreshed` (the charts took a new sample): the row totals refresh.
export const KEY_STORE = 'hf-inference-gateway.apiKey';

export const $ = (id) => document.getElementById(id);
export const show = (el, on = true) => {
  (typeof el === 'string' ? $(el) : el).hidden = !on;
};

/** What the user pasted: the encoded key, or `id:api_key` (encoded here). */
export function authorization() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return undefined;
  return `ApiKey ${key.includes(':') ? btoa(key) : key}`;
}

export class ApiError extends Error {
  /** `body`: the error envelope as the service answered it, when it was JSON. */
  constructor(status, reason, body) {
    super(reason);
    this.status = status;
    this.body = body;
  }
}

let onUnauthorized = () => {};

/** What a 401 does: the page asks for a key (set by app.js). */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/**
 * One call to the service; an error answer becomes an ApiError carrying the envelope's reason. A 401 asks for a key.
 */
export async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const auth = authorization();
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    onUnauthorized(authorization() ? 'That API key was not accepted.' : undefined);
    throw new ApiError(401, 'an API key is needed');
  }
  if (raw && res.ok) return res;
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, json?.error?.reason ?? `${res.status} ${text.slice(0, 200)}`, json);
  return json ?? text;
}

export function fail(id, err) {
  const el = $(id);
  el.textContent = err instanceof Error ? err.message : String(err);
  show(el, true);
}

export function notice(text) {
  const el = $('notice');
  el.textContent = text;
  show(el, true);
}

/** Tells the rest of the page that something happened (see the events above). */
export const announce = (name, detail) => document.dispatchEvent(new CustomEvent(name, { detail }));

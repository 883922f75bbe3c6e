// Talking to Orvanta's API from its own pages: the session cookie
// authenticates, `X-Requested-With` marks the request as the page's own (the
// API refuses cookie-authenticated changes without it or a same-origin
// Origin), and an error answer becomes an ApiError carrying the API's words.

/** An error answer of the API: its status, `error.code` and `error.message`. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

/** Someone must log in (again): the app shows the login page. */
export const onUnauthorized = { handler: null };

/**
 * Calls the API. `body` is sent as JSON when it is not a string. Answers the
 * parsed JSON, or the text when the answer is not JSON.
 */
export async function api(method, path, body) {
  const headers = { 'X-Requested-With': 'orvanta-ui', Accept: 'application/json, text/plain' };
  const init = { method, headers, credentials: 'same-origin' };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (e) {
    throw new ApiError(0, 'network', `the server did not answer (${e.message}); is it running?`);
  }
  const text = await resp.text();
  const isJson = (resp.headers.get('content-type') || '').startsWith('application/json');
  let data = text;
  if (isJson && text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!resp.ok) {
    const err = data && data.error;
    const message = (err && err.message) || (typeof data === 'string' && data) || resp.statusText;
    const e = new ApiError(resp.status, (err && err.code) || String(resp.status), message);
    if (resp.status === 401 && onUnauthorized.handler && !path.startsWith('/api/auth/')) onUnauthorized.handler(e);
    throw e;
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body) => api('POST', path, body === undefined ? {} : body);
export const del = (path) => api('DELETE', path);

/** The API path of a workspace's route. */
export const wsPath = (ws, rest) => `/api/w/${encodeURIComponent(ws)}${rest}`;

/** A runnable path in a URL: its segments escaped, its slashes kept. */
export const encPath = (p) => p.split('/').map(encodeURIComponent).join('/');

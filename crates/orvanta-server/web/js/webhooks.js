// The webhook URLs of a runnable, as the seed page lists them, and the curl
// command that calls each one as shown (with the token filled in when there
// is one, else `$TOKEN` from the shell).

/** Quotes a word for a POSIX shell. */
export function shq(s) {
  return `'${String(s).replace(/'/g, `'\\''`)}'`;
}

/** The `?payload=` form of arguments: their JSON, base64 (URL-safe, unpadded). */
export function payloadParam(args) {
  const bytes = new TextEncoder().encode(JSON.stringify(args));
  let bin = '';
  for (const b of bytes) bin += String.fromCharCode(b);
  return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/**
 * Every webhook of a runnable: `kind` is `script` (targets `p/{path}`,
 * `h/{hash}`) or `flow` (`f/{path}`, `fv/{version}`).
 */
export function webhooks(origin, ws, kind, path, pinned) {
  const base = `${origin}/api/w/${encodeURIComponent(ws)}/jobs`;
  const latest = kind === 'flow' ? `f/${path}` : `p/${path}`;
  const exact = kind === 'flow' ? `fv/${pinned}` : `h/${pinned}`;
  const by = [['path', latest, 'the newest version'], [kind === 'flow' ? 'version' : 'hash', exact, 'this version, even after later saves']];
  const hooks = [];
  for (const [name, target, what] of by) {
    hooks.push({ id: `async-${name}`, group: 'async', label: `Async (UUID) by ${name}`, method: 'POST', url: `${base}/run/${target}`,
      says: `Starts ${what} and answers 201 with the job's id.` });
  }
  for (const [name, target, what] of by) {
    hooks.push({ id: `sync-${name}`, group: 'sync', label: `Sync (result) by ${name}`, method: 'POST', url: `${base}/run_wait_result/${target}`,
      says: `Runs ${what} and answers its result.` });
    hooks.push({ id: `sync-get-${name}`, group: 'sync', label: `Sync (result) by ${name}, GET`, method: 'GET', url: `${base}/run_wait_result/${target}`,
      says: `The same as a GET: the arguments are the payload parameter, base64 JSON.` });
  }
  for (const [name, target, what] of by) {
    hooks.push({ id: `sse-${name}`, group: 'sse', label: `Stream (SSE) by ${name}`, method: 'POST', url: `${base}/run_and_stream/${target}`,
      says: `Runs ${what} and streams its updates as server-sent events.` });
  }
  return hooks;
}

/** The URL a hook is called at with `args` (the GET form carries them). */
export function hookUrl(hook, args) {
  return hook.method === 'GET' ? `${hook.url}?payload=${payloadParam(args)}` : hook.url;
}

/** A ready-to-paste curl calling `hook` with `args`. */
export function curl(hook, args, token) {
  const auth = token ? `-H ${shq(`Authorization: Bearer ${token}`)}` : '-H "Authorization: Bearer $TOKEN"';
  const parts = ['curl', '-sS'];
  if (hook.group === 'sse') parts.push('-N');
  if (hook.method === 'GET') {
    parts.push(auth, shq(hookUrl(hook, args)));
  } else {
    parts.push('-X POST', auth, `-H 'Content-Type: application/json'`, '-d', shq(JSON.stringify(args)), shq(hook.url));
  }
  return parts.join(' ');
}

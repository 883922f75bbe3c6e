// A script's Details & Triggers: its facts, a run form generated from its
// schema, every webhook URL (by path and by hash; async, sync POST and GET,
// SSE) with a copy button and a ready-to-paste curl, and a button that makes
// a webhook-specific token for this script (shown once, and filled into the
// curl commands).

import { get, post, wsPath, encPath } from '../api.js';
import { h, replace, errorBox, copyButton, when, announce } from '../dom.js';
import { schemaForm } from '../schema_form.js';
import { webhooks, curl, hookUrl } from '../webhooks.js';

export async function render(main, ctx) {
  const { ws } = ctx;
  const path = ctx.params[1];
  const [s, tokens] = await Promise.all([
    get(wsPath(ws, `/scripts/get/p/${encPath(path)}`)),
    get(`/api/users/tokens/list?runnable_kind=script&runnable_path=${encodeURIComponent(path)}`),
  ]);
  const saved = ctx.query.get('saved');
  const form = schemaForm(s.schema, 'arg');
  let token = null;

  // Webhooks: drawn once; their URL and curl follow the arguments and the token.
  const hooks = webhooks(location.origin, ws, 'script', s.path, s.hash);
  const shown = hooks.map((hk) => {
    const url = h('code', {});
    const cmd = h('pre', { 'aria-label': `curl for ${hk.label}` });
    const el = h('section', { class: 'hook', 'data-hook': hk.id, 'aria-labelledby': `hook-${hk.id}` },
      h('h4', { id: `hook-${hk.id}` }, hk.label),
      h('p', { class: 'hint' }, hk.says),
      h('p', { class: 'url' }, url),
      cmd,
      h('div', { class: 'actions' }, copyButton('Copy URL', () => hookUrl(hk, form.preview()), hk.label),
        copyButton('Copy curl', () => curl(hk, form.preview(), token), hk.label)));
    return { hk, url, cmd, el };
  });
  const hookList = h('div', { id: 'webhooks' }, shown.map((x) => x.el));
  const drawHooks = () => {
    const args = form.preview();
    for (const { hk, url, cmd } of shown) {
      url.textContent = `${hk.method} ${hookUrl(hk, args)}`;
      cmd.textContent = curl(hk, args, token);
    }
  };
  const tokenArea = h('div', { id: 'webhook-token' });
  const makeToken = h('button', { type: 'button' }, 'Create a webhook token for this script');
  makeToken.addEventListener('click', async () => {
    makeToken.disabled = true;
    try {
      const secret = String(await post('/api/users/tokens/create', {
        label: `webhook ${s.path}`, scopes: [`jobs:run:scripts:${s.path}`], workspace_id: ws,
      })).trim();
      token = secret;
      replace(tokenArea, h('div', { class: 'notice', role: 'status' },
        h('p', {}, 'Your webhook token. It is shown this once: copy it now. It may only run this script and read the runs it started; the commands below now carry it.'),
        h('div', { class: 'secret' }, h('code', { id: 'new-webhook-token' }, secret), copyButton('Copy token', secret))));
      drawHooks();
      announce('Webhook token created');
      drawTokens(await get(`/api/users/tokens/list?runnable_kind=script&runnable_path=${encodeURIComponent(path)}`));
    } catch (e) {
      replace(tokenArea, errorBox(e));
    } finally {
      makeToken.disabled = false;
    }
  });

  // Running from the page.
  const runErr = h('div', { id: 'run-error' });
  const runForm = h('form', { 'aria-labelledby': 'run-title' }, form.fields,
    form.empty ? h('p', { class: 'hint' }, 'This script takes no arguments.') : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run')));
  runForm.addEventListener('input', drawHooks);
  runForm.addEventListener('change', drawHooks);
  runForm.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(runErr);
    let args;
    try { args = form.values(); } catch (e) { replace(runErr, errorBox(e)); return; }
    try {
      const id = String(await post(wsPath(ws, `/jobs/run/h/${s.hash}`), args)).trim();
      ctx.navigate(`/w/${ws}/runs/${id}`);
    } catch (e) {
      replace(runErr, errorBox(e));
    }
  });
  drawHooks();

  const existing = h('div', { id: 'webhook-tokens' });
  const drawTokens = (list) => replace(existing, list.length
    ? h('div', { class: 'table-wrap' }, h('table', {}, h('caption', {}, 'Webhook tokens of this script'),
      h('thead', {}, h('tr', {}, ['Label', 'Prefix', 'Created', 'Expires'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((t) => h('tr', {}, h('td', {}, t.label), h('td', {}, h('code', {}, t.token_prefix)),
        h('td', {}, when(t.created_at)), h('td', {}, t.expiration ? when(t.expiration) : 'never'))))))
    : h('p', { class: 'hint' }, 'No webhook token for this script yet.'));
  drawTokens(tokens);

  replace(main,
    h('h1', {}, s.path),
    s.summary ? h('p', { class: 'lead' }, s.summary) : null,
    saved ? h('div', { class: 'notice', role: 'status', id: 'saved' }, 'Saved. The new hash is ', h('code', {}, saved), '.') : null,
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: `#/w/${ws}/scripts/edit/${encPath(s.path)}` }, 'Edit'),
      h('a', { class: 'button secondary', href: `#/w/${ws}/runs?path=${encodeURIComponent(s.path)}` }, 'Runs of this script')),
    h('h2', {}, 'Details'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Hash'), h('dd', {}, h('code', { id: 'script-hash' }, s.hash)),
      h('dt', {}, 'Language'), h('dd', {}, s.language),
      h('dt', {}, 'Saved'), h('dd', {}, `${when(s.created_at)} by ${s.created_by}`),
      s.description ? [h('dt', {}, 'Description'), h('dd', {}, s.description)] : null,
      h('dt', {}, 'Timeout'), h('dd', {}, s.timeout_s ? `${s.timeout_s} s` : 'the instance default'),
      s.tag ? [h('dt', {}, 'Tag'), h('dd', {}, s.tag)] : null),
    h('h2', { id: 'run-title' }, 'Run'),
    runErr, runForm,
    h('h2', {}, 'Triggers: webhooks'),
    h('p', {}, 'Call this script from anywhere with these URLs. By path runs the newest version; by hash runs exactly this one. ',
      'Without a token below, the commands read it from $TOKEN in your shell.'),
    h('div', { class: 'actions' }, makeToken),
    tokenArea,
    existing,
    hookList,
    h('h2', {}, 'Code'),
    h('pre', { id: 'script-code' }, s.content));
  return `${s.path} · Details & Triggers`;
}

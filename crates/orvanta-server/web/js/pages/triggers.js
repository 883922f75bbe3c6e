// The Triggers part of a script's or flow's Details & Triggers page: every
// webhook URL with its copy buttons and a ready-to-paste curl (following the
// run form's arguments), and the button that makes a webhook-specific token
// for this runnable (shown once, then filled into every command).

import { get, post } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when, announce } from '../dom.js';
import { webhooks, curl, hookUrl } from '../webhooks.js';

/**
 * `kind` is `script` or `flow`; `pinned` the hash or version; `form` the run
 * form (its `preview()` gives the arguments); `tokens` this runnable's
 * webhook tokens. Answers the section's elements and `redraw()` for when the
 * arguments change.
 */
export function triggers({ ws, kind, path, pinned, form, tokens }) {
  let token = null;
  const hooks = webhooks(location.origin, ws, kind, path, pinned);
  const shown = hooks.map((hk) => {
    const url = h('code', {});
    const cmd = h('pre', {});
    const el = h('section', { class: 'hook', 'data-hook': hk.id, 'aria-labelledby': `hook-${hk.id}` },
      h('h4', { id: `hook-${hk.id}` }, hk.label),
      h('p', { class: 'hint' }, hk.says),
      h('p', { class: 'url' }, url),
      cmd,
      h('div', { class: 'actions' }, copyButton('Copy URL', () => hookUrl(hk, form.preview()), hk.label),
        copyButton('Copy curl', () => curl(hk, form.preview(), token), hk.label)));
    return { hk, url, cmd, el };
  });
  const redraw = () => {
    const args = form.preview();
    for (const { hk, url, cmd } of shown) {
      url.textContent = `${hk.method} ${hookUrl(hk, args)}`;
      cmd.textContent = curl(hk, args, token);
    }
  };

  const listed = h('div', { id: 'webhook-tokens' });
  const drawTokens = (list) => replace(listed, list.length
    ? scrollBox(h('table', {}, h('caption', {}, `Webhook tokens of this ${kind}`),
      h('thead', {}, h('tr', {}, ['Label', 'Prefix', 'Created', 'Expires'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, list.map((t) => h('tr', {}, h('td', {}, t.label), h('td', {}, h('code', {}, t.token_prefix)),
        h('td', {}, when(t.created_at)), h('td', {}, t.expiration ? when(t.expiration) : 'never'))))))
    : h('p', { class: 'hint' }, `No webhook token for this ${kind} yet.`));
  drawTokens(tokens);

  const area = h('div', { id: 'webhook-token' });
  const make = h('button', { type: 'button' }, `Create a webhook token for this ${kind}`);
  make.addEventListener('click', async () => {
    make.disabled = true;
    try {
      const secret = String(await post('/api/users/tokens/create', {
        label: `webhook ${path}`, scopes: [`jobs:run:${kind}s:${path}`], workspace_id: ws,
      })).trim();
      token = secret;
      replace(area, h('div', { class: 'notice', role: 'status' },
        h('p', {}, `Your webhook token. It is shown this once: copy it now. It may only run this ${kind} and read the runs it started; the commands below now carry it.`),
        h('div', { class: 'secret' }, h('code', { id: 'new-webhook-token' }, secret), copyButton('Copy token', secret))));
      redraw();
      announce('Webhook token created');
      drawTokens(await get(`/api/users/tokens/list?runnable_kind=${kind}&runnable_path=${encodeURIComponent(path)}`));
    } catch (e) {
      replace(area, errorBox(e));
    } finally {
      make.disabled = false;
    }
  });
  redraw();
  const pin = kind === 'flow' ? 'by version runs exactly this version' : 'by hash runs exactly this one';
  const elements = [
    h('h2', {}, 'Triggers: webhooks'),
    h('p', {}, `Call this ${kind} from anywhere with these URLs. By path runs the newest version; ${pin}. `,
      'Without a token below, the commands read it from $TOKEN in your shell.'),
    h('div', { class: 'actions' }, make),
    area,
    listed,
    h('div', { id: 'webhooks' }, shown.map((x) => x.el)),
  ];
  return { elements, redraw };
}

/** The webhook tokens of a runnable (for the page's one round trip). */
export const tokensOf = (kind, path) =>
  get(`/api/users/tokens/list?runnable_kind=${kind}&runnable_path=${encodeURIComponent(path)}`);

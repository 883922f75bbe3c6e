// Account settings: one's tokens (label, prefix, created, expires with the
// seed's badges — red under 7 days, amber under 30 — last used, scopes),
// creating one (shown once, with a copy button) and deleting one.

import { get, post, del } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when, announce } from '../dom.js';

const DAY = 86400000;

/** The expiry badge of a token: red under 7 days, amber under 30, none beyond. */
export function expiryBadge(expiration, now = Date.now()) {
  if (!expiration) return h('span', {}, 'never');
  const left = new Date(expiration).getTime() - now;
  const text = when(expiration);
  if (left <= 0) return h('span', {}, text, ' ', h('span', { class: 'badge red' }, 'expired'));
  const days = Math.ceil(left / DAY);
  const inDays = days <= 1 ? 'expires within a day' : `expires in ${days} days`;
  if (left < 7 * DAY) return h('span', {}, text, ' ', h('span', { class: 'badge red', 'data-badge': 'red' }, inDays));
  if (left < 30 * DAY) return h('span', {}, text, ' ', h('span', { class: 'badge amber', 'data-badge': 'amber' }, inDays));
  return h('span', {}, text);
}

export async function render(main, ctx) {
  const tokens = await get('/api/users/tokens/list');
  const user = ctx.session.user;
  const err = h('div', { id: 'tokens-error' });
  const shown = h('div', { id: 'new-token-area' });
  const rows = tokens.map((t) => {
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete the token ${t.label || t.token_prefix}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Delete the token "${t.label || t.token_prefix}"? Whatever uses it stops working.`)) return;
      try { await del(`/api/users/tokens/delete/${encodeURIComponent(t.token_prefix)}`); announce('Token deleted'); ctx.navigate('/account'); }
      catch (e) { replace(err, errorBox(e)); }
    });
    return h('tr', { 'data-prefix': t.token_prefix },
      h('td', {}, t.label || '—'),
      h('td', {}, h('code', {}, t.token_prefix)),
      h('td', { class: 'opt' }, when(t.created_at)),
      h('td', { class: 'expires' }, expiryBadge(t.expiration)),
      h('td', { class: 'opt' }, t.last_used_at ? when(t.last_used_at) : 'never'),
      h('td', {}, t.scopes && t.scopes.length ? t.scopes.map((s) => h('code', { class: 'scope' }, s, ' ')) : 'all of your rights',
        t.workspace_id ? h('span', { class: 'hint' }, ` (workspace ${t.workspace_id})`) : null),
      h('td', {}, remove));
  });
  const form = h('form', { 'aria-labelledby': 'create-title' },
    h('label', { for: 't-label' }, 'Label'),
    h('input', { id: 't-label', name: 'label', type: 'text', required: true, placeholder: 'CI deploys' }),
    h('label', { for: 't-days' }, 'Expires after (days)'),
    h('input', { id: 't-days', name: 'days', type: 'number', min: 1, step: 1, 'aria-describedby': 't-days-hint' }),
    h('p', { class: 'hint', id: 't-days-hint' }, 'Empty: never expires.'),
    h('label', { for: 't-scopes' }, 'Scopes'),
    h('input', { id: 't-scopes', name: 'scopes', type: 'text', 'aria-describedby': 't-scopes-hint', placeholder: 'jobs:run:scripts:u/admin/hello' }),
    h('p', { class: 'hint', id: 't-scopes-hint' }, 'Optional, separated by spaces or commas. Empty: all of your rights.'),
    h('label', { for: 't-ws' }, 'Workspace'),
    h('select', { id: 't-ws', name: 'workspace' }, h('option', { value: '' }, 'every workspace of yours'),
      ctx.session.workspaces.map((w) => h('option', { value: w.id }, w.id))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create the token')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    const f = form.elements;
    const body = { label: f.label.value.trim() };
    if (f.days.value) body.expiration = new Date(Date.now() + Number(f.days.value) * DAY).toISOString();
    const scopes = f.scopes.value.split(/[\s,]+/).filter(Boolean);
    if (scopes.length) body.scopes = scopes;
    if (f.workspace.value) body.workspace_id = f.workspace.value;
    try {
      const secret = String(await post('/api/users/tokens/create', body)).trim();
      await render(main, ctx);
      replace(main.querySelector('#new-token-area'), h('div', { class: 'notice', role: 'status' },
        h('p', {}, `Your new token "${body.label}". It is shown this once: copy it now.`),
        h('div', { class: 'secret' }, h('code', { id: 'new-token' }, secret), copyButton('Copy token', secret))));
      main.querySelector('#new-token-area').scrollIntoView({ block: 'nearest' });
      announce('Token created; it is shown this once');
    } catch (e) {
      replace(err, errorBox(e));
    }
  });
  replace(main,
    h('h1', {}, 'Account settings'),
    h('p', { class: 'lead' }, `${user.email} · ${user.username}${user.super_admin ? ' · super admin' : ''}`),
    h('h2', {}, 'Tokens'),
    err, shown,
    scrollBox(h('table', { id: 'tokens' },
      h('caption', { class: 'sr' }, 'Your tokens'),
      h('thead', {}, h('tr', {}, ['Label', 'Prefix', 'Created', 'Expires', 'Last used', 'Scopes', ''].map((t, i) =>
        h('th', { scope: 'col', class: i === 2 || i === 4 ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7 }, 'No tokens yet. Login sessions are not listed.'))))),
    h('h2', { id: 'create-title' }, 'Create a token'),
    form);
  return 'Account settings';
}

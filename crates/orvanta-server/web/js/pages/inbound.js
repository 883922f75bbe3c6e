// Inbound webhooks: the definitions with their URL and verified state, and
// the form that makes one (platform, verifier, secret or headers, the flows
// each verified event starts).

import { get, post, wsPath } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when } from '../dom.js';

const PLATFORMS = ['custom', 'github', 'slack', 'stripe', 'teams', 'sendgrid'];
const VERIFIERS = ['header', 'github', 'slack', 'stripe', 'teams', 'sendgrid', 'standard_webhooks'];

export function verifiedBadge(v) {
  return h('span', { class: `badge ${v ? 'green' : 'amber'}` }, v ? 'verified' : 'not verified yet');
}

export async function render(main, ctx) {
  const { ws } = ctx;
  const hooks = await get(wsPath(ws, '/inbound_webhooks/list'));
  const rows = hooks.map((d) => h('tr', { 'data-hook-id': d.id },
    h('td', {}, h('a', { href: `#/w/${ws}/inbound/${encodeURIComponent(d.id)}` }, d.name)),
    h('td', {}, `${d.source_platform || '—'} / ${d.verifier || '—'}`),
    h('td', {}, h('code', { class: 'url' }, d.url), ' ', copyButton('Copy URL', d.url, d.name)),
    h('td', {}, verifiedBadge(d.url_verified)),
    h('td', { class: 'opt' }, when(d.created_at))));
  const err = h('div', { id: 'inbound-error', tabindex: '-1' });
  const sel = (id, label, options, value) => [h('label', { for: id }, label),
    h('select', { id, name: id }, options.map((o) => h('option', { value: o, selected: o === value }, o)))];
  const form = h('form', { 'aria-labelledby': 'new-inbound' },
    h('label', { for: 'in-name' }, 'Name'), h('input', { id: 'in-name', name: 'name', type: 'text', required: true }),
    ...sel('in-platform', 'Source platform', PLATFORMS, 'custom'),
    ...sel('in-verifier', 'Verifier', VERIFIERS, 'header'),
    h('label', { for: 'in-secret' }, 'Secret'),
    h('input', { id: 'in-secret', name: 'secret', type: 'password', autocomplete: 'off', 'aria-describedby': 'in-secret-hint' }),
    h('p', { class: 'hint', id: 'in-secret-hint' }, 'The signing secret the platform gives you (not for the header verifier). It is never shown again.'),
    h('label', { for: 'in-headers' }, 'Required headers'),
    h('textarea', { id: 'in-headers', name: 'headers', class: 'code', rows: 3, 'aria-describedby': 'in-headers-hint', placeholder: 'X-Key: a-long-random-value' }),
    h('p', { class: 'hint', id: 'in-headers-hint' }, 'For the header verifier: one "Name: value" per line, each must be sent exactly.'),
    h('label', { for: 'in-flows' }, 'Flows to start'),
    h('textarea', { id: 'in-flows', name: 'flows', class: 'code', rows: 2, 'aria-describedby': 'in-flows-hint', placeholder: 'f/team/on_order' }),
    h('p', { class: 'hint', id: 'in-flows-hint' }, 'One path per line: each verified event starts them with the event as input.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create the inbound webhook')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    const f = form.elements;
    const headers = {};
    for (const line of f.headers.value.split('\n').map((l) => l.trim()).filter(Boolean)) {
      const i = line.indexOf(':');
      if (i < 1) { replace(err, errorBox(new Error(`"${line}" is not "Name: value"`))); err.focus(); return; }
      headers[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    const body = { name: f.name.value.trim(), source_platform: f['in-platform'].value, verifier: f['in-verifier'].value,
      flows_to_start: f.flows.value.split('\n').map((l) => l.trim()).filter(Boolean).map((path) => ({ path })) };
    if (f.secret.value) body.secret = f.secret.value;
    if (Object.keys(headers).length) body.headers = headers;
    try {
      const made = await post(wsPath(ws, '/inbound_webhooks/create'), body);
      ctx.navigate(`/w/${ws}/inbound/${encodeURIComponent(made.id)}`);
    } catch (e) { replace(err, errorBox(e)); err.focus(); }
  });
  replace(main,
    h('h1', {}, 'Inbound webhooks'),
    h('p', { class: 'lead' }, 'URLs for platforms that sign their requests instead of sending a token.'),
    scrollBox(h('table', { id: 'inbound' },
      h('caption', { class: 'sr' }, 'Inbound webhook definitions'),
      h('thead', {}, h('tr', {}, ['Name', 'Platform / verifier', 'URL', 'State', 'Created'].map((t, i) => h('th', { scope: 'col', class: i === 4 ? 'opt' : null }, t)))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 5 }, 'No inbound webhooks yet.'))))),
    h('h2', { id: 'new-inbound' }, 'New inbound webhook'), err, form);
  return 'Inbound webhooks';
}

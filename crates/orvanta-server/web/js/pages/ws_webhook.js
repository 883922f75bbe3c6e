// The workspace webhook's part of the settings: its URL, its signing secret
// (copy, rotate), and the delivery log: each event's state and attempts, its
// attempt log on demand, and replay.

import { get, post, wsPath } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when, announce } from '../dom.js';

export function webhookSection(ctx, settings, log, reload) {
  const { ws } = ctx;
  const err = h('div', { id: 'webhook-error' });
  const url = h('input', { id: 'webhook-url', name: 'webhook', type: 'text', value: settings.webhook || '', placeholder: 'https://example.com/orvanta-events', 'aria-describedby': 'webhook-url-hint' });
  const form = h('form', { 'aria-label': 'Webhook URL' },
    h('label', { for: 'webhook-url' }, 'URL'), url,
    h('p', { class: 'hint', id: 'webhook-url-hint' }, 'Every change in this workspace is POSTed there, signed (Standard Webhooks). Empty: off.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Save the webhook')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    try { const said = await post(wsPath(ws, '/workspaces/edit_webhook'), { webhook: url.value.trim() || null }); announce(String(said)); reload(); }
    catch (e) { replace(err, errorBox(e)); }
  });
  const secret = settings.webhook_secret;
  const rotate = h('button', { type: 'button', class: 'secondary' }, 'Rotate the secret');
  rotate.addEventListener('click', async () => {
    if (!window.confirm('Make a new signing secret? The old one stops at once.')) return;
    try { await post(wsPath(ws, '/workspaces/rotate_webhook_secret')); reload(); } catch (e) { replace(err, errorBox(e)); }
  });
  const rows = log.map((ev) => {
    const replay = h('button', { type: 'button', class: 'secondary', 'aria-label': `Replay the event ${ev.id}` }, 'Replay');
    replay.addEventListener('click', async () => {
      try { await post(wsPath(ws, '/workspaces/webhook_deliveries/replay'), { id: ev.id }); announce(`Event ${ev.id} replayed`); reload(); }
      catch (e) { replace(err, errorBox(e)); }
    });
    const attempts = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
    const more = h('details', {}, h('summary', {}, `Attempts of ${ev.id}`), attempts);
    more.addEventListener('toggle', async () => {
      if (!more.open) return;
      try {
        const d = await get(wsPath(ws, `/workspaces/webhook_deliveries/${ev.id}`));
        replace(attempts, d.attempt_log.length ? h('table', {}, h('thead', {}, h('tr', {}, ['#', 'At', 'Status', 'Latency', 'Response'].map((t) => h('th', { scope: 'col' }, t)))),
          h('tbody', {}, d.attempt_log.map((a) => h('tr', {}, h('td', {}, a.n), h('td', {}, when(a.at)), h('td', {}, a.status ?? '—'),
            h('td', {}, a.latency_ms != null ? `${a.latency_ms} ms` : '—'), h('td', {}, h('code', {}, a.response || '')))))) : h('p', {}, 'No attempt yet.'),
          h('pre', {}, JSON.stringify(d.payload, null, 2)));
      } catch (e) { replace(attempts, errorBox(e)); }
    });
    const cls = { delivered: 'success', pending: 'queued', failed: 'failure' }[ev.state] || 'none';
    return h('tr', { 'data-event': ev.id }, h('td', {}, String(ev.id)), h('td', {}, ev.type), h('td', {}, when(ev.created_at)),
      h('td', {}, h('span', { class: `badge status-${cls}` }, ev.state)), h('td', {}, String(ev.attempts)),
      h('td', {}, replay, more));
  });
  return [err, form,
    settings.webhook_disabled ? h('div', { class: 'error', role: 'status' }, `The webhook stopped: ${settings.webhook_disabled}`) : null,
    h('h3', {}, 'Signing secret'),
    secret ? h('div', { class: 'secret' }, h('code', { id: 'webhook-secret' }, secret), copyButton('Copy the secret', secret), rotate)
      : h('p', { class: 'hint' }, 'Made when a URL is saved the first time.'),
    h('h3', { id: 'deliveries-title' }, 'Delivery log'),
    scrollBox(h('table', { id: 'deliveries', 'aria-labelledby': 'deliveries-title' },
      h('thead', {}, h('tr', {}, ['Event', 'Type', 'Created', 'State', 'Attempts', ''].map((t) => h('th', { scope: 'col' }, t || h('span', { class: 'sr' }, 'Actions'))))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6 }, 'No events yet.')))))];
}

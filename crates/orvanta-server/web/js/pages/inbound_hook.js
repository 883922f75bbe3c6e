// One inbound webhook: its URL and verified state, its settings (secrets
// masked, as the API shows them), and its execution history — each request's
// verification outcome, the jobs it started, its headers and body on demand —
// with replay.

import { get, post, del, wsPath } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when, announce } from '../dom.js';
import { verifiedBadge } from './inbound.js';

const OUTCOME = { verified: 'success', answered: 'success', duplicate: 'queued', ignored: 'queued' };

export async function render(main, ctx) {
  const { ws } = ctx;
  const id = ctx.params[1];
  const base = wsPath(ws, `/inbound_webhooks`);
  const [d, events] = await Promise.all([get(`${base}/get/${encodeURIComponent(id)}`), get(`${base}/events/${encodeURIComponent(id)}?per_page=50`)]);
  const err = h('div', { id: 'hook-error' });
  const reload = () => ctx.navigate(`/w/${ws}/inbound/${encodeURIComponent(id)}`);
  // Each entry: {path, job_id, existing?} for a run it started, {path, error} for one it could not.
  const jobLinks = (jobs) => (Array.isArray(jobs) && jobs.length ? jobs.map((j) => (j.job_id
    ? h('div', {}, h('a', { href: `#/w/${ws}/runs/${j.job_id}`, 'aria-label': `Run ${j.job_id} of ${j.path}` }, j.path || String(j.job_id).slice(0, 8)),
      j.existing ? ' (an earlier run)' : null)
    : h('div', { class: 'field-error' }, `${j.path}: ${typeof j.error === 'string' ? j.error : JSON.stringify(j.error)}`))) : '—');
  const rows = events.map((e) => {
    const detail = h('div', {}, h('p', { class: 'hint' }, 'Loading…'));
    const more = h('details', {}, h('summary', {}, `Request ${e.event_id || e.id}`), detail);
    more.addEventListener('toggle', async () => {
      if (!more.open) return;
      try {
        const full = await get(`${base}/event/${encodeURIComponent(id)}/${encodeURIComponent(e.id)}`);
        const headers = Array.isArray(full.headers) ? full.headers : Object.entries(full.headers || {});
        replace(detail,
          h('h4', {}, 'Headers'),
          h('table', { class: 'headers' }, h('tbody', {}, headers.map(([k, v]) => h('tr', {}, h('th', { scope: 'row' }, k), h('td', {}, h('code', {}, v)))))),
          h('h4', {}, 'Body'),
          h('pre', { class: 'event-body' }, full.body !== undefined ? full.body : `(binary, base64) ${full.body_base64}`));
      } catch (x) { replace(detail, errorBox(x)); }
    });
    const replay = ['verified', 'duplicate'].includes(e.outcome)
      ? h('button', { type: 'button', class: 'secondary', 'aria-label': `Replay the request ${e.event_id || e.id}` }, 'Replay') : null;
    if (replay) {
      replay.addEventListener('click', async () => {
        try { await post(`${base}/replay/${encodeURIComponent(id)}/${encodeURIComponent(e.id)}`); announce('Replayed'); reload(); }
        catch (x) { replace(err, errorBox(x)); }
      });
    }
    return h('tr', { 'data-event': e.id },
      h('td', {}, when(e.received_at)),
      h('td', {}, h('span', { class: `badge status-${OUTCOME[e.outcome] || 'failure'}` }, e.outcome), e.reason ? h('p', { class: 'hint' }, e.reason) : null),
      h('td', { class: 'opt' }, e.headers_matched === null || e.headers_matched === undefined ? '—' : e.headers_matched ? 'yes' : 'no'),
      h('td', {}, jobLinks(e.jobs), Array.isArray(e.waits) && e.waits.length ? ` ${e.waits.length} wait(s) woken` : null),
      h('td', { class: 'opt' }, e.replay_of ? `replay of ${String(e.replay_of).slice(0, 8)}` : ''),
      h('td', {}, replay, more));
  });
  const remove = h('button', { type: 'button', class: 'danger' }, 'Delete this inbound webhook');
  remove.addEventListener('click', async () => {
    if (!window.confirm(`Delete the inbound webhook ${d.name}? Its URL stops answering.`)) return;
    try { await del(`${base}/delete/${encodeURIComponent(id)}`); ctx.navigate(`/w/${ws}/inbound`); } catch (x) { replace(err, errorBox(x)); }
  });
  const flows = (d.flows_to_start || []).map((f) => f.path).join(', ') || 'none';
  replace(main,
    h('h1', {}, `Inbound webhook ${d.name}`),
    h('p', { class: 'lead' }, verifiedBadge(d.url_verified)),
    err,
    h('dl', { class: 'facts' },
      h('dt', {}, 'URL'), h('dd', {}, h('code', { id: 'inbound-url' }, d.url), ' ', copyButton('Copy URL', d.url)),
      h('dt', {}, 'Platform'), h('dd', {}, d.source_platform || '—'),
      h('dt', {}, 'Verifier'), h('dd', {}, d.verifier || '—'),
      h('dt', {}, 'Secret'), h('dd', {}, d.secret ? 'set (never shown)' : 'none'),
      h('dt', {}, 'Required headers'), h('dd', {}, Object.keys(d.headers || {}).join(', ') || 'none'),
      h('dt', {}, 'Replay window'), h('dd', {}, d.tolerance_s ? `${d.tolerance_s} s` : 'off'),
      h('dt', {}, 'Starts'), h('dd', {}, flows),
      h('dt', {}, 'Created'), h('dd', {}, `${when(d.created_at)} by ${d.created_by}`)),
    h('div', { class: 'actions' }, remove),
    h('h2', { id: 'history-title' }, 'Execution history'),
    scrollBox(h('table', { id: 'events', 'aria-labelledby': 'history-title' },
      h('thead', {}, h('tr', {}, ['Received', 'Verification', 'Headers matched', 'Jobs', 'Replay of', ''].map((t, i) =>
        h('th', { scope: 'col', class: i === 2 || i === 4 ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6 }, 'No requests yet.'))))));
  return `Inbound webhook ${d.name}`;
}

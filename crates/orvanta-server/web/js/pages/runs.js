// Runs: the jobs list, filtered by path, status and trigger in the address
// (so a filtered list can be bookmarked); refreshed while a shown job is
// still queued or running.

import { get, wsPath } from '../api.js';
import { scrollBox, h, replace, when, statusBadge } from '../dom.js';

const STATUSES = ['', 'queued', 'running', 'success', 'failure', 'canceled'];
const TRIGGERS = ['', 'webhook', 'webhook_sync', 'stream', 'ui', 'api', 'flow'];

/** An RFC 3339 time as a datetime-local field's value (the reader's local time). */
function localInput(t) {
  const d = new Date(t);
  if (Number.isNaN(d.getTime())) return '';
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export async function render(main, ctx) {
  const { ws, query } = ctx;
  const path = query.get('path') || '';
  const status = query.get('status') || '';
  const trigger = query.get('trigger') || '';
  const steps = query.get('steps') === '1';
  const since = query.get('since') || '';
  const api = () => {
    const q = new URLSearchParams({ per_page: '50' });
    if (path) q.set('script_path_start', path);
    if (status) q.set('status', status);
    if (trigger) q.set('trigger', trigger);
    if (since) q.set('since', since);
    if (!steps) q.set('has_null_parent', 'true');
    return wsPath(ws, `/jobs/list?${q}`);
  };
  const jobs = await get(api());
  const body = h('tbody');
  const draw = (list) => replace(body, list.length ? list.map((j) => h('tr', {},
    h('td', {}, h('a', { href: `#/w/${ws}/runs/${j.id}`, 'aria-label': `Run ${j.id} of ${j.script_path || 'an inline script'}` }, j.id.slice(0, 8))),
    h('td', {}, j.script_path || '—'),
    h('td', {}, statusBadge(j.status)),
    h('td', { class: 'opt' }, j.trigger || '—'),
    h('td', {}, when(j.created_at)),
    h('td', { class: 'opt' }, j.duration_ms != null ? `${j.duration_ms} ms` : '—'),
    h('td', { class: 'opt' }, j.created_by)))
    : h('tr', {}, h('td', { colspan: 7 }, 'No runs match.')));
  draw(jobs);
  const unfinished = (list) => list.some((j) => j.status === 'queued' || j.status === 'running');
  let live = unfinished(jobs);
  const timer = setInterval(async () => {
    if (!live || document.hidden) return;
    try { const list = await get(api()); draw(list); live = unfinished(list); } catch { /* the next tick tries again */ }
  }, 2000);
  ctx.onLeave(() => clearInterval(timer));

  const select = (id, label, options, value) => [h('label', { for: id }, label),
    h('select', { id, name: id }, options.map((o) => h('option', { value: o, selected: o === value }, o || 'any')))];
  const form = h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter runs' },
    h('div', {}, h('label', { for: 'f-path' }, 'Path starts with'),
      h('input', { id: 'f-path', name: 'path', type: 'search', value: path, placeholder: 'u/admin/' })),
    h('div', {}, ...select('f-status', 'Status', STATUSES, status)),
    h('div', {}, ...select('f-trigger', 'Trigger', TRIGGERS, trigger)),
    h('div', {}, h('label', { for: 'f-since' }, 'Created since'),
      h('input', { id: 'f-since', name: 'since', type: 'datetime-local', value: since ? localInput(since) : '' })),
    h('div', {}, h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'steps', checked: steps }), 'Show flow steps')),
    h('div', {}, h('button', { type: 'submit' }, 'Filter')));
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const q = new URLSearchParams();
    if (f.path.value.trim()) q.set('path', f.path.value.trim());
    if (f['f-status'].value) q.set('status', f['f-status'].value);
    if (f['f-trigger'].value) q.set('trigger', f['f-trigger'].value);
    if (f.since.value) q.set('since', new Date(f.since.value).toISOString());
    if (f.steps.checked) q.set('steps', '1');
    ctx.navigate(`/w/${ws}/runs${q.toString() ? '?' + q : ''}`);
  });
  replace(main, h('h1', {}, 'Runs'), form,
    scrollBox(h('table', { id: 'runs' },
      h('caption', { class: 'sr' }, 'Runs, newest first'),
      h('thead', {}, h('tr', {}, ['Run', 'Path', 'Status', 'Trigger', 'Created', 'Duration', 'By'].map((t, i) =>
        h('th', { scope: 'col', class: [3, 5, 6].includes(i) ? 'opt' : null }, t)))),
      body)));
  return 'Runs';
}

// A flow's Details & Triggers: its facts and versions, a run form generated
// from its input schema, its webhooks (by path and by version), and its
// OpenFlow JSON.

import { get, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, when } from '../dom.js';
import { schemaForm } from '../schema_form.js';
import { triggers, tokensOf } from './triggers.js';
import { runFormOf } from './script.js';

export async function render(main, ctx) {
  const { ws } = ctx;
  const path = ctx.params[1];
  const [f, history, tokens] = await Promise.all([
    get(wsPath(ws, `/flows/get/${encPath(path)}`)),
    get(wsPath(ws, `/flows/history/p/${encPath(path)}`)),
    tokensOf('flow', path),
  ]);
  const form = schemaForm(f.schema, 'arg');
  const trig = triggers({ ws, kind: 'flow', path: f.path, pinned: f.version_id, form, tokens });
  const steps = (f.value && f.value.modules) || [];
  replace(main,
    h('h1', {}, f.path),
    f.summary ? h('p', { class: 'lead' }, f.summary) : null,
    ctx.query.get('saved') ? h('div', { class: 'notice', role: 'status', id: 'saved' }, 'Saved. The new version is ', h('code', {}, String(f.version_id)), '.') : null,
    h('div', { class: 'actions' },
      h('a', { class: 'button secondary', href: `#/w/${ws}/flows/edit/${encPath(f.path)}` }, 'Edit'),
      h('a', { class: 'button secondary', href: `#/w/${ws}/runs?path=${encodeURIComponent(f.path)}` }, 'Runs of this flow')),
    h('h2', {}, 'Details'),
    h('dl', { class: 'facts' },
      h('dt', {}, 'Version'), h('dd', {}, h('code', { id: 'flow-version' }, String(f.version_id))),
      h('dt', {}, 'Saved'), h('dd', {}, `${when(f.created_at)} by ${f.created_by}`),
      f.description ? [h('dt', {}, 'Description'), h('dd', {}, f.description)] : null,
      h('dt', {}, 'Steps'), h('dd', {}, steps.map((m) => `${m.id} (${(m.value && m.value.type) || '?'})`).join(' → ') || 'none')),
    runFormOf(ctx, form, wsPath(ws, `/jobs/run/fv/${f.version_id}`), trig.redraw, 'flow'),
    trig.elements,
    h('h2', {}, 'Versions'),
    scrollBox(h('table', { id: 'versions' },
      h('thead', {}, h('tr', {}, ['Version', 'Saved', 'By', 'Summary'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, history.map((v) => h('tr', {}, h('td', {}, h('code', {}, String(v.version_id))), h('td', {}, when(v.created_at)),
        h('td', {}, v.created_by), h('td', {}, v.summary || '')))))),
    h('h2', {}, 'OpenFlow JSON'),
    h('pre', { id: 'flow-value' }, JSON.stringify(f.value, null, 2)));
  return `${f.path} · Details & Triggers`;
}

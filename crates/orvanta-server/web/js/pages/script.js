// A script's Details & Triggers: its facts, a run form generated from its
// schema, its webhooks (triggers.js), and its code.

import { get, post, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, errorBox, when } from '../dom.js';
import { schemaForm } from '../schema_form.js';
import { triggers, tokensOf } from './triggers.js';

export async function render(main, ctx) {
  const { ws } = ctx;
  const path = ctx.params[1];
  const [s, tokens, history] = await Promise.all([
    get(wsPath(ws, `/scripts/get/p/${encPath(path)}`)),
    tokensOf('script', path),
    get(wsPath(ws, `/scripts/history/p/${encPath(path)}`)),
  ]);
  const saved = ctx.query.get('saved');
  const form = schemaForm(s.schema, 'arg');
  const trig = triggers({ ws, kind: 'script', path: s.path, pinned: s.hash, form, tokens });
  const runForm = runFormOf(ctx, form, wsPath(ws, `/jobs/run/h/${s.hash}`), trig.redraw, 'script');
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
    runForm,
    trig.elements,
    h('h2', { id: 'versions-title' }, 'Versions'),
    scrollBox(h('table', { id: 'versions', 'aria-labelledby': 'versions-title' },
      h('thead', {}, h('tr', {}, ['Hash', 'Saved', 'By', 'Summary'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, history.map((v) => h('tr', {}, h('td', {}, h('code', {}, v.hash || v.script_hash), (v.hash || v.script_hash) === s.hash ? ' (newest)' : null),
        h('td', {}, when(v.created_at)), h('td', {}, v.created_by), h('td', {}, v.summary || '')))))),
    h('h2', {}, 'Code'),
    h('pre', { id: 'script-code' }, s.content));
  return `${s.path} · Details & Triggers`;
}

/** The Run heading and form: the arguments from `form`, posted to `url`; then the run's page. */
export function runFormOf(ctx, form, url, onChange, kind) {
  const err = h('div', { id: 'run-error' });
  const el = h('form', { 'aria-labelledby': 'run-title' }, form.fields,
    form.empty ? h('p', { class: 'hint' }, `This ${kind} takes no arguments.`) : null,
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Run')));
  el.addEventListener('input', onChange);
  el.addEventListener('change', onChange);
  el.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    let args;
    try { args = form.values(); } catch (e) { replace(err, errorBox(e)); return; }
    try {
      const id = String(await post(url, args)).trim();
      ctx.navigate(`/w/${ctx.ws}/runs/${id}`);
    } catch (e) {
      replace(err, errorBox(e));
    }
  });
  return [h('h2', { id: 'run-title' }, 'Run'), err, el];
}

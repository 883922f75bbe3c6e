// Flows: the list with a search by path, and the editor of a flow's OpenFlow
// JSON (and input schema), whose errors — the browser's JSON parser's, then
// the API's validation — are shown next to the field they are about.

import { get, post, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, errorBox, when } from '../dom.js';

export async function render(main, ctx) {
  if (ctx.opts.mode === 'new') return edit(main, ctx, null);
  if (ctx.opts.mode === 'edit') return edit(main, ctx, ctx.params[1]);
  return list(main, ctx);
}

async function list(main, ctx) {
  const { ws } = ctx;
  const flows = await get(wsPath(ws, '/flows/list'));
  flows.sort((a, b) => a.path.localeCompare(b.path));
  const search = h('input', { id: 'search', type: 'search', value: ctx.query.get('q') || '', placeholder: 'f/team/…', 'aria-describedby': 'search-count' });
  const count = h('p', { id: 'search-count', class: 'hint', 'aria-live': 'polite' });
  const body = h('tbody');
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = flows.filter((f) => !q || f.path.toLowerCase().includes(q));
    count.textContent = q ? `${shown.length} of ${flows.length} flows match "${search.value.trim()}"` : `${flows.length} flow${flows.length === 1 ? '' : 's'}`;
    replace(body, shown.length ? shown.map((f) => h('tr', {},
      h('td', {}, h('a', { href: `#/w/${ws}/flows/get/${encPath(f.path)}` }, f.path)),
      h('td', {}, f.summary || ''),
      h('td', { class: 'opt' }, String(f.version_id ?? '')),
      h('td', { class: 'opt' }, when(f.edited_at || f.created_at)),
      h('td', {}, h('a', { href: `#/w/${ws}/flows/edit/${encPath(f.path)}`, 'aria-label': `Edit ${f.path}` }, 'Edit'))))
      : h('tr', {}, h('td', { colspan: 5 }, flows.length ? 'No flow matches.' : 'No flows yet.')));
  };
  search.addEventListener('input', () => {
    draw();
    const q = search.value.trim();
    history.replaceState(null, '', `#/w/${ws}/flows${q ? '?q=' + encodeURIComponent(q) : ''}`);
  });
  draw();
  replace(main,
    h('h1', {}, 'Flows'),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: `#/w/${ws}/flows/new` }, 'New flow')),
    h('div', { class: 'filters', role: 'search' }, h('div', {}, h('label', { for: 'search' }, 'Search by path'), search)),
    count,
    scrollBox(h('table', {},
      h('caption', { class: 'sr' }, `Flows of the workspace ${ws}`),
      h('thead', {}, h('tr', {}, ['Path', 'Summary', 'Version', 'Saved', ''].map((t, i) =>
        h('th', { scope: 'col', class: i === 2 || i === 3 ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
      body)));
  return 'Flows';
}

const EXAMPLE = {
  modules: [
    { id: 'greet', value: { type: 'rawscript', language: 'python3', content: 'def main(name: str):\n    return f"Hello, {name}!"\n',
      input_transforms: { name: { type: 'javascript', expr: 'flow_input.name' } } } },
    { id: 'shout', value: { type: 'rawscript', language: 'python3', content: 'def main(text: str):\n    return text.upper()\n',
      input_transforms: { text: { type: 'javascript', expr: 'results.greet' } } } },
  ],
};
const EXAMPLE_SCHEMA = { type: 'object', properties: { name: { type: 'string', default: 'world' } }, required: [] };

/** Which field an API refusal of a flow save is about. */
export function fieldOf(e) {
  const m = (e.message || '').toLowerCase();
  if (m.startsWith("the flow's value") || m.includes('module') || m.includes('early_return')) return 'value';
  if (m.includes('schema')) return 'schema';
  if (m.includes('summary')) return 'summary';
  if (m.includes('description')) return 'description';
  if (e.status === 409 || m.includes('path')) return 'path';
  return null;
}

async function edit(main, ctx, path) {
  const { ws } = ctx;
  const old = path ? await get(wsPath(ws, `/flows/get/${encPath(path)}`)) : null;
  const errs = {};
  const field = (id, label, input, hint) => {
    errs[id] = h('p', { class: 'field-error', id: `${id}-error` });
    input.setAttribute('aria-describedby', [hint ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' '));
    return [h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null, errs[id]];
  };
  const json = (v) => JSON.stringify(v, null, 2);
  const value = h('textarea', { id: 'value', name: 'value', class: 'code', spellcheck: 'false', required: true });
  value.value = json(old ? old.value : EXAMPLE);
  const schema = h('textarea', { id: 'schema', name: 'schema', class: 'code', spellcheck: 'false', rows: 8 });
  schema.value = json(old ? old.schema : EXAMPLE_SCHEMA);
  const top = h('div', { id: 'form-error', tabindex: '-1' });
  const form = h('form', {},
    field('path', 'Path', h('input', { id: 'path', name: 'path', type: 'text', required: true, readonly: !!old, autocomplete: 'off', spellcheck: 'false',
      value: old ? old.path : `u/${ctx.session.user.username}/` }), old ? 'A new version keeps the path.' : 'u/{user}/name or f/{folder}/name.'),
    field('summary', 'Summary', h('input', { id: 'summary', name: 'summary', type: 'text', value: old ? old.summary : '' })),
    field('description', 'Description', h('textarea', { id: 'description', name: 'description' }, old ? old.description : '')),
    field('value', 'OpenFlow JSON', value, '{"modules": [...]} — steps (rawscript, script, flow, forloopflow, branchone, branchall, identity, waitforwebhook), failure_module, early_return.'),
    field('schema', 'Input schema (JSON Schema)', schema, 'The run form and the webhooks\' arguments. Empty: none.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, old ? 'Save a new version' : 'Create the flow'),
      h('a', { href: old ? `#/w/${ws}/flows/get/${encPath(old.path)}` : `#/w/${ws}/flows` }, 'Cancel')));
  const show = (name, message) => {
    const target = errs[name];
    const input = form.elements[name];
    replace(target, message);
    input.setAttribute('aria-invalid', 'true');
    input.focus();
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(top);
    for (const [name, el] of Object.entries(errs)) { replace(el); form.elements[name].removeAttribute('aria-invalid'); }
    const parsed = {};
    for (const name of ['value', 'schema']) {
      const text = form.elements[name].value.trim();
      if (!text && name === 'schema') continue;
      try { parsed[name] = JSON.parse(text); } catch (e) { show(name, `This is not JSON: ${e.message}`); return; }
    }
    const f = form.elements;
    const body = { path: f.path.value.trim(), summary: f.summary.value, description: f.description.value, value: parsed.value, schema: parsed.schema };
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    try {
      if (old) await post(wsPath(ws, `/flows/update/${encPath(old.path)}`), body);
      else await post(wsPath(ws, '/flows/create'), body);
      ctx.navigate(`/w/${ws}/flows/get/${encPath(body.path)}?saved=1`);
    } catch (e) {
      button.disabled = false;
      const name = fieldOf(e);
      if (name) show(name, e.message); else { replace(top, errorBox(e)); top.focus(); }
    }
  });
  const title = old ? `Edit ${old.path}` : 'New flow';
  replace(main, h('h1', {}, title), old ? h('p', { class: 'lead' }, `Current version ${old.version_id}`) : null, top, form);
  return title;
}

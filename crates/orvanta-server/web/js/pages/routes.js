// Custom HTTP routes: the routes of the workspace with their public URL,
// method, runnable, authentication and answer kind; a form that makes one;
// delete; and the OpenAPI export (openapi.js).

import { get, post, del, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, errorBox, copyButton, when } from '../dom.js';
import { openapiSection } from './openapi.js';

const METHODS = ['post', 'get', 'put', 'patch', 'delete'];
const AUTH = [['windmill', 'a token (Authorization: Bearer)'], ['none', 'none: anyone may call it'], ['api_key', 'an API key (resource)'],
  ['basic_http', 'basic authentication (resource)'], ['signature', 'a signature (resource)']];
const TYPES = [['sync', 'sync: the result'], ['async', 'async: the job id'], ['sync_sse', 'stream (SSE)']];

export async function render(main, ctx) {
  const { ws } = ctx;
  const routes = await get(wsPath(ws, '/http_triggers/list'));
  const err = h('div', { id: 'routes-error', tabindex: '-1' });
  const rows = routes.map((r) => {
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete the route ${r.path}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Delete the route ${r.path}? Its URL stops answering.`)) return;
      try { await del(wsPath(ws, `/http_triggers/delete/${encPath(r.path)}`)); ctx.navigate(`/w/${ws}/routes`); } catch (e) { replace(err, errorBox(e)); }
    });
    const target = `#/w/${ws}/${r.is_flow ? 'flows' : 'scripts'}/get/${encPath(r.script_path)}`;
    return h('tr', { 'data-route': r.path },
      h('td', {}, r.path, r.summary ? h('p', { class: 'hint' }, r.summary) : null),
      h('td', {}, h('code', {}, `${String(r.http_method).toUpperCase()} `), h('code', { class: 'route-url' }, r.url), ' ', copyButton('Copy URL', r.url, r.path)),
      h('td', {}, h('a', { href: target }, r.script_path), r.is_flow ? ' (flow)' : ''),
      h('td', { class: 'opt' }, r.authentication_method),
      h('td', { class: 'opt' }, r.request_type),
      h('td', { class: 'opt' }, when(r.edited_at)),
      h('td', {}, remove));
  });
  const sel = (id, label, options, value) => [h('label', { for: id }, label),
    h('select', { id, name: id }, options.map((o) => (Array.isArray(o) ? h('option', { value: o[0], selected: o[0] === value }, o[1]) : h('option', { value: o, selected: o === value }, o))))];
  const form = h('form', { 'aria-labelledby': 'new-route' },
    h('label', { for: 'r-path' }, 'Path of the route'), h('input', { id: 'r-path', name: 'path', type: 'text', required: true, value: `u/${ctx.session.user.username}/` }),
    h('label', { for: 'r-route' }, 'Route'),
    h('input', { id: 'r-route', name: 'route', type: 'text', required: true, placeholder: 'orders/:id', 'aria-describedby': 'r-route-hint' }),
    h('p', { class: 'hint', id: 'r-route-hint' }, 'Served at /r/{route} and /api/r/{route}; each :name segment becomes an argument.'),
    ...sel('r-method', 'Method', METHODS, 'post'),
    h('label', { for: 'r-target' }, 'Script or flow path'), h('input', { id: 'r-target', name: 'target', type: 'text', required: true }),
    h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'is_flow' }), 'It is a flow'),
    ...sel('r-auth', 'Authentication', AUTH, 'windmill'),
    ...sel('r-type', 'Answer', TYPES, 'sync'),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Create the route')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    const f = form.elements;
    const body = { path: f.path.value.trim(), route_path: f.route.value.trim(), http_method: f['r-method'].value, script_path: f.target.value.trim(),
      is_flow: f.is_flow.checked, authentication_method: f['r-auth'].value, request_type: f['r-type'].value, is_static_website: false };
    try { await post(wsPath(ws, '/http_triggers/create'), body); ctx.navigate(`/w/${ws}/routes`); }
    catch (e) { replace(err, errorBox(e)); err.focus(); }
  });
  replace(main,
    h('h1', {}, 'Custom HTTP routes'),
    h('p', { class: 'lead' }, 'Your own URLs for scripts and flows, with the authentication you choose.'),
    scrollBox(h('table', { id: 'routes' },
      h('caption', { class: 'sr' }, 'Custom HTTP routes'),
      h('thead', {}, h('tr', {}, ['Path', 'URL', 'Runs', 'Authentication', 'Answer', 'Edited', ''].map((t, i) =>
        h('th', { scope: 'col', class: [3, 4, 5].includes(i) ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
      h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 7 }, 'No custom routes yet.'))))),
    h('h2', { id: 'new-route' }, 'New route'), err, form,
    openapiSection(ctx));
  return 'Custom HTTP routes';
}

// The OpenAPI export on the custom routes page: Windmill's filters (which
// scripts' and flows' webhooks, which routes), the document shown, and a
// download of the file the API names.

import { post, ApiError, wsPath } from '../api.js';
import { h, replace, errorBox, announce } from '../dom.js';

/** The body of openapi/generate and openapi/download from the form. */
function bodyOf(f) {
  const body = { openapi_spec_format: f['oa-format'].value, webhook_filters: [], http_route_filters: [] };
  const glob = (x) => x.value.trim() || '*';
  if (f['oa-title'].value.trim()) body.info = { title: f['oa-title'].value.trim(), version: '1' };
  for (const kind of ['script', 'flow']) {
    if (f[`oa-${kind}s`].checked) {
      body.webhook_filters.push({ user_or_folder_regex: f['oa-owner'].value, user_or_folder_regex_value: glob(f['oa-owner-value']),
        path: glob(f['oa-path']), runnable_kind: kind });
    }
  }
  if (f['oa-routes'].checked) {
    body.http_route_filters.push({ folder_regex: glob(f['oa-folder']), path_regex: glob(f['oa-route-path']), route_path_regex: glob(f['oa-route']) });
  }
  return body;
}

export function openapiSection(ctx) {
  const { ws } = ctx;
  const err = h('div', { id: 'openapi-error' });
  const out = h('div', { id: 'openapi-out' });
  const text = (id, label, hint) => h('div', {}, h('label', { for: id }, label), h('input', { id, name: id, type: 'text', placeholder: '*', 'aria-describedby': hint ? `${id}-hint` : null }),
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
  const check = (name, label) => h('label', { class: 'inline' }, h('input', { type: 'checkbox', name, checked: true }), label);
  const form = h('form', { 'aria-labelledby': 'openapi-title' },
    h('div', { class: 'filters' },
      h('div', {}, h('label', { for: 'oa-format' }, 'Format'), h('select', { id: 'oa-format', name: 'oa-format' }, h('option', { value: 'yaml' }, 'YAML'), h('option', { value: 'json' }, 'JSON'))),
      text('oa-title', 'Title')),
    h('fieldset', {}, h('legend', {}, 'Webhooks of scripts and flows'),
      check('oa-scripts', 'Include scripts'), check('oa-flows', 'Include flows'),
      h('div', { class: 'filters' },
        h('div', {}, h('label', { for: 'oa-owner' }, 'Under'), h('select', { id: 'oa-owner', name: 'oa-owner' },
          h('option', { value: '*' }, 'users and folders'), h('option', { value: 'u' }, 'users (u/…)'), h('option', { value: 'f' }, 'folders (f/…)'))),
        text('oa-owner-value', 'User or folder', 'A glob: * matches anything.'),
        text('oa-path', 'Runnable path within it'))),
    h('fieldset', {}, h('legend', {}, 'Custom routes (in folders)'),
      check('oa-routes', 'Include custom routes'),
      h('div', { class: 'filters' }, text('oa-folder', 'Route folder'), text('oa-route-path', 'Route item path within the folder'), text('oa-route', 'Route pattern'))),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Generate'), h('button', { type: 'button', class: 'secondary', id: 'oa-download' }, 'Download')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    try {
      const doc = await post(wsPath(ws, '/openapi/generate'), bodyOf(form.elements));
      replace(out, h('pre', { id: 'openapi-doc', tabindex: '0', role: 'region', 'aria-label': 'The OpenAPI document' }, String(doc)));
      announce('OpenAPI document generated');
    } catch (e) { replace(out); replace(err, errorBox(e)); }
  });
  form.querySelector('#oa-download').addEventListener('click', async () => {
    replace(err);
    try {
      const resp = await fetch(wsPath(ws, '/openapi/download'), { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json', 'X-Requested-With': 'orvanta-ui' }, body: JSON.stringify(bodyOf(form.elements)) });
      if (!resp.ok) {
        const data = await resp.json().catch(() => ({}));
        throw new ApiError(resp.status, (data.error || {}).code, (data.error || {}).message || resp.statusText);
      }
      const name = ((resp.headers.get('content-disposition') || '').match(/filename="([^"]+)"/) || [])[1] || `openapi-${ws}.yaml`;
      const url = URL.createObjectURL(await resp.blob());
      const a = h('a', { href: url, download: name, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      announce(`Downloading ${name}`);
    } catch (e) { replace(err, errorBox(e)); }
  });
  return [h('h2', { id: 'openapi-title' }, 'OpenAPI export'),
    h('p', {}, 'An OpenAPI 3.1 document of the webhooks and routes the filters select, among what you may read.'),
    form, err, out];
}

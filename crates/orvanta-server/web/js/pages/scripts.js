// Scripts: the list with a search by path, and the form that creates a
// script or saves a new version of one (each save is a new hash).

import { get, post, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, errorBox, when } from '../dom.js';

export async function render(main, ctx) {
  if (ctx.opts.mode === 'new') return edit(main, ctx, null);
  if (ctx.opts.mode === 'edit') return edit(main, ctx, ctx.params[1]);
  return list(main, ctx);
}

async function list(main, ctx) {
  const { ws } = ctx;
  const scripts = await get(wsPath(ws, '/scripts/list'));
  scripts.sort((a, b) => a.path.localeCompare(b.path));
  const search = h('input', { id: 'search', type: 'search', value: ctx.query.get('q') || '', placeholder: 'u/admin/…',
    'aria-describedby': 'search-count' });
  const count = h('p', { id: 'search-count', class: 'hint', 'aria-live': 'polite' });
  const body = h('tbody');
  const draw = () => {
    const q = search.value.trim().toLowerCase();
    const shown = scripts.filter((s) => !q || s.path.toLowerCase().includes(q));
    count.textContent = q ? `${shown.length} of ${scripts.length} scripts match "${search.value.trim()}"` : `${scripts.length} script${scripts.length === 1 ? '' : 's'}`;
    replace(body, shown.length ? shown.map((s) => h('tr', {},
      h('td', {}, h('a', { href: `#/w/${ws}/scripts/get/${encPath(s.path)}` }, s.path)),
      h('td', {}, s.summary || ''),
      h('td', {}, s.language),
      h('td', { class: 'opt' }, h('code', {}, s.hash)),
      h('td', { class: 'opt' }, when(s.created_at)),
      h('td', {}, h('a', { href: `#/w/${ws}/scripts/edit/${encPath(s.path)}`, 'aria-label': `Edit ${s.path}` }, 'Edit'))))
      : h('tr', {}, h('td', { colspan: 6 }, scripts.length ? 'No script matches.' : 'No scripts yet.')));
  };
  search.addEventListener('input', () => {
    draw();
    const q = search.value.trim();
    history.replaceState(null, '', `#/w/${ws}/scripts${q ? '?q=' + encodeURIComponent(q) : ''}`);
  });
  draw();
  replace(main,
    h('h1', {}, 'Scripts'),
    h('div', { class: 'actions' }, h('a', { class: 'button', href: `#/w/${ws}/scripts/new` }, 'New script')),
    h('div', { class: 'filters', role: 'search' }, h('div', {}, h('label', { for: 'search' }, 'Search by path'), search)),
    count,
    scrollBox(h('table', {},
      h('caption', { class: 'sr' }, `Scripts of the workspace ${ws}`),
      h('thead', {}, h('tr', {}, ['Path', 'Summary', 'Language', 'Hash', 'Created', ''].map((t, i) =>
        h('th', { scope: 'col', class: i === 3 || i === 4 ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
      body)));
  return 'Scripts';
}

const LANGUAGES = [['python3', 'Python 3'], ['deno', 'TypeScript (Deno)'], ['bun', 'TypeScript (Bun)'], ['bash', 'Bash']];

const TEMPLATES = {
  python3: 'def main(name: str = "world"):\n    print(f"Hello {name}")\n    return {"greeting": f"Hello, {name}!"}\n',
  deno: 'export async function main(name: string = "world") {\n  console.log(`Hello ${name}`);\n  return { greeting: `Hello, ${name}!` };\n}\n',
  bun: 'export async function main(name: string = "world") {\n  console.log(`Hello ${name}`);\n  return { greeting: `Hello, ${name}!` };\n}\n',
  bash: 'name="${1:-world}"\necho "Hello $name"\n',
};

async function edit(main, ctx, path) {
  const { ws } = ctx;
  const old = path ? await get(wsPath(ws, `/scripts/get/p/${encPath(path)}`)) : null;
  const lang = old ? old.language : 'python3';
  const field = (id, label, input, hint) => [h('label', { for: id }, label), input, hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null];
  const pathInput = h('input', { id: 'path', name: 'path', type: 'text', required: true, value: old ? old.path : `u/${ctx.session.user.username}/`,
    readonly: !!old, 'aria-describedby': 'path-hint', autocomplete: 'off', spellcheck: 'false' });
  const language = h('select', { id: 'language', name: 'language' }, LANGUAGES.map(([v, t]) => h('option', { value: v }, t)));
  language.value = lang;
  const code = h('textarea', { id: 'content', name: 'content', class: 'code', spellcheck: 'false', required: true,
    'aria-describedby': 'content-hint' });
  code.value = old ? old.content : TEMPLATES[lang];
  language.addEventListener('change', () => {
    if (Object.values(TEMPLATES).includes(code.value) || !code.value.trim()) code.value = TEMPLATES[language.value];
  });
  const num = (id, v) => h('input', { id, name: id, type: 'number', min: 0, value: v ?? '' });
  const err = h('div', { id: 'form-error', tabindex: '-1' });
  const form = h('form', { novalidate: false },
    field('path', 'Path', pathInput, old ? 'A new version keeps the path.' : 'u/{user}/name or f/{folder}/name; letters a-z, digits, _ and -.'),
    field('language', 'Language', language),
    field('summary', 'Summary', h('input', { id: 'summary', name: 'summary', type: 'text', value: old ? old.summary : '' })),
    field('description', 'Description', h('textarea', { id: 'description', name: 'description' }, old ? old.description : '')),
    field('content', 'Code', code, 'The arguments of main become the webhook\'s arguments and the run form.'),
    h('details', {}, h('summary', {}, 'Settings'),
      field('timeout_s', 'Timeout (seconds)', num('timeout_s', old && old.timeout_s)),
      field('error_status_code', 'HTTP status of a failed sync run', num('error_status_code', old && old.error_status_code), 'Empty: 200 with the error as the body.'),
      field('tag', 'Worker tag', h('input', { id: 'tag', name: 'tag', type: 'text', value: (old && old.tag) || '' })),
      h('label', { class: 'inline' }, h('input', { type: 'checkbox', name: 'delete_after_use', checked: old && old.delete_after_use }),
        'Delete arguments, logs and result after a sync run')),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, old ? 'Save a new version' : 'Create the script'),
      h('a', { href: old ? `#/w/${ws}/scripts/get/${encPath(old.path)}` : `#/w/${ws}/scripts` }, 'Cancel')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = form.elements;
    const optNum = (x) => (x.value === '' ? undefined : Number(x.value));
    const body = {
      path: f.path.value.trim(), language: f.language.value, content: f.content.value, summary: f.summary.value,
      description: f.description.value, timeout_s: optNum(f.timeout_s), error_status_code: optNum(f.error_status_code),
      tag: f.tag.value.trim() || undefined, delete_after_use: f.delete_after_use.checked,
      parent_hash: old ? old.hash : undefined,
    };
    const button = form.querySelector('button[type=submit]');
    button.disabled = true;
    replace(err);
    try {
      const hash = await post(wsPath(ws, '/scripts/create'), body);
      ctx.navigate(`/w/${ws}/scripts/get/${encPath(body.path)}?saved=${encodeURIComponent(String(hash).trim())}`);
    } catch (e) {
      replace(err, errorBox(e));
      err.focus();
      button.disabled = false;
    }
  });
  const title = old ? `Edit ${old.path}` : 'New script';
  replace(main, h('h1', {}, title), old ? h('p', { class: 'lead' }, 'Current hash ', h('code', {}, old.hash)) : null, err, form);
  return title;
}

// Workspace settings: its members and their roles, its folders, and its
// webhook (URL, signing secret, delivery log with replay; ws_webhook.js).
// Each part shows the API's refusal in its own place (the webhook is for
// admins only), so a developer still sees the parts it may.

import { get, post, del, wsPath } from '../api.js';
import { scrollBox, h, replace, errorBox, announce } from '../dom.js';
import { webhookSection } from './ws_webhook.js';

const ROLES = ['admin', 'developer', 'operator'];
const settle = (p) => p.then((v) => ({ ok: v }), (e) => ({ err: e }));

export async function render(main, ctx) {
  const { ws } = ctx;
  const [users, folders, hook, log] = await Promise.all([
    settle(get(wsPath(ws, '/users/list'))),
    settle(get(wsPath(ws, '/folders/list'))),
    settle(get(wsPath(ws, '/workspaces/get_settings'))),
    settle(get(wsPath(ws, '/workspaces/webhook_deliveries?per_page=50'))),
  ]);
  const reload = () => ctx.navigate(`/w/${ws}/settings`);
  replace(main,
    h('h1', {}, `Workspace settings: ${ws}`),
    h('h2', { id: 'users-title' }, 'Users'),
    users.err ? errorBox(users.err) : usersPart(ctx, users.ok, reload),
    h('h2', { id: 'folders-title' }, 'Folders'),
    folders.err ? errorBox(folders.err) : foldersPart(ctx, folders.ok, reload),
    h('h2', { id: 'webhook-title' }, 'Webhook'),
    hook.err ? errorBox(hook.err) : webhookSection(ctx, hook.ok, log.ok || [], reload));
  return `Workspace settings: ${ws}`;
}

function usersPart(ctx, users, reload) {
  const { ws } = ctx;
  const err = h('div', { id: 'users-error' });
  const rows = users.map((u) => {
    const role = h('select', { 'aria-label': `Role of ${u.username}` }, ROLES.map((r) => h('option', { value: r, selected: r === u.role }, r)));
    role.addEventListener('change', async () => {
      replace(err);
      try { await post(wsPath(ws, `/users/update/${encodeURIComponent(u.username)}`), { role: role.value }); announce(`${u.username} is now ${role.value}`); }
      catch (e) { replace(err, errorBox(e)); role.value = u.role; }
    });
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Remove ${u.username} from ${ws}` }, 'Remove');
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Remove ${u.username} from the workspace ${ws}?`)) return;
      try { await del(wsPath(ws, `/users/delete/${encodeURIComponent(u.username)}`)); reload(); } catch (e) { replace(err, errorBox(e)); }
    });
    return h('tr', { 'data-user': u.username }, h('td', {}, u.username), h('td', {}, u.email), h('td', {}, role),
      h('td', { class: 'opt' }, u.is_super_admin ? 'super admin' : ''), h('td', {}, remove));
  });
  const form = h('form', { class: 'filters', 'aria-label': 'Add a user' },
    h('div', {}, h('label', { for: 'add-email' }, 'Email of a user'), h('input', { id: 'add-email', name: 'email', type: 'email', required: true })),
    h('div', {}, h('label', { for: 'add-role' }, 'Role'), h('select', { id: 'add-role', name: 'role' }, ROLES.map((r) => h('option', { value: r, selected: r === 'developer' }, r)))),
    h('div', {}, h('button', { type: 'submit' }, 'Add to the workspace')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    try { await post(wsPath(ws, '/workspaces/add_user'), { email: form.elements.email.value.trim(), role: form.elements.role.value }); reload(); }
    catch (e) { replace(err, errorBox(e)); }
  });
  return [err, scrollBox(h('table', { id: 'users', 'aria-labelledby': 'users-title' },
    h('thead', {}, h('tr', {}, ['User', 'Email', 'Role', '', ''].map((t, i) => h('th', { scope: 'col', class: i === 3 ? 'opt' : null }, t || h('span', { class: 'sr' }, i === 3 ? 'Instance role' : 'Actions'))))),
    h('tbody', {}, rows))), form];
}

function foldersPart(ctx, folders, reload) {
  const { ws } = ctx;
  const err = h('div', { id: 'folders-error' });
  const who = (f, write) => Object.entries(f.extra_perms || {}).filter(([, w]) => w === write).map(([k]) => k).join(', ') || '—';
  const rows = folders.map((f) => {
    const remove = h('button', { type: 'button', class: 'danger', 'aria-label': `Delete the folder ${f.name}` }, 'Delete');
    remove.addEventListener('click', async () => {
      if (!window.confirm(`Delete the folder f/${f.name}?`)) return;
      try { await del(wsPath(ws, `/folders/delete/${encodeURIComponent(f.name)}`)); reload(); } catch (e) { replace(err, errorBox(e)); }
    });
    return h('tr', { 'data-folder': f.name }, h('td', {}, `f/${f.name}`), h('td', {}, (f.owners || []).join(', ') || '—'),
      h('td', { class: 'opt' }, who(f, true)), h('td', { class: 'opt' }, who(f, false)), h('td', {}, remove));
  });
  const form = h('form', { class: 'filters', 'aria-label': 'Create a folder' },
    h('div', {}, h('label', { for: 'folder-name' }, 'New folder name'), h('input', { id: 'folder-name', name: 'name', type: 'text', required: true, autocomplete: 'off' })),
    h('div', {}, h('label', { for: 'folder-summary' }, 'Summary'), h('input', { id: 'folder-summary', name: 'summary', type: 'text' })),
    h('div', {}, h('button', { type: 'submit' }, 'Create the folder')));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    replace(err);
    try { await post(wsPath(ws, '/folders/create'), { name: form.elements.name.value.trim(), summary: form.elements.summary.value }); reload(); }
    catch (e) { replace(err, errorBox(e)); }
  });
  return [err, scrollBox(h('table', { id: 'folders', 'aria-labelledby': 'folders-title' },
    h('thead', {}, h('tr', {}, ['Folder', 'Owners', 'Writers', 'Readers', ''].map((t, i) => h('th', { scope: 'col', class: i === 2 || i === 3 ? 'opt' : null }, t || h('span', { class: 'sr' }, 'Actions'))))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 5 }, 'No folders yet.'))))), form];
}


// The page shell: who is logged in, the workspace switcher, the navigation,
// and the router that draws a page from the address's `#/...` part.

import { get, post, onUnauthorized } from './api.js';
import { h, replace, errorBox, announce } from './dom.js';
import * as login from './pages/login.js';
import * as scripts from './pages/scripts.js';
import * as script from './pages/script.js';
import * as flows from './pages/flows.js';
import * as flow from './pages/flow.js';
import * as runs from './pages/runs.js';
import * as job from './pages/job.js';
import * as account from './pages/account.js';
import * as settings from './pages/settings.js';
import * as inbound from './pages/inbound.js';
import * as inboundHook from './pages/inbound_hook.js';
import * as routes from './pages/routes.js';

/** Who is logged in and where: filled after login. */
const session = { user: null, workspaces: [], ws: null };

/** The pages: a pattern of the address and the module that draws it. */
const ROUTES = [
  [/^\/login$/, login, { bare: true }],
  [/^\/w\/([^/]+)\/scripts$/, scripts, { nav: 'scripts' }],
  [/^\/w\/([^/]+)\/scripts\/new$/, scripts, { nav: 'scripts', mode: 'new' }],
  [/^\/w\/([^/]+)\/scripts\/edit\/(.+)$/, scripts, { nav: 'scripts', mode: 'edit' }],
  [/^\/w\/([^/]+)\/scripts\/get\/(.+)$/, script, { nav: 'scripts' }],
  [/^\/w\/([^/]+)\/flows$/, flows, { nav: 'flows' }],
  [/^\/w\/([^/]+)\/flows\/new$/, flows, { nav: 'flows', mode: 'new' }],
  [/^\/w\/([^/]+)\/flows\/edit\/(.+)$/, flows, { nav: 'flows', mode: 'edit' }],
  [/^\/w\/([^/]+)\/flows\/get\/(.+)$/, flow, { nav: 'flows' }],
  [/^\/w\/([^/]+)\/runs$/, runs, { nav: 'runs' }],
  [/^\/w\/([^/]+)\/runs\/([0-9a-fA-F-]+)$/, job, { nav: 'runs' }],
  [/^\/w\/([^/]+)\/inbound$/, inbound, { nav: 'inbound' }],
  [/^\/w\/([^/]+)\/inbound\/([^/]+)$/, inboundHook, { nav: 'inbound' }],
  [/^\/w\/([^/]+)\/routes$/, routes, { nav: 'routes' }],
  [/^\/w\/([^/]+)\/settings$/, settings, { nav: 'settings' }],
  [/^\/account$/, account, { nav: 'account' }],
];

const NAV = [
  ['scripts', 'Scripts', (ws) => `#/w/${ws}/scripts`],
  ['flows', 'Flows', (ws) => `#/w/${ws}/flows`],
  ['runs', 'Runs', (ws) => `#/w/${ws}/runs`],
  ['inbound', 'Inbound webhooks', (ws) => `#/w/${ws}/inbound`],
  ['routes', 'Custom routes', (ws) => `#/w/${ws}/routes`],
  ['settings', 'Workspace settings', (ws) => `#/w/${ws}/settings`],
];

/** Goes to a page of the app (`/w/demo/scripts`, with or without the `#`). */
export function navigate(to, { replace: rep = false } = {}) {
  const target = to.startsWith('#') ? to : `#${to}`;
  if (location.hash === target) { render(); return; }
  if (rep) { history.replaceState(null, '', target); render(); } else location.hash = target;
}

function parseHash() {
  const raw = location.hash.startsWith('#/') ? location.hash.slice(1) : '/';
  const [path, qs] = raw.split('?');
  return { path, query: new URLSearchParams(qs || '') };
}

/** How old the shell's data may be (by the server's clock) and still be used. */
const BOOT_MAX_AGE_MS = 5 * 60 * 1000;

/**
 * Whoami and the workspaces the server put in the shell when it was asked
 * with the session cookie (`<script type="application/json" id="orvanta-boot">`),
 * so that the first page's own requests go out at once. Read once; null when
 * absent, unreadable or maybe stale (an old shell from the back/forward cache
 * or a restored tab): the API is asked then.
 */
function bootData() {
  const el = document.getElementById('orvanta-boot');
  if (!el) return null;
  el.remove();
  try {
    const nav = performance.getEntriesByType('navigation')[0];
    if (nav && nav.type === 'back_forward') return null;
    const boot = JSON.parse(el.textContent);
    const fresh = typeof boot.at === 'number' && Math.abs(Date.now() - boot.at) < BOOT_MAX_AGE_MS;
    if (!fresh || !boot.user || typeof boot.user.username !== 'string' || !Array.isArray(boot.workspaces)) return null;
    return boot;
  } catch {
    return null;
  }
}

async function loadSession(boot = null) {
  try {
    const [user, workspaces] = boot ? [boot.user, boot.workspaces]
      : await Promise.all([get('/api/users/whoami'), get('/api/workspaces/list')]);
    session.user = user;
    session.workspaces = workspaces;
    const remembered = localStorage.getItem('orvanta.ws');
    const known = (id) => workspaces.some((w) => w.id === id);
    session.ws = known(remembered) ? remembered
      : (workspaces.find((w) => w.id !== 'admins') || workspaces[0] || {}).id || null;
    return true;
  } catch (e) {
    if (e.status === 401) { session.user = null; return false; }
    throw e;
  }
}

/** Called by the login page once the session cookie is set. */
export async function loggedIn(next) {
  await loadSession();
  navigate(next && next !== '/login' ? next : home(), { replace: true });
}

function home() { return session.ws ? `/w/${session.ws}/scripts` : '/account'; }

function drawShell(active) {
  const top = document.getElementById('top');
  top.hidden = !session.user;
  if (!session.user) return;
  const ws = session.ws;
  replace(document.getElementById('nav'), NAV.map(([key, label, href]) =>
    h('li', {}, h('a', { href: ws ? href(ws) : '#/account', 'aria-current': key === active ? 'page' : null }, label))));
  const sel = document.getElementById('ws-switch');
  replace(sel, session.workspaces.map((w) => h('option', { value: w.id }, `${w.name} (${w.id})`)));
  sel.value = ws || '';
  const acc = document.getElementById('account-link');
  acc.textContent = `Account (${session.user.username})`;
  if (active === 'account') acc.setAttribute('aria-current', 'page'); else acc.removeAttribute('aria-current');
}

let renderSeq = 0;
let firstRender = true;
/** What the current page asked to stop when it is left (an SSE stream). */
let teardown = null;

/** Draws the page the address names. */
async function render() {
  const seq = ++renderSeq;
  const main = document.getElementById('main');
  const { path, query } = parseHash();
  if (path === '/' || path === '') { navigate(session.user ? home() : '/login', { replace: true }); return; }
  const found = ROUTES.map(([re, mod, opts]) => [path.match(re), mod, opts]).find(([m]) => m);
  if (!found) {
    drawShell(null);
    replace(main, h('h1', {}, 'Page not found'), h('p', {}, 'There is no page at this address. ', h('a', { href: '#/' }, 'Go home')));
    document.title = 'Not found · Orvanta';
    return;
  }
  const [m, mod, opts] = found;
  if (!opts.bare && !session.user) {
    navigate(`/login?next=${encodeURIComponent(path + (query.toString() ? '?' + query : ''))}`, { replace: true });
    return;
  }
  const params = m.slice(1).map(decodeURIComponent);
  // A workspace in the address becomes the current one.
  if (params.length && path.startsWith('/w/') && session.ws !== params[0]) {
    session.ws = params[0];
    localStorage.setItem('orvanta.ws', params[0]);
  }
  drawShell(opts.nav);
  if (teardown) { teardown(); teardown = null; }
  replace(main, h('p', { class: 'hint' }, 'Loading…'));
  const ctx = {
    ws: session.ws, params, query, session, opts, navigate,
    onLeave: (f) => { teardown = f; },
    stale: () => seq !== renderSeq,
  };
  try {
    const title = await mod.render(main, ctx);
    if (seq !== renderSeq) return;
    document.title = `${title} · Orvanta`;
    announce(title);
    // After a navigation the focus moves to the new content (a first load leaves it at the top, by the skip link).
    if (!firstRender && !main.contains(document.activeElement)) main.focus({ preventScroll: true });
    firstRender = false;
  } catch (e) {
    if (seq !== renderSeq) return;
    replace(main, h('h1', {}, 'Something went wrong'), errorBox(e));
    document.title = 'Error · Orvanta';
  }
}

function wireShell() {
  document.getElementById('skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    document.getElementById('main').focus();
  });
  document.getElementById('ws-switch').addEventListener('change', (ev) => {
    const ws = ev.target.value;
    localStorage.setItem('orvanta.ws', ws);
    const { path } = parseHash();
    const section = (path.match(/^\/w\/[^/]+\/(scripts|flows|runs|inbound|routes|settings)/) || [])[1] || 'scripts';
    navigate(`/w/${ws}/${section}`);
  });
  document.getElementById('logout').addEventListener('click', async () => {
    try { await post('/api/auth/logout'); } catch { /* the session may be over already */ }
    session.user = null;
    navigate('/login');
  });
  onUnauthorized.handler = () => {
    session.user = null;
    const { path } = parseHash();
    if (path !== '/login') navigate(`/login?next=${encodeURIComponent(path)}`, { replace: true });
  };
  window.addEventListener('hashchange', () => { if (location.hash.startsWith('#/') || !location.hash) render(); });
}

async function start() {
  wireShell();
  try {
    await loadSession(bootData());
  } catch (e) {
    replace(document.getElementById('main'), h('h1', {}, 'Orvanta'), errorBox(e));
    return;
  }
  render();
}

start();

// Login: email and password (POST /api/auth/login sets the session cookie),
// or a token of one's own (the admin token `orvanta up` printed), which the
// same route turns into a session.

import { post } from '../api.js';
import { h, replace, errorBox } from '../dom.js';
import { loggedIn } from '../app.js';

export async function render(main, ctx) {
  const next = ctx.query.get('next') || '';
  const err = h('div', { id: 'login-error' });
  const submit = (body) => async (ev) => {
    ev.preventDefault();
    const button = ev.target.querySelector('button[type=submit]');
    button.disabled = true;
    replace(err);
    try {
      await post('/api/auth/login', body(ev.target));
      await loggedIn(next);
    } catch (e) {
      replace(err, errorBox(e));
      button.disabled = false;
    }
  };
  const password = h('form', { 'aria-labelledby': 'login-title', onsubmit: submit((f) => ({ email: f.email.value, password: f.password.value })) },
    h('label', { for: 'email' }, 'Email'),
    h('input', { id: 'email', name: 'email', type: 'email', autocomplete: 'username', required: true, autofocus: true }),
    h('label', { for: 'password' }, 'Password'),
    h('input', { id: 'password', name: 'password', type: 'password', autocomplete: 'current-password', required: true }),
    h('div', { class: 'actions' }, h('button', { type: 'submit' }, 'Log in')));
  const token = h('form', { 'aria-labelledby': 'token-title', onsubmit: submit((f) => ({ token: f.token.value.trim() })) },
    h('label', { for: 'login-token' }, 'Token'),
    h('input', { id: 'login-token', name: 'token', type: 'password', autocomplete: 'off', required: true }),
    h('p', { class: 'hint' }, 'The admin token that `orvanta up` printed (kept in orvanta-data/admin-token), or another token of yours without scopes.'),
    h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'secondary' }, 'Log in with the token')));
  replace(main, h('div', { class: 'login' },
    h('h1', { id: 'login-title' }, 'Log in to Orvanta'),
    err,
    password,
    h('h2', { id: 'token-title' }, 'Or with a token'),
    token));
  main.querySelector('#email').focus();
  return 'Log in';
}

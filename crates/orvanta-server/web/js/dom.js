// Building pages without innerHTML: `h('p', {class: 'x'}, 'text', child)`.
// Text is always a text node, so what the API sends is never parsed as HTML.

export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked') el.checked = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the content of `el`. */
export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Says something to screen readers (and nothing visible). */
export function announce(text) {
  const s = document.getElementById('status');
  if (s) { s.textContent = ''; setTimeout(() => { s.textContent = text; }, 50); }
}

/** An error box with the API's words. */
export function errorBox(e) {
  return h('div', { class: 'error', role: 'alert' }, e && e.message ? e.message : String(e));
}

/** Copies text; falls back to a hidden textarea where the Clipboard API is missing (plain http). */
export async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    try { await navigator.clipboard.writeText(text); return true; } catch { /* fall back */ }
  }
  const ta = h('textarea', { class: 'sr', 'aria-hidden': 'true' });
  ta.value = text;
  document.body.append(ta);
  ta.select();
  let ok = false;
  try { ok = document.execCommand('copy'); } catch { ok = false; }
  ta.remove();
  return ok;
}

/** A button that copies `text()` and says so. */
export function copyButton(label, text, what) {
  const b = h('button', { type: 'button', class: 'secondary', 'aria-label': `${label}${what ? ': ' + what : ''}` }, label);
  b.addEventListener('click', async () => {
    const ok = await copyText(typeof text === 'function' ? text() : text);
    const was = label;
    b.textContent = ok ? 'Copied' : 'Copy failed: select and copy by hand';
    announce(ok ? 'Copied to the clipboard' : 'Copying failed');
    setTimeout(() => { b.textContent = was; }, 2000);
  });
  return b;
}

/** A time as the reader's locale shows it; '—' for none. */
export function when(t) {
  if (!t) return '—';
  const d = new Date(t);
  return Number.isNaN(d.getTime()) ? t : d.toLocaleString();
}

/** A job status as a badge. */
export function statusBadge(status) {
  return h('span', { class: `badge status-${status}` }, status);
}

/** Reads a form's named fields. */
export function formValues(form) {
  return Object.fromEntries(new FormData(form).entries());
}

/**
 * A box that scrolls a wide table sideways on a narrow screen: a named
 * region the keyboard can reach (Tab, then the arrow keys), named after the
 * table's caption or label.
 */
export function scrollBox(table) {
  const box = h('div', { class: 'table-wrap', tabindex: '0', role: 'region' }, table);
  const labelledBy = table.getAttribute('aria-labelledby');
  if (labelledBy) box.setAttribute('aria-labelledby', labelledBy);
  else box.setAttribute('aria-label', (table.querySelector('caption') || {}).textContent || table.getAttribute('aria-label') || 'Table');
  return box;
}

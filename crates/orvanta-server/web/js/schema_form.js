// A form for a runnable's arguments, generated from its JSON Schema: a text
// field per string (a list for an enum), a number field per number, a
// checkbox per boolean, and JSON for anything else.

import { h, replace } from './dom.js';

/** The form's fields and a `values()` that answers the arguments or throws naming the field. */
export function schemaForm(schema, idPrefix = 'arg') {
  const props = (schema && schema.properties) || {};
  const required = new Set((schema && schema.required) || []);
  const order = (schema && Array.isArray(schema.order) && schema.order.length ? schema.order : Object.keys(props))
    .filter((k) => k in props);
  const fields = [];
  const readers = [];
  for (const name of order) {
    const p = props[name] || {};
    const id = `${idPrefix}-${name}`;
    const type = Array.isArray(p.type) ? p.type.find((t) => t !== 'null') : p.type;
    const req = required.has(name);
    const label = h('label', { for: id }, name, req ? h('span', { 'aria-hidden': 'true' }, ' *') : null,
      h('span', { class: 'hint' }, ` (${type || 'JSON'}${req ? ', required' : ''})`));
    const hint = p.description ? h('p', { class: 'hint', id: `${id}-hint` }, p.description) : null;
    const err = h('p', { class: 'field-error', id: `${id}-error` });
    const described = [p.description ? `${id}-hint` : null, `${id}-error`].filter(Boolean).join(' ');
    let input;
    let read;
    if (Array.isArray(p.enum)) {
      input = h('select', { id, name, 'aria-describedby': described, required: req },
        req ? null : h('option', { value: '' }, '—'), p.enum.map((v) => h('option', { value: JSON.stringify(v) }, String(v))));
      if (p.default !== undefined) input.value = JSON.stringify(p.default);
      read = () => (input.value === '' ? undefined : JSON.parse(input.value));
    } else if (type === 'boolean') {
      input = h('input', { id, name, type: 'checkbox', checked: p.default === true, 'aria-describedby': described });
      read = () => input.checked;
    } else if (type === 'integer' || type === 'number') {
      input = h('input', { id, name, type: 'number', step: type === 'integer' ? '1' : 'any', value: p.default ?? '', required: req, 'aria-describedby': described });
      read = () => (input.value === '' ? undefined : Number(input.value));
    } else if (type === 'string') {
      input = h('input', { id, name, type: 'text', value: p.default ?? '', required: req, 'aria-describedby': described });
      read = () => (input.value === '' && !req && p.default === undefined ? undefined : input.value);
    } else {
      input = h('textarea', { id, name, class: 'code', rows: 4, required: req, 'aria-describedby': described,
        placeholder: type === 'array' ? '[]' : '{}' }, p.default !== undefined ? JSON.stringify(p.default, null, 2) : '');
      read = () => {
        if (!input.value.trim()) return undefined;
        try { return JSON.parse(input.value); } catch (e) { throw new Error(`is not JSON: ${e.message}`); }
      };
    }
    fields.push(h('div', { class: 'arg' }, label, input, hint, err));
    readers.push([name, read, err, input, req]);
  }
  const values = () => {
    const args = {};
    let first = null;
    for (const [name, read, err, input, req] of readers) {
      replace(err);
      input.removeAttribute('aria-invalid');
      try {
        const v = read();
        if (v === undefined && req) throw new Error('is required');
        if (v !== undefined) args[name] = v;
      } catch (e) {
        replace(err, `${name} ${e.message}`);
        input.setAttribute('aria-invalid', 'true');
        first = first || input;
      }
    }
    if (first) { first.focus(); throw new Error('some arguments need fixing'); }
    return args;
  };
  /** The arguments as they stand, without complaints (for the curl examples). */
  const preview = () => {
    const args = {};
    for (const [name, read] of readers) {
      try { const v = read(); if (v !== undefined) args[name] = v; } catch { /* shown when run */ }
    }
    return args;
  };
  return { fields, values, preview, empty: order.length === 0 };
}

// One run: its arguments, result and timings, its logs streaming live over
// SSE (`jobs_u/getupdate_sse`) while it runs, a flow's steps, and cancel and
// re-run buttons.

import { get, post, wsPath, encPath } from '../api.js';
import { scrollBox, h, replace, errorBox, when, statusBadge, announce } from '../dom.js';

const FINAL = ['success', 'failure', 'canceled'];

/** A flow step's state (Windmill's names) as a status badge. */
const STEP = { Success: ['success', 'success'], Failure: ['failure', 'failure'], InProgress: ['running', 'running'],
  WaitingForPriorSteps: ['queued', 'waiting'], WaitingForEvents: ['queued', 'waiting for events'], WaitingForExecutor: ['queued', 'waiting'] };
function stepBadge(type) {
  const [cls, text] = STEP[type] || ['queued', String(type || 'unknown')];
  return h('span', { class: `badge status-${cls}` }, text);
}
const json = (v) => JSON.stringify(v, null, 2);

export async function render(main, ctx) {
  const { ws } = ctx;
  const id = ctx.params[1];
  let job = await get(wsPath(ws, `/jobs_u/get/${id}?no_logs=true`));
  const logs = h('pre', { class: 'logs', id: 'logs', tabindex: '0', role: 'log', 'aria-label': 'Logs', 'aria-live': 'off' });
  const status = h('span', { id: 'job-status' });
  const facts = h('dl', { class: 'facts' });
  const result = h('div', { id: 'job-result' });
  const steps = h('div', { id: 'job-steps' });
  const err = h('div');
  const cancel = h('button', { type: 'button', class: 'danger' }, 'Cancel');
  const rerun = h('button', { type: 'button', class: 'secondary' }, 'Run again');

  const draw = () => {
    replace(status, statusBadge(job.status));
    replace(facts,
      h('dt', {}, 'Runnable'), h('dd', {}, job.script_path
        ? h('a', { href: `#/w/${ws}/${job.job_kind === 'flow' ? 'flows' : 'scripts'}/get/${encPath(job.script_path)}` }, job.script_path) : '—',
      job.script_hash ? [' at ', h('code', {}, job.script_hash)] : null, job.flow_version ? ` version ${job.flow_version}` : null),
      h('dt', {}, 'Kind'), h('dd', {}, job.job_kind),
      h('dt', {}, 'Trigger'), h('dd', {}, job.trigger || '—'),
      h('dt', {}, 'Started by'), h('dd', {}, job.created_by),
      h('dt', {}, 'Created'), h('dd', {}, when(job.created_at)),
      h('dt', {}, 'Started'), h('dd', {}, when(job.started_at)),
      h('dt', {}, 'Completed'), h('dd', {}, when(job.completed_at)),
      h('dt', {}, 'Duration'), h('dd', {}, job.duration_ms != null ? `${job.duration_ms} ms` : '—'),
      job.worker ? [h('dt', {}, 'Worker'), h('dd', {}, job.worker)] : null);
    replace(result, FINAL.includes(job.status)
      ? h('pre', { id: 'result' }, json(job.result === undefined ? null : job.result))
      : h('p', { class: 'hint' }, 'Not finished yet.'));
    cancel.hidden = FINAL.includes(job.status);
    const modules = job.flow_status && job.flow_status.modules;
    replace(steps, modules && modules.length ? [h('h2', {}, 'Steps'), scrollBox(h('table', { id: 'steps' },
      h('thead', {}, h('tr', {}, ['Step', 'Kind', 'Status', 'Run'].map((t) => h('th', { scope: 'col' }, t)))),
      h('tbody', {}, modules.map((m) => h('tr', { 'data-step': m.id }, h('td', {}, m.id), h('td', {}, m.module_type || '—'),
        h('td', {}, stepBadge(m.type)),
        h('td', {}, m.job ? h('a', { href: `#/w/${ws}/runs/${m.job}`, 'aria-label': `Run of the step ${m.id}` }, String(m.job).slice(0, 8)) : '—'))))))] : null);
  };

  // Live logs: the stream sends every log line after `offset`; it ends when the job does.
  let offset = 0;
  let source = null;
  let done = FINAL.includes(job.status);
  const refresh = async () => {
    try { job = await get(wsPath(ws, `/jobs_u/get/${id}?no_logs=true`)); draw(); } catch (e) { replace(err, errorBox(e)); }
  };
  const follow = () => {
    if (ctx.stale()) return;
    source = new EventSource(wsPath(ws, `/jobs_u/getupdate_sse/${id}?fast=true&log_offset=${offset}`));
    source.onmessage = (ev) => {
      let u;
      try { u = JSON.parse(ev.data); } catch { return; }
      if (u.type === 'update') {
        if (u.new_logs) { logs.append(u.new_logs); offset = u.log_offset ?? offset; logs.scrollTop = logs.scrollHeight; }
        if (u.running === true && job.status === 'queued') { job.status = 'running'; draw(); }
        if (u.flow_status) { job.flow_status = u.flow_status; draw(); }
        if (u.completed) { done = true; source.close(); refresh().then(() => announce(`Run ${job.status}`)); }
      } else if (u.type === 'timeout') {
        source.close(); follow();
      } else if (u.type === 'notfound') {
        done = true; source.close();
      }
    };
    // The browser would reconnect from the start (and repeat the logs): reconnect from the offset instead.
    source.onerror = () => { source.close(); if (!done) setTimeout(follow, 1000); };
  };
  follow();
  ctx.onLeave(() => { done = true; if (source) source.close(); });

  cancel.addEventListener('click', async () => {
    replace(err);
    try { await post(wsPath(ws, `/jobs_u/queue/cancel/${id}`), { reason: 'canceled from the web UI' }); announce('Cancel requested'); }
    catch (e) { replace(err, errorBox(e)); }
  });
  rerun.addEventListener('click', async () => {
    replace(err);
    const target = job.job_kind === 'flow' ? `fv/${job.flow_version}` : job.script_hash ? `h/${job.script_hash}` : `p/${encPath(job.script_path)}`;
    try {
      const newId = String(await post(wsPath(ws, `/jobs/run/${target}`), job.args || {})).trim();
      ctx.navigate(`/w/${ws}/runs/${newId}`);
    } catch (e) { replace(err, errorBox(e)); }
  });
  draw();
  replace(main,
    h('h1', {}, 'Run ', h('code', {}, id)),
    h('p', { class: 'lead' }, 'Status: ', status),
    err,
    h('div', { class: 'actions' }, cancel, job.job_kind !== 'flowscript' ? rerun : null,
      h('a', { href: `#/w/${ws}/runs${job.script_path ? '?path=' + encodeURIComponent(job.script_path) : ''}` }, 'All runs of this path')),
    facts,
    steps,
    h('h2', {}, 'Arguments'), h('pre', { id: 'args' }, json(job.args || {})),
    h('h2', {}, 'Logs'), logs,
    h('h2', {}, 'Result'), result);
  return `Run ${id.slice(0, 8)}`;
}

// The management page's behaviour: endpoints listed, re-keyed and deleted through the public API, with the user's API
// key; creating (create.js) and trying (try.js) live beside it.
import { $, KEY_STORE, announce, api, fail, notice, show, whenUnauthorized } from './api.js';
import { startCharts } from './charts.js';
import { loadServices } from './create.js';
import { openCode, openJson, openSettings } from './settings.js';
import { forgetTry, openTry } from './try.js';

// ---- signing in ----

function signIn(message) {
  for (const id of ['endpoints-section', 'charts-section', 'create-section', 'try-section']) show(id, false);
  show('sign-in', true);
  const error = $('sign-in-error');
  error.textContent = message ?? '';
  show(error, Boolean(message));
  $('api-key').focus();
}

$('sign-in-form').addEventListener('submit', (event) => {
  event.preventDefault();
  sessionStorage.setItem(KEY_STORE, $('api-key').value.trim());
  $('api-key').value = '';
  void start();
});

$('sign-out').addEventListener('click', () => {
  sessionStorage.removeItem(KEY_STORE);
  location.reload();
});

whenUnauthorized(signIn);

// ---- the endpoint list, with each endpoint's totals since the start from the metrics ----

let endpoints = [];
let figures = new Map();

/** The per-endpoint series of the Prometheus text the service exposes. */
function parseMetrics(text) {
  const out = new Map();
  for (const line of text.split('\n')) {
    const m = /^(hf_gateway_\w+)\{([^}]*)\} (\S+)$/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (!labels.inference_id) continue;
    const f = out.get(labels.inference_id) ?? {
      ok: 0,
      failed: 0,
      upstream: 0,
      upstreamSeconds: 0,
      queued: 0,
      texts: 0,
    };
    const value = Number(m[3]);
    switch (m[1]) {
      case 'hf_gateway_inference_requests_total':
        if (Number(labels.status) < 400) f.ok += value;
        else f.failed += value;
        break;
      case 'hf_gateway_upstream_request_duration_seconds_count':
        f.upstream += value;
        break;
      case 'hf_gateway_upstream_request_duration_seconds_sum':
        f.upstreamSeconds += value;
        break;
      case 'hf_gateway_queue_depth':
        f.queued += value;
        break;
      case 'hf_gateway_texts_embedded_total':
        f.texts += value;
        break;
    }
    out.set(labels.inference_id, f);
  }
  return out;
}

/** The totals as `5 ok · 0 failed · …`, each figure kept whole on one line where the cell wraps. */
function showFigures(cell, f) {
  if (!f) {
    cell.textContent = 'no requests yet';
    return;
  }
  const avg = f.upstream > 0 ? ` (${Math.round((f.upstreamSeconds / f.upstream) * 1000)} ms avg)` : '';
  const texts = `${f.texts} ${f.texts === 1 ? 'text' : 'texts'}`;
  const parts = [`${f.ok} ok`, `${f.failed} failed`, `${f.upstream} upstream${avg}`, texts, `${f.queued} queued`];
  cell.replaceChildren();
  parts.forEach((text, i) => {
    const span = document.createElement('span');
    span.textContent = text;
    cell.append(...(i > 0 ? [' · ', span] : [span]));
  });
}

async function refreshFigures() {
  try {
    const text = await api('GET', '/_prometheus/metrics');
    figures = parseMetrics(String(text));
  } catch {
    figures = new Map();
  }
  for (const row of document.querySelectorAll('#endpoints tbody tr')) {
    showFigures(row.querySelector('.live'), figures.get(row.dataset.id));
  }
}

function button(label, action, id) {
  const b = document.createElement('button');
  b.type = 'button';
  b.textContent = label;
  b.dataset.action = action;
  b.dataset.id = id;
  b.setAttribute('aria-label', `${label} ${id}`);
  return b;
}

function renderEndpoints() {
  const body = document.querySelector('#endpoints tbody');
  // A row button that has the focus (a dialog just gave it back, say) keeps it across the redraw: its new copy takes it.
  const focused = body.contains(document.activeElement) ? document.activeElement.getAttribute('aria-label') : null;
  body.replaceChildren();
  // Each cell names its column, shown beside it where the table reflows into cards (narrow screens, style.css).
  const labels = [...document.querySelectorAll('#endpoints thead th')].map((th) => th.textContent.trim());
  for (const e of endpoints) {
    const row = document.createElement('tr');
    row.dataset.id = e.inference_id;
    const s = e.service_settings;
    const cells = [
      e.inference_id,
      e.task_type,
      s.url ?? (s.model_id ? `hosted: ${s.model_id}` : ''),
      s.rate_limit ? `${s.rate_limit.requests_per_minute}/min` : '',
      undefined,
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.dataset.label = labels[i] ?? '';
      if (i === 4) {
        td.className = 'live';
        showFigures(td, figures.get(e.inference_id));
      } else if (i === 2) {
        // A long URL may wrap after each slash, keeping the column narrow enough for the rest at 1280 px.
        for (const part of text.split(/(?<=[^/]\/)(?!\/)/)) td.append(part, document.createElement('wbr'));
      } else td.textContent = text;
      row.append(td);
    });
    const actions = document.createElement('td');
    actions.className = 'actions';
    actions.dataset.label = labels[cells.length] ?? '';
    actions.append(
      button('Try', 'try', e.inference_id),
      button('Edit', 'edit', e.inference_id),
      button('JSON', 'json', e.inference_id),
      button('Code', 'code', e.inference_id),
      button('Rotate key', 'rotate', e.inference_id),
      button('Delete', 'delete', e.inference_id),
    );
    row.append(actions);
    body.append(row);
  }
  show('no-endpoints', endpoints.length === 0);
  show('endpoints', endpoints.length > 0);
  if (focused) body.querySelector(`button[aria-label="${CSS.escape(focused)}"]`)?.focus();
}

async function loadEndpoints() {
  endpoints = (await api('GET', '/_inference')).endpoints;
  renderEndpoints();
  announce('endpoints-listed', endpoints);
  await refreshFigures();
}

let pending;
/** The row button that opened the confirmation or the token form: focus goes back to it when they close. */
let opener;

/** Closes the confirmation and the token form; `refocus`: back to the button that opened them. */
function closePanels(refocus) {
  show('confirm', false);
  show('rotate-form', false);
  if (refocus && opener?.isConnected) opener.focus();
}

// Escape closes them, as it closes a dialog.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && (!$('confirm').hidden || !$('rotate-form').hidden)) closePanels(true);
});

document.querySelector('#endpoints tbody').addEventListener('click', (event) => {
  const b = event.target.closest('button');
  if (!b) return;
  const endpoint = endpoints.find((e) => e.inference_id === b.dataset.id);
  if (!endpoint) return;
  const dialog = { edit: openSettings, json: openJson, code: openCode }[b.dataset.action];
  if (dialog) return void dialog(endpoint, b);
  pending = endpoint;
  opener = b;
  closePanels(false);
  if (b.dataset.action === 'delete') {
    $('confirm-text').textContent = `Delete the endpoint ${endpoint.inference_id}? Its stored token goes with it.`;
    show('confirm', true);
    // The harmless choice first, as a confirmation dialog does.
    $('confirm-no').focus();
  } else if (b.dataset.action === 'rotate') {
    $('rotate-title').textContent = `New API token for ${endpoint.inference_id}`;
    show('rotate-error', false);
    show('rotate-form', true);
    $('rotate-key').focus();
  } else {
    openTry(endpoint);
  }
});

$('confirm-no').addEventListener('click', () => closePanels(true));
$('confirm-yes').addEventListener('click', async () => {
  const id = pending.inference_id;
  show('confirm', false);
  try {
    await api('DELETE', `/_inference/${encodeURIComponent(id)}`);
    notice(`Deleted ${id}.`);
    // Its row (and the button that was focused) is gone: the keyboard goes on from the notice.
    $('notice').focus();
    forgetTry(id);
    await loadEndpoints();
  } catch (err) {
    notice(`Could not delete ${id}: ${err.message}`);
  }
});

$('rotate-cancel').addEventListener('click', () => closePanels(true));
$('rotate-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = pending.inference_id;
  try {
    await api('PUT', `/_inference/${encodeURIComponent(id)}/_update`, {
      service_settings: { api_key: $('rotate-key').value },
    });
    $('rotate-key').value = '';
    closePanels(true);
    notice(`New token saved for ${id}; requests use it from now on.`);
  } catch (err) {
    fail('rotate-error', err);
  }
});
document.addEventListener('endpoints-changed', () => void loadEndpoints());
document.addEventListener('inference-done', () => void refreshFigures());
// The totals follow the charts: both are read again as each traffic sample is taken.
document.addEventListener('traffic-refreshed', () => void refreshFigures());

// ---- start ----

async function start() {
  try {
    await loadServices();
    await loadEndpoints();
  } catch (err) {
    if (err.status !== 401) notice(`The service could not be reached: ${err.message}`);
    return;
  }
  show('sign-in', false);
  show('endpoints-section', true);
  show('charts-section', true);
  void startCharts();
  show('create-section', true);
  show('sign-out', Boolean(sessionStorage.getItem(KEY_STORE)));
}

void start();

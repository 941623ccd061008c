// The management page's behaviour: endpoints listed, created, tried, re-keyed and deleted through the public API, with
// the user's API key.
const KEY_STORE = 'hf-inference-gateway.apiKey';
const CHUNKED = ['text_embedding', 'sparse_embedding'];
const FALLBACK_TASKS = ['text_embedding', 'sparse_embedding', 'rerank'];
const REFRESH_MS = 5000;

const $ = (id) => document.getElementById(id);
const show = (el, on = true) => {
  (typeof el === 'string' ? $(el) : el).hidden = !on;
};

/** What the user pasted: the encoded key, or `id:api_key` (encoded here). */
function authorization() {
  const key = sessionStorage.getItem(KEY_STORE);
  if (!key) return undefined;
  return `ApiKey ${key.includes(':') ? btoa(key) : key}`;
}

class ApiError extends Error {
  constructor(status, reason) {
    super(reason);
    this.status = status;
  }
}

/**
 * One call to the service; an error answer becomes an ApiError carrying the envelope's reason. A 401 asks for a key.
 */
async function api(method, path, body, { raw = false } = {}) {
  const headers = {};
  const auth = authorization();
  if (auth) headers.authorization = auth;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (res.status === 401) {
    signIn(authorization() ? 'That API key was not accepted.' : undefined);
    throw new ApiError(401, 'an API key is needed');
  }
  if (raw && res.ok) return res;
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!res.ok) throw new ApiError(res.status, json?.error?.reason ?? `${res.status} ${text.slice(0, 200)}`);
  return json ?? text;
}

function fail(id, err) {
  const el = $(id);
  el.textContent = err instanceof Error ? err.message : String(err);
  show(el, true);
}

function notice(text) {
  const el = $('notice');
  el.textContent = text;
  show(el, true);
}

// ---- signing in ----

function signIn(message) {
  for (const id of ['endpoints-section', 'create-section', 'try-section']) show(id, false);
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

// ---- the endpoint list, with live figures from the metrics ----

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

function describeFigures(f) {
  if (!f) return 'no requests yet';
  const avg = f.upstream > 0 ? ` (${Math.round((f.upstreamSeconds / f.upstream) * 1000)} ms avg)` : '';
  const texts = `${f.texts} ${f.texts === 1 ? 'text' : 'texts'}`;
  return `${f.ok} ok · ${f.failed} failed · ${f.upstream} upstream${avg} · ${texts} · ${f.queued} queued`;
}

async function refreshFigures() {
  try {
    const text = await api('GET', '/_prometheus/metrics');
    figures = parseMetrics(String(text));
  } catch {
    figures = new Map();
  }
  for (const row of document.querySelectorAll('#endpoints tbody tr')) {
    row.querySelector('.live').textContent = describeFigures(figures.get(row.dataset.id));
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
  body.replaceChildren();
  for (const e of endpoints) {
    const row = document.createElement('tr');
    row.dataset.id = e.inference_id;
    const s = e.service_settings;
    const cells = [
      e.inference_id,
      e.task_type,
      s.url ?? (s.model_id ? `hosted: ${s.model_id}` : ''),
      s.rate_limit ? `${s.rate_limit.requests_per_minute}/min` : '',
      describeFigures(figures.get(e.inference_id)),
    ];
    cells.forEach((text, i) => {
      const td = document.createElement('td');
      td.textContent = text;
      if (i === 4) td.className = 'live';
      row.append(td);
    });
    const actions = document.createElement('td');
    actions.className = 'actions';
    actions.append(
      button('Try', 'try', e.inference_id),
      button('Rotate key', 'rotate', e.inference_id),
      button('Delete', 'delete', e.inference_id),
    );
    row.append(actions);
    body.append(row);
  }
  show('no-endpoints', endpoints.length === 0);
  show('endpoints', endpoints.length > 0);
}

async function loadEndpoints() {
  endpoints = (await api('GET', '/_inference')).endpoints;
  renderEndpoints();
  await refreshFigures();
}

let pending;

document.querySelector('#endpoints tbody').addEventListener('click', (event) => {
  const b = event.target.closest('button');
  if (!b) return;
  const endpoint = endpoints.find((e) => e.inference_id === b.dataset.id);
  if (!endpoint) return;
  pending = endpoint;
  show('confirm', false);
  show('rotate-form', false);
  if (b.dataset.action === 'delete') {
    $('confirm-text').textContent = `Delete the endpoint ${endpoint.inference_id}? Its stored token goes with it.`;
    show('confirm', true);
  } else if (b.dataset.action === 'rotate') {
    $('rotate-title').textContent = `New API token for ${endpoint.inference_id}`;
    show('rotate-error', false);
    show('rotate-form', true);
    $('rotate-key').focus();
  } else {
    openTry(endpoint);
  }
});

$('confirm-no').addEventListener('click', () => show('confirm', false));
$('confirm-yes').addEventListener('click', async () => {
  const id = pending.inference_id;
  show('confirm', false);
  try {
    await api('DELETE', `/_inference/${encodeURIComponent(id)}`);
    notice(`Deleted ${id}.`);
    if (tried?.inference_id === id) show('try-section', false);
    await loadEndpoints();
  } catch (err) {
    notice(`Could not delete ${id}: ${err.message}`);
  }
});

$('rotate-cancel').addEventListener('click', () => show('rotate-form', false));
$('rotate-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = pending.inference_id;
  try {
    await api('PUT', `/_inference/${encodeURIComponent(id)}/_update`, {
      service_settings: { api_key: $('rotate-key').value },
    });
    $('rotate-key').value = '';
    show('rotate-form', false);
    notice(`New token saved for ${id}; requests use it from now on.`);
  } catch (err) {
    fail('rotate-error', err);
  }
});

// ---- trying an endpoint ----

let tried;
let chat = [];

function openTry(endpoint) {
  tried = endpoint;
  chat = [];
  $('chat-log').replaceChildren();
  const kind = {
    text_embedding: 'embed',
    sparse_embedding: 'embed',
    rerank: 'rerank',
    completion: 'complete',
    chat_completion: 'chat',
  }[endpoint.task_type];
  for (const form of ['embed', 'rerank', 'complete', 'chat']) show(`try-${form}`, form === kind);
  for (const id of ['embed-result', 'rerank-result', 'complete-result']) $(id).replaceChildren();
  show('try-error', false);
  $('try-title').textContent = `Try ${endpoint.inference_id} (${endpoint.task_type})`;
  show('try-section', true);
  $('try-section').scrollIntoView({ block: 'nearest' });
}

const inferPath = () => `/_inference/${tried.task_type}/${encodeURIComponent(tried.inference_id)}`;

function line(parent, text, className) {
  const p = document.createElement('p');
  p.textContent = text;
  if (className) p.className = className;
  parent.append(p);
  return p;
}

$('try-embed').addEventListener('submit', async (event) => {
  event.preventDefault();
  show('try-error', false);
  const out = $('embed-result');
  out.replaceChildren();
  const started = performance.now();
  try {
    const answer = await api('POST', inferPath(), { input: $('embed-input').value });
    const ms = Math.round(performance.now() - started);
    if (tried.task_type === 'text_embedding') {
      const entry = answer.text_embedding[0];
      line(
        out,
        `Vector of ${entry.embedding.length} dimensions${entry.chunks ? `, from ${entry.chunks.length} chunks` : ''}, in ${ms} ms`,
        'size',
      );
      line(out, `[${entry.embedding.slice(0, 5).join(', ')}${entry.embedding.length > 5 ? ', …' : ''}]`, 'preview');
    } else {
      const entry = answer.sparse_embedding[0];
      const weights = Object.entries(entry.embedding).sort((a, b) => b[1] - a[1]);
      line(out, `${weights.length} tokens${entry.is_truncated ? ' (input truncated)' : ''}, in ${ms} ms`, 'size');
      line(
        out,
        weights
          .slice(0, 8)
          .map(([token, w]) => `${token}: ${w}`)
          .join(' · '),
        'preview',
      );
    }
  } catch (err) {
    fail('try-error', err);
  }
  void refreshFigures();
});

$('try-rerank').addEventListener('submit', async (event) => {
  event.preventDefault();
  show('try-error', false);
  const documents = $('rerank-documents')
    .value.split('\n')
    .map((d) => d.trim())
    .filter(Boolean);
  const out = $('rerank-result');
  out.replaceChildren();
  try {
    const answer = await api('POST', inferPath(), {
      query: $('rerank-query').value,
      input: documents,
      return_documents: true,
    });
    for (const r of answer.rerank) {
      const li = document.createElement('li');
      li.textContent = `${r.text ?? documents[r.index]} (${r.relevance_score})`;
      out.append(li);
    }
  } catch (err) {
    fail('try-error', err);
  }
  void refreshFigures();
});

$('try-complete').addEventListener('submit', async (event) => {
  event.preventDefault();
  show('try-error', false);
  const out = $('complete-result');
  out.replaceChildren();
  try {
    const answer = await api('POST', inferPath(), { input: $('complete-input').value });
    line(out, answer.completion.map((c) => c.result).join('\n'));
  } catch (err) {
    fail('try-error', err);
  }
  void refreshFigures();
});

/** Reads a server-sent event stream, calling `onEvent(event, data)` for each event as it arrives. */
async function readEvents(res, onEvent) {
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value.replace(/\r\n/g, '\n');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = 'message';
      const data = [];
      for (const l of block.split('\n')) {
        if (l.startsWith('event:')) event = l.slice(6).trim();
        else if (l.startsWith('data:')) data.push(l.slice(5).replace(/^ /, ''));
      }
      if (data.length > 0 && onEvent(event, data.join('\n')) === false) {
        await reader.cancel();
        return;
      }
    }
  }
}

$('try-chat').addEventListener('submit', async (event) => {
  event.preventDefault();
  show('try-error', false);
  const content = $('chat-input').value;
  $('chat-input').value = '';
  chat.push({ role: 'user', content });
  line($('chat-log'), content, 'user');
  const reply = line($('chat-log'), '', 'assistant');
  let text = '';
  try {
    // docs/api.md#streaming: each event's data is a bare OpenAI-style chunk; the last is [DONE].
    const res = await api(
      'POST',
      `/_inference/chat_completion/${encodeURIComponent(tried.inference_id)}/_stream`,
      { messages: chat },
      { raw: true },
    );
    await readEvents(res, (name, data) => {
      if (data === '[DONE]') return false;
      const json = JSON.parse(data);
      if (name === 'error') throw new Error(json.error?.message ?? json.error?.reason ?? data);
      const delta = json.choices?.[0]?.delta?.content;
      if (delta) {
        text += delta;
        reply.textContent = text;
      }
      return true;
    });
    chat.push({ role: 'assistant', content: text });
  } catch (err) {
    fail('try-error', err);
  }
  void refreshFigures();
});

// ---- creating an endpoint (shaped like Dify's Hugging Face settings) ----

let services;

function syncCreateForm() {
  const task = $('create-task').value;
  const hostedTasks = services?.configurations?.model_id?.supported_task_types ?? ['text_embedding'];
  const hostedAllowed = hostedTasks.includes(task);
  show('hosted-choice', hostedAllowed);
  if (!hostedAllowed) document.querySelector('input[name=source][value=url]').checked = true;
  const hosted = document.querySelector('input[name=source]:checked').value === 'hosted';
  show('url-field', !hosted);
  show('model-field', hosted);
  $('create-url').required = !hosted;
  $('create-model').required = hosted;
  show('chunking', CHUNKED.includes(task));
  const strategy = $('create-strategy').value;
  show('size-field', strategy === 'word' || strategy === 'sentence');
  show('overlap-field', strategy === 'word');
  show('sentence-overlap-field', strategy === 'sentence');
  $('create-size').required = strategy === 'word' || strategy === 'sentence';
  $('create-overlap').required = strategy === 'word';
}

async function loadServices() {
  try {
    services = (await api('GET', '/_inference/_services')).find((s) => s.service === 'hugging_face');
  } catch (err) {
    if (err.status === 401) throw err;
    services = undefined;
  }
  const select = $('create-task');
  select.replaceChildren();
  for (const task of services?.task_types ?? FALLBACK_TASKS) {
    const option = document.createElement('option');
    option.value = option.textContent = task;
    select.append(option);
  }
  const describe = (key, input) => {
    const d = services?.configurations?.[key]?.description;
    if (d) $(input).title = d;
  };
  describe('url', 'create-url');
  describe('model_id', 'create-model');
  describe('api_key', 'create-key');
  describe('rate_limit.requests_per_minute', 'create-rpm');
  syncCreateForm();
}

for (const id of ['create-task', 'create-strategy']) $(id).addEventListener('change', syncCreateForm);
for (const radio of document.querySelectorAll('input[name=source]')) radio.addEventListener('change', syncCreateForm);

function createBody(form) {
  const v = (name) => form.elements[name].value.trim();
  const settings = { api_key: form.elements.api_key.value };
  if (document.querySelector('input[name=source]:checked').value === 'hosted') settings.model_id = v('model_id');
  else settings.url = v('url');
  if (v('rpm')) settings.rate_limit = { requests_per_minute: Number(v('rpm')) };
  const body = { service: 'hugging_face', service_settings: settings };
  const strategy = v('strategy');
  if (CHUNKED.includes(v('task_type')) && strategy) {
    const chunking = { strategy };
    if (strategy === 'word')
      Object.assign(chunking, { max_chunk_size: Number(v('max_chunk_size')), overlap: Number(v('overlap')) });
    if (strategy === 'sentence')
      Object.assign(chunking, {
        max_chunk_size: Number(v('max_chunk_size')),
        sentence_overlap: Number(v('sentence_overlap')),
      });
    body.chunking_settings = chunking;
  }
  return body;
}

$('create-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = event.target;
  show('create-error', false);
  const id = form.elements.inference_id.value.trim();
  const submit = $('create-submit');
  submit.disabled = true;
  submit.textContent = 'Creating…';
  try {
    await api('PUT', `/_inference/${form.elements.task_type.value}/${encodeURIComponent(id)}`, createBody(form));
    form.reset();
    syncCreateForm();
    notice(`Created ${id}.`);
    await loadEndpoints();
  } catch (err) {
    fail('create-error', err);
  } finally {
    submit.disabled = false;
    submit.textContent = 'Create endpoint';
  }
});

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
  show('create-section', true);
  show('sign-out', Boolean(sessionStorage.getItem(KEY_STORE)));
}

setInterval(() => {
  if (!$('endpoints-section').hidden && !document.hidden) void refreshFigures();
}, REFRESH_MS);

void start();

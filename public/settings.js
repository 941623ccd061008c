// An endpoint's settings changed in place (PUT /_inference/<id>/_update, sending only what changed, the service's own
// validation messages beside the fields they are about), its GET JSON one click away, and the code that uses it
// (snippets.js). Three dialogs, opened from the endpoint list's row buttons (app.js).
import { $, KEY_STORE, announce, api, authorization, show } from './api.js';
import { KEY_VARIABLE, snippetsFor } from './snippets.js';

const CHUNKED = ['text_embedding', 'sparse_embedding'];
const GENERATION = ['completion', 'chat_completion'];
const BATCHED = [...CHUNKED, 'rerank'];
const ALL = [...BATCHED, ...GENERATION];
const INPUT_TYPES = ['ingest', 'search', 'classification', 'clustering'];

/**
 * The service settings `_update` accepts (docs/api.md#settings-by-task-type), by the name the service's messages use.
 * `config` names the entry of GET /_inference/_services that describes it: when that list is known, a setting shows
 * only if the service calls it updatable for the task type.
 */
const SERVICE_FIELDS = [
  {
    key: 'requests_per_minute',
    config: 'rate_limit.requests_per_minute',
    kind: 'int',
    label: 'Rate limit (requests per minute)',
    tasks: ALL,
    read: (s) => s.rate_limit?.requests_per_minute,
    put: (out, v) => (out.rate_limit = { requests_per_minute: v }),
  },
  { key: 'batch_size', kind: 'int', label: 'Batch size (inputs per upstream request)', tasks: BATCHED },
  { key: 'max_concurrent_requests', kind: 'int', label: 'Concurrency (upstream requests in flight)', tasks: BATCHED },
  { key: 'max_concurrent_streams', kind: 'int', label: 'Concurrency (generations in flight)', tasks: GENERATION },
  {
    key: 'cache',
    kind: 'bool',
    label: 'Answer repeated texts from the embedding cache',
    tasks: CHUNKED,
    fallback: true,
  },
  { key: 'prefix_strings', kind: 'prefixes', label: 'Prefix per input type', tasks: ['text_embedding'] },
  {
    key: 'api_key',
    kind: 'password',
    label: 'New API token (key rotation)',
    tasks: ALL,
    hint: 'Leave empty to keep the stored token. A new one is checked against the model before it is saved.',
  },
];

/** Task settings by task type (docs/api.md#generation-parameters-by-protocol, #rerank). */
function taskFields(taskType, stored) {
  if (taskType === 'rerank')
    return [
      { key: 'top_n', kind: 'int', label: 'Top N (results kept)' },
      { key: 'return_documents', kind: 'bool', label: 'Return each document with its score', fallback: false },
    ];
  if (!GENERATION.includes(taskType)) return [];
  // One setting by two names: the form shows the one the endpoint was given.
  const length = stored.max_new_tokens !== undefined ? 'max_new_tokens' : 'max_tokens';
  return [
    { key: length, kind: 'int', label: `Most tokens to generate (${length})` },
    { key: 'temperature', kind: 'float', label: 'Temperature (0–100)' },
    { key: 'top_p', kind: 'float', label: 'Top p (above 0, at most 1)' },
    { key: 'top_k', kind: 'int', label: 'Top k' },
    { key: 'repetition_penalty', kind: 'float', label: 'Repetition penalty (1: none)' },
    { key: 'seed', kind: 'int', label: 'Seed' },
    { key: 'stop', kind: 'lines', label: 'Stop sequences, one per line (at most 4)' },
  ];
}

const CHUNKING_FIELDS = [
  { key: 'strategy', kind: 'select', label: 'Strategy', options: ['sentence', 'word', 'recursive', 'none'] },
  {
    key: 'max_chunk_size',
    kind: 'int',
    label: 'Max chunk size (words, 10–300)',
    when: ['word', 'sentence', 'recursive'],
  },
  { key: 'overlap', kind: 'int', label: 'Overlap (words)', when: ['word'] },
  { key: 'sentence_overlap', kind: 'select', label: 'Sentence overlap', options: ['1', '0'], when: ['sentence'] },
  {
    key: 'separator_group',
    kind: 'select',
    label: 'Separators',
    options: ['plaintext', 'markdown', 'custom'],
    optionLabels: { custom: 'my own list (below)' },
    when: ['recursive'],
  },
  {
    key: 'separators',
    kind: 'text',
    label: 'Separator list (JSON, regular expressions)',
    when: ['recursive'],
    hint: 'For example ["\\n\\n", "\\n"]',
  },
];

let services;
let edited;
let fields = [];
let opener;

async function serviceConfigurations() {
  if (services === undefined) {
    try {
      services = (await api('GET', '/_inference/_services')).find((s) => s.service === 'hugging_face')?.configurations;
    } catch {
      services = null;
    }
  }
  return services;
}

// ---- dialogs ----

function openDialog(id, from) {
  opener = from?.getAttribute('aria-label');
  const dialog = $(id);
  if (!dialog.open) dialog.showModal();
}

for (const dialog of document.querySelectorAll('dialog.endpoint-dialog')) {
  dialog.addEventListener('close', () => {
    // The row is drawn again after a save: find its button by its name.
    const back = opener && document.querySelector(`#endpoints button[aria-label="${CSS.escape(opener)}"]`);
    back?.focus();
  });
  for (const close of dialog.querySelectorAll('.dialog-close')) close.addEventListener('click', () => dialog.close());
}

async function copy(text, statusId, what) {
  const status = $(statusId);
  try {
    await navigator.clipboard.writeText(text);
    status.textContent = `Copied ${what}.`;
  } catch {
    status.textContent = `Could not reach the clipboard: select the text and copy it (Ctrl+C).`;
  }
}

// ---- the settings form ----

const inputId = (key) => `set-${key}`;

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') node.className = v;
    else if (k in node) node[k] = v;
    else node.setAttribute(k, v);
  }
  node.append(...children);
  return node;
}

/** One field: its label, its control, a hint (the service's description when it has one) and its error line. */
function fieldRow(field, value, description) {
  const id = inputId(field.key);
  const hintText = field.hint ?? description;
  const described = [];
  const row = el('div', { class: 'setting', id: `${id}-row` });
  if (field.when) row.dataset.when = field.when.join(' ');
  let control;
  if (field.kind === 'prefixes') {
    control = el('fieldset', { id, class: 'prefixes' }, el('legend', {}, field.label));
    for (const type of INPUT_TYPES) {
      control.append(
        el(
          'label',
          {},
          type,
          el('input', { id: `${id}-${type}`, name: `${field.key}.${type}`, value: value?.[type] ?? '' }),
        ),
      );
    }
    row.append(control);
  } else if (field.kind === 'bool') {
    control = el('input', { type: 'checkbox', id, name: field.key, checked: value ?? field.fallback });
    row.append(el('label', { class: 'check' }, control, ` ${field.label}`));
  } else {
    if (field.kind === 'select') {
      control = el('select', { id, name: field.key });
      for (const option of field.options)
        control.append(el('option', { value: option }, field.optionLabels?.[option] ?? option));
      control.value = value === undefined ? field.options[0] : String(value);
    } else if (field.kind === 'lines') {
      control = el('textarea', { id, name: field.key, rows: 2, value: (value ?? []).join('\n') });
    } else {
      const number = field.kind === 'int' || field.kind === 'float';
      control = el('input', {
        id,
        name: field.key,
        type: field.kind === 'password' ? 'password' : number ? 'number' : 'text',
        value: value === undefined ? '' : field.kind === 'text' ? JSON.stringify(value) : String(value),
        autocomplete: 'off',
      });
      if (number) control.step = field.kind === 'int' ? '1' : 'any';
      if (number && value === undefined) control.placeholder = 'default';
    }
    row.append(el('label', { for: id }, field.label), control);
  }
  if (hintText) {
    row.append(el('p', { class: 'hint', id: `${id}-hint` }, hintText));
    described.push(`${id}-hint`);
  }
  row.append(el('p', { class: 'error field-error', id: `${id}-error`, hidden: true }));
  const controls = field.kind === 'prefixes' ? [...control.querySelectorAll('input')] : [control];
  for (const c of controls) c.setAttribute('aria-describedby', described.join(' '));
  return row;
}

function group(title, rows) {
  const box = el('fieldset', { class: 'settings-group' }, el('legend', {}, title));
  box.append(...rows);
  return box;
}

function drawSettings(endpoint, configurations) {
  edited = endpoint;
  const s = endpoint.service_settings ?? {};
  const task = endpoint.task_settings ?? {};
  const chunking = endpoint.chunking_settings;
  const shown = SERVICE_FIELDS.filter((f) => {
    const config = configurations?.[f.config ?? f.key];
    return configurations
      ? config?.updatable && config.supported_task_types.includes(endpoint.task_type)
      : f.tasks.includes(endpoint.task_type);
  });
  fields = [];
  const groups = [];
  const rows = (list, scope, values) =>
    list.map((f) => {
      const field = { ...f, scope, current: f.read ? f.read(values) : values[f.key] };
      if (field.key === 'separator_group') field.current = values?.separators ? 'custom' : undefined;
      fields.push(field);
      return fieldRow(
        field,
        field.current,
        scope === 'service' ? configurations?.[f.config ?? f.key]?.description : undefined,
      );
    });
  groups.push(group('Service settings', rows(shown, 'service', s)));
  const taskList = taskFields(endpoint.task_type, task);
  if (taskList.length) groups.push(group('Task settings (defaults for each request)', rows(taskList, 'task', task)));
  if (CHUNKED.includes(endpoint.task_type))
    groups.push(group('Chunking', rows(CHUNKING_FIELDS, 'chunking', chunking ?? {})));
  $('settings-fields').replaceChildren(...groups);
  $('settings-title').textContent = `Settings of ${endpoint.inference_id} (${endpoint.task_type})`;
  syncChunking();
}

function syncChunking() {
  const strategy = $(inputId('strategy'))?.value;
  for (const row of document.querySelectorAll('#settings-fields [data-when]')) {
    let on = row.dataset.when.split(' ').includes(strategy);
    if (row.id === `${inputId('separators')}-row`) on = on && $(inputId('separator_group')).value === 'custom';
    show(row, on);
  }
}

$('settings-fields').addEventListener('change', (event) => {
  if (event.target.id === inputId('strategy') || event.target.id === inputId('separator_group')) syncChunking();
});

/** Sorted keys, so that two objects with the same content compare equal. */
const canonical = (value) =>
  JSON.stringify(value, (_k, v) =>
    v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort()) : v,
  );

/** A field's value as the form has it (undefined when empty), or throws a message for the field. */
function valueOf(field) {
  const input = $(inputId(field.key));
  switch (field.kind) {
    case 'bool':
      return input.checked;
    case 'prefixes': {
      const map = {};
      for (const type of INPUT_TYPES) {
        const v = $(`${inputId(field.key)}-${type}`).value;
        if (v !== '') map[type] = v;
      }
      return map;
    }
    case 'lines': {
      const lines = input.value.split('\n').filter((l) => l !== '');
      return lines.length ? lines : undefined;
    }
    case 'int':
    case 'float':
      if (input.validity.badInput) throw new Error('This is not a number.');
      return input.value === '' ? undefined : Number(input.value);
    case 'select':
      return field.key === 'sentence_overlap' ? Number(input.value) : input.value;
    case 'text':
      if (input.value.trim() === '') return undefined;
      try {
        return JSON.parse(input.value);
      } catch {
        throw new Error('This is not JSON: write a list such as ["\\n\\n", "\\n"].');
      }
    default:
      return input.value === '' ? undefined : input.value;
  }
}

/** The chunking settings the form describes, whole (an `_update` replaces them whole). */
function chunkingOf(values) {
  const { strategy } = values;
  const out = { strategy };
  if (strategy === 'none') return out;
  out.max_chunk_size = values.max_chunk_size;
  if (strategy === 'word') out.overlap = values.overlap;
  if (strategy === 'sentence') out.sentence_overlap = values.sentence_overlap;
  if (strategy === 'recursive') {
    if (values.separator_group === 'custom') out.separators = values.separators;
    else out.separator_group = values.separator_group;
  }
  return out;
}

/** The `_update` body: only what changed, and the fields it names; or the client's own problems per field. */
function changes() {
  const body = {};
  const changed = [];
  const problems = new Map();
  const chunkValues = {};
  for (const field of fields) {
    let value;
    try {
      value = valueOf(field);
    } catch (err) {
      problems.set(field.key, err.message);
      continue;
    }
    if (field.scope === 'chunking') {
      chunkValues[field.key] = value;
      continue;
    }
    const current = field.kind === 'prefixes' ? (field.current ?? {}) : field.current;
    const fallback = field.kind === 'bool' ? (current ?? field.fallback) : current;
    if (canonical(value) === canonical(fallback)) continue;
    if (value === undefined) {
      if (field.key !== 'api_key')
        problems.set(field.key, 'An _update cannot remove this setting, only change it: give a value.');
      continue;
    }
    const scope = field.scope === 'task' ? 'task_settings' : 'service_settings';
    body[scope] ??= {};
    if (field.put) field.put(body[scope], value);
    else body[scope][field.key] = value;
    changed.push(field.key);
  }
  if (fields.some((f) => f.scope === 'chunking')) {
    const next = chunkingOf(chunkValues);
    const current = edited.chunking_settings ?? {};
    if (canonical(next) !== canonical(current)) {
      body.chunking_settings = next;
      changed.push('chunking_settings');
    }
  }
  return { body, changed, problems };
}

function clearProblems() {
  for (const p of document.querySelectorAll('#settings-fields .field-error')) {
    p.textContent = '';
    show(p, false);
  }
  for (const c of document.querySelectorAll('#settings-fields [aria-invalid]')) c.removeAttribute('aria-invalid');
  show('settings-error', false);
  $('settings-status').textContent = '';
}

/** Which field a problem is about: the first of its bracketed names (or `{key=value}` lists) the form has. */
function fieldOfProblem(problem) {
  const names = [];
  for (const [, inner] of problem.matchAll(/\[([^\]]*)\]/g)) {
    const listed = /^\{(.*)\}$/.exec(inner);
    if (listed) names.push(...listed[1].split(', ').map((pair) => pair.split('=')[0]));
    else names.push(...inner.split('.').reverse());
  }
  for (const name of names) {
    const key = name === 'rate_limit' ? 'requests_per_minute' : name;
    if (fields.some((f) => f.key === key)) return key;
  }
  return undefined;
}

/** The problems of an error envelope's reason: `Validation Failed: 1: …;2: …;` lists them, any other is one. */
function problemsOf(reason) {
  const list = reason.replace(/^Validation Failed: /, '');
  if (list === reason) return [reason];
  return list
    .split(/;(?=\d+: )/)
    .map((p) => p.replace(/^\d+: /, '').replace(/;$/, ''))
    .filter(Boolean);
}

function showProblems(byField, general) {
  let first;
  for (const [key, messages] of byField) {
    const error = $(`${inputId(key)}-error`);
    error.textContent = messages.join(' ');
    show(error, true);
    const box = $(inputId(key));
    const controls = box.tagName === 'FIELDSET' ? [...box.querySelectorAll('input')] : [box];
    for (const c of controls) {
      c.setAttribute('aria-invalid', 'true');
      const ids = new Set((c.getAttribute('aria-describedby') ?? '').split(' ').filter(Boolean));
      ids.add(error.id);
      c.setAttribute('aria-describedby', [...ids].join(' '));
    }
    first ??= controls[0];
  }
  if (general.length) {
    $('settings-error').textContent = general.join(' ');
    show('settings-error', true);
  }
  (first ?? $('settings-error')).focus();
}

$('settings-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  clearProblems();
  const { body, changed, problems } = changes();
  if (problems.size) {
    showProblems(new Map([...problems].map(([k, v]) => [k, [v]])), []);
    return;
  }
  if (changed.length === 0) {
    $('settings-status').textContent = 'Nothing changed.';
    return;
  }
  const save = $('settings-save');
  save.disabled = true;
  try {
    const view = await api('PUT', `/_inference/${encodeURIComponent(edited.inference_id)}/_update`, body);
    drawSettings(view, await serviceConfigurations());
    $('settings-status').textContent = `Saved: ${changed.join(', ')}.`;
    announce('endpoints-changed');
  } catch (err) {
    const reason = err.message;
    const cause = err.body?.error?.caused_by?.reason;
    const byField = new Map();
    const general = [];
    for (const problem of problemsOf(reason)) {
      // A refused new token: the creation check's failure, whose cause says why.
      const key = fieldOfProblem(problem) ?? (cause && body.service_settings?.api_key ? 'api_key' : undefined);
      const text = cause && !fieldOfProblem(problem) ? `${problem} ${cause}` : problem;
      if (key) byField.set(key, [...(byField.get(key) ?? []), text]);
      else general.push(text);
    }
    showProblems(byField, general);
  } finally {
    save.disabled = false;
  }
});

export async function openSettings(endpoint, from) {
  clearProblems();
  let current = endpoint;
  try {
    current = (await api('GET', `/_inference/${encodeURIComponent(endpoint.inference_id)}`)).endpoints[0];
  } catch {
    // The list's copy will do.
  }
  drawSettings(current, await serviceConfigurations());
  openDialog('settings-dialog', from);
  document.querySelector('#settings-fields input, #settings-fields select')?.focus();
}

// ---- GET's JSON ----

export async function openJson(endpoint, from) {
  const path = `/_inference/${encodeURIComponent(endpoint.inference_id)}`;
  $('json-title').textContent = `GET ${path}`;
  $('json-status').textContent = '';
  try {
    $('json-text').textContent = JSON.stringify(await api('GET', path), null, 2);
  } catch (err) {
    $('json-text').textContent = err.message;
  }
  openDialog('json-dialog', from);
  $('json-copy').focus();
}

$('json-copy').addEventListener('click', () => void copy($('json-text').textContent, 'json-status', 'the JSON'));

// ---- code ----

let coded;

function drawCode() {
  const key = sessionStorage.getItem(KEY_STORE);
  const pageKey = authorization()?.replace(/^ApiKey /, '');
  const mode = !key ? 'none' : $('code-key-page').checked ? 'page' : 'variable';
  show('code-key', Boolean(key));
  $('code-key-note').textContent = {
    none: 'The service runs open (no API key yet), so the code sends none.',
    variable: `The code reads the service's API key from $${KEY_VARIABLE} (its encoded value): export ${KEY_VARIABLE}=… first.`,
    page: 'The code carries the API key this page signed in with: keep it to yourself.',
  }[mode];
  const list = snippetsFor(coded, location.origin, mode, pageKey);
  $('code-snippets').replaceChildren(
    ...list.map((s) =>
      el(
        'section',
        { class: 'snippet', id: `snippet-${s.id}`, 'aria-labelledby': `snippet-${s.id}-title` },
        el('h3', { id: `snippet-${s.id}-title` }, s.title),
        el(
          'pre',
          { tabIndex: 0, 'aria-label': `${s.title} code` },
          el('code', { class: `language-${s.language}` }, s.code),
        ),
        el('button', { type: 'button', class: 'copy', 'data-snippet': s.id }, `Copy ${s.title}`),
      ),
    ),
  );
  if (!list.some((s) => s.id === 'openai' || s.id === 'hf'))
    $('code-snippets').append(el('p', { class: 'hint' }, `No door serves ${coded.task_type}: use _inference.`));
}

export function openCode(endpoint, from) {
  coded = endpoint;
  $('code-title').textContent = `Code for ${endpoint.inference_id} (${endpoint.task_type})`;
  $('code-status').textContent = '';
  drawCode();
  openDialog('code-dialog', from);
  $('code-snippets').querySelector('button.copy')?.focus();
}

for (const radio of document.querySelectorAll('#code-key input')) radio.addEventListener('change', drawCode);
$('code-snippets').addEventListener('click', (event) => {
  const b = event.target.closest('button.copy');
  if (!b) return;
  const code = $(`snippet-${b.dataset.snippet}`).querySelector('code').textContent;
  void copy(code, 'code-status', `the ${$(`snippet-${b.dataset.snippet}-title`).textContent} code`);
});

// The form that creates an endpoint, shaped like Dify's Hugging Face settings, with the service's own descriptions of
// each field (GET /_inference/_services).
import { $, announce, api, fail, notice, show } from './api.js';

const CHUNKED = ['text_embedding', 'sparse_embedding'];
const FALLBACK_TASKS = ['text_embedding', 'sparse_embedding', 'rerank'];

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

export async function loadServices() {
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
    announce('endpoints-changed');
  } catch (err) {
    fail('create-error', err);
  } finally {
    submit.disabled = false;
    submit.textContent = 'Create endpoint';
  }
});

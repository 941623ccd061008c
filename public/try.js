// The playgrounds: one form per task type, answering through the public inference API with the user's key. Each
// answer shows what it cost: the time taken and the upstream requests it rode in (the X-Inference-Upstream-Requests
// header, docs/api.md#what-a-request-cost). Completions and chat stream their text as it arrives; the chat keeps its
// conversation until started over.
import { $, announce, api, fail, show } from './api.js';

let tried;
let chat = [];

const KIND = {
  text_embedding: 'embed',
  sparse_embedding: 'embed',
  rerank: 'rerank',
  completion: 'complete',
  chat_completion: 'chat',
};
const FIRST_FIELD = { embed: 'embed-input', rerank: 'rerank-query', complete: 'complete-input', chat: 'chat-input' };

export function openTry(endpoint) {
  tried = endpoint;
  startOver();
  const kind = KIND[endpoint.task_type];
  for (const form of ['embed', 'rerank', 'complete', 'chat']) show(`try-${form}`, form === kind);
  for (const id of ['embed-result', 'rerank-result', 'complete-result']) $(id).replaceChildren();
  show('try-error', false);
  show('try-cost', false);
  $('try-title').textContent = `Try ${endpoint.inference_id} (${endpoint.task_type})`;
  $('embed-label').textContent = endpoint.task_type === 'sparse_embedding' ? 'Text' : 'Texts, one per line';
  show('try-section', true);
  $('try-section').scrollIntoView({ block: 'nearest' });
  $(FIRST_FIELD[kind]).focus();
}

/** Closes the try-out when the endpoint it shows is gone. */
export function forgetTry(id) {
  if (tried?.inference_id === id) show('try-section', false);
}

const inferPath = (suffix = '') => `/_inference/${tried.task_type}/${encodeURIComponent(tried.inference_id)}${suffix}`;

function el(tag, text, className) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (className) e.className = className;
  return e;
}

/** A bar for a score, with the score as text beside it (the bar is decoration for the number). */
function bar(value, min, max, label) {
  const meter = el('meter');
  Object.assign(meter, { min, max, value });
  meter.setAttribute('aria-label', label);
  return meter;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/**
 * What the answer cost: time taken (and to the first token, for streams), the upstream requests it rode in, and its
 * cache hits when the cache was looked up.
 */
function showCost(res, ms, firstMs) {
  const out = $('try-cost');
  out.replaceChildren();
  const parts = [el('span', firstMs === undefined ? `${ms} ms` : `first text in ${firstMs} ms, all in ${ms} ms`, 'ms')];
  const upstream = res?.headers.get('x-inference-upstream-requests');
  if (upstream !== null && upstream !== undefined)
    parts.push(el('span', plural(Number(upstream), 'upstream request'), 'upstream'));
  const hits = res?.headers.get('x-inference-cache-hits');
  if (hits !== null && hits !== undefined) parts.push(el('span', plural(Number(hits), 'cache hit'), 'hits'));
  parts.forEach((p, i) => out.append(...(i > 0 ? [' · ', p] : [p])));
  show(out, true);
}

/** One call whose answer is read here (its headers carry the cost). */
async function post(path, body) {
  const started = performance.now();
  const res = await api('POST', path, body, { raw: true });
  return { res, started };
}

const elapsed = (started) => Math.round(performance.now() - started);

function begin() {
  show('try-error', false);
  show('try-cost', false);
}

// ---- embeddings: each vector's size and first values; several texts, each one's similarity to the first ----

function cosine(a, b) {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 0 : dot / Math.sqrt(na * nb);
}

function showDense(out, texts, entries) {
  const dims = entries[0].embedding.length;
  out.append(el('p', `${plural(texts.length, 'text')}, each a vector of ${dims} dimensions`, 'size'));
  const list = el('ol', undefined, 'vectors');
  entries.forEach((entry, i) => {
    const li = el('li');
    li.append(el('span', texts[i], 'text'));
    if (entry.chunks) li.append(el('span', ` (from ${entry.chunks.length} chunks)`, 'chunks'));
    const v = entry.embedding;
    li.append(el('code', `[${v.slice(0, 5).join(', ')}${v.length > 5 ? ', …' : ''}]`, 'preview'));
    if (i > 0) {
      const s = cosine(entries[0].embedding, v);
      const row = el('span', undefined, 'score');
      row.append(
        'similarity to the first ',
        bar(s, -1, 1, `similarity of text ${i + 1} to the first`),
        el('span', s.toFixed(4), 'value'),
      );
      li.append(row);
    }
    list.append(li);
  });
  out.append(list);
}

function showSparse(out, entry) {
  const weights = Object.entries(entry.embedding).sort((a, b) => b[1] - a[1]);
  out.append(el('p', `${plural(weights.length, 'token')}${entry.is_truncated ? ' (input truncated)' : ''}`, 'size'));
  const top = weights[0]?.[1] ?? 1;
  const list = el('ol', undefined, 'weights');
  for (const [i, [token, w]] of weights.slice(0, 10).entries()) {
    const li = el('li');
    li.append(
      el('span', `${i + 1}.`, 'rank'),
      el('span', token, 'text'),
      bar(w, 0, top, `weight of ${token}`),
      el('span', String(w), 'value'),
    );
    list.append(li);
  }
  out.append(list);
}

$('try-embed').addEventListener('submit', async (event) => {
  event.preventDefault();
  begin();
  const out = $('embed-result');
  out.replaceChildren();
  const sparse = tried.task_type === 'sparse_embedding';
  const raw = $('embed-input').value;
  const texts = sparse
    ? [raw]
    : raw
        .split('\n')
        .map((t) => t.trim())
        .filter(Boolean);
  try {
    const { res, started } = await post(inferPath(), { input: texts });
    const answer = await res.json();
    showCost(res, elapsed(started));
    if (sparse) showSparse(out, answer.sparse_embedding[0]);
    else showDense(out, texts, answer.text_embedding);
  } catch (err) {
    fail('try-error', err);
  }
  announce('inference-done');
});

// ---- rerank: the documents in the order the model ranks them, each with its score as a bar ----

$('try-rerank').addEventListener('submit', async (event) => {
  event.preventDefault();
  begin();
  const documents = $('rerank-documents')
    .value.split('\n')
    .map((d) => d.trim())
    .filter(Boolean);
  const out = $('rerank-result');
  out.replaceChildren();
  try {
    const { res, started } = await post(inferPath(), {
      query: $('rerank-query').value,
      input: documents,
      return_documents: true,
    });
    const answer = await res.json();
    showCost(res, elapsed(started));
    const scores = answer.rerank.map((r) => r.relevance_score);
    const min = Math.min(0, ...scores);
    const max = Math.max(1, ...scores);
    for (const [i, r] of answer.rerank.entries()) {
      const li = el('li');
      const text = r.text ?? documents[r.index];
      li.append(
        el('span', `${i + 1}.`, 'rank'),
        el('span', text, 'text'),
        bar(r.relevance_score, min, max, `score of ${text}`),
        el('span', String(r.relevance_score), 'value'),
      );
      out.append(li);
    }
  } catch (err) {
    fail('try-error', err);
  }
  announce('inference-done');
});

// ---- streams: completion and chat ----

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

/**
 * Streams `body` to the endpoint's `_stream`, calling `onText(all)` with the text so far as each piece arrives
 * (docs/api.md#streaming); `pieceOf` reads an event's piece of text. Shows the cost at the end; returns the text.
 */
async function streamText(body, pieceOf, onText) {
  const { res, started } = await post(inferPath('/_stream'), body);
  let text = '';
  let firstMs;
  await readEvents(res, (name, data) => {
    if (data === '[DONE]') return false;
    const json = JSON.parse(data);
    if (name === 'error') throw new Error(json.error?.message ?? json.error?.reason ?? data);
    const piece = pieceOf(json);
    if (piece) {
      firstMs ??= elapsed(started);
      text += piece;
      onText(text);
    }
    return true;
  });
  showCost(res, elapsed(started), firstMs);
  return text;
}

$('try-complete').addEventListener('submit', async (event) => {
  event.preventDefault();
  begin();
  const out = $('complete-result');
  const p = el('p');
  out.replaceChildren(p);
  const submit = event.submitter ?? $('try-complete').querySelector('button[type=submit]');
  submit.disabled = true;
  try {
    await streamText(
      { input: $('complete-input').value },
      (json) => json.completion?.map((c) => c.delta).join(''),
      (text) => (p.textContent = text),
    );
  } catch (err) {
    fail('try-error', err);
  } finally {
    submit.disabled = false;
  }
  announce('inference-done');
});

/** Forgets the conversation. */
function startOver() {
  chat = [];
  $('chat-log').replaceChildren();
  show('chat-empty', true);
  show('try-cost', false);
}

$('chat-reset').addEventListener('click', () => {
  startOver();
  $('chat-input').focus();
});

$('try-chat').addEventListener('submit', async (event) => {
  event.preventDefault();
  begin();
  const content = $('chat-input').value;
  $('chat-input').value = '';
  show('chat-empty', false);
  const log = $('chat-log');
  log.append(el('p', content, 'user'));
  const reply = el('p', '', 'assistant');
  log.append(reply);
  const send = $('chat-send');
  send.disabled = true;
  // The conversation so far goes with each message: the model keeps no state of its own.
  const messages = [...chat, { role: 'user', content }];
  try {
    // Each event's data is a bare OpenAI-style chunk; the last is [DONE].
    const text = await streamText(
      { messages },
      (json) => json.choices?.[0]?.delta?.content,
      (t) => (reply.textContent = t),
    );
    chat = [...messages, { role: 'assistant', content: text }];
  } catch (err) {
    // A failed turn leaves the conversation as it was before it.
    reply.remove();
    log.lastElementChild?.classList.add('unsent');
    fail('try-error', err);
  } finally {
    send.disabled = false;
  }
  announce('inference-done');
});

// The try-out: one form per task type, answering through the public inference API with the user's key; streamed chat
// reads the server-sent events as they arrive.
import { $, announce, api, fail, show } from './api.js';

let tried;
let chat = [];

export function openTry(endpoint) {
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
  announce('inference-done');
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
  announce('inference-done');
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
  announce('inference-done');
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
  announce('inference-done');
});

/** Closes the try-out when the endpoint it shows is gone. */
export function forgetTry(id) {
  if (tried?.inference_id === id) show('try-section', false);
}

// Working code for one endpoint: the request that uses it as curl, through the official Elasticsearch clients
// (JavaScript and Python), and through the doors (docs/doors.md): the openai SDK at /v1 and @huggingface/inference's
// InferenceClient at /hf/<id>. Pure functions of the endpoint, the service's address and how the key is written, so the
// page and its test make the same text.

/** The environment variable the snippets read the service's API key from, unless they carry the page's key. */
export const KEY_VARIABLE = 'GATEWAY_KEY';

/** What each task type's snippets send: short, fixed texts a reader recognises. */
const SAMPLES = {
  text: 'The quick brown fox jumps over the lazy dog',
  query: 'What is a fox?',
  documents: ['A fox is a small wild dog.', 'Paris is the capital of France.'],
  prompt: 'Say hello',
  message: 'Hello there',
};

const js = (value) => JSON.stringify(value);
const py = (value) => JSON.stringify(value); // the samples are plain strings and lists: JSON is also Python

/**
 * How the snippets authenticate: `none` (the service runs open: no key at all), `variable` (read from $GATEWAY_KEY,
 * the default), `page` (the key this page signed in with, written out).
 */
function auth(keyMode, key) {
  const literal = keyMode === 'page' && key;
  return {
    none: keyMode === 'none',
    shellHeader: (scheme) =>
      literal ? `'Authorization: ${scheme} ${key}'` : `"Authorization: ${scheme} $${KEY_VARIABLE}"`,
    js: literal ? js(key) : `process.env.${KEY_VARIABLE}`,
    py: literal ? py(key) : `os.environ["${KEY_VARIABLE}"]`,
  };
}

/** The body of `POST /_inference/<task_type>/<id>` (or `_stream` for chat), and the ES clients' arguments. */
function inferenceBody(taskType) {
  switch (taskType) {
    case 'rerank':
      return { query: SAMPLES.query, input: SAMPLES.documents };
    case 'completion':
      return { input: SAMPLES.prompt };
    case 'chat_completion':
      return { messages: [{ role: 'user', content: SAMPLES.message }] };
    default:
      return { input: [SAMPLES.text] };
  }
}

function curlSnippet(endpoint, origin, a) {
  const chat = endpoint.task_type === 'chat_completion';
  const path = `/_inference/${endpoint.task_type}/${endpoint.inference_id}${chat ? '/_stream' : ''}`;
  const lines = [`curl -s${chat ? 'N' : ''} -X POST '${origin}${path}'`];
  if (!a.none) lines.push(`  -H ${a.shellHeader('ApiKey')}`);
  lines.push(`  -H 'Content-Type: application/json'`, `  -d '${js(inferenceBody(endpoint.task_type))}'`);
  return lines.join(' \\\n');
}

function esJsSnippet(endpoint, origin, a) {
  const client = a.none
    ? `new Client({ node: ${js(origin)} })`
    : `new Client({ node: ${js(origin)}, auth: { apiKey: ${a.js} } })`;
  const body = inferenceBody(endpoint.task_type);
  const call =
    endpoint.task_type === 'chat_completion'
      ? [
          '// chat_completion answers on _stream only: this method reads the whole stream of events.',
          `const events = await client.inference.chatCompletionUnified({`,
          `  inference_id: ${js(endpoint.inference_id)},`,
          `  chat_completion_request: { messages: ${js(body.messages)} },`,
          `});`,
          `console.log(events);`,
        ]
      : [
          `const answer = await client.inference.inference({`,
          `  task_type: ${js(endpoint.task_type)},`,
          `  inference_id: ${js(endpoint.inference_id)},`,
          ...Object.entries(body).map(([k, v]) => `  ${k}: ${js(v)},`),
          `});`,
          `console.log(JSON.stringify(answer));`,
        ];
  return [`import { Client } from '@elastic/elasticsearch';`, '', `const client = ${client};`, ...call].join('\n');
}

function esPythonSnippet(endpoint, origin, a) {
  const body = inferenceBody(endpoint.task_type);
  const head = a.none ? [] : ['import os'];
  const client = a.none
    ? `client = Elasticsearch(${py(origin)})`
    : `client = Elasticsearch(${py(origin)}, api_key=${a.py})`;
  const call =
    endpoint.task_type === 'chat_completion'
      ? [
          '# chat_completion answers on _stream only: this method reads the whole stream of events.',
          'events = client.inference.chat_completion_unified(',
          `    inference_id=${py(endpoint.inference_id)},`,
          `    chat_completion_request={"messages": ${py(body.messages)}},`,
          ')',
          'print(events)',
        ]
      : [
          'answer = client.inference.inference(',
          `    task_type=${py(endpoint.task_type)},`,
          `    inference_id=${py(endpoint.inference_id)},`,
          ...Object.entries(body).map(([k, v]) => `    ${k}=${py(v)},`),
          ')',
          'print(answer)',
        ];
  return [...head, 'from elasticsearch import Elasticsearch', '', client, ...call].join('\n');
}

/** The openai SDK through the OpenAI door; undefined for the task types it does not serve. */
function openaiSnippet(endpoint, origin, a) {
  const model = js(endpoint.inference_id);
  const call = {
    text_embedding: [
      `const answer = await openai.embeddings.create({ model: ${model}, input: ${js([SAMPLES.text])}, encoding_format: 'float' });`,
      'console.log(JSON.stringify(answer.data[0].embedding));',
    ],
    completion: [
      `const answer = await openai.completions.create({ model: ${model}, prompt: ${js(SAMPLES.prompt)}, max_tokens: 64 });`,
      'console.log(answer.choices[0].text);',
    ],
    chat_completion: [
      `const answer = await openai.chat.completions.create({`,
      `  model: ${model},`,
      `  messages: ${js(inferenceBody('chat_completion').messages)},`,
      `});`,
      'console.log(answer.choices[0].message.content);',
    ],
  }[endpoint.task_type];
  if (!call) return undefined;
  // The SDK insists on a key: while the service runs open, any text does.
  const apiKey = a.none ? `'any text: the service runs open'` : a.js;
  return [
    `import OpenAI from 'openai';`,
    '',
    `const openai = new OpenAI({ baseURL: ${js(`${origin}/v1`)}, apiKey: ${apiKey} });`,
    ...call,
  ].join('\n');
}

/** @huggingface/inference's InferenceClient through the Hugging Face door (or curl where it has no method). */
function hfSnippet(endpoint, origin, a) {
  const url = `${origin}/hf/${endpoint.inference_id}`;
  if (endpoint.task_type === 'rerank') {
    // InferenceClient has no rerank method: the door's TEI /rerank route, as TEI's own clients call it.
    const lines = [`curl -s -X POST '${url}/rerank'`];
    if (!a.none) lines.push(`  -H ${a.shellHeader('Bearer')}`);
    lines.push(
      `  -H 'Content-Type: application/json'`,
      `  -d '${js({ query: SAMPLES.query, texts: SAMPLES.documents, return_text: true })}'`,
    );
    return { language: 'shell', title: 'Hugging Face door (TEI /rerank), curl', code: lines.join(' \\\n') };
  }
  const call = {
    text_embedding: [
      `const vector = await client.featureExtraction({ endpointUrl: ${js(url)}, inputs: ${js(SAMPLES.text)} });`,
      'console.log(JSON.stringify(vector));',
    ],
    completion: [
      `const answer = await client.textGeneration({`,
      `  endpointUrl: ${js(url)},`,
      `  inputs: ${js(SAMPLES.prompt)},`,
      `  parameters: { max_new_tokens: 64 },`,
      `});`,
      'console.log(answer.generated_text);',
    ],
    chat_completion: [
      `const answer = await client.chatCompletion({`,
      `  endpointUrl: ${js(url)},`,
      `  messages: ${js(inferenceBody('chat_completion').messages)},`,
      `});`,
      'console.log(answer.choices[0].message.content);',
    ],
  }[endpoint.task_type];
  if (!call) return undefined;
  return {
    language: 'javascript',
    title: 'Hugging Face door, @huggingface/inference',
    code: [
      `import { InferenceClient } from '@huggingface/inference';`,
      '',
      '// The access token is a key of this service, not a Hugging Face token: the service sends the endpoint’s own.',
      `const client = new InferenceClient(${a.none ? '' : a.js});`,
      ...call,
    ].join('\n'),
  };
}

/**
 * Every snippet that fits the endpoint's task type, in the order the page shows them: `{ id, title, language, code }`.
 * `keyMode` is `none`, `variable` or `page` (see auth); `key` the page's encoded key.
 */
export function snippetsFor(endpoint, origin, keyMode, key) {
  const a = auth(keyMode, key);
  const out = [
    { id: 'curl', title: 'curl', language: 'shell', code: curlSnippet(endpoint, origin, a) },
    {
      id: 'es-js',
      title: 'Elasticsearch JavaScript client (@elastic/elasticsearch)',
      language: 'javascript',
      code: esJsSnippet(endpoint, origin, a),
    },
    {
      id: 'es-python',
      title: 'Elasticsearch Python client (elasticsearch)',
      language: 'python',
      code: esPythonSnippet(endpoint, origin, a),
    },
  ];
  const openai = openaiSnippet(endpoint, origin, a);
  if (openai) out.push({ id: 'openai', title: 'OpenAI door, openai SDK', language: 'javascript', code: openai });
  const hf = hfSnippet(endpoint, origin, a);
  if (hf) out.push({ id: 'hf', ...hf });
  return out;
}

// The official Elasticsearch clients (9.x and 8.x), unchanged, on completion and chat_completion: whole answers and our
// streams, `_unified` and the reasoning fields.
import type { Readable } from 'node:stream';
import { Client as Client9, errors as errors9 } from '@elastic/elasticsearch';
import { Client as Client8, errors as errors8 } from 'es8';
import t from 'tap';
import { API_KEY, startApp } from '../helpers/app-harness.js';
import { FakeLlm, MODEL } from '../helpers/fake-llm.js';

const clients = [
  {
    name: '@elastic/elasticsearch 9',
    make: (node: string) => new Client9({ node }),
    ResponseError: errors9.ResponseError,
  },
  {
    name: '@elastic/elasticsearch 8',
    // Same method names and request shapes; typed as 9.x so one test body drives both.
    make: (node: string) => new Client8({ node }) as unknown as Client9,
    ResponseError: errors8.ResponseError as unknown as typeof errors9.ResponseError,
  },
];

const completionStream = (deltas: string[]) =>
  deltas.map((d) => `event: message\ndata: ${JSON.stringify({ completion: [{ delta: d }] })}\n\n`).join('') +
  'event: message\ndata: [DONE]\n\n';

async function readAll(stream: Readable): Promise<{ text: string; reads: number }> {
  let text = '';
  let reads = 0;
  for await (const chunk of stream) {
    reads++;
    text += Buffer.from(chunk as Buffer).toString('utf8');
  }
  return { text, reads };
}

for (const { name, make, ResponseError } of clients) {
  t.test(
    `${name}: inference.completion, inference.streamCompletion, inference.chatCompletionUnified (reasoning included) and _unified read our answers and streams`,
    async (t) => {
      const llm = await new FakeLlm().start();
      t.teardown(() => llm.close());
      const s = await startApp(t, { SKIP_VALIDATION: 'false' }, undefined, {
        retry: { maxAttempts: 1, baseDelayMs: 1, maxDelayMs: 1 },
      });
      const node = await s.app.listen({ port: 0, host: '127.0.0.1' });
      const client = make(node);
      t.teardown(() => client.close());

      const created = await client.inference.putHuggingFace({
        task_type: 'completion',
        huggingface_inference_id: 'llm',
        service: 'hugging_face',
        service_settings: { api_key: API_KEY, url: `${llm.url}/v1/chat/completions` },
      });
      t.same(created, {
        inference_id: 'llm',
        task_type: 'completion',
        service: 'hugging_face',
        service_settings: { url: `${llm.url}/v1/chat/completions`, rate_limit: { requests_per_minute: 3000 } },
      });
      await client.inference.put({
        task_type: 'chat_completion',
        inference_id: 'chat',
        inference_config: {
          service: 'hugging_face',
          service_settings: { api_key: API_KEY, url: `${llm.url}/v1/chat/completions` },
        },
      });

      t.same(await client.inference.completion({ inference_id: 'llm', input: 'What is Elastic?' }), {
        completion: [{ result: 'You said: What is Elastic?' }],
      });

      // Without asStream the clients wait for the end and hand back the whole event stream as text.
      const expected = completionStream(['You', ' said', ':', ' What', ' is', ' Elastic?']);
      t.equal(await client.inference.streamCompletion({ inference_id: 'llm', input: 'What is Elastic?' }), expected);
      llm.tokenDelayMs = 20;
      const streamed = (await client.inference.streamCompletion(
        { inference_id: 'llm', input: 'What is Elastic?' },
        { asStream: true },
      )) as unknown as Readable;
      const read = await readAll(streamed);
      llm.tokenDelayMs = 0;
      t.equal(read.text, expected);
      t.ok(read.reads > 1, `the stream arrived in ${read.reads} reads, as it was generated`);

      const chat = (await client.inference.chatCompletionUnified({
        inference_id: 'chat',
        chat_completion_request: { messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 10 },
      })) as unknown as string;
      const events = chat.split('\n\n').filter(Boolean);
      t.equal(events.at(-1), 'event: message\ndata: [DONE]');
      const chunks = events.slice(0, -1).map((e) => JSON.parse(e.slice('event: message\ndata: '.length)));
      t.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'You said: Hi');
      t.strictSame(chunks.at(-1).usage, { completion_tokens: 4, prompt_tokens: 5, total_tokens: 9 });
      t.ok(chunks.every((c) => c.model === MODEL && c.object === 'chat.completion.chunk' && c.id === chunks[0].id));
      t.equal(llm.received.at(-1)!.body.max_tokens, 10);

      const chatStream = (await client.inference.chatCompletionUnified(
        { inference_id: 'chat', chat_completion_request: { messages: [{ role: 'user', content: 'Hi' }] } },
        { asStream: true },
      )) as unknown as Readable;
      t.match(
        (await readAll(chatStream)).text,
        /^event: message\ndata: \{"id":"chatcmpl-[^"]+","choices":\[\{"delta":\{"content":"You","role":"assistant"\},"index":0\}\]/,
      );

      // `_unified` (no client method names it; Elasticsearch still routes it): through the client's own transport,
      // the same stream as chatCompletionUnified's `_stream`.
      const unified = await client.transport.request<string>({
        method: 'POST',
        path: '/_inference/chat_completion/chat/_unified',
        body: { messages: [{ role: 'user', content: 'Hi' }], max_completion_tokens: 10 },
      });
      t.equal(unified.replace(/chatcmpl-[\w-]+/g, 'ID'), chat.replace(/chatcmpl-[\w-]+/g, 'ID'));

      // The reasoning fields (typed by the 9.x client): a reasoning model's thoughts come back as delta.reasoning,
      // and the upstream gets what it understands of the request's.
      llm.reasoning = () => ['Hm', ' well'];
      const reasoned = (await client.inference.chatCompletionUnified({
        inference_id: 'chat',
        chat_completion_request: {
          messages: [
            { role: 'user', content: 'Hi' },
            {
              role: 'assistant',
              content: 'Hello',
              reasoning: 'A greeting.',
              reasoning_details: [{ type: 'reasoning.text', text: 'A greeting.', signature: 'sig' }],
            },
            { role: 'user', content: 'Why?' },
          ],
          reasoning: { effort: 'high', summary: 'concise', exclude: false },
        },
      })) as unknown as string;
      llm.reasoning = undefined;
      const reasonedChunks = reasoned
        .split('\n\n')
        .filter((e) => e.startsWith('event: message\ndata: {'))
        .map((e) => JSON.parse(e.slice('event: message\ndata: '.length)));
      t.strictSame(reasonedChunks[0].choices, [{ delta: { role: 'assistant', reasoning: 'Hm' }, index: 0 }]);
      t.equal(reasonedChunks.map((c) => c.choices[0]?.delta.reasoning ?? '').join(''), 'Hm well');
      t.equal(reasonedChunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), 'You said: Why?');
      t.match(llm.received.at(-1)!.body, {
        messages: [
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello', reasoning_content: 'A greeting.' },
          { role: 'user', content: 'Why?' },
        ],
        reasoning_effort: 'high',
      });
      t.notOk('reasoning_details' in llm.received.at(-1)!.body.messages[1]);

      // A bad reasoning configuration: the client throws Elasticsearch's parse error.
      const badReasoning = await client.inference
        .chatCompletionUnified({
          inference_id: 'chat',
          chat_completion_request: { messages: [{ role: 'user', content: 'Hi' }], reasoning: { summary: 'auto' } },
        })
        .then(
          () => undefined,
          (e: unknown) => e as InstanceType<typeof ResponseError>,
        );
      t.equal(badReasoning?.statusCode, 400);
      t.strictSame((badReasoning?.body as { error: unknown }).error, {
        root_cause: [
          {
            type: 'x_content_parse_exception',
            reason: '[UnifiedCompletionRequest] failed to parse field [reasoning]',
          },
        ],
        type: 'x_content_parse_exception',
        reason: '[UnifiedCompletionRequest] failed to parse field [reasoning]',
        caused_by: {
          type: 'illegal_argument_exception',
          reason: 'Required one of fields [effort, enabled], but none were specified.',
        },
      });

      // An upstream failure before the first byte is an ordinary error answer: the client throws it...
      llm.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
      const err = await client.inference.streamCompletion({ inference_id: 'llm', input: 'x' }).then(
        () => undefined,
        (e: unknown) => e as InstanceType<typeof ResponseError>,
      );
      t.ok(err instanceof ResponseError);
      t.equal(err?.statusCode, 401);
      t.equal(
        (err?.body as { error: { reason: string } }).error.reason,
        'Received an authentication error status code for request from inference entity id [llm] status [401]. Error message: [Invalid credentials in Authorization header]',
      );
      // ...or, asked for the raw stream, hands it over with the status.
      llm.next({ status: 401, json: { error: 'Invalid credentials in Authorization header' } });
      const raw = await client.inference.streamCompletion(
        { inference_id: 'llm', input: 'x' },
        { asStream: true, meta: true },
      );
      t.equal(raw.statusCode, 401);
      t.equal(JSON.parse((await readAll(raw.body as unknown as Readable)).text).status, 401);

      // A failure after the first byte arrives in the stream as an error event.
      llm.next({ inBandError: { error: { message: 'Model is overloaded', http_status_code: 422 } }, afterTokens: 1 });
      const broken = (await client.inference.chatCompletionUnified({
        inference_id: 'chat',
        chat_completion_request: { messages: [{ role: 'user', content: 'Hi' }] },
      })) as unknown as string;
      t.match(
        broken,
        /\n\nevent: error\ndata: \{"error":\{"code":"429","message":"Received a rate limit status code for request from inference entity id \[chat\] status \[429\]\. Error message: \[Model is overloaded\]","type":"hugging_face_error"\}\}\n\n$/,
      );

      // chat_completion without _stream, through the generic method: refused, naming the route.
      const refused = await client.inference
        .inference({ task_type: 'chat_completion', inference_id: 'chat', input: 'x' })
        .then(
          () => undefined,
          (e: unknown) => e as InstanceType<typeof ResponseError>,
        );
      t.equal(refused?.statusCode, 400);
      t.equal(
        (refused?.body as { error: { reason: string } }).error.reason,
        'The [chat_completion] task type only supports streaming; use POST /_inference/chat_completion/chat/_stream',
      );
    },
  );
}

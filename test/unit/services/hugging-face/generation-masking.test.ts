// ChunkMasker: the key masked in a stream's chunks, each choice's text held back only where it could begin the key.
import t from 'tap';
import { ChunkMasker } from '../../../../src/services/hugging-face/generation-masking.js';
import type { GenerationChunk } from '../../../../src/services/inference-service.js';

const KEY = 'secret-value';
const text = (
  content: string,
  extra: Partial<GenerationChunk['choices'][number]> = {},
  index = 0,
): GenerationChunk => ({
  id: 'x1',
  model: 'm',
  choices: [{ index, delta: { content }, ...extra }],
});

t.test('a first chunk held whole still carries its role; later held chunks are not sent', async (t) => {
  const masker = new ChunkMasker(KEY);
  t.strictSame(masker.chunks([text('sec', { delta: { role: 'assistant', content: 'sec' } })]), [
    { id: 'x1', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: '' } }] },
  ]);
  t.strictSame(
    masker.chunks([text('ret', { delta: { role: 'assistant', content: 'ret' } })]),
    [],
    'TGI repeats the role: not worth a chunk',
  );
  t.strictSame(masker.chunks([text('-value!')]), [text('[REDACTED]!')]);
});

t.test('a choice that finishes sends what was held for it; the stream end sends the rest, per choice', async (t) => {
  const masker = new ChunkMasker(KEY);
  t.strictSame(masker.chunks([text('a se')]), [text('a ')]);
  t.strictSame(masker.chunks([text('', { finish_reason: 'stop' })]), [text('se', { finish_reason: 'stop' })]);
  t.strictSame(
    masker.chunks([
      text('b secr', {}, 1),
      { choices: [], usage: { completion_tokens: 1, prompt_tokens: 1, total_tokens: 2 } },
    ]),
    [text('b ', {}, 1), { choices: [], usage: { completion_tokens: 1, prompt_tokens: 1, total_tokens: 2 } }],
  );
  t.strictSame(masker.flush(), [text('secr', {}, 1)]);
  t.strictSame(masker.flush(), [], 'once');
});

t.test('refusals are held like content; ids, model names and tool calls are masked whole', async (t) => {
  const masker = new ChunkMasker(KEY);
  const toolCalls = [{ index: 0, id: KEY, function: { name: 'f', arguments: `{"${KEY}":"${KEY}"}` } }];
  t.strictSame(
    masker.chunks([
      { id: `id-${KEY}`, model: KEY, choices: [{ index: 0, delta: { refusal: 'no secret', tool_calls: toolCalls } }] },
    ]),
    [
      {
        id: 'id-[REDACTED]',
        model: '[REDACTED]',
        choices: [
          {
            index: 0,
            delta: {
              refusal: 'no ',
              tool_calls: [
                { index: 0, id: '[REDACTED]', function: { name: 'f', arguments: '{"[REDACTED]":"[REDACTED]"}' } },
              ],
            },
          },
        ],
      },
    ],
  );
  t.strictSame(masker.flush(), [
    { id: 'id-[REDACTED]', model: '[REDACTED]', choices: [{ index: 0, delta: { refusal: 'secret' } }] },
  ]);
});

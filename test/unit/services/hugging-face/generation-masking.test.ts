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
    [
      text('b ', {}, 1),
      text('secr', {}, 1),
      { choices: [], usage: { completion_tokens: 1, prompt_tokens: 1, total_tokens: 2 } },
    ],
    'what is held goes before the usage',
  );
  t.strictSame(masker.flush(), [], 'nothing is left');
});

t.test('a finish with an empty delta sends what was held for its choice; nothing follows it but usage', async (t) => {
  const masker = new ChunkMasker('hf_secretvalue');
  const usage = { completion_tokens: 2, prompt_tokens: 5, total_tokens: 7 };
  const sent = [
    ...masker.chunks([text('I will finish', { delta: { role: 'assistant', content: 'I will finish' } })]),
    ...masker.chunks([{ id: 'x1', model: 'm', choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }]),
    ...masker.chunks([{ id: 'x1', model: 'm', choices: [], usage }]),
    ...masker.flush(),
  ];
  t.strictSame(sent, [
    { id: 'x1', model: 'm', choices: [{ index: 0, delta: { role: 'assistant', content: 'I will finis' } }] },
    { id: 'x1', model: 'm', choices: [{ index: 0, delta: { content: 'h' }, finish_reason: 'stop' }] },
    { id: 'x1', model: 'm', choices: [], usage },
  ]);
});

t.test('held text goes before a usage chunk, and a choice in it holds nothing back', async (t) => {
  const masker = new ChunkMasker(KEY);
  const usage = { completion_tokens: 2, prompt_tokens: 5, total_tokens: 7 };
  t.strictSame(masker.chunks([text('a se'), text('b se', {}, 1)]), [text('a '), text('b ', {}, 1)]);
  t.strictSame(masker.chunks([{ ...text('c s', {}, 1), usage }]), [
    text('se'),
    text('se', {}, 1),
    { ...text('c s', {}, 1), usage },
  ]);
  t.strictSame(masker.flush(), []);
});

t.test('a role and a finish reason holding the key are masked', async (t) => {
  const masker = new ChunkMasker(KEY);
  t.strictSame(masker.chunks([text('hi', { delta: { role: `r-${KEY}`, content: 'hi' }, finish_reason: KEY })]), [
    text('hi', { delta: { role: 'r-[REDACTED]', content: 'hi' }, finish_reason: '[REDACTED]' }),
  ]);
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

t.test('reasoning is held back like content; reasoning details are masked whole', async (t) => {
  const masker = new ChunkMasker(KEY);
  const thought = (reasoning: string): GenerationChunk => ({
    id: 'x1',
    model: 'm',
    choices: [{ index: 0, delta: { reasoning } }],
  });
  t.strictSame(masker.chunks([thought('I see sec')]), [thought('I see ')]);
  t.strictSame(masker.chunks([thought('ret-value.')]), [thought('[REDACTED].')]);
  const details: GenerationChunk = {
    id: 'x1',
    model: 'm',
    choices: [{ index: 0, delta: { reasoning_details: [{ type: 'reasoning.text', text: 'key secret-value' }] } }],
  };
  t.strictSame(masker.chunks([details]), [
    {
      id: 'x1',
      model: 'm',
      choices: [{ index: 0, delta: { reasoning_details: [{ type: 'reasoning.text', text: 'key [REDACTED]' }] } }],
    },
  ]);
  t.strictSame(masker.chunks([thought('sec')]), []);
  t.strictSame(masker.flush(), [thought('sec')], 'what is held goes out at the end');
});

t.test(
  'random streams: each choice reads as its whole text masked, ids and models masked, plain chunks as sent',
  async (t) => {
    // A seeded generator: the same streams on every run.
    let seed = 17;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    const pieces = ['the ', 'se', 'cret', '-va', 'lue', ' and ', 's', 'secret-value', '!', 'é', 'sec'];
    for (let run = 0; run < 300; run++) {
      const masker = new ChunkMasker(KEY);
      const id = random() < 0.2 ? `id-${KEY}` : 'id-1';
      const sent: Record<number, string> = {};
      const got: Record<number, string> = {};
      const out: GenerationChunk[] = [];
      const tokens = 1 + Math.floor(random() * 12);
      for (let i = 0; i < tokens; i++) {
        const index = random() < 0.2 ? 1 : 0;
        const content = Array.from({ length: 1 + Math.floor(random() * 3) }, () => pick(pieces)).join('');
        sent[index] = (sent[index] ?? '') + content;
        const chunk: GenerationChunk = { id, model: 'm', choices: [{ index, delta: { content } }] };
        const before = JSON.stringify(chunk);
        const masked = masker.chunks([chunk]);
        // A chunk with nothing to mask and nothing held goes out exactly as it came.
        if (!id.includes(KEY) && !content.includes('s') && masked.length === 1 && masked[0] === chunk)
          t.equal(JSON.stringify(masked[0]), before);
        out.push(...masked);
      }
      out.push(...masker.flush());
      for (const chunk of out) {
        t.equal(chunk.id, id.includes(KEY) ? 'id-[REDACTED]' : 'id-1');
        for (const choice of chunk.choices)
          got[choice.index] = (got[choice.index] ?? '') + (choice.delta.content ?? '');
      }
      for (const index of Object.keys(sent)) {
        t.equal(got[+index], sent[+index]!.split(KEY).join('[REDACTED]'), `run ${run}, choice ${index}`);
        t.notOk(got[+index]!.includes(KEY));
      }
    }
  },
);

// The management page end to end in a real headless Chromium (Debian's chromium, driven by playwright-core): sign in,
// create, each playground (embeddings with their similarity, rerank scores, a streamed completion, a chat that keeps
// its conversation), rotate, delete, and a walk through create, try and delete by keyboard alone. Every step is
// photographed at 1280 and 390 px wide, checked for horizontal overflow at both, and the page is checked with axe-core;
// no request may leave the service.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import type { Page } from 'playwright-core';
import { FakeHuggingFace, rerankScore, sparseWeight } from '../helpers/fake-hf.js';
import { startApp } from '../helpers/app-harness.js';
import {
  accessibleBothWidths,
  haveChromium,
  openBrowser,
  screenshotFolder,
  shotBothWidths,
  type Checks,
} from '../helpers/browser.js';

const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));
const FIRST_TOKEN = 'hf_FirstTokenForThePage0123456789';
const SECOND_TOKEN = 'hf_SecondTokenForThePage987654321';
/** What the page's answers say in the HTTP headers (docs/operations.md#the-management-page). */
const STRICT_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
const TOKENS = ['Hello', ' there', ',', ' friend'];

if (haveChromium("the page's browser test")) {
  t.test('the management page, step by step, in headless Chromium', async (t) => {
    /** The test's output folder: every step's screenshot lands here. */
    const SCREENSHOTS = screenshotFolder('ui');
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.requiredKey = FIRST_TOKEN;
    const llm = await startChatUpstream(TOKENS);
    t.teardown(() => llm.close());
    const dataDir = t.testdir();
    const admin = JSON.parse(
      execFileSync(
        process.execPath,
        [KEYS_CLI, 'create', '--name', 'admin', '--privilege', 'manage_inference', '--json'],
        {
          env: { PATH: process.env.PATH ?? '', DATA_DIR: dataDir },
          encoding: 'utf8',
        },
      ),
    ) as { encoded: string };
    // The embedding cache on, so that the playground shows a cached answer's cost.
    const s = await startApp(t, { SKIP_VALIDATION: 'false', EMBEDDING_CACHE_SIZE: '16mb' }, dataDir);
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const asAdmin = { authorization: `ApiKey ${admin.encoded}` };

    // The first load's 401 is how the page learns it needs a key, and the rerank step's 422 is the upstream refusal it
    // shows; any other console error is a fault (a CSP refusal included).
    const { page, problems, requested } = await openBrowser(t, {
      profile: path.join(t.testdir(), 'profile'),
      base,
      expectedErrors: /status of (401|422)\b/,
    });
    /** A screenshot at each width, after checking that nothing is wider than the window at either. */
    const shot = (t: Checks, name: string) => shotBothWidths(t, page, SCREENSHOTS, name);
    /** axe-core's WCAG 2.1 A and AA rules and its best practices, at both widths: no violation. */
    const accessible = (t: Checks, what: string) => accessibleBothWidths(t, page, what);

    await t.test('it asks for an API key, as the API answers 401', async (t) => {
      const res = await page.goto(`${base}/_ui`);
      t.equal(res?.headers()['content-security-policy'], STRICT_CSP, 'the page comes with the strict policy');
      await page.locator('#sign-in').waitFor();
      t.ok(await page.locator('#endpoints-section').isHidden(), 'nothing is shown before a key is given');
      await shot(t, '01-api-key');
      await accessible(t, 'the sign-in form');
      await page.fill('#api-key', admin.encoded);
      await page.click('text=Use this key');
      await page.locator('#no-endpoints').waitFor();
      t.equal(await page.textContent('#no-endpoints'), 'No endpoints yet: create one below.');
    });

    await t.test('create an endpoint through the form, against the test upstream', async (t) => {
      const tasks = await page.$$eval('#create-task option', (options) =>
        options.map((o) => (o as unknown as { value: string }).value),
      );
      t.strictSame(
        tasks,
        ['text_embedding', 'sparse_embedding', 'completion', 'chat_completion', 'rerank'],
        'task types come from GET /_inference/_services',
      );
      await page.fill('#create-id', 'minilm');
      await page.selectOption('#create-task', 'text_embedding');
      await page.fill('#create-url', `${hf.url}/embed`);
      await page.fill('#create-key', FIRST_TOKEN);
      await page.fill('#create-rpm', '600');
      await page.selectOption('#create-strategy', 'word');
      await page.fill('#create-size', '50');
      await page.fill('#create-overlap', '5');
      await shot(t, '02-create-form');
      await accessible(t, 'the create form');
      await page.click('#create-submit');
      await page.locator('tr[data-id="minilm"]').waitFor();
      t.equal(await page.textContent('#notice'), 'Created minilm.');
      t.equal(await page.textContent('tr[data-id="minilm"] td:nth-child(3)'), `${hf.url}/embed`);
      t.equal(await page.textContent('tr[data-id="minilm"] td:nth-child(4)'), '600/min');
      t.strictSame(
        await page.$$eval('tr[data-id="minilm"] td', (tds) =>
          tds.map((td) => (td as unknown as { dataset: { label: string } }).dataset.label),
        ),
        ['Inference ID', 'Task', 'Model', 'Rate limit', 'Since start', 'Actions'],
        'each cell names its column, for the narrow layout',
      );
      await shot(t, '03-endpoint-created');
      const stored = await s.request('GET', '/_inference/minilm', undefined, asAdmin);
      t.strictSame(stored.json.endpoints, [
        {
          inference_id: 'minilm',
          task_type: 'text_embedding',
          service: 'hugging_face',
          service_settings: {
            url: `${hf.url}/embed`,
            similarity: 'cosine',
            dimensions: 16,
            rate_limit: { requests_per_minute: 600 },
          },
          chunking_settings: { strategy: 'word', max_chunk_size: 50, overlap: 5 },
        },
      ]);
      t.equal(hf.received.length, 1, 'the creation called the model once');
      t.equal(hf.received[0]!.headers.authorization, `Bearer ${FIRST_TOKEN}`, 'with the token typed in the form');
    });

    await t.test('embed two texts: vector size, first values, similarity and what it cost', async (t) => {
      await page.click('[aria-label="Try minilm"]');
      t.equal(await focusedId(page), 'embed-input', 'the playground takes the focus');
      await page.fill('#embed-input', 'hello world\ngoodbye moon');
      await page.click('#try-embed button[type=submit]');
      await page.locator('#embed-result .size').waitFor();
      t.equal(await page.textContent('#embed-result .size'), '2 texts, each a vector of 16 dimensions');
      t.strictSame(
        await page.$$eval('#embed-result .preview', (els) => els.map((e) => e.textContent)),
        ['hello world', 'goodbye moon'].map((x) => `[${hf.vector(x).slice(0, 5).join(', ')}, …]`),
        "the upstream's first values",
      );
      const similarity = cosine(hf.vector('hello world'), hf.vector('goodbye moon'));
      t.equal(await page.textContent('#embed-result .score .value'), similarity.toFixed(4));
      t.equal(Number(await page.getAttribute('#embed-result .score meter', 'value')), similarity, 'the bar');
      t.equal(await page.textContent('#try-cost .upstream'), '1 upstream request', 'both texts in one batch');
      t.equal(await page.textContent('#try-cost .hits'), '0 cache hits');
      t.match(await page.textContent('#try-cost .ms'), /^\d+ ms$/);
      t.equal(hf.received.length, 2);
      t.strictSame(hf.received[1]!.body.inputs, ['hello world', 'goodbye moon']);
      // The totals since the start come from /_prometheus/metrics: one request answered; two upstream requests (the
      // creation's and this one).
      await textStarts(page, 'tr[data-id="minilm"] .live', '1 ok · 0 failed · 2 upstream (');
      t.match(
        await page.textContent('tr[data-id="minilm"] .live'),
        /^1 ok · 0 failed · 2 upstream \(\d+ ms avg\) · 2 texts · 0 queued$/,
      );
      await shot(t, '04-embedded');
      await accessible(t, 'the embedding playground');

      await page.click('#try-embed button[type=submit]');
      await textStarts(page, '#try-cost .upstream', '0 upstream requests', true);
      t.equal(await page.textContent('#try-cost .hits'), '2 cache hits', 'the same texts again: from the cache');
      t.equal(hf.received.length, 2, 'and the upstream got nothing');
      await shot(t, '05-embedded-from-cache');
    });

    await t.test('rotate the endpoint key', async (t) => {
      hf.requiredKey = SECOND_TOKEN;
      await page.click('[aria-label="Rotate key minilm"]');
      t.equal(await focusedId(page), 'rotate-key');
      await page.fill('#rotate-key', SECOND_TOKEN);
      await shot(t, '06-rotate-key');
      await page.click('#rotate-form button[type=submit]');
      await textStarts(page, '#notice', 'New token saved for minilm');
      await page.fill('#embed-input', 'after rotation');
      await page.click('#try-embed button[type=submit]');
      await textStarts(page, '#embed-result .size', '1 text, each a vector of 16 dimensions', true);
      t.equal(
        hf.received.at(-1)!.headers.authorization,
        `Bearer ${SECOND_TOKEN}`,
        'the upstream now gets the new token',
      );
      t.equal(
        await page.textContent('#embed-result .preview'),
        `[${hf.vector('after rotation').slice(0, 5).join(', ')}, …]`,
      );
      t.notMatch(await page.content(), SECOND_TOKEN, 'the token is not left on the page');
    });

    await t.test('rerank: the documents in the order of their scores, with bars', async (t) => {
      await createThroughForm(page, 'ranker', 'rerank', `${hf.url}/rerank`, SECOND_TOKEN);
      await page.click('[aria-label="Try ranker"]');
      const query = 'star wars';
      const documents = ['luke skywalker', 'star trek', 'the wars of the stars', 'star wars'];
      await page.fill('#rerank-query', query);
      await page.fill('#rerank-documents', documents.join('\n'));
      const before = hf.received.length;
      await page.click('#try-rerank button[type=submit]');
      await page.locator('#rerank-result li').first().waitFor();
      const expected = documents
        .map((text) => ({ text, score: rerankScore(query, text) }))
        .sort((a, b) => b.score - a.score);
      const shown = await page.$$eval('#rerank-result li', (lis) =>
        lis.map((li) => ({
          text: li.querySelector('.text')?.textContent,
          value: li.querySelector('.value')?.textContent,
          bar: Number(li.querySelector('meter')?.getAttribute('value')),
        })),
      );
      t.strictSame(
        shown,
        expected.map((e) => ({ text: e.text, value: String(e.score), bar: e.score })),
        "the test upstream's scores, best first",
      );
      t.equal(hf.received.length - before, 1);
      t.equal(await page.textContent('#try-cost .upstream'), '1 upstream request');
      t.equal(await page.locator('#try-cost .hits').count(), 0, 'rerank has no cache: no hits shown');
      await shot(t, '07-reranked');
      await accessible(t, 'the rerank playground');

      // An upstream refusal: the service's own reason, in place of the answer.
      hf.next({ status: 422, json: { error: 'query too long', error_type: 'Validation' } });
      await page.click('#try-rerank button[type=submit]');
      await page.locator('#try-error').waitFor();
      t.equal(
        await page.textContent('#try-error'),
        'Received an unsuccessful status code for request from inference entity id [ranker] status [422]. Error message: [query too long]',
      );
      t.equal(await page.locator('#rerank-result li').count(), 0);
      t.ok(await page.locator('#try-cost').isHidden(), 'no cost shown for a failed try');
      await deleteThroughPage(page, 'ranker');
    });

    await t.test('sparse embedding: the tokens by weight, with bars', async (t) => {
      await createThroughForm(page, 'splade', 'sparse_embedding', `${hf.url}/embed_sparse`, SECOND_TOKEN);
      await page.click('[aria-label="Try splade"]');
      t.equal(await page.textContent('#embed-label'), 'Text');
      const before = hf.received.length;
      await page.fill('#embed-input', 'sparse vectors for search');
      await page.click('#try-embed button[type=submit]');
      await page.locator('#embed-result .size').waitFor();
      t.equal(await page.textContent('#embed-result .size'), '4 tokens');
      const words = ['sparse', 'vectors', 'for', 'search'];
      t.strictSame(
        await page.$$eval('#embed-result .weights li', (lis) =>
          lis.map((li) => `${li.querySelector('.text')?.textContent} ${li.querySelector('.value')?.textContent}`),
        ),
        words
          .map((w) => ({ w, weight: sparseWeight(w) }))
          .sort((a, b) => b.weight - a.weight)
          .map(({ w, weight }) => `${w} ${weight}`),
        "the test upstream's weights, heaviest first",
      );
      const sent = hf.received.slice(before).map((r) => r.path);
      t.equal(
        await page.textContent('#try-cost .upstream'),
        `${sent.filter((p) => p === '/embed_sparse').length} upstream request`,
        `the /embed_sparse calls (its /decode calls are not counted): ${sent.join(', ')}`,
      );
      await shot(t, '08-sparse');
      await deleteThroughPage(page, 'splade');
    });

    await t.test('a completion streams its text as it arrives', async (t) => {
      await createThroughForm(page, 'writer', 'completion', `${llm.url}/v1/chat/completions`, FIRST_TOKEN);
      await page.click('[aria-label="Try writer"]');
      await page.fill('#complete-input', 'Write a greeting');
      await page.click('#try-complete button[type=submit]');
      let shown = '';
      for (const token of TOKENS) {
        shown += token;
        // The upstream holds the next token until the page shows this one.
        await textStarts(page, '#complete-result p', shown, true);
        llm.release();
      }
      await page.locator('#try-cost .upstream').waitFor();
      t.equal(await page.textContent('#try-cost .upstream'), '1 upstream request');
      t.match(await page.textContent('#try-cost .ms'), /^first text in \d+ ms, all in \d+ ms$/);
      t.strictSame(llm.received.at(-1), {
        messages: [{ role: 'user', content: 'Write a greeting' }],
        stream: true,
      });
      await shot(t, '09-completion');
      await deleteThroughPage(page, 'writer');
    });

    await t.test('chat keeps the conversation, streamed, until started over', async (t) => {
      await createThroughForm(page, 'chat', 'chat_completion', `${llm.url}/v1/chat/completions`, FIRST_TOKEN);
      await page.click('[aria-label="Try chat"]');
      const reply = TOKENS.join('');
      const say = async (message: string) => {
        await page.fill('#chat-input', message);
        await page.click('#chat-send');
        let shown = '';
        for (const token of TOKENS) {
          shown += token;
          await textStarts(page, '#chat-log .assistant:last-child', shown, true);
          llm.release();
        }
        await page.locator('#chat-send:enabled').waitFor();
      };
      await say('Say hello');
      t.strictSame(llm.received.at(-1)?.messages, [{ role: 'user', content: 'Say hello' }]);
      t.equal(await page.textContent('#try-cost .upstream'), '1 upstream request');
      await say('Once more');
      t.strictSame(
        llm.received.at(-1)?.messages,
        [
          { role: 'user', content: 'Say hello' },
          { role: 'assistant', content: reply },
          { role: 'user', content: 'Once more' },
        ],
        'the second message goes with the conversation so far',
      );
      t.strictSame(await page.$$eval('#chat-log p', (ps) => ps.map((p) => `${p.className}: ${p.textContent}`)), [
        'user: Say hello',
        `assistant: ${reply}`,
        'user: Once more',
        `assistant: ${reply}`,
      ]);
      await shot(t, '10-chat');
      await accessible(t, 'the chat playground');
      await page.click('#chat-reset');
      t.equal(await page.locator('#chat-log p').count(), 0, 'started over: the log is empty');
      t.equal(await focusedId(page), 'chat-input');
      await say('A new start');
      t.strictSame(llm.received.at(-1)?.messages, [{ role: 'user', content: 'A new start' }]);
      await deleteThroughPage(page, 'chat');
    });

    await t.test('by keyboard alone: create, try and delete, with the focus always visible', async (t) => {
      await page.locator('#notice').focus();
      const focusStyles: string[] = [];
      /** Tab (or shift-tab) until `selector` has the focus, checking that each stop shows where it is. */
      const tabTo = async (selector: string, back = false) => {
        for (let i = 0; i < 60; i++) {
          await page.keyboard.press(back ? 'Shift+Tab' : 'Tab');
          focusStyles.push(await focusRing(page));
          if (await page.locator(selector).evaluate((e) => e === e.ownerDocument.activeElement)) return;
        }
        throw new Error(`the keyboard never reached ${selector}`);
      };
      await tabTo('#create-id');
      await page.keyboard.type('by-keys');
      await tabTo('#create-task');
      t.equal(await page.inputValue('#create-task'), 'text_embedding');
      await tabTo('#create-url');
      await page.keyboard.type(`${hf.url}/embed`);
      await tabTo('#create-key');
      await page.keyboard.type(SECOND_TOKEN);
      await shot(t, '11-keyboard-create');
      await tabTo('#create-submit');
      await page.keyboard.press('Enter');
      await page.locator('tr[data-id="by-keys"]').waitFor();
      t.equal(await page.textContent('#notice'), 'Created by-keys.');

      await tabTo('[aria-label="Try by-keys"]', true);
      await page.keyboard.press('Enter');
      t.equal(await focusedId(page), 'embed-input', 'Enter on Try: the text field has the focus');
      // It keeps the text tried last (to compare endpoints): replaced here.
      await page.keyboard.press('ControlOrMeta+A');
      await page.keyboard.type('typed by keys');
      await tabTo('#try-embed button[type=submit]');
      await page.keyboard.press('Enter');
      await textStarts(page, '#embed-result .size', '1 text, each a vector of 16 dimensions', true);
      t.equal(
        await page.textContent('#embed-result .preview'),
        `[${hf.vector('typed by keys').slice(0, 5).join(', ')}, …]`,
      );
      await shot(t, '12-keyboard-try');

      await tabTo('[aria-label="Delete by-keys"]', true);
      await page.keyboard.press('Enter');
      t.equal(await focusedId(page), 'confirm-no', 'the confirmation opens on its harmless choice');
      await page.keyboard.press('Escape');
      t.ok(await page.locator('#confirm').isHidden(), 'Escape closes the confirmation');
      t.equal(await focusedLabel(page), 'Delete by-keys', 'and the focus is back on its button');
      await page.keyboard.press('Enter');
      await page.keyboard.press('Shift+Tab');
      t.equal(await focusedId(page), 'confirm-yes');
      await shot(t, '13-keyboard-delete');
      await page.keyboard.press('Enter');
      await page.locator('tr[data-id="by-keys"]').waitFor({ state: 'detached' });
      t.equal(await page.textContent('#notice'), 'Deleted by-keys.');
      t.equal(await focusedId(page), 'notice', 'the focus goes on from the notice');
      t.strictSame(
        focusStyles.filter((style) => style !== 'solid 3px'),
        [],
        `every one of the ${focusStyles.length} focus stops has a 3 px ring`,
      );
    });

    await t.test('delete the endpoint', async (t) => {
      await page.click('[aria-label="Delete minilm"]');
      t.equal(await page.textContent('#confirm-text'), 'Delete the endpoint minilm? Its stored token goes with it.');
      await shot(t, '14-delete-confirm');
      await accessible(t, 'the confirmation');
      await page.click('#confirm-yes');
      await page.locator('tr[data-id="minilm"]').waitFor({ state: 'detached' });
      await page.locator('#no-endpoints').waitFor();
      t.equal(await page.textContent('#notice'), 'Deleted minilm.');
      await shot(t, '15-deleted');
      t.equal((await s.request('GET', '/_inference/minilm', undefined, asAdmin)).status, 404);
    });

    t.strictSame(problems, [], 'no script error and no refused resource on the page');
    t.strictSame([...requested], [base], 'nothing fetched from anywhere but the service');
    t.equal(fs.readdirSync(SCREENSHOTS).length, 30, `15 steps at two widths in ${SCREENSHOTS}`);
  });
}

function focusedId(page: Page): Promise<string> {
  return page.evaluate(() => {
    const d = (globalThis as unknown as { document: { activeElement: { id: string } | null } }).document;
    return d.activeElement?.id ?? '';
  });
}

/** The focused element's aria-label. */
function focusedLabel(page: Page): Promise<string | null> {
  return page.evaluate(() => {
    const d = (
      globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }
    ).document;
    return d.activeElement?.getAttribute('aria-label') ?? null;
  });
}

/** The focused element's outline, as `style width` ("none 0px" when it shows none). */
function focusRing(page: Page): Promise<string> {
  return page.evaluate(() => {
    const g = globalThis as unknown as {
      document: { activeElement: unknown };
      getComputedStyle(e: unknown): { outlineStyle: string; outlineWidth: string };
    };
    const style = g.getComputedStyle(g.document.activeElement);
    return `${style.outlineStyle} ${style.outlineWidth}`;
  });
}

function cosine(a: number[], b: number[]): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

async function createThroughForm(page: Page, id: string, task: string, url: string, token: string): Promise<void> {
  await page.fill('#create-id', id);
  await page.selectOption('#create-task', task);
  await page.fill('#create-url', url);
  await page.fill('#create-key', token);
  await page.click('#create-submit');
  await page.locator(`tr[data-id="${id}"]`).waitFor();
}

async function deleteThroughPage(page: Page, id: string): Promise<void> {
  await page.click(`[aria-label="Delete ${id}"]`);
  await page.click('#confirm-yes');
  await page.locator(`tr[data-id="${id}"]`).waitFor({ state: 'detached' });
}

/**
 * Waits until the element's text starts with (or is) `text`. A function, not a string: the page's
 * Content-Security-Policy forbids evaluating strings, and the test runs under it.
 */
function textStarts(page: Page, selector: string, text: string, exact = false) {
  return page.waitForFunction(
    ([sel, want, whole]) => {
      const found =
        (
          globalThis as unknown as { document: { querySelector(s: string): { textContent: string | null } | null } }
        ).document.querySelector(sel)?.textContent ?? '';
      return whole ? found === want : found.startsWith(want);
    },
    [selector, text, exact] as const,
  );
}

/**
 * An OpenAI-style chat upstream: a streamed request gets its tokens one at a time, each released by the test; a whole
 * one (the creation check of a completion endpoint) its first token at once.
 */
async function startChatUpstream(tokens: string[]) {
  const received: Array<{ messages: unknown; stream?: boolean }> = [];
  let releaseNext: () => void = () => undefined;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => void answer());
    async function answer(): Promise<void> {
      // Only its chat route: the creation check's `GET /info` finds none, as on vLLM.
      if (req.method !== 'POST') {
        res.writeHead(404).end();
        return;
      }
      const request = JSON.parse(body) as { messages: unknown; max_tokens?: number; stream?: boolean };
      // The creation check asks for one token: it gets it at once, unreleased, and is not kept.
      const check = request.max_tokens === 1;
      if (!check) received.push({ messages: request.messages, stream: request.stream });
      if (!request.stream) {
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            id: 'chatcmpl-1',
            object: 'chat.completion',
            model: 'm',
            choices: [{ index: 0, message: { role: 'assistant', content: tokens[0] }, finish_reason: 'length' }],
          }),
        );
        return;
      }
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const [i, token] of tokens.slice(0, check ? 1 : tokens.length).entries()) {
        const chunk = {
          id: 'chatcmpl-1',
          choices: [{ delta: { content: token, ...(i === 0 ? { role: 'assistant' } : {}) }, index: 0 }],
          model: 'm',
          object: 'chat.completion.chunk',
        };
        res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        if (!check) await new Promise<void>((resolve) => (releaseNext = resolve));
      }
      res.end('data: [DONE]\n\n');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    received,
    release: () => releaseNext(),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

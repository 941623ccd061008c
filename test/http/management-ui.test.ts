// The management page end to end in a real headless Chromium (Debian's chromium, driven by playwright-core): sign in,
// create, embed, rotate, delete; a screenshot per step.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { startApp } from '../helpers/app-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const KEYS_CLI = fileURLToPath(new URL('../../src/cli/keys.js', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** The test's output folder: every step's screenshot lands here (tap's .tap folder, not committed). */
const SCREENSHOTS = path.join(ROOT, '.tap', 'screenshots', 'ui');
const FIRST_TOKEN = 'hf_FirstTokenForThePage0123456789';
const SECOND_TOKEN = 'hf_SecondTokenForThePage987654321';

if (!fs.existsSync(CHROMIUM)) {
  // .ci/run installs chromium and sets REQUIRE_CHROMIUM: there the browser test must run.
  if (process.env.REQUIRE_CHROMIUM) t.fail(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  else t.plan(0, `no Chromium at ${CHROMIUM}: install Debian's chromium package to run the page's browser test`);
} else {
  t.test('the management page, step by step, in headless Chromium', async (t) => {
    fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.requiredKey = FIRST_TOKEN;
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
    const s = await startApp(t, { SKIP_VALIDATION: 'false' }, dataDir);
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const asAdmin = { authorization: `ApiKey ${admin.encoded}` };

    const context: BrowserContext = await chromium.launchPersistentContext(path.join(t.testdir(), 'profile'), {
      executablePath: CHROMIUM,
      headless: true,
      // Name resolution stays on this machine: every host name fails at once, without asking a DNS server.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1',
        '--disable-features=AsyncDns,DnsOverHttps,NetworkQualityEstimator',
        '--enable-features=EnableIPv6ReachabilityOverride',
      ],
      viewport: { width: 1200, height: 900 },
    });
    t.teardown(() => context.close());
    const page: Page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(15_000);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (msg) => {
      // The first load's 401 is how the page learns it needs a key; anything else is a fault (a CSP refusal included).
      if (msg.type() === 'error' && !/status of 401/.test(msg.text())) problems.push(`console: ${msg.text()}`);
    });
    const shot = (name: string) => page.screenshot({ path: path.join(SCREENSHOTS, name), fullPage: true });

    await t.test('it asks for an API key, as the API answers 401', async (t) => {
      await page.goto(`${base}/_ui`);
      await page.locator('#sign-in').waitFor();
      t.ok(await page.locator('#endpoints-section').isHidden(), 'nothing is shown before a key is given');
      await shot('01-api-key.png');
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
      await shot('02-create-form.png');
      await page.click('#create-submit');
      await page.locator('tr[data-id="minilm"]').waitFor();
      t.equal(await page.textContent('#notice'), 'Created minilm.');
      t.equal(await page.textContent('tr[data-id="minilm"] td:nth-child(3)'), `${hf.url}/embed`);
      t.equal(await page.textContent('tr[data-id="minilm"] td:nth-child(4)'), '600/min');
      await shot('03-endpoint-created.png');
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

    await t.test('embed a text and see the vector', async (t) => {
      await page.click('[aria-label="Try minilm"]');
      await page.fill('#embed-input', 'hello world');
      await page.click('#try-embed button[type=submit]');
      await page.locator('#embed-result .size').waitFor();
      t.match(await page.textContent('#embed-result .size'), /^Vector of 16 dimensions, in \d+ ms$/);
      const expected = hf.vector('hello world');
      t.equal(
        await page.textContent('#embed-result .preview'),
        `[${expected.slice(0, 5).join(', ')}, …]`,
        "the upstream's first values",
      );
      // Live figures come from /_prometheus/metrics: one request answered; two upstream requests (the creation's and
      // this one).
      await textStarts(page, 'tr[data-id="minilm"] .live', '1 ok · 0 failed · 2 upstream (');
      t.match(
        await page.textContent('tr[data-id="minilm"] .live'),
        /^1 ok · 0 failed · 2 upstream \(\d+ ms avg\) · 1 text · 0 queued$/,
      );
      await shot('04-embedded.png');
    });

    await t.test('rotate the endpoint key', async (t) => {
      hf.requiredKey = SECOND_TOKEN;
      await page.click('[aria-label="Rotate key minilm"]');
      await page.fill('#rotate-key', SECOND_TOKEN);
      await shot('05-rotate-key.png');
      await page.click('#rotate-form button[type=submit]');
      await textStarts(page, '#notice', 'New token saved for minilm');
      await page.fill('#embed-input', 'after rotation');
      await page.click('#try-embed button[type=submit]');
      await textStarts(page, '#embed-result .size', 'Vector of 16');
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

    // A chat endpoint created through the form against the OpenAI-style upstream below: each streamed
    // token shows on the page before the upstream sends the next one.
    await t.test('chat with an endpoint: streamed tokens appear one by one', async (t) => {
      const chat = await startChatUpstream(['Hello', ' there', ',', ' friend']);
      t.teardown(() => chat.close());
      await page.fill('#create-id', 'chat');
      await page.selectOption('#create-task', 'chat_completion');
      await page.fill('#create-url', `${chat.url}/v1/chat/completions`);
      await page.fill('#create-key', FIRST_TOKEN);
      await page.click('#create-submit');
      await page.locator('tr[data-id="chat"]').waitFor();
      await page.click('[aria-label="Try chat"]');
      await page.fill('#chat-input', 'Say hello');
      await page.click('#try-chat button[type=submit]');
      let shown = '';
      for (const token of ['Hello', ' there', ',', ' friend']) {
        shown += token;
        // The upstream holds the next token until the page shows this one.
        await textStarts(page, '#chat-log .assistant:last-child', shown, true);
        chat.release();
      }
      t.strictSame(chat.received.at(-1)?.messages, [{ role: 'user', content: 'Say hello' }]);
      await shot('06-chat.png');
      await page.click('[aria-label="Delete chat"]');
      await page.click('#confirm-yes');
      await page.locator('tr[data-id="chat"]').waitFor({ state: 'detached' });
    });

    await t.test('delete the endpoint', async (t) => {
      await page.click('[aria-label="Delete minilm"]');
      t.equal(await page.textContent('#confirm-text'), 'Delete the endpoint minilm? Its stored token goes with it.');
      await shot('07-delete-confirm.png');
      await page.click('#confirm-yes');
      await page.locator('tr[data-id="minilm"]').waitFor({ state: 'detached' });
      await page.locator('#no-endpoints').waitFor();
      t.equal(await page.textContent('#notice'), 'Deleted minilm.');
      await shot('08-deleted.png');
      t.equal((await s.request('GET', '/_inference/minilm', undefined, asAdmin)).status, 404);
    });

    t.strictSame(problems, [], 'no script error and no refused resource on the page');
    t.ok(fs.readdirSync(SCREENSHOTS).length >= 8, `screenshots in ${SCREENSHOTS}`);
  });
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

/** An OpenAI-style chat upstream that streams its tokens one at a time, each released by the test. */
async function startChatUpstream(tokens: string[]) {
  const received: Array<{ messages: unknown }> = [];
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
      const request = JSON.parse(body) as { messages: unknown; max_tokens?: number };
      received.push(request);
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      // The creation check asks for one token: it gets it at once, unreleased.
      const check = request.max_tokens === 1;
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

// The management page's endpoint dialogs in a real headless Chromium (Debian's chromium, driven by playwright-core):
// each setting `_update` accepts changed in place and seen in GET, the service's validation messages beside their
// fields, GET's JSON, and every code snippet copied from the page and run against the service (curl, the Elasticsearch
// JavaScript client, the openai SDK and @huggingface/inference; the Python snippet's text only: no Python client here).
// Screenshots at 1280 and 390 px wide in .tap/screenshots/settings.
import { execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import t, { type Test } from 'tap';
import type { Page } from 'playwright-core';
import { FakeHuggingFace, rerankScore } from '../helpers/fake-hf.js';
import { FakeLlm } from '../helpers/fake-llm.js';
import { startApp } from '../helpers/app-harness.js';
import { createKey } from '../helpers/keys-cli.js';
import {
  accessibleBothWidths,
  focused,
  focusSettles,
  haveChromium,
  openBrowser as launch,
  screenshotFolder,
  shotBothWidths,
} from '../helpers/browser.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const FIRST_TOKEN = 'hf_FirstTokenForTheSettings0123456';
const SECOND_TOKEN = 'hf_SecondTokenForTheSettings987654';
const WRONG_TOKEN = 'hf_WrongTokenForTheSettings5555555';
/** What the page's snippets send (public/snippets.js), written here again: the expected values come from outside. */
const TEXT = 'The quick brown fox jumps over the lazy dog';
const QUERY = 'What is a fox?';
const DOCUMENTS = ['A fox is a small wild dog.', 'Paris is the capital of France.'];

interface Snippet {
  id: string;
  code: string;
}

if (haveChromium("the page's dialogs' browser test")) {
  t.test('settings in place, GET JSON and working code, in headless Chromium', async (t) => {
    const SCREENSHOTS = screenshotFolder('settings');
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.requiredKey = FIRST_TOKEN;
    const llm = await new FakeLlm().start();
    t.teardown(() => llm.close());
    llm.style = 'vllm';
    const dataDir = t.testdir();
    const admin = createKey(dataDir, 'admin', 'manage_inference');
    const s = await startApp(t, { SKIP_VALIDATION: 'false' }, dataDir);
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const asAdmin = { authorization: `ApiKey ${admin.encoded}` };
    const get = async (id: string) => (await s.request('GET', `/_inference/${id}`, undefined, asAdmin)).json;
    const put = async (taskType: string, id: string, url: string) => {
      const res = await s.request(
        'PUT',
        `/_inference/${taskType}/${id}`,
        { service: 'hugging_face', service_settings: { api_key: FIRST_TOKEN, url } },
        asAdmin,
      );
      if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
    };
    await put('rerank', 'rr', `${hf.url}/rerank`);
    await put('completion', 'gen', `${llm.url}/v1/chat/completions`);
    await put('chat_completion', 'chat', `${llm.url}/v1/chat/completions`);

    const { page, problems, requested } = await openBrowser(t, dataDir, base);
    /**
     * Both widths, what the window shows (an open dialog sits in it and scrolls by itself), each checked for sideways
     * overflow and by axe-core.
     */
    const shots = async (t: Test, name: string) => {
      await shotBothWidths(t, page, SCREENSHOTS, name, { fullPage: false });
      await accessibleBothWidths(t, page, name);
    };
    /** Saves the settings form and answers the `_update` body the page sent, and the field errors shown. */
    const save = async () => {
      const sent = page.waitForRequest((r) => r.url().endsWith('/_update') && r.method() === 'PUT');
      await page.click('#settings-save');
      const body = (await sent).postDataJSON() as unknown;
      await page.waitForFunction(() => {
        const d = (globalThis as any).document;
        return d.querySelector('#settings-status').textContent !== '' || d.querySelector('.field-error:not([hidden])');
      });
      return body;
    };
    const closeDialog = async (id: string) => {
      await page.keyboard.press('Escape');
      await page.locator(`#${id}`).waitFor({ state: 'hidden' });
    };

    await page.goto(`${base}/_ui`);
    await page.fill('#api-key', admin.encoded);
    await page.click('text=Use this key');
    await page.locator('tr[data-id="rr"]').waitFor();

    await t.test('create an endpoint, then change each of its settings and see GET change', async (t) => {
      await page.fill('#create-id', 'minilm');
      await page.selectOption('#create-task', 'text_embedding');
      await page.fill('#create-url', `${hf.url}/embed`);
      await page.fill('#create-key', FIRST_TOKEN);
      await page.click('#create-submit');
      await page.locator('tr[data-id="minilm"]').waitFor();

      await page.click('[aria-label="Edit minilm"]');
      await page.locator('#settings-dialog').waitFor();
      t.equal(await page.textContent('#settings-title'), 'Settings of minilm (text_embedding)');
      t.equal(
        await page.evaluate(() => (globalThis as any).document.activeElement.id),
        'set-requests_per_minute',
        'the first field has the focus',
      );
      t.equal(await page.inputValue('#set-requests_per_minute'), '3000', 'the stored rate limit');
      t.equal(await page.inputValue('#set-max_chunk_size'), '250', 'the stored chunking');
      await page.fill('#set-requests_per_minute', '900');
      await page.fill('#set-batch_size', '8');
      await page.fill('#set-max_concurrent_requests', '3');
      await page.uncheck('#set-cache');
      await page.fill('#set-prefix_strings-search', 'query: ');
      await page.fill('#set-prefix_strings-ingest', 'passage: ');
      await page.selectOption('#set-strategy', 'word');
      await page.fill('#set-max_chunk_size', '60');
      await page.fill('#set-overlap', '6');
      await shots(t, '01-settings-form');
      t.strictSame(
        await save(),
        {
          service_settings: {
            rate_limit: { requests_per_minute: 900 },
            batch_size: 8,
            max_concurrent_requests: 3,
            cache: false,
            prefix_strings: { ingest: 'passage: ', search: 'query: ' },
          },
          chunking_settings: { strategy: 'word', max_chunk_size: 60, overlap: 6 },
        },
        'the _update carries what changed',
      );
      t.equal(
        await page.textContent('#settings-status'),
        'Saved: requests_per_minute, batch_size, max_concurrent_requests, cache, prefix_strings, chunking_settings.',
      );
      t.strictSame((await get('minilm')).endpoints[0], {
        inference_id: 'minilm',
        task_type: 'text_embedding',
        service: 'hugging_face',
        service_settings: {
          url: `${hf.url}/embed`,
          similarity: 'cosine',
          dimensions: 16,
          prefix_strings: { ingest: 'passage: ', search: 'query: ' },
          cache: false,
          batch_size: 8,
          max_concurrent_requests: 3,
          rate_limit: { requests_per_minute: 900 },
        },
        chunking_settings: { strategy: 'word', max_chunk_size: 60, overlap: 6 },
      });
      await textIs(page, 'tr[data-id="minilm"] td:nth-child(4)', '900/min');

      await page.fill('#set-requests_per_minute', '1200');
      await page.fill('#set-prefix_strings-ingest', '');
      t.strictSame(
        await save(),
        { service_settings: { rate_limit: { requests_per_minute: 1200 }, prefix_strings: { search: 'query: ' } } },
        'only what changed is sent; a prefix map is sent whole',
      );
      await page.selectOption('#set-strategy', 'recursive');
      await page.selectOption('#set-separator_group', 'markdown');
      await page.fill('#set-max_chunk_size', '120');
      t.strictSame(await save(), {
        chunking_settings: { strategy: 'recursive', max_chunk_size: 120, separator_group: 'markdown' },
      });
      const recursive = (await get('minilm')).endpoints[0];
      t.equal(recursive.chunking_settings.separators[0], '\n# ', "GET shows the markdown group's separators");
      t.equal(recursive.service_settings.rate_limit.requests_per_minute, 1200);
      t.strictSame(recursive.service_settings.prefix_strings, { search: 'query: ' });
      t.equal(
        await page.inputValue('#set-separator_group'),
        'custom',
        'drawn again from the answer: the list as GET shows it',
      );

      // Key rotation: the new token is checked against the model first, then used.
      hf.requiredKey = SECOND_TOKEN;
      await page.fill('#set-api_key', SECOND_TOKEN);
      t.strictSame(await save(), { service_settings: { api_key: SECOND_TOKEN } });
      t.equal(await page.textContent('#settings-status'), 'Saved: api_key.');
      t.equal(hf.received.at(-1)!.headers.authorization, `Bearer ${SECOND_TOKEN}`, 'the check used the new token');
      t.equal(await page.inputValue('#set-api_key'), '', 'the token is not kept in the form');
      t.notMatch(await page.content(), SECOND_TOKEN, 'nor anywhere on the page');
      await closeDialog('settings-dialog');
      t.equal(await focusSettles(page, 'Edit minilm'), 'Edit minilm', 'closing gives the focus back to the row button');
    });

    await t.test('rerank and generation settings', async (t) => {
      await page.click('[aria-label="Edit rr"]');
      await page.locator('#settings-dialog').waitFor();
      t.equal(await page.locator('#set-cache').count(), 0, 'no cache setting for rerank');
      t.equal(await page.locator('#set-strategy').count(), 0, 'no chunking for rerank');
      await page.fill('#set-top_n', '1');
      await page.check('#set-return_documents');
      await page.fill('#set-batch_size', '16');
      t.strictSame(await save(), {
        service_settings: { batch_size: 16 },
        task_settings: { top_n: 1, return_documents: true },
      });
      t.strictSame((await get('rr')).endpoints[0].task_settings, { top_n: 1, return_documents: true });
      t.equal((await get('rr')).endpoints[0].service_settings.batch_size, 16);
      await closeDialog('settings-dialog');

      await page.click('[aria-label="Edit gen"]');
      await page.locator('#settings-dialog').waitFor();
      await page.fill('#set-max_concurrent_streams', '5');
      await page.fill('#set-max_tokens', '64');
      await page.fill('#set-temperature', '0.7');
      await page.fill('#set-top_p', '0.9');
      await page.fill('#set-top_k', '40');
      await page.fill('#set-repetition_penalty', '1.03');
      await page.fill('#set-seed', '42');
      await page.fill('#set-stop', 'END\n###');
      await shots(t, '02-generation-settings');
      const task_settings = {
        max_tokens: 64,
        temperature: 0.7,
        top_p: 0.9,
        top_k: 40,
        repetition_penalty: 1.03,
        seed: 42,
        stop: ['END', '###'],
      };
      t.strictSame(await save(), { service_settings: { max_concurrent_streams: 5 }, task_settings });
      const gen = (await get('gen')).endpoints[0];
      t.strictSame(gen.task_settings, task_settings);
      t.equal(gen.service_settings.max_concurrent_streams, 5);
      await closeDialog('settings-dialog');
    });

    await t.test("the service's validation messages, beside their fields", async (t) => {
      await page.click('[aria-label="Edit minilm"]');
      await page.locator('#settings-dialog').waitFor();
      await page.fill('#set-requests_per_minute', '0');
      await page.fill('#set-batch_size', '0');
      await save();
      t.equal(
        await page.textContent('#set-requests_per_minute-error'),
        '[rate_limit] Invalid value [0]. [requests_per_minute] must be a positive long',
      );
      t.equal(
        await page.textContent('#set-batch_size-error'),
        '[service_settings] Invalid value [0]. [batch_size] must be a positive integer',
      );
      t.equal(await page.getAttribute('#set-batch_size', 'aria-invalid'), 'true');
      t.match(
        await page.getAttribute('#set-batch_size', 'aria-describedby'),
        /\bset-batch_size-error\b/,
        'the field names its message',
      );
      t.equal(
        await page.evaluate(() => (globalThis as any).document.activeElement.id),
        'set-batch_size',
        'the first field the service named has the focus',
      );
      t.ok(await page.locator('#settings-error').isHidden(), 'no message left without its field');
      await shots(t, '03-validation-error');
      const still = (await get('minilm')).endpoints[0].service_settings;
      t.equal(still.rate_limit.requests_per_minute, 1200, 'nothing changed');
      t.equal(still.batch_size, 8);

      // A refused new token: the creation check's failure, with its cause, beside the token field.
      await page.fill('#set-requests_per_minute', '1200');
      await page.fill('#set-batch_size', '8');
      await page.fill('#set-api_key', WRONG_TOKEN);
      t.strictSame(await save(), { service_settings: { api_key: WRONG_TOKEN } });
      t.match(
        await page.textContent('#set-api_key-error'),
        /^Could not complete inference endpoint creation as validation call to service threw an exception\. Received an authentication error status code for request from inference entity id \[minilm\] status \[401\]/,
      );
      t.notMatch(await page.content(), WRONG_TOKEN, 'the refused token is not echoed');
      await page.fill('#set-api_key', '');
      await closeDialog('settings-dialog');

      await page.click('[aria-label="Edit gen"]');
      await page.locator('#settings-dialog').waitFor();
      await page.fill('#set-temperature', '200');
      await page.fill('#set-top_k', '');
      await page.click('#settings-save');
      await page.locator('#set-top_k-error').waitFor();
      t.equal(
        await page.textContent('#set-top_k-error'),
        'An _update cannot remove this setting, only change it: give a value.',
        'a removal is refused on the page, as _update cannot express it',
      );
      await page.fill('#set-top_k', '40');
      await save();
      t.equal(
        await page.textContent('#set-temperature-error'),
        '[task_settings] Invalid value [200.0]. [temperature] must be greater than or equal to [0.0] and less than or equal to [100.0]',
      );
      await closeDialog('settings-dialog');
    });

    await t.test("GET's JSON, one click away, copied", async (t) => {
      await page.click('[aria-label="JSON minilm"]');
      await page.locator('#json-dialog').waitFor();
      const expected = JSON.stringify(await get('minilm'), null, 2);
      t.equal(await page.textContent('#json-text'), expected, 'pretty-printed, as GET answers');
      t.equal(await page.textContent('#json-title'), 'GET /_inference/minilm');
      await page.click('#json-copy');
      await textIs(page, '#json-status', 'Copied the JSON.');
      t.equal(await clipboard(page), expected);
      await shots(t, '04-json');
      await closeDialog('json-dialog');
      t.equal(await focusSettles(page, 'JSON minilm'), 'JSON minilm', 'closing gives the focus back to the row button');
    });

    const env = { PATH: process.env.PATH ?? '', GATEWAY_KEY: admin.encoded };
    const runShell = (code: string, e: Record<string, string> = env) => shell(code, e);
    const runNode = (code: string) => node(code, dataDir, env);
    const copySnippets = (id: string) => copyEach(t, page, id);
    const checkPython = (t: Test, code: string, calls: string) => {
      t.match(code, `client = Elasticsearch("${base}", api_key=os.environ["GATEWAY_KEY"])`);
      t.match(code, calls);
      // Python's own parser: the text is valid Python (the client itself is not installed here: no PyPI).
      execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], { input: code });
    };
    const noSecrets = (t: Test, list: Snippet[]) => {
      for (const snippet of list) {
        t.notMatch(snippet.code, /hf_[A-Za-z0-9]/, `${snippet.id}: no Hugging Face token`);
        t.notMatch(snippet.code, admin.encoded, `${snippet.id}: the key is a variable`);
      }
    };

    await t.test('text_embedding: each snippet copied and run', async (t) => {
      const list = await copySnippets('minilm');
      t.strictSame(
        list.map((x) => x.id),
        ['curl', 'es-js', 'es-python', 'openai', 'hf'],
      );
      noSecrets(t, list);
      await shots(t, '05-code');
      const vector = hf.vector(TEXT);
      const asEs = { text_embedding: [{ embedding: vector }] };
      t.strictSame(JSON.parse(await runShell(byId(list, 'curl'))), asEs, 'curl');
      t.strictSame(hf.received.at(-1)!.body.inputs, [TEXT], 'the text reached the model as the snippet sent it');
      t.strictSame(JSON.parse(await runNode(byId(list, 'es-js'))), asEs, 'the Elasticsearch JavaScript client');
      t.strictSame(JSON.parse(await runNode(byId(list, 'openai'))), vector, 'the openai SDK, through /v1');
      const norm = Math.hypot(...vector);
      const hfAnswer = (JSON.parse(await runNode(byId(list, 'hf'))) as number[] | number[][]).flat();
      t.ok(
        hfAnswer.length === vector.length && hfAnswer.every((x, i) => Math.abs(x - vector[i]! / norm) < 1e-9),
        '@huggingface/inference through /hf/minilm: the vector, normalised as TEI does',
      );
      checkPython(t, byId(list, 'es-python'), 'client.inference.inference(\n    task_type="text_embedding",');
      // The key is what lets them in: without it the service answers 401.
      t.match(await runShell(`${byId(list, 'curl')} -w ' %{http_code}'`, { PATH: env.PATH }), / 401$/);

      // This page's key, written out: the snippet runs with no variable set.
      await page.check('#code-key-page');
      await textIs(
        page,
        '#code-key-note',
        'The code carries the API key this page signed in with: keep it to yourself.',
      );
      const curl = (await page.textContent('#snippet-curl code'))!;
      t.match(curl, `-H 'Authorization: ApiKey ${admin.encoded}'`);
      t.strictSame(JSON.parse(await runShell(curl, { PATH: env.PATH })), asEs, "curl with the page's key");
      await page.check('#code-key-variable');
      await closeDialog('code-dialog');
      t.equal(await focusSettles(page, 'Code minilm'), 'Code minilm', 'closing gives the focus back to the row button');
    });

    await t.test('rerank: each snippet copied and run', async (t) => {
      // rr still has the first token (minilm's was rotated); stored task settings top_n 1 and return_documents apply.
      hf.requiredKey = FIRST_TOKEN;
      const list = await copySnippets('rr');
      t.strictSame(
        list.map((x) => x.id),
        ['curl', 'es-js', 'es-python', 'hf'],
        'the openai SDK has no rerank; the Hugging Face door is TEI /rerank, by curl',
      );
      noSecrets(t, list);
      const ranked = DOCUMENTS.map((text, index) => ({ index, relevance_score: rerankScore(QUERY, text), text }))
        .sort((a, b) => b.relevance_score - a.relevance_score)
        .slice(0, 1);
      t.strictSame(JSON.parse(await runShell(byId(list, 'curl'))), { rerank: ranked }, 'curl');
      t.strictSame(JSON.parse(await runNode(byId(list, 'es-js'))), { rerank: ranked }, 'the JavaScript client');
      t.strictSame(
        JSON.parse(await runShell(byId(list, 'hf'))),
        ranked.map((r) => ({ index: r.index, score: r.relevance_score, text: r.text })),
        "the Hugging Face door's TEI /rerank, with the endpoint's top_n",
      );
      checkPython(t, byId(list, 'es-python'), `    query="${QUERY}",\n    input=${JSON.stringify(DOCUMENTS)},`);
      await closeDialog('code-dialog');
    });

    await t.test('completion: each snippet copied and run', async (t) => {
      const list = await copySnippets('gen');
      t.strictSame(
        list.map((x) => x.id),
        ['curl', 'es-js', 'es-python', 'openai', 'hf'],
      );
      noSecrets(t, list);
      const answer = { completion: [{ result: 'You said: Say hello' }] };
      t.strictSame(JSON.parse(await runShell(byId(list, 'curl'))), answer, 'curl');
      t.equal(llm.received.at(-1)!.body.temperature, 0.7, "the endpoint's stored task settings applied");
      t.strictSame(JSON.parse(await runNode(byId(list, 'es-js'))), answer, 'the JavaScript client');
      t.equal(await runNode(byId(list, 'openai')), 'You said: Say hello\n', 'the openai SDK');
      t.equal(await runNode(byId(list, 'hf')), 'You said: Say hello\n', '@huggingface/inference textGeneration');
      checkPython(t, byId(list, 'es-python'), '    task_type="completion",');
      await closeDialog('code-dialog');
    });

    await t.test('chat_completion: each snippet copied and run', async (t) => {
      const list = await copySnippets('chat');
      noSecrets(t, list);
      const said = 'You said: Hello there';
      t.equal(deltas(await runShell(byId(list, 'curl'))), said, 'curl, streamed from _stream');
      t.equal(deltas(await runNode(byId(list, 'es-js'))), said, 'the JavaScript client, chatCompletionUnified');
      t.equal(await runNode(byId(list, 'openai')), `${said}\n`, 'the openai SDK');
      t.equal(await runNode(byId(list, 'hf')), `${said}\n`, '@huggingface/inference chatCompletion');
      checkPython(t, byId(list, 'es-python'), 'client.inference.chat_completion_unified(');
      await closeDialog('code-dialog');
    });

    t.strictSame(problems, [], 'no script error and no refused resource on the page');
    t.strictSame([...requested], [base], 'nothing fetched from anywhere but the service');
    t.equal(fs.readdirSync(SCREENSHOTS).length, 10, `screenshots in ${SCREENSHOTS}`);
  });

  t.test('an open service: code without a key, sparse_embedding without doors, the keyboard alone', async (t) => {
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    const dataDir = t.testdir();
    // No API key exists: on loopback the service runs open.
    const s = await startApp(t, {}, dataDir);
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    for (const [taskType, id, route] of [
      ['text_embedding', 'emb', '/embed'],
      ['sparse_embedding', 'splade', '/embed_sparse'],
    ] as const) {
      const res = await s.request('PUT', `/_inference/${taskType}/${id}`, {
        service: 'hugging_face',
        service_settings: { api_key: FIRST_TOKEN, url: `${hf.url}${route}` },
      });
      if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
    }
    const { page, problems } = await openBrowser(t, dataDir, base);
    const focusedId = async () => (await focused(page)).id;
    await page.goto(`${base}/_ui`);
    await page.locator('tr[data-id="emb"]').waitFor();

    await t.test('the settings form by keyboard', async (t) => {
      await page.focus('[aria-label="Edit emb"]');
      await page.keyboard.press('Enter');
      await page.locator('#settings-dialog').waitFor();
      t.equal(await focusedId(), 'set-requests_per_minute');
      await page.keyboard.press('Control+A');
      await page.keyboard.type('700');
      await page.keyboard.press('Tab');
      t.equal(await focusedId(), 'set-batch_size', 'Tab goes to the next setting');
      await page.keyboard.type('4');
      await page.keyboard.press('Enter');
      await textIs(page, '#settings-status', 'Saved: requests_per_minute, batch_size.');
      const settings = (await s.request('GET', '/_inference/emb')).json.endpoints[0].service_settings;
      t.equal(settings.rate_limit.requests_per_minute, 700);
      t.equal(settings.batch_size, 4);
      await page.keyboard.press('Escape');
      await page.locator('#settings-dialog').waitFor({ state: 'hidden' });
      t.equal(await focusSettles(page, 'Edit emb'), 'Edit emb');
    });

    const env = { PATH: process.env.PATH ?? '' };
    await t.test('the code sends no key', async (t) => {
      const list = await copyEach(t, page, 'emb');
      t.ok(await page.locator('#code-key').isHidden(), 'no choice of key to make');
      t.equal(
        await page.textContent('#code-key-note'),
        'The service runs open (no API key yet), so the code sends none.',
      );
      for (const snippet of list) t.notMatch(snippet.code, /Authorization|GATEWAY_KEY|apiKey: process|api_key=/);
      const vector = hf.vector(TEXT);
      const asEs = { text_embedding: [{ embedding: vector }] };
      t.strictSame(JSON.parse(await shell(byId(list, 'curl'), env)), asEs, 'curl');
      t.strictSame(JSON.parse(await node(byId(list, 'es-js'), dataDir, env)), asEs, 'the JavaScript client');
      t.strictSame(JSON.parse(await node(byId(list, 'openai'), dataDir, env)), vector, 'the openai SDK');
      const norm = Math.hypot(...vector);
      const hfAnswer = (JSON.parse(await node(byId(list, 'hf'), dataDir, env)) as number[] | number[][]).flat();
      t.ok(
        hfAnswer.every((x, i) => Math.abs(x - vector[i]! / norm) < 1e-9) && hfAnswer.length === 16,
        '@huggingface/inference',
      );
      t.match(byId(list, 'es-python'), `client = Elasticsearch("${base}")\n`);
      execFileSync('python3', ['-c', 'import ast, sys; ast.parse(sys.stdin.read())'], {
        input: byId(list, 'es-python'),
      });
      await page.keyboard.press('Escape');
    });

    await t.test('sparse_embedding: _inference only', async (t) => {
      const list = await copyEach(t, page, 'splade');
      t.strictSame(
        list.map((x) => x.id),
        ['curl', 'es-js', 'es-python'],
      );
      t.equal(await page.textContent('#code-snippets > p.hint'), 'No door serves sparse_embedding: use _inference.');
      const answer = JSON.parse(await shell(byId(list, 'curl'), env));
      t.strictSame(JSON.parse(await node(byId(list, 'es-js'), dataDir, env)), answer, 'the same through the client');
      t.equal(answer.sparse_embedding[0].is_truncated, false);
      t.ok(Object.keys(answer.sparse_embedding[0].embedding).includes('fox'), 'a token of the text');
      await page.keyboard.press('Escape');
    });
    t.strictSame(problems, [], 'no script error and no refused resource on the page');
  });
}

/** Every snippet of an endpoint's Code dialog, each copied with its button, as the clipboard has it. */
async function copyEach(t: Test, page: Page, id: string): Promise<Snippet[]> {
  await page.click(`[aria-label="Code ${id}"]`);
  await page.locator('#code-dialog').waitFor();
  const ids = await page.$$eval('#code-snippets section.snippet', (els) =>
    els.map((e) => (e as any).id.replace(/^snippet-/, '') as string),
  );
  const out: Snippet[] = [];
  for (const sid of ids) {
    await page.click(`#snippet-${sid} button.copy`);
    await page.waitForFunction(() => (globalThis as any).document.querySelector('#code-status').textContent !== '');
    const code = await clipboard(page);
    t.equal(code, await page.textContent(`#snippet-${sid} code`), `${id}: the ${sid} snippet as shown`);
    await page.evaluate(() => ((globalThis as any).document.querySelector('#code-status').textContent = ''));
    out.push({ id: sid, code });
  }
  return out;
}

const byId = (list: Snippet[], id: string) => list.find((x) => x.id === id)!.code;

async function shell(code: string, env: Record<string, string>): Promise<string> {
  return (await run('bash', ['-c', code], { env, timeout: 30_000 })).stdout;
}

/** Runs a JavaScript snippet as a module inside the repository, so that its imports resolve to its node_modules. */
async function node(code: string, dir: string, env: Record<string, string>): Promise<string> {
  const folder = path.join(dir, 'snippets');
  fs.mkdirSync(folder, { recursive: true });
  fs.writeFileSync(path.join(folder, 'snippet.mjs'), code);
  return (await run(process.execPath, [path.join(folder, 'snippet.mjs')], { env, cwd: ROOT, timeout: 60_000 })).stdout;
}

/** A headless Chromium with its own profile, allowed the clipboard on the service's page; script errors collected. */
function openBrowser(t: Test, dir: string, base: string) {
  // 401: the first load asks for a key; 400: the validation errors the test provokes on purpose.
  return launch(t, { profile: path.join(dir, 'profile'), base, clipboard: true, expectedErrors: /status of 40[01]/ });
}

/** The text of a chat stream's deltas (OpenAI-style chunks, each event's data). */
function deltas(events: string): string {
  let text = '';
  for (const line of events.split('\n')) {
    const data = /^data: ?(.*)$/.exec(line)?.[1];
    if (!data || data === '[DONE]') continue;
    text += (JSON.parse(data) as { choices: Array<{ delta: { content?: string } }> }).choices[0]?.delta.content ?? '';
  }
  return text;
}

function clipboard(page: Page): Promise<string> {
  return page.evaluate(() => (globalThis as any).navigator.clipboard.readText() as Promise<string>);
}

/** Waits until the element's text is `text` (a function, not a string: the page's CSP forbids evaluating strings). */
function textIs(page: Page, selector: string, text: string) {
  return page.waitForFunction(([sel, want]) => (globalThis as any).document.querySelector(sel)?.textContent === want, [
    selector,
    text,
  ] as const);
}

// The management page's traffic charts in a real headless Chromium (Debian's chromium, driven by playwright-core):
// load sent to two endpoints moves the drawn lines, the values drawn are the service's own samples, the overview puts
// the endpoint nearest its rate limit first, a rate limit changed in the settings dialog moves the limit line, a
// deleted endpoint leaves the charts; screenshots at 1280 and 390 px wide, axe-core's checks at both.
import fs from 'node:fs';
import path from 'node:path';
import t from 'tap';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { hfBody, startApp } from '../helpers/app-harness.js';
import {
  accessibleBothWidths,
  focusSettles,
  haveChromium,
  openBrowser,
  screenshotFolder,
  shotBothWidths,
} from '../helpers/browser.js';

/** One sample a second: the page redraws as often. */
const INTERVAL_MS = 1000;

interface Sample {
  timestamp: number;
  upstream_requests: number;
  queue_depth: number;
  rate_limit: number | null;
}
interface Stats {
  interval_seconds: number;
  endpoints: Array<{ inference_id: string; samples: Sample[] }>;
}

if (haveChromium("the charts' browser test")) {
  t.test('the traffic charts move with the load, in headless Chromium', async (t) => {
    /** Screenshots land here. */
    const SCREENSHOTS = screenshotFolder('charts');
    const hf = await new FakeHuggingFace().start();
    t.teardown(() => hf.close());
    hf.delayMs = 20;
    // Open on loopback (no key exists): the page needs no sign-in here; management-ui.test.ts covers that.
    const s = await startApp(t, { EMBEDDING_CACHE_SIZE: '10mb' }, undefined, { trafficIntervalMs: INTERVAL_MS });
    const base = await s.app.listen({ port: 0, host: '127.0.0.1' });
    const put = async (id: string, rpm: number) => {
      const res = await s.request('PUT', `/_inference/text_embedding/${id}`, {
        ...hfBody({ url: `${hf.url}/embed`, rate_limit: { requests_per_minute: rpm }, batch_size: 1 }),
        chunking_settings: { strategy: 'none' },
      });
      t.equal(res.status, 200, `created ${id}`);
    };
    // `busy` is sent more than its 120/min (2 upstream requests a second) allow; `quiet` far less than its 6000/min.
    await put('busy', 120);
    await put('quiet', 6000);

    const { page, problems, requested } = await openBrowser(t, {
      profile: path.join(t.testdir(), 'profile'),
      base,
      timeoutMs: 30_000,
    });

    const stats = async () => (await s.request('GET', '/_inference/_stats')).json as Stats;
    const drawn = (id: string, chart: string, series: string) =>
      page.getAttribute(
        `.chart-card[data-endpoint="${id}"] figure[data-chart="${chart}"] g[data-series="${series}"]`,
        'data-values',
      );
    const latest = (id: string, chart: string, series: string) =>
      page.getAttribute(
        `.chart-card[data-endpoint="${id}"] figure[data-chart="${chart}"] g[data-series="${series}"]`,
        'data-latest',
      );
    const limitLine = (id: string) =>
      page.getAttribute(
        `.chart-card[data-endpoint="${id}"] figure[data-chart="rate"] line[data-series="limit"]`,
        'data-latest',
      );
    /** Reads a drawn line's values until `done` holds for them (the page redraws at each sample). */
    const drawnUntil = async (id: string, chart: string, series: string, done: (values: string[]) => boolean) => {
      for (let i = 0; ; i++) {
        const values = ((await drawn(id, chart, series)) ?? '').split(',');
        if (done(values)) return values;
        if (i === 300) throw new Error(`${id}'s ${chart} chart never drew the ${series} values awaited`);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    };

    await page.goto(`${base}/_ui`);
    await page.locator('#charts-section').waitFor();
    await page.locator('#charts-empty').waitFor();
    t.equal(
      await page.textContent('#charts-empty'),
      'No endpoint has had traffic on this instance in the last minutes.',
      'no traffic yet: no chart',
    );

    // Load: four clients on `busy` (each text new, so each goes upstream), one a second on `quiet`.
    let sending = true;
    let n = 0;
    const post = (id: string, input: string) =>
      fetch(`${base}/_inference/text_embedding/${id}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input }),
      }).then((res) => res.text());
    const load = Promise.all([
      ...[0, 1, 2, 3].map(async () => {
        while (sending) await post('busy', `busy text ${n++}`);
      }),
      (async () => {
        while (sending) {
          await post('quiet', 'the same text');
          await new Promise((resolve) => setTimeout(resolve, 1000));
        }
      })(),
    ]);
    t.teardown(() => {
      sending = false;
      return load;
    });

    await t.test('the lines move while traffic flows', async (t) => {
      await page.locator('.chart-card[data-endpoint="busy"]').waitFor();
      // Five or more samples with upstream requests drawn: lines, not dots, in the screenshots.
      await drawnUntil('busy', 'rate', 'upstream', (values) => values.filter((v) => Number(v) > 0).length >= 5);
      const upstream = Number(await latest('busy', 'rate', 'upstream'));
      // Spaced at 2 a second; a sample taken late under load (timers slip) may hold a request or two more.
      t.ok(upstream > 0 && upstream <= 4, `busy: ${upstream} upstream requests/s drawn, about its limit of 2`);
      t.equal(await limitLine('busy'), '2', 'its limit, 120/min, is drawn as 2/s');
      t.ok(Number(await latest('busy', 'queue', 'queued')) > 0, 'texts queue behind the limit');
      t.match(
        await page.getAttribute('.chart-card[data-endpoint="busy"] figure[data-chart="rate"] svg', 'aria-label'),
        /^Requests per second, last \d+ s\. Latest: upstream [\d.]+, answered [\d.]+; limit 2 \/s\.$/,
        'the text alternative says the latest values',
      );
      t.match(
        await page.textContent('.chart-card[data-endpoint="busy"] figure[data-chart="latency"] figcaption'),
        /^Upstream latency \(ms\)p50 [\d.]+p99 [\d.]+$/,
      );
      // The row's totals since the start are read again with each sample too: they do not lag behind the charts.
      await page.locator('tr[data-id="busy"] .live', { hasText: /^[1-9]\d* ok · 0 failed · / }).waitFor();
      await shotBothWidths(t, page, SCREENSHOTS, 'under-load');
      await accessibleBothWidths(t, page, 'the charts under load');
    });

    await t.test('the drawn values are the service’s own samples', async (t) => {
      // Wait until the page has drawn the service's newest sample, then compare.
      const answer = await stats();
      const samples = answer.endpoints.find((e) => e.inference_id === 'busy')!.samples;
      const want = samples.map((x) => String(x.upstream_requests / answer.interval_seconds));
      await drawnUntil('busy', 'rate', 'upstream', (values) => values.length >= want.length);
      const values = (await drawn('busy', 'rate', 'upstream'))!.split(',');
      t.strictSame(values.slice(0, want.length), want, 'upstream requests per second, sample by sample');
      t.strictSame(
        (await drawn('busy', 'queue', 'queued'))!.split(',').slice(0, want.length),
        samples.map((x) => String(x.queue_depth)),
        'queue depth, sample by sample',
      );
    });

    await t.test('the overview puts the endpoint nearest its limit first', async (t) => {
      await page.waitForFunction(() => {
        const rows = (
          globalThis as unknown as {
            document: { querySelectorAll(s: string): ArrayLike<{ dataset: { endpoint?: string } }> };
          }
        ).document.querySelectorAll('#charts-overview-table tbody tr');
        return rows.length === 2;
      });
      const rows = await page.$$eval('#charts-overview-table tbody tr', (trs) =>
        trs.map((tr) => {
          const row = tr as unknown as { dataset: { endpoint: string; usage: string }; textContent: string };
          return { id: row.dataset.endpoint, usage: Number(row.dataset.usage), text: row.textContent };
        }),
      );
      t.strictSame(
        rows.map((r) => r.id),
        ['busy', 'quiet'],
        'busy first',
      );
      t.ok(rows[0]!.usage > rows[1]!.usage, `busy uses ${rows[0]!.usage} of its limit, quiet ${rows[1]!.usage}`);
      t.match(rows[0]!.text, /^busy\d+% \([\d.]+ of 2 upstream requests\/s\)/);
      t.match(
        await page.getAttribute('.chart-card[data-endpoint="quiet"] figure[data-chart="cache"] svg', 'aria-label'),
        /Latest: hits [\d.]+, misses [\d.]+ texts\/s\.$/,
      );
    });

    await t.test('readable at 390 px wide', async (t) => {
      await page.setViewportSize({ width: 390, height: 844 });
      const fits = await page.$eval('#charts-section', (section) => {
        const el = section as unknown as { scrollWidth: number; clientWidth: number };
        return el.scrollWidth <= el.clientWidth;
      });
      t.ok(fits, 'the section needs no sideways scrolling');
      const overviewFits = await page.$eval('#charts-overview .table-wrap', (wrap) => {
        const el = wrap as unknown as { scrollWidth: number; clientWidth: number };
        return el.scrollWidth <= el.clientWidth;
      });
      t.ok(overviewFits, 'nor does the overview: each endpoint is a card, every column shown');
      // Read in one turn of the page: the charts are drawn again each second, so a handle taken first can be gone.
      const width = await page
        .waitForFunction((selector) => {
          const svg = (
            globalThis as unknown as {
              document: { querySelector(s: string): { getBoundingClientRect(): { width: number } } | null };
            }
          ).document.querySelector(selector);
          return svg ? svg.getBoundingClientRect().width : 0;
        }, '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] svg')
        .then((handle) => handle.jsonValue());
      t.ok(width > 250 && width <= 390, `a chart spans the narrow screen (${width} px)`);
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await t.test('the lines fall when the traffic stops', async (t) => {
      sending = false;
      await load;
      await drawnUntil(
        'busy',
        'rate',
        'upstream',
        (values) => values.length >= 2 && values.at(-1) === '0' && values.at(-2) === '0',
      );
      t.equal(await latest('busy', 'rate', 'upstream'), '0');
      t.equal(await latest('busy', 'queue', 'queued'), '0', 'the queue emptied');
      await shotBothWidths(t, page, SCREENSHOTS, 'after-load');
    });

    await t.test('a rate limit changed in the settings dialog: the list and the limit line follow', async (t) => {
      await page.click('[aria-label="Edit busy"]');
      await page.locator('#settings-dialog').waitFor();
      await page.fill('#set-requests_per_minute', '300');
      await page.click('#settings-save');
      await page.locator('#settings-status', { hasText: 'Saved: requests_per_minute.' }).waitFor();
      await page.keyboard.press('Escape');
      await page.locator('#settings-dialog').waitFor({ state: 'hidden' });
      t.equal(await focusSettles(page, 'Edit busy'), 'Edit busy', 'the focus is back on the row button');
      await page.locator('tr[data-id="busy"] td:nth-child(4)', { hasText: '300/min' }).waitFor();
      // 300 a minute is 5 a second: drawn from the next sample on, the list's value until then.
      await page.waitForFunction(() => {
        const line = (
          globalThis as unknown as {
            document: { querySelector(s: string): { getAttribute(a: string): string } | null };
          }
        ).document.querySelector(
          '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] line[data-series="limit"]',
        );
        return line?.getAttribute('data-latest') === '5';
      });
      t.equal(await limitLine('busy'), '5', 'the limit line moved to 5/s');
      t.match(
        await page.textContent('#charts-overview-table tr[data-endpoint="busy"] .usage'),
        /^\d+% \([\d.]+ of 5 upstream requests\/s\)$/,
        'the overview measures against the new limit',
      );
      t.equal(
        (await s.request('GET', '/_inference/busy')).json.endpoints[0].service_settings.rate_limit.requests_per_minute,
        300,
      );
    });

    await t.test('a deleted endpoint leaves the charts at once', async (t) => {
      await page.click('[aria-label="Delete quiet"]');
      await page.click('#confirm-yes');
      await page.locator('tr[data-id="quiet"]').waitFor({ state: 'detached' });
      await page.locator('.chart-card[data-endpoint="quiet"]').waitFor({ state: 'detached' });
      t.equal(await page.locator('#charts-overview-table tr[data-endpoint="quiet"]').count(), 0, 'nor in the overview');
      t.ok(await page.locator('.chart-card[data-endpoint="busy"]').isVisible(), 'busy is still charted');
      t.notOk(
        (await stats()).endpoints.some((e) => e.inference_id === 'quiet'),
        'the service forgot its history too',
      );
    });

    t.strictSame(problems, [], 'no script error and no refused resource on the page');
    t.strictSame([...requested], [base], 'nothing fetched from anywhere but the service');
    t.equal(fs.readdirSync(SCREENSHOTS).length, 4, `two steps at two widths in ${SCREENSHOTS}`);
  });
}

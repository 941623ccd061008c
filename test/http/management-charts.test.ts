// The management page's traffic charts in a real headless Chromium (Debian's chromium, driven by playwright-core):
// load sent to two endpoints moves the drawn lines, the values drawn are the service's own samples, the overview puts
// the endpoint nearest its rate limit first; screenshots at 1280 and 390 px wide.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { FakeHuggingFace } from '../helpers/fake-hf.js';
import { hfBody, startApp } from '../helpers/app-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Screenshots land here (tap's .tap folder, not committed). */
const SCREENSHOTS = path.join(ROOT, '.tap', 'screenshots', 'charts');
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

if (!fs.existsSync(CHROMIUM)) {
  // .ci/run installs chromium and sets REQUIRE_CHROMIUM: there the browser test must run.
  if (process.env.REQUIRE_CHROMIUM) t.fail(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  else t.plan(0, `no Chromium at ${CHROMIUM}: install Debian's chromium package to run the charts' browser test`);
} else {
  t.test('the traffic charts move with the load, in headless Chromium', async (t) => {
    fs.rmSync(SCREENSHOTS, { recursive: true, force: true });
    fs.mkdirSync(SCREENSHOTS, { recursive: true });
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
      viewport: { width: 1280, height: 900 },
    });
    t.teardown(() => context.close());
    const page: Page = context.pages()[0] ?? (await context.newPage());
    page.setDefaultTimeout(30_000);
    const problems: string[] = [];
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    // Any console error is a fault here, a refusal of the Content-Security-Policy included (the page names its own
    // icon, so the browser asks for no /favicon.ico).
    page.on('console', (msg) => {
      if (msg.type() === 'error') problems.push(`console: ${msg.text()} at ${msg.location().url}`);
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
      // Two or more samples with upstream requests drawn.
      await page.waitForFunction(() => {
        const g = (
          globalThis as unknown as {
            document: { querySelector(s: string): { getAttribute(a: string): string } | null };
          }
        ).document.querySelector(
          '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] g[data-series="upstream"]',
        );
        return (g?.getAttribute('data-values') ?? '').split(',').filter((v) => Number(v) > 0).length >= 2;
      });
      const upstream = Number(await latest('busy', 'rate', 'upstream'));
      // Spaced at 2 a second; a sample taken late under load (timers slip) may hold a request or two more.
      t.ok(upstream > 0 && upstream <= 4, `busy: ${upstream} upstream requests/s drawn, about its limit of 2`);
      t.equal(
        await page.getAttribute(
          '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] line[data-series="limit"]',
          'data-latest',
        ),
        '2',
        'its limit, 120/min, is drawn as 2/s',
      );
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
      await page.screenshot({ path: path.join(SCREENSHOTS, '1280-under-load.png'), fullPage: true });
    });

    await t.test('the drawn values are the service’s own samples', async (t) => {
      // Wait until the page has drawn the service's newest sample, then compare.
      const answer = await stats();
      const samples = answer.endpoints.find((e) => e.inference_id === 'busy')!.samples;
      const want = samples.map((x) => String(x.upstream_requests / answer.interval_seconds));
      await page.waitForFunction(
        ([length]) => {
          const g = (
            globalThis as unknown as {
              document: { querySelector(s: string): { getAttribute(a: string): string } | null };
            }
          ).document.querySelector(
            '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] g[data-series="upstream"]',
          );
          return (g?.getAttribute('data-values') ?? '').split(',').length >= length;
        },
        [want.length] as const,
      );
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
      const box = await page.locator('.chart-card[data-endpoint="busy"] figure[data-chart="rate"] svg').boundingBox();
      t.ok(box && box.width > 250 && box.width <= 390, `a chart spans the narrow screen (${box?.width} px)`);
      await page.screenshot({ path: path.join(SCREENSHOTS, '390-under-load.png'), fullPage: true });
      await page.setViewportSize({ width: 1280, height: 900 });
    });

    await t.test('the lines fall when the traffic stops', async (t) => {
      sending = false;
      await load;
      await page.waitForFunction(() => {
        const g = (
          globalThis as unknown as {
            document: { querySelector(s: string): { getAttribute(a: string): string } | null };
          }
        ).document.querySelector(
          '.chart-card[data-endpoint="busy"] figure[data-chart="rate"] g[data-series="upstream"]',
        );
        const values = (g?.getAttribute('data-values') ?? '').split(',');
        return values.length >= 2 && values.at(-1) === '0' && values.at(-2) === '0';
      });
      t.equal(await latest('busy', 'rate', 'upstream'), '0');
      t.equal(await latest('busy', 'queue', 'queued'), '0', 'the queue emptied');
      await page.screenshot({ path: path.join(SCREENSHOTS, '1280-after-load.png'), fullPage: true });
    });

    t.strictSame(problems, [], 'no script error and no refused resource on the page');
    t.equal(fs.readdirSync(SCREENSHOTS).length, 3, `screenshots in ${SCREENSHOTS}`);
  });
}

// What the management page's browser tests share: a headless Chromium (Debian's chromium, driven by playwright-core)
// that resolves no name and fetches nothing outside 127.0.0.1, a page whose script errors and refused resources are
// collected, screenshots at 1280 and 390 px wide with a check that nothing is wider than the window, and axe-core's
// checks at both widths.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import axe from 'axe-core';
import t from 'tap';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const WIDE = { width: 1280, height: 900 };
const NARROW = { width: 390, height: 844 };

/** What a step's checks need of tap's test object. */
export interface Checks {
  strictSame(found: unknown, wanted: unknown, message: string): unknown;
  ok(value: unknown, message: string): unknown;
}
type Tap = Checks & { teardown(fn: () => unknown): void };

/**
 * Whether Chromium is there. Without it the file plans nothing and says why, or fails where .ci/run requires the
 * browser (REQUIRE_CHROMIUM).
 */
export function haveChromium(what: string): boolean {
  if (fs.existsSync(CHROMIUM)) return true;
  if (process.env.REQUIRE_CHROMIUM) t.fail(`no Chromium at ${CHROMIUM} (apt-get install -y chromium)`);
  else t.plan(0, `no Chromium at ${CHROMIUM}: install Debian's chromium package to run ${what}`);
  return false;
}

/** An empty folder for a test's screenshots, under tap's .tap folder (not committed). */
export function screenshotFolder(name: string): string {
  const folder = path.join(ROOT, '.tap', 'screenshots', name);
  fs.rmSync(folder, { recursive: true, force: true });
  fs.mkdirSync(folder, { recursive: true });
  return folder;
}

export interface BrowserOptions {
  /** The browser profile's folder (a test's own directory). */
  profile: string;
  /** The service's origin, granted the clipboard when `clipboard` is set. */
  base: string;
  clipboard?: boolean;
  /** Console errors expected by the test (an HTTP status the page is made to meet), not counted as problems. */
  expectedErrors?: RegExp;
  timeoutMs?: number;
}

export interface BrowserPage {
  page: Page;
  /** Script errors and console errors (a Content-Security-Policy refusal included), one line each. */
  problems: string[];
  /** Every origin the page asked for something. */
  requested: Set<string>;
}

/** A headless Chromium with its own profile, at 1280 px wide; closed at the test's end. */
export async function openBrowser(t: Tap, options: BrowserOptions): Promise<BrowserPage> {
  const context: BrowserContext = await chromium.launchPersistentContext(options.profile, {
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
    viewport: WIDE,
  });
  t.teardown(() => context.close());
  if (options.clipboard)
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: options.base });
  const page: Page = context.pages()[0] ?? (await context.newPage());
  page.setDefaultTimeout(options.timeoutMs ?? 15_000);
  const problems: string[] = [];
  page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
  // Any other console error is a fault, a refusal of the Content-Security-Policy included (the page names its own
  // icon, so the browser asks for no /favicon.ico).
  page.on('console', (msg) => {
    if (msg.type() === 'error' && !options.expectedErrors?.test(msg.text()))
      problems.push(`console: ${msg.text()} at ${msg.location().url}`);
  });
  const requested = new Set<string>();
  page.on('request', (req) => requested.add(new URL(req.url()).origin));
  return { page, problems, requested };
}

export interface ShotOptions {
  /** The whole page (default), or what the window shows (an open dialog sits in it and scrolls by itself). */
  fullPage?: boolean;
}

/**
 * `<name>-1280.png` and `<name>-390.png` in `folder`, after checking at each width that nothing is wider than the
 * window; the page is left at 1280 px.
 */
export async function shotBothWidths(
  t: Checks,
  page: Page,
  folder: string,
  name: string,
  { fullPage = true }: ShotOptions = {},
): Promise<void> {
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    const width = await page.evaluate(() => {
      const d = (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document;
      return d.documentElement.scrollWidth;
    });
    t.ok(width <= size.width, `${name}: nothing wider than ${size.width} px (${width})`);
    await page.screenshot({ path: path.join(folder, `${name}-${size.width}.png`), fullPage });
  }
  await page.setViewportSize(WIDE);
}

/** axe-core's WCAG 2.1 A and AA rules and its best practices, at both widths: no violation. */
export async function accessibleBothWidths(t: Checks, page: Page, what: string): Promise<void> {
  for (const size of [WIDE, NARROW]) {
    await page.setViewportSize(size);
    t.strictSame(await axeViolations(page), [], `${what}: no accessibility violation at ${size.width} px`);
  }
  await page.setViewportSize(WIDE);
}

/**
 * axe-core's violations on the page as it is, one line each. axe comes from node_modules, put in through DevTools
 * evaluation: the page's Content-Security-Policy refuses inline scripts (playwright's addScriptTag), as it should,
 * and the service never serves it.
 */
async function axeViolations(page: Page): Promise<string[]> {
  await page.evaluate(axe.source);
  return page.evaluate(async () => {
    const inPage = (globalThis as unknown as { axe: typeof axe }).axe;
    const { violations } = await inPage.run({
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
    });
    return violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  });
}

/**
 * The focused element's aria-label once it is `label`, or whatever has the focus after `ms`. A dialog hands the focus
 * back in its `close` event, which the browser fires a task after the dialog is hidden: a check made at once can run
 * between the two.
 */
export async function focusSettles(page: Page, label: string, ms = 2000): Promise<string | null> {
  await page
    .waitForFunction(
      (want) =>
        (
          globalThis as unknown as { document: { activeElement: { getAttribute(n: string): string | null } | null } }
        ).document.activeElement?.getAttribute('aria-label') === want,
      label,
      { timeout: ms },
    )
    .catch(() => undefined);
  return (await focused(page)).label;
}

/** The focused element's id, and its aria-label (row buttons are named by it). */
export function focused(page: Page): Promise<{ id: string; label: string | null }> {
  return page.evaluate(() => {
    const d = (
      globalThis as unknown as {
        document: { activeElement: { id: string; getAttribute(n: string): string | null } | null };
      }
    ).document;
    return { id: d.activeElement?.id ?? '', label: d.activeElement?.getAttribute('aria-label') ?? null };
  });
}

// Benchmark child: scrape loops against the service, in a process of their own, so that reading their megabytes does
// not delay the parent's own timing of inference requests (the scale section).
import { Pool } from 'undici';
import { serveParent } from './children.js';

let scraping = false;
let loops: Array<Promise<number>> = [];

/** Scrapes `url` back to back on one connection until stopped; resolves to the number of scrapes. */
async function loop(url: string): Promise<number> {
  const pool = new Pool(url, { connections: 1 });
  let count = 0;
  while (scraping) {
    const res = await pool.request({ path: '/_prometheus/metrics', method: 'GET' });
    await res.body.arrayBuffer();
    if (res.statusCode !== 200) throw new Error(`scrape: ${res.statusCode}`);
    count++;
  }
  await pool.close();
  return count;
}

serveParent({
  start: (arg) => {
    const { url, count } = arg as { url: string; count: number };
    scraping = true;
    loops = Array.from({ length: count }, () => loop(url));
    return true;
  },
  stop: async () => {
    scraping = false;
    return (await Promise.all(loops)).reduce((a, b) => a + b, 0);
  },
});
process.send?.({ ready: 'scraper' });

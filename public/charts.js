// The management page's traffic charts: each active endpoint's last minutes from GET /_inference/_stats, drawn as SVG
// by the page (no library, no inline style: the page's Content-Security-Policy stays strict), with an overview of the
// endpoints sorted by how close each is to its rate limit. Every chart carries its latest values as text (its
// aria-label and its caption) and as data attributes (data-latest, data-values) that tests read back.
import { $, announce, api } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';
/** The drawing's own units: the SVG scales to its box, keeping this shape. */
const WIDTH = 300;
const HEIGHT = 110;
const PAD = { left: 30, right: 6, top: 8, bottom: 16 };
/** Endpoints charted in full (six charts each); the overview lists every one. */
const CARDS = 12;

/** What the page holds: the answering instance's history, kept up to date with `?since=`. */
let held = { instance: undefined, interval: 5, window: 600, endpoints: new Map(), cache: undefined, newest: 0 };
let loading;
/** A refresh asked for while one was loading: done once it ends (its answer may predate a change). */
let again = false;
/** Each listed endpoint's stored rate limit (requests per minute), from the endpoint list (app.js). */
let listedLimits = new Map();

const el = (tag, attrs = {}, text) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
};
const svgEl = (tag, attrs = {}, text) => {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
};

/** 4.2, 12, 1.5k: short enough for an axis and a caption. */
function short(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return '–';
  const abs = Math.abs(value);
  if (abs >= 1e9) return `${+(value / 1e9).toFixed(1)}G`;
  if (abs >= 1e6) return `${+(value / 1e6).toFixed(1)}M`;
  if (abs >= 1e4) return `${+(value / 1e3).toFixed(1)}k`;
  if (abs >= 100) return String(Math.round(value));
  if (abs >= 10) return String(+value.toFixed(1));
  return String(+value.toFixed(2));
}

/** `−45 s`, `−10 min`: how far back a chart reaches. */
const spanOf = (from, to) => {
  const seconds = Math.round((to - from) / 1000);
  return seconds < 120 ? `${seconds} s` : `${Math.round(seconds / 60)} minutes`;
};

/** A round top for the y axis: 1, 2, 5 × 10ⁿ at or above `max`. */
function niceTop(max) {
  if (!(max > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(max));
  for (const step of [1, 2, 5, 10]) if (step * power >= max) return step * power;
  return 10 * power;
}

/**
 * One chart: lines over time (a null value is a gap), an optional dashed limit, and a caption with each line's latest
 * value. `series`: [{ name, className, points: [[timestamp, value|null]] }].
 */
function lineChart({ key, title, unit, series, limit, from, to }) {
  const latest = series.map((s) => {
    const last = s.points.at(-1);
    return { name: s.name, value: last ? last[1] : null };
  });
  const values = series.flatMap((s) => s.points.map((p) => p[1]).filter((v) => v !== null));
  const top = niceTop(Math.max(0, ...values, limit ?? 0));
  const x = (t) => PAD.left + ((t - from) / Math.max(1, to - from)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) => HEIGHT - PAD.bottom - (v / top) * (HEIGHT - PAD.top - PAD.bottom);

  const summary = latest.map((l) => `${l.name} ${short(l.value)}`).join(', ');
  const label = `${title}, last ${spanOf(from, to)}. Latest: ${summary}${
    limit !== undefined ? `; limit ${short(limit)}` : ''
  }${unit ? ` ${unit}` : ''}.`;
  const svg = svgEl('svg', { viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: 'img', 'aria-label': label, class: 'chart' });
  // Axes: the top value and zero at the left, the window's ends below.
  svg.append(
    svgEl('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(0), y2: y(0), class: 'axis' }),
    svgEl('line', { x1: PAD.left, x2: WIDTH - PAD.right, y1: y(top), y2: y(top), class: 'grid' }),
    svgEl('text', { x: PAD.left - 4, y: y(top) + 4, class: 'tick end' }, short(top)),
    svgEl('text', { x: PAD.left - 4, y: y(0) + 3, class: 'tick end' }, '0'),
    svgEl('text', { x: PAD.left, y: HEIGHT - 3, class: 'tick' }, `−${spanOf(from, to).replace('minutes', 'min')}`),
    svgEl('text', { x: WIDTH - PAD.right, y: HEIGHT - 3, class: 'tick end' }, 'now'),
  );
  if (limit !== undefined)
    svg.append(
      svgEl('line', {
        x1: PAD.left,
        x2: WIDTH - PAD.right,
        y1: y(limit),
        y2: y(limit),
        class: 'limit',
        'data-series': 'limit',
        'data-latest': limit,
      }),
    );
  series.forEach((s, i) => {
    const attrs = {
      class: `series s${i}`,
      'data-series': s.name,
      'data-latest': latest[i].value ?? '',
      'data-values': s.points.map((p) => p[1] ?? '').join(','),
    };
    let d = '';
    let pen = false;
    for (const [t, v] of s.points) {
      if (v === null) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    const group = svgEl('g', attrs);
    group.append(svgEl('path', { d: d || 'M0,0' }));
    // The latest value as a dot: visible even while the line is one sample long.
    const last = s.points.at(-1);
    if (last && last[1] !== null) group.append(svgEl('circle', { cx: x(last[0]), cy: y(last[1]), r: 2.2 }));
    svg.append(group);
  });

  const figure = el('figure', { class: 'chart-figure', 'data-chart': key });
  const caption = el('figcaption');
  caption.append(el('span', { class: 'chart-title' }, title + (unit ? ` (${unit})` : '')));
  const legend = el('span', { class: 'legend' });
  latest.forEach((l, i) => legend.append(el('span', { class: `key s${i}` }, `${l.name} ${short(l.value)}`)));
  if (limit !== undefined) legend.append(el('span', { class: 'key limit' }, `limit ${short(limit)}`));
  caption.append(legend);
  figure.append(caption, svg);
  return figure;
}

const perSecond = (n) => n / held.interval;
const total = (counts) => Object.values(counts).reduce((a, b) => a + b, 0);

/**
 * The endpoint's rate limit now, in requests per second: its stored setting as the endpoint list has it (so that a
 * limit changed in the settings dialog shows at once), else the latest sample's; undefined when neither knows it.
 */
function limitOf(id, samples) {
  const perMinute = listedLimits.get(id) ?? samples.at(-1)?.rate_limit ?? null;
  return perMinute === null ? undefined : perMinute / 60;
}

/** Upstream requests per second against the limit, in the latest sample; undefined when the limit is unknown. */
function usage(id, samples) {
  const last = samples.at(-1);
  const limit = limitOf(id, samples);
  if (!last || limit === undefined) return undefined;
  return { rate: perSecond(last.upstream_requests), limit };
}

function errorTypes(samples) {
  const out = new Map();
  for (const s of samples) {
    for (const [status, n] of Object.entries(s.failed))
      out.set(`answered ${status}`, (out.get(`answered ${status}`) ?? 0) + n);
    for (const [status, n] of Object.entries(s.upstream_errors))
      out.set(`upstream ${status}`, (out.get(`upstream ${status}`) ?? 0) + n);
  }
  return out;
}

function endpointCard(id, entry, from, to) {
  const { samples } = entry;
  const points = (of) => samples.map((s) => [s.timestamp, of(s)]);
  const card = el('article', { class: 'chart-card', 'data-endpoint': id, 'aria-labelledby': `chart-title-${id}` });
  card.append(el('h3', { id: `chart-title-${id}` }, `${id} `));
  card.querySelector('h3').append(el('span', { class: 'task' }, entry.task_type));
  const grid = el('div', { class: 'chart-grid' });
  const limit = limitOf(id, samples);
  grid.append(
    lineChart({
      key: 'rate',
      title: 'Requests per second',
      unit: '/s',
      series: [
        { name: 'upstream', points: points((s) => perSecond(s.upstream_requests)) },
        { name: 'answered', points: points((s) => perSecond(s.requests)) },
      ],
      limit,
      from,
      to,
    }),
    lineChart({
      key: 'latency',
      title: 'Upstream latency',
      unit: 'ms',
      series: [
        { name: 'p50', points: points((s) => s.upstream_latency_ms?.p50 ?? null) },
        { name: 'p99', points: points((s) => s.upstream_latency_ms?.p99 ?? null) },
      ],
      from,
      to,
    }),
  );
  if (entry.task_type !== 'completion' && entry.task_type !== 'chat_completion')
    grid.append(
      lineChart({
        key: 'batch',
        title: 'Texts per upstream request',
        series: [{ name: 'texts', points: points((s) => s.texts_per_request) }],
        from,
        to,
      }),
      lineChart({
        key: 'queue',
        title: 'Queue depth',
        unit: 'texts',
        series: [{ name: 'queued', points: points((s) => s.queue_depth) }],
        from,
        to,
      }),
    );
  else
    grid.append(
      lineChart({
        key: 'streams',
        title: 'Streams open',
        series: [{ name: 'streams', points: points((s) => s.streams_open) }],
        from,
        to,
      }),
    );
  const errors = lineChart({
    key: 'errors',
    title: 'Errors',
    unit: `per ${held.interval} s`,
    series: [
      { name: 'failed answers', points: points((s) => total(s.failed)) },
      { name: 'upstream errors', points: points((s) => total(s.upstream_errors)) },
    ],
    from,
    to,
  });
  const types = errorTypes(samples);
  errors.append(
    el(
      'p',
      { class: 'chart-note' },
      types.size === 0
        ? 'No errors in the window.'
        : `In the window: ${[...types].map(([type, n]) => `${n} × ${type}`).join(', ')}.`,
    ),
  );
  grid.append(errors);
  if (entry.task_type === 'text_embedding' || entry.task_type === 'sparse_embedding')
    grid.append(
      lineChart({
        key: 'cache',
        title: 'Embedding cache',
        unit: 'texts/s',
        series: [
          { name: 'hits', points: points((s) => perSecond(s.cache_hits)) },
          { name: 'misses', points: points((s) => perSecond(s.cache_misses)) },
        ],
        from,
        to,
      }),
    );
  card.append(grid);
  return card;
}

/** The endpoints by how close their upstream rate is to their limit, the closest first; unknown limits last. */
function byUsage() {
  const rows = [...held.endpoints].map(([id, entry]) => ({ id, entry, use: usage(id, entry.samples) }));
  return rows.sort(
    (a, b) =>
      (b.use ? b.use.rate / b.use.limit : -1) - (a.use ? a.use.rate / a.use.limit : -1) || (a.id < b.id ? -1 : 1),
  );
}

function overview(rows, from, to) {
  const table = el('table', { id: 'charts-overview-table' });
  const head = el('tr');
  const columns = ['Endpoint', 'Use of its rate limit', 'Latency p99', 'Queued'];
  for (const name of columns) head.append(el('th', {}, name));
  table.append(el('thead'), el('tbody'));
  table.tHead.append(head);
  for (const { id, entry, use } of rows) {
    const last = entry.samples.at(-1);
    const row = el('tr', { 'data-endpoint': id });
    row.append(el('td', {}, id));
    const cell = el('td', { class: 'usage' });
    const share = use ? use.rate / use.limit : undefined;
    row.dataset.usage = share === undefined ? '' : String(share);
    const text =
      use !== undefined
        ? `${Math.round(share * 100)}% (${short(use.rate)} of ${short(use.limit)} upstream requests/s)`
        : last
          ? 'no limit known: not yet served on this instance'
          : 'no sample yet: the first comes at the end of this interval';
    const bar = svgEl('svg', {
      viewBox: '0 0 100 8',
      preserveAspectRatio: 'none',
      class: 'usage-bar',
      'aria-hidden': 'true',
    });
    bar.append(svgEl('rect', { x: 0, y: 0, width: 100, height: 8, class: 'track' }));
    if (share !== undefined)
      bar.append(
        svgEl('rect', {
          x: 0,
          y: 0,
          width: Math.min(100, share * 100).toFixed(1),
          height: 8,
          class: share >= 0.9 ? 'used hot' : 'used',
        }),
      );
    cell.append(bar, el('span', {}, text));
    row.append(cell, el('td', {}, last?.upstream_latency_ms ? `${short(last.upstream_latency_ms.p99)} ms` : '–'));
    row.append(el('td', {}, String(last?.queue_depth ?? 0)));
    // Each cell names its column, shown beside it where the table reflows into cards (390 px, charts.css).
    [...row.cells].forEach((td, i) => (td.dataset.label = columns[i]));
    table.tBodies[0].append(row);
  }
  const parts = [];
  if (rows.length > 0) {
    // A region that may scroll sideways at 390 px: focusable and named, so the keyboard can scroll it too.
    const wrap = el('div', {
      class: 'table-wrap',
      tabindex: '0',
      role: 'region',
      'aria-label': 'Endpoints by how close each is to its limit',
    });
    wrap.append(table);
    parts.push(wrap);
  }
  if (held.cache) {
    const samples = held.cache.samples;
    const grid = el('div', { class: 'chart-grid' });
    parts.push(grid);
    grid.append(
      lineChart({
        key: 'cache-bytes',
        title: 'Embedding cache in memory',
        unit: 'bytes',
        series: [{ name: 'held', points: samples.map((s) => [s.timestamp, s.bytes]) }],
        limit: held.cache.max_bytes,
        from,
        to,
      }),
      lineChart({
        key: 'cache-evictions',
        title: 'Cache evictions',
        unit: `per ${held.interval} s`,
        series: [{ name: 'evicted', points: samples.map((s) => [s.timestamp, s.evictions]) }],
        from,
        to,
      }),
    );
  }
  return parts;
}

function render() {
  const to = held.newest || Date.now();
  // Every chart shares one time axis: the window, or less while the samples held cover less of it (at least 30 s).
  let oldest = to;
  for (const e of held.endpoints.values()) if (e.samples.length > 0) oldest = Math.min(oldest, e.samples[0].timestamp);
  for (const x of held.cache?.samples ?? []) oldest = Math.min(oldest, x.timestamp);
  const from = Math.max(to - held.window * 1000, Math.min(oldest - held.interval * 1000, to - 30_000));
  const instance = held.instance;
  $('charts-instance').textContent = instance
    ? `Figures of the instance ${instance.host} (process ${instance.pid}${instance.address ? `, ${instance.address}` : ''}): one sample every ${held.interval} s for the last ${Math.round(held.window / 60)} minutes. Endpoints without traffic in that time are not shown.`
    : '';
  const rows = byUsage();
  $('charts-overview').replaceChildren(...overview(rows, from, to));
  // Charts for the endpoints nearest their limit, in a steady order (by id) so they do not jump between refreshes.
  const charted = rows.slice(0, CARDS).sort((a, b) => (a.id < b.id ? -1 : 1));
  const cards = charted.map(({ id, entry }) => endpointCard(id, entry, from, to));
  if (rows.length > CARDS)
    cards.unshift(
      el(
        'p',
        { class: 'hint' },
        `Charts of the ${CARDS} endpoints nearest their limit; the overview lists all ${rows.length}.`,
      ),
    );
  $('charts-endpoints').replaceChildren(...cards);
  $('charts-empty').hidden = held.endpoints.size > 0;
}

/** Reads the samples the page does not have yet (all of them when another instance answers) and redraws. */
async function load() {
  const since = held.newest;
  const stats = await api('GET', since ? `/_inference/_stats?since=${since}` : '/_inference/_stats');
  const who = `${stats.instance.host}/${stats.instance.pid}/${stats.instance.address}`;
  if (since && who !== held.instance?.key) {
    // Another instance answered (behind a load balancer): its figures replace the others'.
    held.newest = 0;
    return load();
  }
  // The newest sample, by the service's clock (the browser's may differ): the window ends there.
  let newest = since;
  for (const e of stats.endpoints) for (const x of e.samples) newest = Math.max(newest, x.timestamp);
  for (const x of stats.embedding_cache?.samples ?? []) newest = Math.max(newest, x.timestamp);
  const windowStart = newest - stats.window_seconds * 1000;
  const endpoints = new Map();
  for (const e of stats.endpoints) {
    const before = held.endpoints.get(e.inference_id);
    const kept =
      before && before.task_type === e.task_type ? before.samples.filter((s) => s.timestamp > windowStart) : [];
    endpoints.set(e.inference_id, { task_type: e.task_type, samples: [...kept, ...e.samples] });
  }
  const cacheKept = held.cache?.samples.filter((s) => s.timestamp > windowStart) ?? [];
  held = {
    instance: { ...stats.instance, key: who },
    interval: stats.interval_seconds,
    window: stats.window_seconds,
    endpoints,
    cache: stats.embedding_cache && {
      max_bytes: stats.embedding_cache.max_bytes,
      samples: [...cacheKept, ...stats.embedding_cache.samples],
    },
    newest,
  };
  render();
}

/** Refreshes the charts; one load at a time (a slow answer is not asked again meanwhile, but once after it). */
function refreshCharts() {
  if (loading) {
    again = true;
    return loading;
  }
  loading = load()
    .then(() => {
      $('charts-error').hidden = true;
      announce('traffic-refreshed');
    })
    .catch((err) => {
      $('charts-error').textContent = `The traffic figures could not be read: ${err.message}`;
      $('charts-error').hidden = false;
    })
    .finally(() => {
      loading = undefined;
      if (again) {
        again = false;
        void refreshCharts();
      }
    });
  return loading;
}

let timer;

/**
 * Draws the charts now, then again as each sample is taken (the service's interval, at least every 0.5 s) while the
 * section is shown and the tab visible.
 */
export async function startCharts() {
  clearTimeout(timer);
  if (!document.hidden) await refreshCharts();
  if (!$('charts-section').hidden) timer = setTimeout(startCharts, Math.max(500, held.interval * 1000));
}

// The list was loaded again (an endpoint created, changed or deleted): the stored limits are redrawn at once, and a
// deleted endpoint's figures go at once (the service forgets them with it).
document.addEventListener('endpoints-listed', (event) => {
  listedLimits = new Map(
    event.detail
      .filter((e) => e.service_settings?.rate_limit)
      .map((e) => [e.inference_id, e.service_settings.rate_limit.requests_per_minute]),
  );
  void refreshCharts();
});

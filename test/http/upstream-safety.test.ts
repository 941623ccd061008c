// Upstream safety: no link-local or metadata hosts (at PUT and at call time), an allow-list, size and time limits, no
// redirects.
import type dns from 'node:dns';
import t from 'tap';
import type { Resolver } from '../../src/services/upstream/upstream-guard.js';
import { isLinkLocalOrMetadata } from '../../src/services/upstream/upstream-guard.js';
import { API_KEY, envelope, startApp } from '../helpers/app-harness.js';
import { FakeHuggingFace } from '../helpers/fake-hf.js';

/** A resolver for made-up names, changeable mid-test (DNS rebinding); other names resolve as usual. */
function fakeDns(map: Record<string, string>): Resolver & { map: Record<string, string> } {
  const resolver = (async (hostname: string) => {
    const address = resolver.map[hostname];
    if (address) return [{ address, family: address.includes(':') ? 6 : 4 }] as dns.LookupAddress[];
    if (hostname === 'localhost') return [{ address: '127.0.0.1', family: 4 }];
    throw Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND' });
  }) as unknown as Resolver & { map: Record<string, string> };
  resolver.map = { ...map };
  return resolver;
}

async function setup(t: Parameters<typeof startApp>[0], env: Record<string, string> = {}, resolver?: Resolver) {
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const s = await startApp(t, { SKIP_VALIDATION: 'true', ...env }, undefined, {
    retry: { maxAttempts: 3, baseDelayMs: 20, maxDelayMs: 50 },
    resolver,
  });
  const port = new URL(hf.url).port;
  const put = (id: string, url: string) =>
    s.request('PUT', `/_inference/text_embedding/${id}`, {
      service: 'hugging_face',
      service_settings: { api_key: API_KEY, url },
    });
  const embed = (id: string, query = '') =>
    s.request('POST', `/_inference/text_embedding/${id}${query}`, { input: 'x' });
  return { s, hf, port, put, embed };
}

const invalidUrl = (url: string, why: string) =>
  envelope(
    400,
    'validation_exception',
    `Validation Failed: 1: [service_settings] Invalid url [${url}] received for field [url]. Error: the host [${why};`,
  );

t.test('the blocked address ranges', async (t) => {
  const blocked = [
    '169.254.169.254',
    '169.254.0.1',
    'fe80::1',
    'FE80::abcd',
    'febf::1',
    'fd00:ec2::254',
    'fd00:0ec2:0:0:0:0:0:254',
    '::ffff:169.254.1.2',
    '[fe80::1]',
  ];
  // IPv6 forms that carry 169.254.169.254: mapped (as the URL parser writes it, and in full), compatible, NAT64.
  blocked.push(
    '[::ffff:a9fe:a9fe]',
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '::a9fe:a9fe',
    '::169.254.169.254',
    '64:ff9b::a9fe:a9fe',
    '64:ff9b::169.254.169.254',
  );
  for (const a of blocked) {
    t.ok(isLinkLocalOrMetadata(a), a);
  }
  for (const a of [
    '127.0.0.1',
    '10.0.0.1',
    '192.168.1.1',
    '169.255.0.1',
    '::1',
    'fec0::1',
    'fd00:ec2::253',
    'example.com',
    '::ffff:a9ff:1',
    '::ffff:7f00:1',
    '2001:db8::a9fe:a9fe',
  ]) {
    t.notOk(isLinkLocalOrMetadata(a), a);
  }
});

t.test('PUT refuses link-local and metadata hosts, literal or resolved', async (t) => {
  const resolver = fakeDns({ 'metadata.test': '169.254.169.254', 'v6meta.test': 'fd00:ec2::254' });
  const { s, put } = await setup(t, {}, resolver);
  const cases: Array<[string, string]> = [
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254] is a link-local or cloud metadata address'],
    ['http://[fe80::1]:8080/embed', '[fe80::1]] is a link-local or cloud metadata address'],
    ['http://[fd00:ec2::254]/', '[fd00:ec2::254]] is a link-local or cloud metadata address'],
    // The URL parser rewrites this to [::ffff:a9fe:a9fe]: still the metadata address.
    [
      'http://[::ffff:169.254.169.254]/latest/meta-data',
      '[::ffff:a9fe:a9fe]] is a link-local or cloud metadata address',
    ],
    ['http://metadata.test/embed', 'metadata.test] resolves to a link-local or cloud metadata address'],
    ['https://v6meta.test/embed', 'v6meta.test] resolves to a link-local or cloud metadata address'],
  ];
  for (const [i, [url, why]] of cases.entries()) {
    t.strictSame((await put(`m${i}`, url)).json, invalidUrl(url, why), url);
  }
  t.strictSame((await s.request('GET', '/_inference')).json, { endpoints: [] }, 'none stored');
});

t.test('at call time the address actually connected to is checked (DNS rebinding)', async (t) => {
  const resolver = fakeDns({ 'rebind.test': '127.0.0.1' });
  const { hf, port, put, embed } = await setup(t, {}, resolver);
  t.equal(
    (await put('r', `http://rebind.test:${port}/embed`)).status,
    200,
    'at PUT the name resolves to the test upstream',
  );
  // Before the first call (no connection is open yet) the name moves to the metadata address.
  // (An open keep-alive connection stays with the address checked when it was made.)
  resolver.map['rebind.test'] = '169.254.169.254';
  const before = hf.received.length;
  const res = await embed('r');
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Refused to call the upstream of inference entity id [r]: the host [rebind.test] resolves to a link-local or cloud metadata address',
    ),
  );
  t.equal(hf.received.length, before, 'nothing was sent');
  resolver.map['rebind.test'] = '127.0.0.1';
  t.equal((await embed('r')).status, 200, 'and it recovers');
});

t.test('UPSTREAM_ALLOWED_HOSTS restricts which hosts are called', async (t) => {
  const resolver = fakeDns({ 'allowed.test': '127.0.0.1', 'api.corp.test': '127.0.0.1', 'other.test': '127.0.0.1' });
  const { port, put, embed } = await setup(t, { UPSTREAM_ALLOWED_HOSTS: 'Allowed.test, *.corp.test' }, resolver);
  t.equal((await put('a', `http://allowed.test:${port}/embed`)).status, 200);
  t.equal((await put('b', `http://api.corp.test:${port}/embed`)).status, 200);
  t.strictSame(
    (await put('c', `http://other.test:${port}/embed`)).json,
    invalidUrl(`http://other.test:${port}/embed`, 'other.test] is not in UPSTREAM_ALLOWED_HOSTS'),
  );
  t.strictSame(
    (await put('d', `http://127.0.0.1:${port}/embed`)).json,
    invalidUrl(`http://127.0.0.1:${port}/embed`, '127.0.0.1] is not in UPSTREAM_ALLOWED_HOSTS'),
  );
  t.equal((await embed('a')).status, 200);
  t.equal((await embed('b')).status, 200);
});

t.test('an endpoint stored under an older allow-list is refused at call time', async (t) => {
  const dataDir = t.testdir();
  const hf = await new FakeHuggingFace().start();
  t.teardown(() => hf.close());
  const open = await startApp(t, { SKIP_VALIDATION: 'true' }, dataDir);
  await open.request('PUT', '/_inference/text_embedding/old', {
    service: 'hugging_face',
    service_settings: { api_key: API_KEY, url: `${hf.url}/embed` },
  });
  await open.app.close();
  const strict = await startApp(t, { SKIP_VALIDATION: 'true', UPSTREAM_ALLOWED_HOSTS: 'only.test' }, dataDir);
  const res = await strict.request('POST', '/_inference/text_embedding/old', { input: 'x' });
  t.strictSame(
    res.json,
    envelope(
      400,
      'status_exception',
      'Refused to call the upstream of inference entity id [old]: the host [127.0.0.1] is not in UPSTREAM_ALLOWED_HOSTS',
    ),
  );
  t.equal(hf.received.length, 0);
});

t.test('an answer larger than UPSTREAM_BODY_LIMIT is refused, and the service goes on', async (t) => {
  const { hf, put, embed } = await setup(t, { UPSTREAM_BODY_LIMIT: '1kb' });
  hf.dims = 384;
  await put('big', `${hf.url}/embed`);
  const res = await embed('big');
  t.strictSame(
    res.json,
    envelope(
      502,
      'status_exception',
      'Failed to parse the response for inference entity id [big]: the answer is larger than the limit for upstream answers',
    ),
  );
  hf.dims = 8;
  t.equal((await embed('big')).status, 200);
});

t.test('a hanging or trickling upstream is cut off at UPSTREAM_TIMEOUT, even without a request timeout', async (t) => {
  const { hf, put, embed } = await setup(t, { UPSTREAM_TIMEOUT: '300ms' });
  await put('slow', `${hf.url}/embed`);
  for (const behaviour of [{ hang: true as const }, { trickle: true as const }]) {
    hf.next(behaviour, behaviour, behaviour);
    const started = performance.now();
    const res = await embed('slow', '?timeout=-1');
    t.strictSame(
      res.json,
      envelope(
        502,
        'status_exception',
        'Failed to send request from inference entity id [slow]: the upstream did not answer within UPSTREAM_TIMEOUT',
      ),
    );
    const took = performance.now() - started;
    // At least three full attempts (timers do not fire early); the upper bound only says it did not
    // hang, with room for a loaded machine.
    t.ok(took >= 900 && took < 15_000, `three attempts of 300 ms took ${took.toFixed(0)} ms`);
    t.equal((await embed('slow')).status, 200, 'the next request succeeds');
  }
});

t.test('redirects are not followed', async (t) => {
  const { hf, put, embed } = await setup(t);
  await put('r', `${hf.url}/embed`);
  hf.next({ status: 307, text: '', headers: { location: `${hf.url}/elsewhere` } });
  const res = await embed('r');
  t.equal(res.status, 307);
  t.strictSame(
    hf.received.map((r) => r.path),
    ['/embed'],
  );
});

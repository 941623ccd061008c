// Mutation checks: each entry breaks one promise with one small change; its guarding test must then fail.
// `node .ci/mutations.mjs` runs them all (about 10 minutes), `node .ci/mutations.mjs SIGINT redaction` those whose name
// contains a word.
// Each change is reverted whatever happens; the tree is rebuilt at the end.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** [name, file, code as it is, code broken, test file, --grep of the guarding test] */
const MUTATIONS = [
  [
    'retry: 4 attempts',
    'src/dispatch/retry.ts',
    'maxAttempts: 3, baseDelayMs: 1000',
    'maxAttempts: 4, baseDelayMs: 1000',
    'http/defaults',
    'retry policy',
  ],
  [
    'retry: back-off from 0.5 s',
    'src/dispatch/retry.ts',
    'maxAttempts: 3, baseDelayMs: 1000',
    'maxAttempts: 3, baseDelayMs: 500',
    'http/defaults',
    'retry policy',
  ],
  [
    'queue: 2001 batches',
    'src/dispatch/endpoint-queue.ts',
    'const QUEUE_CAPACITY = 2000;',
    'const QUEUE_CAPACITY = 2001;',
    'http/defaults',
    'queue bound',
  ],
  [
    'queue: 1999 batches',
    'src/dispatch/endpoint-queue.ts',
    'const QUEUE_CAPACITY = 2000;',
    'const QUEUE_CAPACITY = 1999;',
    'http/defaults',
    'queue bound',
  ],
  [
    'queue: capacity ignores the batch size',
    'src/dispatch/endpoint-queue.ts',
    'return (this.opts.capacity ?? QUEUE_CAPACITY) * this.opts.batchSize;',
    'return (this.opts.capacity ?? QUEUE_CAPACITY) * 20;',
    'http/defaults',
    'queue bound',
  ],
  [
    'request timeout default 60s',
    'src/request-params.ts',
    "export const DEFAULT_TIMEOUT = '30s';",
    "export const DEFAULT_TIMEOUT = '60s';",
    'http/defaults',
    'request timeout',
  ],
  [
    'request timeout counted from the handler, +2 s late',
    'routes/inference.ts',
    'new Cancellation(Date.now() - reply.elapsedTime + ms)',
    'new Cancellation(Date.now() - reply.elapsedTime + ms + 2000)',
    'http/defaults',
    'request timeout',
  ],
  [
    'upstream timeout default 60s',
    'src/config.ts',
    "upstreamTimeout: '120s'",
    "upstreamTimeout: '60s'",
    'http/defaults',
    'configuration table',
  ],
  [
    'upstream body limit default 32mb',
    'src/config.ts',
    "upstreamBodyLimit: '64mb'",
    "upstreamBodyLimit: '32mb'",
    'http/defaults',
    'configuration table',
  ],
  [
    'SKIP_VALIDATION default true',
    'src/config.ts',
    "parseBoolean('SKIP_VALIDATION', value('SKIP_VALIDATION') ?? 'false')",
    "parseBoolean('SKIP_VALIDATION', value('SKIP_VALIDATION') ?? 'true')",
    'http/defaults',
    'configuration table',
  ],
  [
    'body limit default 20mb',
    'src/config.ts',
    "bodyLimit: '10mb',",
    "bodyLimit: '20mb',",
    'http/defaults',
    'BODY_LIMIT',
  ],
  [
    'rate limit default 6000/min',
    'src/services/hugging-face/hugging-face-settings.ts',
    'const DEFAULT_REQUESTS_PER_MINUTE = 3000;',
    'const DEFAULT_REQUESTS_PER_MINUTE = 6000;',
    'http/defaults',
    'rate limit as shipped',
  ],
  [
    'token cache 65,535',
    'src/services/hugging-face/sparse-embedding-wire.ts',
    'export const TOKEN_CACHE_SIZE = 65_536;',
    'export const TOKEN_CACHE_SIZE = 65_535;',
    'http/defaults',
    'token cache',
  ],
  [
    'key presence trusted 5 s',
    'src/auth/api-keys.ts',
    'const ACTIVE_KEYS_RECHECK_MS = 1000;',
    'const ACTIVE_KEYS_RECHECK_MS = 5000;',
    'http/auth',
    'first new key',
  ],
  [
    'client gone: close not watched',
    'routes/inference.ts',
    "  reply.raw.once('close', onClose);\n",
    '',
    'http/inference',
    'client that leaves',
  ],
  [
    'client gone: queue ignores cancellation',
    'src/dispatch/endpoint-queue.ts',
    '    caller.onCancel(() => this.cancel(jobs));\n',
    '',
    'http/inference',
    'client that leaves',
  ],
  [
    'client gone: a 500 instead of 499',
    'src/errors.ts',
    'clientGone: () => new EsError(499,',
    'clientGone: () => new EsError(500,',
    'http/inference',
    'client that leaves',
  ],
  [
    'timed out: queue ignores cancellation',
    'src/dispatch/endpoint-queue.ts',
    '    caller.onCancel(() => this.cancel(jobs));\n',
    '',
    'http/inference',
    'timeouts: 408',
  ],
  [
    'synchronous=NORMAL',
    'src/store/sqlite.ts',
    "this.db.pragma('synchronous = FULL');",
    "this.db.pragma('synchronous = NORMAL');",
    'http/store-durability',
    'synchronous=FULL',
  ],
  [
    'journal_mode=DELETE',
    'src/store/sqlite.ts',
    "this.db.pragma('journal_mode = WAL');",
    "this.db.pragma('journal_mode = DELETE');",
    'http/store-durability',
    'synchronous=FULL',
  ],
  [
    'SIGINT not handled',
    'src/server.ts',
    "  process.on('SIGINT', () => shutdown('SIGINT'));\n",
    '',
    'process/lifecycle',
    'SIGINT',
  ],
  [
    'SIGINT exits at once',
    'src/server.ts',
    "process.on('SIGINT', () => shutdown('SIGINT'));",
    "process.on('SIGINT', () => process.exit(0));",
    'process/lifecycle',
    'SIGINT',
  ],
  [
    'database not closed on shutdown',
    'src/app.ts',
    '    await store.close();\n  });',
    '  });',
    'process/lifecycle',
    'SIGTERM lets',
  ],
  [
    'connections: no read deadline',
    'src/app.ts',
    '    requestTimeout: config.requestReadTimeoutMs,\n    http: {\n      requestTimeout: config.requestReadTimeoutMs,\n',
    '    http: {\n',
    'http/defaults',
    'REQUEST_READ_TIMEOUT as shipped',
  ],
  [
    'client errors: not answered',
    'src/app.ts',
    '      answerClientError(err, socket, this.log, config.requestReadTimeoutMs);\n',
    '',
    'process/client-errors',
    'LOG_LEVEL=trace',
  ],
  [
    'sqlite: files created 0644',
    'src/store/sqlite.ts',
    "    fs.closeSync(fs.openSync(this.location, 'a', 0o600));\n",
    '',
    'http/store-durability',
    'data directory the service creates',
  ],
  [
    'server info: batches ignore max_client_batch_size',
    'src/services/hugging-face/hugging-face-service.ts',
    ': Math.min(dispatch.batch_size ?? info.max_client_batch_size, info.max_client_batch_size, MAX_BATCH_SIZE),',
    ': Math.min(dispatch.batch_size ?? MAX_BATCH_SIZE, MAX_BATCH_SIZE),',
    'http/server-info',
    'batches start at its max_client_batch_size',
  ],
  [
    'base model: completion kept on the chat route',
    'src/services/hugging-face/hugging-face-service.ts',
    "const protocol = 'text_generation';",
    "const protocol = 'openai_chat';",
    'http/server-info',
    'moved to /generate',
  ],
  [
    'update: secret sealed again',
    'src/endpoints/registry.ts',
    'if (!secretsChanged) return next;',
    'if (!secretsChanged && false) return next;',
    'http/store-durability',
    '_update seals',
  ],
  [
    'url password: ends at the first @',
    'src/redaction.ts',
    "at = raw.lastIndexOf('@', authorityEnd - 1);",
    "at = raw.indexOf('@', start);",
    'unit/config',
    'whatever characters',
  ],
  [
    'mean: equal weights',
    'src/tasks/text-embedding-task.ts',
    'const weights = chunks.map((c) => (total > 0 ? c.words / total : 1 / chunks.length));',
    'const weights = chunks.map(() => 1 / chunks.length);',
    'http/inference',
    'weighted by each chunk',
  ],
  [
    'mean: last chunk left out',
    'src/tasks/text-embedding-task.ts',
    'vectors.forEach(({ values }, i) => {',
    'vectors.slice(0, -1).forEach(({ values }, i) => {',
    'http/inference',
    'weighted by each chunk',
  ],
  [
    'chunker: word overlap one word short',
    'src/chunking/chunker.ts',
    'const step = Math.max(1, max - overlap);',
    'const step = Math.max(1, max - overlap + 1);',
    'http/inference',
    'each chunking strategy',
  ],
  [
    'redaction: URL logged as it came',
    'src/logger.ts',
    "url: redactUrl(req.url ?? ''),",
    "url: req.url ?? '',",
    'process/secret-hygiene',
    'anywhere a request',
  ],
  [
    'redaction: error messages not masked',
    'plugins/elasticsearch-http.ts',
    'const error = withoutSecrets(toEsError(err, request, opts.bodyLimit), request);',
    'const error = toEsError(err, request, opts.bodyLimit);',
    'process/secret-hygiene',
    'anywhere a request',
  ],
  [
    'redaction: body secrets not collected',
    'src/redaction.ts',
    'found.add(inner);',
    'void inner;',
    'process/secret-hygiene',
    'anywhere a request',
  ],
  [
    'redaction: token shapes not masked',
    'src/redaction.ts',
    "return out.includes('hf_') ? out.replace(HF_TOKEN, mask) : out;",
    'return out;',
    'process/secret-hygiene',
    'anywhere a request',
  ],
  [
    'redaction: upstream echo not masked',
    'src/services/hugging-face/hugging-face-errors.ts',
    'const message = maskKeyEcho(raw, apiKey);',
    'const message = raw;',
    'unit/redaction',
    'an upstream error answer never quotes the key',
  ],
  [
    'back-off jobs forgotten on close',
    'src/dispatch/endpoint-queue.ts',
    '      for (const job of jobs) this.settle(job, error, undefined);\n',
    '',
    'http/inference',
    'back-off',
  ],
  [
    'generations take the batched slots',
    'src/tasks/generation-task.ts',
    '    countsTexts: false,\n',
    '    countsTexts: false,\n    inflight: context.inflight,\n',
    'http/streaming',
    'generations are bounded per endpoint',
  ],
  [
    'queue: first come, first served',
    'src/dispatch/endpoint-queue.ts',
    '      if (lane.next < lane.jobs.length) this.lanes.push(lane);\n',
    '      if (lane.next < lane.jobs.length) this.lanes.unshiftAll([lane]);\n',
    'http/batching',
    'small request behind a large one',
  ],
  [
    'queue: doomed requests queued',
    'src/dispatch/endpoint-queue.ts',
    '    this.checkCanFinish(items.length, caller);\n',
    '',
    'http/batching',
    'cannot finish within its timeout',
  ],
  [
    'masking: reasoning not held back',
    'src/services/hugging-face/generation-masking.ts',
    "const HELD_FIELDS = ['content', 'refusal', 'reasoning'] as const;",
    "const HELD_FIELDS = ['content', 'refusal'] as const;",
    'http/unified',
    'echoed in a model',
  ],
  [
    'unified: another task type in the path let through',
    'src/tasks/runner.ts',
    "if (call.taskType !== undefined && call.taskType !== 'chat_completion') throw errors.unifiedTaskTypeInPath();",
    '',
    'http/unified',
    'refusals',
  ],
  [
    'input_type: prefix left out',
    'src/tasks/batched.ts',
    'const whole = prefix + inputs[i]!.slice(c.start, c.end);',
    'const whole = prefix.slice(prefix.length) + inputs[i]!.slice(c.start, c.end);',
    'http/input-type',
    'each text sent with its input type prefix',
  ],
  [
    'input_type: accepted without prefix_strings',
    'src/tasks/input.ts',
    'if (prefix === undefined) throw errors.inputTypeNotSupported(inputType);',
    "if (prefix === undefined) return '';",
    'http/input-type',
    'refuses every input type',
  ],
  [
    'rerank: top_n not sent upstream',
    'src/services/hugging-face/rerank-wire.ts',
    'return JSON.stringify({ texts, query, return_text: returnText, top_n: topN });',
    'return JSON.stringify({ texts, query, return_text: returnText, top_n: topN && undefined });',
    'http/rerank',
    'go upstream as Elasticsearch sends them',
  ],
  [
    'doors: an upstream failure is a 502',
    'src/doors/door-errors.ts',
    "upstream: { status: 502, type: 'server_error', code: 'upstream_error' },",
    "upstream: { status: 400, type: 'server_error', code: 'upstream_error' },",
    'http/openai-door',
    'errors in OpenAI shape',
  ],
  [
    'doors: base64 vectors little-endian',
    'src/doors/openai-protocol.ts',
    'bytes.writeFloatLE(values[i]!, i * 4)',
    'bytes.writeFloatBE(values[i]!, i * 4)',
    'http/openai-door',
    'embeddings.create',
  ],
  [
    'doors: usage chunk only when asked',
    'src/doors/openai-protocol.ts',
    'const usage = includeUsage ? chunk.usage : undefined;',
    'const usage = includeUsage || true ? chunk.usage : undefined;',
    'http/openai-door',
    'chat.completions.create',
  ],
  [
    'doors: TEI normalises by default',
    'src/doors/hf-protocol.ts',
    'const normalize = body.normalize !== false;',
    'const normalize = body.normalize === true;',
    'http/hf-door',
    'featureExtraction at the endpoint url',
  ],
  [
    'page: _update sends every setting, changed or not',
    'public/settings.js',
    'if (canonical(value) === canonical(fallback)) continue;',
    'if (value === undefined && fallback === undefined) continue;',
    'http/management-settings',
    'settings in place',
  ],
  [
    'page: validation messages away from their fields',
    'public/settings.js',
    "const key = name === 'rate_limit' ? 'requests_per_minute' : name;",
    "const key = name === 'rate_limit' ? 'requests_per_minute' : `_${name}`;",
    'http/management-settings',
    'settings in place',
  ],
  [
    'cost header: a shared batch counted for one request only',
    'src/dispatch/endpoint-queue.ts',
    'const callers = batch.length === 1 ? [batch[0]!.caller] : new Set(batch.map((j) => j.caller));',
    'const callers = [batch[0]!.caller];',
    'http/upstream-cost',
    'shared by three requests',
  ],
  [
    'page: the CSP allows inline styles',
    'plugins/management-ui.ts',
    "style-src 'self';",
    "style-src 'self' 'unsafe-inline';",
    'http/management-ui',
    'step by step',
  ],
  [
    'page: a setting without its label',
    'public/settings.js',
    "row.append(el('label', { for: id }, field.label), control);",
    "row.append(el('span', {}, field.label), control);",
    'http/management-settings',
    'working code',
  ],
  [
    'page: the traffic overview stays a table at 390 px',
    'public/charts.css',
    '@media (max-width: 40rem) {',
    '@media (max-width: 20rem) {',
    'http/management-charts',
    'move with the load',
  ],
  [
    'cache: no claims across instances',
    'src/cache/redis-cache-tier.ts',
    'if (!this.ready || keys.length === 0) return out;',
    'if (!this.ready || keys.length >= 0) return out;',
    'http/embedding-cache-shared',
    'over three instances',
  ],
  [
    'cache: a live claim never renewed',
    'src/cache/redis-cache-tier.ts',
    'this.renewTimer ??= setInterval(',
    'this.renewTimer ??= setTimeout(',
    'http/embedding-cache-shared',
    'renews its claim',
  ],
  [
    'doors: a sparse endpoint url answers token weights',
    'routes/hf-door.ts',
    "case 'sparse_embedding':",
    "case 'sparse_embeddings' as string:",
    'http/hf-door',
    "Elasticsearch's hugging_face requests",
  ],
  [
    'doors: a vector of length 1 goes out as the upstream wrote it',
    'src/doors/hf-protocol.ts',
    'if (sum === 0 || Math.abs(sum - 1) <= UNIT_TOLERANCE)',
    'if (sum === 0 || Math.abs(sum - 1) < -UNIT_TOLERANCE)',
    'http/hf-door',
    "TEI /embed's normalize and dimensions",
  ],
  [
    'doors: a vector known not to be of length 1 from its digits is scaled',
    'src/doors/hf-protocol.ts',
    '(embedding.unit ?? surelyUnitLength(embedding.json))',
    '(embedding.unit !== undefined || surelyUnitLength(embedding.json))',
    'http/hf-door',
    "TEI /embed's normalize and dimensions",
  ],
  [
    'doors: a vector shorter than 1 is not taken for a unit vector',
    'src/services/vector-text.ts',
    'out.unit = plain && low >= 1 - UNIT_TOLERANCE + MARGIN && high <= 1 + UNIT_TOLERANCE - MARGIN;',
    'out.unit = plain && high <= 1 + UNIT_TOLERANCE - MARGIN;',
    'http/hf-door',
    "TEI /embed's normalize and dimensions",
  ],
  [
    'doors: digits beyond those read widen the bound of a length',
    'src/services/vector-text.ts',
    'above = below + 1 / scale;',
    'above = below + 0 / scale;',
    'unit/services/vector-text',
    'near the tolerance',
  ],
  [
    'doors: a whole TGI answer carries the details asked',
    'src/doors/hf-protocol.ts',
    '    if (details) {',
    '    if (details && stream) {',
    'http/hf-door',
    "Dify's huggingface_hub provider",
  ],
  [
    'traffic history: no bound on endpoints',
    'src/traffic-history.ts',
    'if (this.series.size >= this.options.maxEndpoints) {',
    'if (this.series.size >= this.options.maxEndpoints + 1000) {',
    'http/traffic-history',
    'many endpoints',
  ],
  [
    'traffic history: idle endpoints kept',
    'src/traffic-history.ts',
    'if (ended - s.lastActive >= this.options.samples) {',
    'if (ended - s.lastActive >= this.options.samples * 100) {',
    'http/traffic-history',
    'many endpoints',
  ],
  [
    'live state: let go before the rate limit would grant again',
    'src/tasks/runner.ts',
    'const idleFor = Math.max(this.idleMs, intervalMs(live.endpoint.dispatch.requestsPerMinute));',
    'const idleFor = this.idleMs + 0 * intervalMs(1);',
    'http/idle-endpoints',
    'rate limit would grant',
  ],
  [
    'live state: let go while a request is out',
    'src/tasks/runner.ts',
    'if (live.users === 0 && now - live.lastUsed >= idleFor && live.task.idle(live.state))',
    'if (now - live.lastUsed >= idleFor)',
    'http/idle-endpoints',
    'in flight longer',
  ],
  [
    'listing: a view kept after its endpoint changed',
    'src/endpoints/registry.ts',
    'else this.viewTexts.delete(change.inferenceId);',
    'else void change.inferenceId;',
    'http/scale',
    'the listing follows',
  ],
  [
    'metrics: a kept scrape sent after a new record',
    'src/metrics-telemetry.ts',
    '    f.version++;\n    this.changes++;\n  }',
    '    f.version++;\n  }',
    'http/operator',
    'a scrape sent again unchanged',
  ],
  [
    'streams: chunk size in characters',
    'plugins/elasticsearch-http.ts',
    '${Buffer.byteLength(text).toString(16)}',
    '${text.length.toString(16)}',
    'http/streaming',
    'each event is one HTTP/1.1 chunk',
  ],
  [
    'streams: upstream cut at [DONE]',
    'src/services/hugging-face/generation-wire.ts',
    'if (reader.doneSeen) void reader.drain(DRAIN_MS)',
    'if (false) void reader.drain(DRAIN_MS)',
    'http/streaming',
    'give their upstream connection back',
  ],
  [
    'streams: the body ended twice',
    'plugins/elasticsearch-http.ts',
    'res.chunkedEncoding = false;\n      res.end();',
    'res.end();',
    'http/streaming',
    'each event is one HTTP/1.1 chunk',
  ],
  [
    'streams: the first text not framed',
    'plugins/elasticsearch-http.ts',
    'const written = res.write(chunkOf(text));',
    'const written = res.write(text);',
    'http/streaming',
    'each event is one HTTP/1.1 chunk',
  ],
  [
    'streams: a waiting answer not chunked after its first text',
    'plugins/elasticsearch-http.ts',
    'res.chunkedEncoding = true;',
    '',
    'http/streaming',
    'answered whole, in order',
  ],
  [
    'streams: the last text without its chunk size',
    'plugins/elasticsearch-http.ts',
    "to.write(`${last === '' ? '' : chunkOf(last)}0\\r\\n\\r\\n`);",
    'to.write(`${last}\\r\\n0\\r\\n\\r\\n`);',
    'http/streaming',
    'each event is one HTTP/1.1 chunk',
  ],
  [
    'streams: the slot handed over before undici frees the connection',
    'src/services/upstream/http-transport.ts',
    'void Promise.resolve().then(() => setImmediate(this.close));',
    'this.close();',
    'http/streaming',
    'takes the connection of the stream it waited for',
  ],
  [
    'install: better-sqlite3 not approved',
    'package.json',
    '"better-sqlite3": true',
    '"better-sqlite3": false',
    'deploy/install',
    'approved in allowScripts',
  ],
];

// --check: only confirm that each entry's code is still in its file exactly once (npm run lint runs it, so a
// formatter or a refactoring that moves the code cannot silently turn an entry into a skip).
if (process.argv.includes('--check')) {
  const stale = MUTATIONS.filter(
    ([, file, from]) => fs.readFileSync(path.join(root, file), 'utf8').split(from).length !== 2,
  );
  for (const [name, file] of stale) console.error(`mutation '${name}': its code is not in ${file} exactly once`);
  if (stale.length > 0) process.exit(1);
  console.log(`mutations: ${MUTATIONS.length} entries, each one's code found once`);
  process.exit(0);
}

const only = process.argv.slice(2);
const build = () => spawnSync('npm', ['run', 'build', '--silent'], { cwd: root, encoding: 'utf8' });
let escaped = 0;
for (const [name, file, from, to, test, grep] of MUTATIONS) {
  if (only.length > 0 && !only.some((word) => name.includes(word))) continue;
  const full = path.join(root, file);
  const original = fs.readFileSync(full, 'utf8');
  if (original.split(from).length !== 2) {
    console.log(`SKIPPED  ${name}: the code to break is no longer in ${file} exactly once; update this entry`);
    escaped++;
    continue;
  }
  fs.writeFileSync(full, original.replace(from, to));
  try {
    const built = build();
    if (built.status !== 0) {
      console.log(`SKIPPED  ${name}: the broken code does not compile\n${built.stdout}`);
      escaped++;
      continue;
    }
    const escapedGrep = grep.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const started = Date.now();
    const run = spawnSync('npx', ['tap', `dist/test/${test}.test.js`, `--grep=${escapedGrep}`, '--timeout=240'], {
      cwd: root,
      encoding: 'utf8',
    });
    const failures = run.stdout
      .split('\n')
      .filter((l) => /^\s+not ok \d+ - /.test(l) && !l.includes(' # time='))
      .map((l) => l.trim());
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    if (run.status !== 0)
      console.log(
        `caught   ${name}: ${test}.test "${grep}" failed in ${seconds} s (${failures.slice(0, 2).join('; ')})`,
      );
    else {
      console.log(`ESCAPED  ${name}: ${test}.test "${grep}" still passes`);
      escaped++;
    }
  } finally {
    fs.writeFileSync(full, original);
  }
}
build();
console.log(escaped === 0 ? 'every mutation was caught' : `${escaped} mutation(s) not caught or not applied`);
process.exitCode = escaped === 0 ? 0 : 1;

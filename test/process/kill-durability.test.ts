// kill -9 at random moments under PUT/_update/DELETE traffic: every acknowledged write survives, nothing half-written
// appears.
import path from 'node:path';
import Database from 'better-sqlite3';
import t from 'tap';
import { API_KEY } from '../helpers/app-harness.js';
import { closedPort } from '../helpers/network.js';
import { startServer } from '../helpers/process.js';

const ROUNDS = 10;
const WORKERS = 8;

/** What is known of one endpoint: its last acknowledged state, and the one write in flight (if any). */
interface Known {
  acked: { exists: boolean; rpm?: number };
  pending?: { kind: 'put' | 'update' | 'delete'; rpm?: number };
}

function random(seed: number) {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32;
}

t.test(`${ROUNDS} rounds of writes killed by SIGKILL at random moments`, async (t) => {
  const dataDir = t.testdir();
  const known = new Map<string, Known>();
  const rnd = random(7);
  let nextId = 0;
  let acknowledged = 0;
  let interrupted = 0;
  // Never called (no create-time call): an address literal, so the server looks up no name either.
  const url = `http://127.0.0.1:${await closedPort()}/embed`;

  for (let round = 0; round < ROUNDS; round++) {
    const server = await startServer(t, { DATA_DIR: dataDir });
    let stop = false;
    const send = (method: string, url: string, body?: unknown) =>
      fetch(`${server.url}${url}`, {
        method,
        headers: { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });

    const worker = async () => {
      while (!stop) {
        const idle = [...known.entries()].filter(([, k]) => !k.pending && k.acked.exists);
        const choice = rnd();
        let id: string;
        let op: NonNullable<Known['pending']>;
        if (idle.length < 5 || choice < 0.4) {
          id = `e${nextId++}`;
          op = { kind: 'put', rpm: 1 + Math.floor(rnd() * 1e6) };
          known.set(id, { acked: { exists: false }, pending: op });
        } else {
          const [pick, k] = idle[Math.floor(rnd() * idle.length)]!;
          id = pick;
          op = choice < 0.8 ? { kind: 'update', rpm: 1 + Math.floor(rnd() * 1e6) } : { kind: 'delete' };
          k.pending = op;
        }
        const entry = known.get(id)!;
        try {
          const res =
            op.kind === 'put'
              ? await send('PUT', `/_inference/text_embedding/${id}`, {
                  service: 'hugging_face',
                  service_settings: { api_key: API_KEY, url, rate_limit: { requests_per_minute: op.rpm } },
                })
              : op.kind === 'update'
                ? await send('PUT', `/_inference/${id}/_update`, {
                    service_settings: { rate_limit: { requests_per_minute: op.rpm } },
                  })
                : await send('DELETE', `/_inference/${id}`);
          await res.text();
          if (res.status !== 200) throw new Error(`${op.kind} ${id} answered ${res.status}`);
          entry.acked = op.kind === 'delete' ? { exists: false } : { exists: true, rpm: op.rpm };
          entry.pending = undefined;
          acknowledged++;
        } catch (err) {
          // The connection died with the process: the outcome of this write is unknown.
          if (!stop) throw err;
          return;
        }
      }
    };
    const workers = Array.from({ length: WORKERS }, worker);
    await new Promise((r) => setTimeout(r, 100 + Math.floor(rnd() * 400)));
    stop = true;
    server.child.kill('SIGKILL');
    await server.exited;
    await Promise.allSettled(workers);
    interrupted += [...known.values()].filter((k) => k.pending).length;

    // Restart and compare what is stored with what was acknowledged.
    const after = await startServer(t, { DATA_DIR: dataDir });
    const listed = (await (await fetch(`${after.url}/_inference`)).json()) as {
      endpoints: Array<{ inference_id: string; service_settings: { rate_limit: { requests_per_minute: number } } }>;
    };
    const stored = new Map(
      listed.endpoints.map((e) => [e.inference_id, e.service_settings.rate_limit.requests_per_minute]),
    );
    let mismatches = 0;
    for (const [id, k] of known) {
      const allowed: Array<number | undefined> = [k.acked.exists ? k.acked.rpm : undefined];
      if (k.pending?.kind === 'put' || k.pending?.kind === 'update') allowed.push(k.pending.rpm);
      if (k.pending?.kind === 'delete') allowed.push(undefined);
      if (!allowed.includes(stored.get(id))) mismatches++;
      // Settle what happened, for the next round.
      const rpm = stored.get(id);
      k.acked = rpm === undefined ? { exists: false } : { exists: true, rpm };
      k.pending = undefined;
    }
    const unknownIds = [...stored.keys()].filter((id) => !known.has(id));
    t.equal(mismatches, 0, `round ${round}: every endpoint matches an acknowledged (or in-flight) state`);
    t.strictSame(unknownIds, [], `round ${round}: nothing appeared from nowhere`);
    // The secrets still decrypt: an update re-seals them.
    const someone = [...stored.keys()][0];
    if (someone) {
      const res = await fetch(`${after.url}/_inference/${someone}/_update`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ service_settings: { api_key: 'hf_after_restart_123456' } }),
      });
      t.equal(res.status, 200, `round ${round}: secrets decrypt after the kill`);
    }
    after.child.kill('SIGTERM');
    t.equal((await after.exited).code, 0);
  }
  t.ok(acknowledged > ROUNDS * 5, `${acknowledged} acknowledged writes`);
  t.comment(`${acknowledged} acknowledged writes, ${interrupted} writes cut off by a kill`);
  const db = new Database(path.join(dataDir, 'inference.db'), { readonly: true });
  t.equal(db.pragma('integrity_check', { simple: true }), 'ok');
  db.close();
});

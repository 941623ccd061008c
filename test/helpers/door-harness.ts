// What the door tests share: a service listening on 127.0.0.1 with a Hugging Face upstream and an LLM upstream beside
// it, and a way to create an endpoint on either through `_inference`.
import type { AddressInfo } from 'node:net';
import { API_KEY, startApp, type Tap } from './app-harness.js';
import { FakeHuggingFace } from './fake-hf.js';
import { FakeLlm } from './fake-llm.js';

export async function startDoors(t: Tap, env: Record<string, string> = {}, dataDir = t.testdir()) {
  const hf = await new FakeHuggingFace().start();
  const llm = await new FakeLlm().start();
  t.teardown(() => hf.close());
  t.teardown(() => llm.close());
  const s = await startApp(t, env, dataDir);
  await s.app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(s.app.server.address() as AddressInfo).port}`;
  /** Creates an endpoint (throws unless it is created), with `headers` for a service that asks for a key. */
  const put = async (taskType: string, id: string, url: string, headers: Record<string, string> = {}) => {
    const res = await s.request(
      'PUT',
      `/_inference/${taskType}/${id}`,
      { service: 'hugging_face', service_settings: { api_key: API_KEY, url } },
      headers,
    );
    if (res.status !== 200) throw new Error(`PUT ${id}: ${res.body}`);
  };
  return { s, hf, llm, base, put };
}

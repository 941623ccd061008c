// Benchmark child: the fast test upstream, 384-dimension vectors, TEI's batch limit of 32.
import { FakeHuggingFace } from '../test/helpers/fake-hf.js';
import { serveParent } from './children.js';

const hf = new FakeHuggingFace();
hf.dims = 384;
hf.maxBatch = 32;
hf.recordBodies = false;
await hf.start();
serveParent({
  reset: () => {
    hf.received.length = 0;
    return true;
  },
  delay: (ms) => {
    hf.delayMs = Number(ms);
    return true;
  },
  stats: () => ({ requests: hf.received.length, texts: hf.received.reduce((n, r) => n + r.inputCount, 0) }),
  times: () => hf.received.map((r) => r.at),
});
process.send?.({ ready: hf.url });

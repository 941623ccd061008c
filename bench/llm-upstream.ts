// Benchmark child: the text generation test upstream (OpenAI-compatible chat streams), answering as fast as it can.
import { FakeLlm } from '../test/helpers/fake-llm.js';
import { serveParent } from './children.js';

const llm = new FakeLlm();
llm.record = false;
llm.style = 'vllm';
let tokens = 20;
llm.reply = () => Array.from({ length: tokens }, (_, i) => ` t${i}`);
await llm.start();
serveParent({
  shape: (arg) => {
    const { tokenDelayMs, count } = arg as { tokenDelayMs: number; count: number };
    llm.tokenDelayMs = tokenDelayMs;
    tokens = count;
    return true;
  },
  stats: () => ({ requests: llm.received.length, peakOpen: llm.peakOpen }),
  reset: () => {
    llm.received.length = 0;
    llm.peakOpen = llm.open;
    return true;
  },
});
process.send?.({ ready: llm.url });

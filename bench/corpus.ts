// Deterministic English-like text for benchmarks: sentences, commas, quotes, numbers and paragraphs.

const WORDS = (
  'the of and to in is that for it as was with be by on not he this are or his from at which but have an they you were ' +
  'her she there one all we their been has when who will more no if out so said what up its about than into them can ' +
  'only other new some could time these two may then do first any my now such like our over man me even most made after ' +
  'also did many before must through back years where much your way well down should because each just those people how ' +
  'too little state good very make world still own see men work long get here between both life being under never day same ' +
  'another know while last might us great old year off come since against go came right used take three search engine ' +
  'index document vector embedding semantic retrieval model inference endpoint chunk sentence token latency throughput'
).split(' ');

/** A fixed-seed generator, so every run measures the same text. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function englishText(chars: number, seed = 42): string {
  const rnd = random(seed);
  const pick = () => WORDS[Math.floor(rnd() * WORDS.length)]!;
  const parts: string[] = [];
  let length = 0;
  let sentences = 0;
  while (length < chars) {
    const n = 5 + Math.floor(rnd() * 25);
    const words: string[] = [];
    for (let i = 0; i < n; i++) {
      let w = pick();
      if (i === 0) w = w[0]!.toUpperCase() + w.slice(1);
      const r = rnd();
      if (r < 0.02) w = String(Math.floor(rnd() * 10000));
      else if (r < 0.03) w = `"${w}"`;
      else if (r < 0.04) w = `${w}'s`;
      if (i < n - 1 && rnd() < 0.08) w += ',';
      words.push(w);
    }
    const end = rnd() < 0.9 ? '.' : rnd() < 0.5 ? '?' : '!';
    const sentence = words.join(' ') + end + (++sentences % 6 === 0 ? '\n\n' : ' ');
    parts.push(sentence);
    length += sentence.length;
  }
  return parts.join('').slice(0, chars);
}

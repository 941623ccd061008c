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

/**
 * Chinese-like text: runs of CJK ideographs with ideographic punctuation and no spaces, the
 * script whose words the segmenter finds through ICU in bounded windows (the slow path).
 */
export function cjkText(chars: number, seed = 7): string {
  const rnd = random(seed);
  const out: string[] = [];
  let length = 0;
  while (length < chars) {
    const n = 8 + Math.floor(rnd() * 30);
    let sentence = '';
    for (let i = 0; i < n; i++) sentence += String.fromCharCode(0x4e00 + Math.floor(rnd() * 2000));
    sentence += rnd() < 0.8 ? '。' : '，';
    out.push(sentence);
    length += sentence.length;
  }
  return out.join('').slice(0, chars);
}

/** English sentences interleaved with CJK, Cyrillic, Arabic and emoji: scripts switching inside paragraphs. */
export function mixedText(chars: number, seed = 11): string {
  const rnd = random(seed);
  const english = englishText(chars, seed);
  const cjk = cjkText(chars, seed);
  const others = [
    'Привет мир, это тест. ',
    'مرحبا بالعالم، هذا اختبار. ',
    'Emoji 😀👍🏽 inside text. ',
    'Ünïcödé ñ ç ß. ',
  ];
  const out: string[] = [];
  let length = 0;
  let e = 0;
  let c = 0;
  while (length < chars) {
    const r = rnd();
    let piece: string;
    if (r < 0.5) {
      piece = english.slice(e, e + 120);
      e = (e + 120) % Math.max(1, english.length - 120);
    } else if (r < 0.8) {
      piece = cjk.slice(c, c + 40);
      c = (c + 40) % Math.max(1, cjk.length - 40);
    } else {
      piece = others[Math.floor(rnd() * others.length)]!;
    }
    out.push(piece);
    length += piece.length;
  }
  return out.join('').slice(0, chars);
}

// The segmenter on every script beyond Latin, Greek and Cyrillic: the same words and sentences as Intl.Segmenter, whether a script
// goes through the linear scanner (no dictionary) or through Intl.Segmenter in windows (Chinese, Japanese, Thai, …).
import t from 'tap';
import { chunkText } from '../../../src/chunking/chunker.js';
import { findSentenceEnds, findWords, WINDOW } from '../../../src/chunking/segmenter.js';

const wordSegmenter = new Intl.Segmenter(undefined, { granularity: 'word' });
const sentenceSegmenter = new Intl.Segmenter(undefined, { granularity: 'sentence' });
/** Word-like segments as [start, end) pairs: the boundaries and isWordLike of Intl.Segmenter on the whole string. */
const icuWords = (s: string) =>
  [...wordSegmenter.segment(s)].filter((x) => x.isWordLike).map((x) => [x.index, x.index + x.segment.length]);
const icuSentenceEnds = (s: string) => [...sentenceSegmenter.segment(s)].map((x) => x.index + x.segment.length);
const ourWords = (s: string) => {
  const w = findWords(s);
  return Array.from(w.starts, (start, i) => [start, w.ends[i]!]);
};
const same = (s: string) => JSON.stringify(ourWords(s)) === JSON.stringify(icuWords(s));

function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
}

t.test('every BMP character in the context of each word rule', async (t) => {
  // The character (#) next to letters of several scripts, digits, the characters between them,
  // connector punctuation, marks, Hebrew quotes and Hangul syllables. Contexts are joined by
  // spaces (no rule crosses one) so that one Intl.Segmenter call checks many of them.
  const templates = [
    'ab#cd',
    '12#34',
    'a#1',
    '1#a',
    '##',
    '#',
    'a#',
    '#a',
    '_#_',
    'א#ב',
    'א#',
    '#א',
    'א#1',
    '한#한',
    '#한',
    '한#',
    "a#'b",
    'a\u0301#',
    '#\u0301',
    '#\u0301a',
    '1#\u0301',
    'a.#',
    '#.a',
    '1,#',
    '#,1',
    "#'",
    '#"א',
    'א"#',
    '#_',
    '_#',
    'ب#ت',
    '١#٢',
  ].join(' ');
  const failures: string[] = [];
  let batch = '';
  let batchCodes: number[] = [];
  const check = () => {
    if (!same(batch)) {
      for (const cp of batchCodes) {
        const one = templates.replaceAll('#', String.fromCharCode(cp));
        if (!same(one)) failures.push(cp.toString(16));
      }
    }
    batch = '';
    batchCodes = [];
  };
  for (let cp = 0; cp < 0x10000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    batch += templates.replaceAll('#', String.fromCharCode(cp)) + ' ';
    batchCodes.push(cp);
    if (batchCodes.length === 8) check();
  }
  check();
  t.strictSame(failures, [], 'code points whose words differ from Intl.Segmenter');
});

t.test('every BMP character in the context of each sentence rule', async (t) => {
  // Contexts joined by line breaks, after which every sentence starts afresh (SB4).
  const templates = [
    'x.#A',
    'x. #A',
    'x.#a',
    'x. #a',
    'x!#A',
    'x! #a',
    'A#B',
    'a#b',
    'a.#.B',
    'Ab.#) Cd',
    'x#. Y',
    'X#.Y',
    'x.#1',
    'x. # 1 b',
    'x#',
    '#',
    'a. #\u0301 B',
    'a.\u0301# B',
    'ب#. ت',
    'ب. #ت',
    'x. ب# a',
    '日#本。',
    '。#a',
  ].join('\n');
  const same = (s: string) => JSON.stringify(Array.from(findSentenceEnds(s))) === JSON.stringify(icuSentenceEnds(s));
  const failures: string[] = [];
  let batch = '';
  let batchCodes: number[] = [];
  const check = () => {
    if (!same(batch)) {
      for (const cp of batchCodes)
        if (!same(templates.replaceAll('#', String.fromCharCode(cp)))) failures.push(cp.toString(16));
    }
    batch = '';
    batchCodes = [];
  };
  for (let cp = 0; cp < 0x10000; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    batch += templates.replaceAll('#', String.fromCharCode(cp)) + '\n';
    batchCodes.push(cp);
    if (batchCodes.length === 8) check();
  }
  check();
  t.strictSame(failures, [], 'code points whose sentences differ from Intl.Segmenter');
});

/** Letters of the scripts without a dictionary, with their marks, digits and punctuation. */
const LETTERS = [
  'ابپتثجچحخدذرزژسشصضطظعغفقکگلمنوهیءآأؤإئة', // Arabic and Persian
  'אבגדהוזחטיכךלמםנןסעפףצץקרשת', // Hebrew
  'कखगघचछजझटठडढतथदधनपफबभमयरलवशसहअआइ', // Devanagari
  'অআইউকখগঘচছজটডতদনপবমযরলসহ', // Bengali
  'ਕਖਗਘਚਛਜਟਡਤਦਨਪਬਮਰਲਸ', // Gurmukhi
  'கஙசஞடணதநபமயரலவழளறன', // Tamil
  'అఆఇకఖగచజటడతదనపమరలవస', // Telugu
  'ಕಖಗಚಜಟಡತದನಪಮರಲವಸ', // Kannada
  'കഖഗചജടഡതദനപമരലവസ', // Malayalam
  'කඛගචජටඩතදනපමරලවස', // Sinhala
  'ԱԲԳԴԵԶաբգդեզէըթ', // Armenian
  'აბგდევზთიკლმნოპ', // Georgian
  'ሀለሐመሠረሰሸቀበተቸኀነአከወዐዘየደገጠጰጸፀፈፐ', // Ethiopic
  '한국어문장글자사람', // Hangul syllables
  'ᄀᄁ나ᅢᆨ', // Hangul jamo
  'ހށނރބޅކއ', // Thaana
  'ܐܒܓܕܗܘܙܚ', // Syriac
  'abcdefXYZéß', // Latin
  'αβγΔΛ', // Greek
  'жзиЖЗ', // Cyrillic
];
const MARKS = [
  '\u064b', // Arabic fathatan
  '\u064e',
  '\u0650',
  '\u0651', // shadda
  '\u0652',
  '\u0670',
  '\u0640', // tatweel
  '\u200c', // zero width non-joiner, common in Persian
  '\u200d', // zero width joiner
  '\u093e', // Devanagari vowel sign (spacing)
  '\u094d', // virama
  '\u0901',
  '\u0902',
  '\u09be',
  '\u0bcd',
  '\u05b0', // Hebrew points
  '\u05b4',
  '\u05bc',
  '\u0301',
  '\u00ad', // soft hyphen (Format)
  '\u200b',
  '\u0711', // Syriac superscript alaph
  '\u07a6', // Thaana vowel
  '\u135f', // Ethiopic combining mark
];
const OTHERS = [
  ...'"\'.,:;_-!?()«»',
  '\u05f3', // geresh
  '\u05f4', // gershayim
  '\u05be', // maqaf
  ...'٠١٢٣٤٥٦٧٨٩', // Arabic-Indic digits
  '\u066b', // Arabic decimal separator
  '\u066c', // Arabic thousands separator
  '\u060c', // Arabic comma
  '\u061b',
  '\u061f',
  '\u06d4',
  ...'۰۱۲۳۴', // extended Arabic-Indic (Persian) digits
  '\u0600', // Arabic number sign
  '\u06dd',
  ...'०१२३', // Devanagari digits
  '\u0964', // danda
  '\u0965',
  '\u0589', // Armenian full stop
  '\u055a',
  '\u055d',
  '\u055e',
  '\u1361', // Ethiopic wordspace
  '\u1362',
  '\u1369',
  '0',
  '1',
  '9',
  ' ',
  ' ',
  ' ',
  '\n',
  '\r',
  '\u00a0',
  '\u202f', // narrow no-break space (ExtendNumLet)
  '\u203f',
  '\u2019',
  '\u2018',
  '\u2024',
  '\u00b7',
  '\u0387',
  '\ufe50',
  '\ufe52',
  '\uff0c',
  '\ufdf2', // Arabic ligature Allah
  '\ufb50',
  '\ufe8e',
  '\u2028',
  '日',
  '本',
  'の',
  'カ',
  'ー',
  'ไ',
  '😀',
  '🇮🇷',
  '\u{1F3FD}',
];

/** Seeded random text of the given length mixing those letters with marks, digits, punctuation, spaces and a few dictionary-script characters. */
function mixedScripts(seed: number, length: number): string {
  const rnd = random(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
  let out = '';
  let script = pick(LETTERS);
  while (out.length < length) {
    const r = rnd();
    if (r < 0.05) script = pick(LETTERS);
    if (r < 0.6) out += pick([...script]);
    else if (r < 0.75) out += pick(MARKS);
    else out += pick(OTHERS);
  }
  return out;
}

t.test('generated text mixing scripts, marks, digits and punctuation: the same words as Intl.Segmenter', async (t) => {
  const failures: string[] = [];
  for (let seed = 1; seed <= 6000; seed++) {
    const s = mixedScripts(seed, 1 + (seed % 60));
    if (!same(s)) failures.push(JSON.stringify(s));
    if (JSON.stringify(Array.from(findSentenceEnds(s))) !== JSON.stringify(icuSentenceEnds(s)))
      failures.push(`sentences of ${JSON.stringify(s)}`);
  }
  t.strictSame(failures.slice(0, 10), [], 'short strings');
  for (let seed = 1; seed <= 6; seed++) {
    const s = mixedScripts(seed * 7919, WINDOW * 2);
    t.strictSame(ourWords(s), icuWords(s), `${s.length} characters`);
    t.strictSame(Array.from(findSentenceEnds(s)), icuSentenceEnds(s), `sentences of ${s.length} characters`);
  }
});

t.test('the rules ICU applies to these scripts, one by one', async (t) => {
  const words = (s: string) => ourWords(s).map(([a, b]) => s.slice(a, b));
  t.strictSame(words('می‌خواهم بروم'), ['می‌خواهم', 'بروم'], 'a ZWNJ stays inside a Persian word');
  t.strictSame(words('مـــن'), ['مـــن'], 'tatweel is inside the word');
  t.strictSame(words('۱۲۳٫۴۵ و ۱٬۰۰۰'), ['۱۲۳٫۴۵', 'و', '۱٬۰۰۰'], 'Arabic decimal and thousands separators');
  t.strictSame(words('צה"ל ו־ד\' אחר'), ['צה"ל', 'ו', "ד'", 'אחר'], 'Hebrew gershayim (WB7b/c), maqaf, geresh (WB7a)');
  t.strictSame(words('नमस्ते दुनिया।'), ['नमस्ते', 'दुनिया'], 'Devanagari with virama and vowel signs');
  t.strictSame(words('한국어 문장abc 한_글'), ['한국어', '문장', 'abc', '한', '글'], 'Hangul joins only Hangul');
  t.strictSame(words('ሰላም፡ዓለም።'), ['ሰላም', 'ዓለም'], 'the Ethiopic wordspace separates words');
});

// The dictionary scripts, from words written for this test; long runs have no punctuation at all.
const DICTIONARY_WORDS: Record<string, string[]> = {
  zh: '我们 中国 人民 政府 经济 发展 社会 市场 技术 公司 国际 问题 工作 学习 研究 科学 文化 历史 世界 可以 没有 已经 因为 所以 但是 这个 自己 时候 现在 今天 北京 大学 学生 老师 朋友 医院 电脑 网络 数据 模型 语言 文本 搜索'.split(
    ' ',
  ),
  ja: 'これ それ わたし あなた 日本 東京 大学 学生 先生 会社 仕事 時間 今日 明日 食べる 飲む 見る 行く する です ます という できる ために コンピュータ データ モデル テキスト 検索 の は が を に で と から'.split(
    ' ',
  ),
  th: 'ภาษา ไทย เป็น ที่ ไม่ มี การ เว้น วรรค ระหว่าง คำ แต่ ประโยค คอมพิวเตอร์ ข้อมูล ค้นหา รัฐบาล ประเทศ นักเรียน โรงเรียน มหาวิทยาลัย วันนี้ สวัสดี ขอบคุณ'.split(
    ' ',
  ),
  km: 'ខ្ញុំ ស្រលាញ់ ប្រទេស កម្ពុជា ភាសា ខ្មែរ សាលា រៀន'.split(' '),
  lo: 'ພາສາ ລາວ ປະເທດ ຂອງ ພວກເຮົາ ສະບາຍດີ'.split(' '),
};

function dictionaryText(seed: number, words: readonly string[], length: number, punctuation: string): string {
  const rnd = random(seed);
  let out = '';
  while (out.length < length) {
    out += words[Math.floor(rnd() * words.length)];
    if (punctuation && rnd() < 0.06) out += punctuation[Math.floor(rnd() * punctuation.length)];
  }
  return out;
}

/** The word strategy's chunks written from a list of words (docs/chunking.md), for texts with more than `max` words. */
function expectedWordChunks(words: number[][], length: number, max: number, overlap: number): number[][] {
  const out: number[][] = [];
  let s = 0;
  while (words.length - s >= max) {
    out.push([s === 0 ? 0 : words[s - 1]![1]!, words[s + max - 1]![1]!]);
    s += max - overlap;
  }
  if (words.length - s > overlap) out.push([words[s - 1]![1]!, length]);
  return out;
}

t.test('dictionary scripts: windows cut where no word can cross give the words of the whole text', async (t) => {
  let seed = 1;
  for (const [script, words] of Object.entries(DICTIONARY_WORDS)) {
    for (const punctuation of ['', script === 'zh' || script === 'ja' ? '。、，！' : ' ']) {
      for (const length of [WINDOW + 700, WINDOW * 2 + 300]) {
        const text = dictionaryText(seed++, words, length, punctuation);
        const expected = icuWords(text);
        t.strictSame(
          ourWords(text),
          expected,
          `${script}, ${length} characters${punctuation ? '' : ', no punctuation'}`,
        );
        const chunks = chunkText(text, { strategy: 'word', max_chunk_size: 50, overlap: 10 });
        t.strictSame(
          chunks.map((c) => [c.start, c.end]),
          expectedWordChunks(expected, text.length, 50, 10),
          `${script}: the chunks of the whole text's words`,
        );
      }
    }
  }
});

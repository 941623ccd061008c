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

/** Words and sentence punctuation of each script the bench measures, written for it. */
const SCRIPTS: Record<string, { words: string; space: string; comma: string; stop: string }> = {
  zh: {
    words:
      '我们 中国 人民 政府 经济 发展 社会 市场 技术 公司 国际 问题 工作 学习 研究 科学 文化 历史 世界 可以 没有 已经 ' +
      '因为 所以 但是 这个 自己 时候 现在 今天 北京 大学 学生 老师 朋友 医院 电脑 网络 数据 模型 语言 文本 搜索 引擎 ' +
      '向量 检索 的 了 是 在 和 有 也 就 都 很 要 会 对 我 他 她 它 这 那 一个 用户 系统 服务 请求 结果',
    space: '',
    comma: '，',
    stop: '。',
  },
  ja: {
    words:
      'これ それ わたし あなた 日本 東京 大学 学生 先生 会社 仕事 時間 今日 明日 食べる 飲む 見る 行く する です ます ' +
      'という できる ために コンピュータ データ モデル テキスト 検索 エンジン ベクトル 文章 言語 処理 結果 の は が ' +
      'を に で と から まで も へ や',
    space: '',
    comma: '、',
    stop: '。',
  },
  fa: {
    words:
      'این یک متن فارسی است که برای آزمایش سرعت نوشته شده‌است ما می‌خواهیم ببینیم چقدر سریع کار می‌کند جستجو ' +
      'موتور سند بردار مدل زبان کتاب‌ها دانشگاه تهران ایران امروز فردا کار خانه شهر مردم دولت اقتصاد فرهنگ تاریخ ' +
      'جهان را به از با در و تا هم نیز می‌شود نمی‌دانم ۱۴۰۲ ۲۵',
    space: ' ',
    comma: '،',
    stop: '.',
  },
  hi: {
    words:
      'यह एक हिंदी पाठ है जो गति की जाँच के लिए लिखा गया है हम देखना चाहते हैं कि खोज इंजन कितना तेज़ काम करता ' +
      'दस्तावेज़ वेक्टर मॉडल भाषा किताब विश्वविद्यालय दिल्ली भारत आज कल काम घर शहर लोग सरकार अर्थव्यवस्था संस्कृति ' +
      'इतिहास दुनिया का की के में से पर और भी २०२४ १५',
    space: ' ',
    comma: ',',
    stop: '।',
  },
  ko: {
    words:
      '이것은 한국어 문장입니다 속도를 시험하기 위해 작성되었습니다 우리는 검색 엔진이 얼마나 빠른지 보고 싶습니다 ' +
      '문서 벡터 모델 언어 책 대학교 서울 한국 오늘 내일 일 집 도시 사람들 정부 경제 문화 역사 세계 그리고 하지만 ' +
      '또한 2024년 15개',
    space: ' ',
    comma: ',',
    stop: '.',
  },
  th: {
    words:
      'ภาษา ไทย เป็น ที่ ไม่ มี การ เว้น วรรค ระหว่าง คำ แต่ ประโยค คอมพิวเตอร์ ข้อมูล ค้นหา รัฐบาล ประเทศ ' +
      'นักเรียน โรงเรียน มหาวิทยาลัย วันนี้ สวัสดี ขอบคุณ เอกสาร แบบจำลอง ความเร็ว ทดสอบ เขียน และ หรือ ของ ใน',
    space: '',
    comma: ' ',
    stop: ' ',
  },
};

/** The languages `scriptText` writes. */
export const SCRIPT_LANGUAGES = Object.keys(SCRIPTS);

/**
 * Text in one of SCRIPT_LANGUAGES: sentences of 6 to 30 words from the script's list, with its
 * own spacing (none in Chinese, Japanese and within Thai phrases), commas and full stops.
 */
export function scriptText(language: string, chars: number, seed = 5): string {
  const script = SCRIPTS[language]!;
  const words = script.words.split(' ');
  const rnd = random(seed);
  const parts: string[] = [];
  let length = 0;
  let sentences = 0;
  while (length < chars) {
    const n = 6 + Math.floor(rnd() * 25);
    let sentence = '';
    for (let i = 0; i < n; i++) {
      sentence += words[Math.floor(rnd() * words.length)]!;
      sentence += i === n - 1 ? script.stop : rnd() < 0.1 ? script.comma + script.space : script.space;
    }
    if (script.stop !== ' ') sentence += ++sentences % 6 === 0 ? '\n\n' : script.space;
    parts.push(sentence);
    length += sentence.length;
  }
  return parts.join('').slice(0, chars);
}

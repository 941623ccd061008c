// The encodings in which a test upstream echoes the key it was sent, as a raw, JSON-escaped or percent-encoded string.

/** Every way a test writes a key back: how an upstream (or a proxy in front of it) may echo it. */
export const ENCODINGS: Record<string, (key: string) => string> = {
  raw: (key) => key,
  json: (key) => JSON.stringify(key).slice(1, -1),
  'json with \\/': (key) => JSON.stringify(key).slice(1, -1).replace(/\//g, '\\/'),
  'json \\uXXXX lower': (key) =>
    [...Array(key.length).keys()].map((i) => `\\u${key.charCodeAt(i).toString(16).padStart(4, '0')}`).join(''),
  'json \\uXXXX upper': (key) =>
    [...Array(key.length).keys()]
      .map((i) => `\\u${key.charCodeAt(i).toString(16).padStart(4, '0').toUpperCase()}`)
      .join(''),
  // Every other character escaped: mixed forms in one key.
  'json mixed': (key) =>
    [...key]
      .map((c, i) =>
        i % 2
          ? [...Array(c.length).keys()].map((j) => `\\u${c.charCodeAt(j).toString(16).padStart(4, '0')}`).join('')
          : JSON.stringify(c).slice(1, -1),
      )
      .join(''),
  percent: (key) => encodeURIComponent(key),
  'percent lower, every byte': (key) =>
    [...new TextEncoder().encode(key)].map((b) => `%${b.toString(16).padStart(2, '0')}`).join(''),
  'form (+ for space)': (key) => new URLSearchParams({ k: key }).toString().slice(2),
};

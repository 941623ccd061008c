// An incremental server-sent events parser: bytes in as they arrive, whole events out (WHATWG event-stream rules, linear in the input).
//
// What upstreams send and this accepts: `data:` with or without one space after the colon (TGI
// and axum write none), `:` comment lines (keep-alives), LF, CRLF or CR line ends split
// anywhere across reads, several `data:` lines joined by "\n", and UTF-8 characters split
// across reads. `event:` and `id:` are kept; `retry:` and unknown fields are ignored.

export interface SseEvent {
  /** The `event:` field; undefined when the event had none (the default, "message"). */
  event: string | undefined;
  data: string;
  id: string | undefined;
}

/** One event larger than this fails the stream: what is held per stream stays bounded whatever the upstream sends. */
export const MAX_EVENT_CHARS = 1024 * 1024;

export class SseTooLargeError extends Error {
  readonly code = 'SSE_EVENT_TOO_LARGE';
  constructor(limit: number) {
    super(`an event of the upstream stream is larger than ${limit} characters`);
  }
}

export class SseParser {
  private readonly decoder = new TextDecoder('utf-8');
  /** The end of a line not yet seen. */
  private partial = '';
  /** A CR ended the last read: an LF at the start of the next one belongs to it. */
  private afterCR = false;
  private data: string[] = [];
  private dataChars = 0;
  private event: string | undefined;
  private id: string | undefined;

  constructor(private readonly maxEventChars = MAX_EVENT_CHARS) {}

  /** Parses the next bytes; answers the events they complete, in order. */
  push(bytes: Uint8Array | string): SseEvent[] {
    const text = typeof bytes === 'string' ? bytes : this.decoder.decode(bytes, { stream: true });
    const out: SseEvent[] = [];
    let start = 0;
    if (this.afterCR && text.charCodeAt(0) === 10) start = 1;
    this.afterCR = false;
    for (let i = start; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c !== 10 && c !== 13) continue;
      const line = this.partial === '' ? text.slice(start, i) : this.partial + text.slice(start, i);
      this.partial = '';
      this.line(line, out);
      if (c === 13) {
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
        } else {
          this.afterCR = true;
        }
      }
      start = i + 1;
    }
    if (start < text.length) {
      this.partial += text.slice(start);
      if (this.partial.length + this.dataChars > this.maxEventChars) throw new SseTooLargeError(this.maxEventChars);
    }
    return out;
  }

  /**
   * The stream ended: an event whose blank line never came is still delivered (a lenient reading
   * of the standard, which drops it: some servers end with `data: [DONE]` and no blank line).
   */
  end(): SseEvent[] {
    const out: SseEvent[] = [];
    const rest = this.decoder.decode();
    if (rest) out.push(...this.push(rest));
    if (this.partial !== '') {
      const line = this.partial;
      this.partial = '';
      this.line(line, out);
    }
    this.line('', out);
    return out;
  }

  private line(line: string, out: SseEvent[]): void {
    if (line === '') {
      if (this.data.length > 0) out.push({ event: this.event, data: this.data.length === 1 ? this.data[0]! : this.data.join('\n'), id: this.id });
      this.data = [];
      this.dataChars = 0;
      this.event = undefined;
      return;
    }
    if (line.charCodeAt(0) === 58) return; // ':' a comment
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.charCodeAt(0) === 32) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataChars += value.length + 1;
        if (this.dataChars > this.maxEventChars) throw new SseTooLargeError(this.maxEventChars);
        this.data.push(value);
        break;
      case 'event':
        this.event = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.id = value;
        break;
      default:
        // retry: and unknown fields mean nothing to a proxy
        break;
    }
  }
}

/** `[DONE]`, OpenAI's end of stream, however it is spaced. */
export const isDone = (data: string): boolean => data.trim() === '[DONE]';

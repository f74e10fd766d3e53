// Turning generated tokens into text as they arrive. Two things make that more than decoding each token:
// - A byte-level BPE token can end in the middle of a UTF-8 character (an emoji is often 2-3 tokens), so
//   text is released only once it does not end in an incomplete character (U+FFFD from the decoder).
// - With stop strings, text that may be the start of one is held back until the next tokens decide.
// Decoding re-reads a small window starting one token before the unreleased ones, so tokenizers whose
// decode depends on the neighbour (word-level puts spaces between words) come out right too.
import type { Tokenizer } from '../tokenizers/tokenizer.js';

const REPLACEMENT_CHARACTER = '\uFFFD';

export class TextStream {
  /** Everything released so far. */
  text = '';
  /** A stop string was found: `text` ends just before it and nothing more is released. */
  stopped = false;
  private window: number[];
  /** window[0..released) is already in `text` (or held in `pending`); it is kept as decoding context. */
  private released: number;
  /** Decoded text held back because it may begin a stop string. */
  private pending = '';

  /** `context`: tokens before the first pushed one (e.g. the prompt's last token), decoded only as context. */
  constructor(private readonly tokenizer: Tokenizer, private readonly stop: readonly string[] = [], context: readonly number[] = []) {
    for (const s of stop) if (s === '') throw new RangeError('stop strings must not be empty');
    this.window = context.slice(-1);
    this.released = this.window.length;
  }

  /** Adds one token; returns the text it makes safe to show ('' while held back or after a stop). */
  push(token: number): string {
    if (this.stopped) return '';
    this.window.push(token);
    const before = this.tokenizer.decode(this.window.slice(0, this.released));
    const now = this.tokenizer.decode(this.window);
    if (now.length <= before.length || now.endsWith(REPLACEMENT_CHARACTER)) return '';
    this.window = this.window.slice(this.released);
    this.released = this.window.length;
    return this.release(now.slice(before.length), false);
  }

  /** Ends the stream: releases whatever is held back (an unfinished character as U+FFFD). */
  finish(): string {
    if (this.stopped) return '';
    const before = this.tokenizer.decode(this.window.slice(0, this.released));
    const rest = this.tokenizer.decode(this.window).slice(before.length);
    this.window = [];
    this.released = 0;
    return this.release(rest, true);
  }

  private release(decoded: string, final: boolean): string {
    const text = this.pending + decoded;
    let cut = -1;
    for (const s of this.stop) {
      const at = text.indexOf(s);
      if (at >= 0 && (cut < 0 || at < cut)) cut = at;
    }
    if (cut >= 0) this.stopped = true;
    const hold = cut >= 0 || final ? 0 : longestStopPrefixSuffix(text, this.stop);
    const out = text.slice(0, cut >= 0 ? cut : text.length - hold);
    this.pending = text.slice(text.length - hold);
    this.text += out;
    return out;
  }
}

/** Length of the longest end of `text` that is a proper beginning of one of the stop strings. */
function longestStopPrefixSuffix(text: string, stop: readonly string[]): number {
  let best = 0;
  for (const s of stop) {
    for (let k = Math.min(s.length - 1, text.length); k > best; k--) {
      if (text.endsWith(s.slice(0, k))) {
        best = k;
        break;
      }
    }
  }
  return best;
}

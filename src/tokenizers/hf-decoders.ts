// tokenizer.json `decoder`: token strings back to text, each step a list-to-list map as in `tokenizers`.
import { UNICODE_TO_BYTE } from './byte-level-alphabet.js';
import { patternOf } from './hf-normalizers.js';
import { UnsupportedTokenizerError } from './hf-regex.js';

export type Decoder = (tokens: string[]) => string[];

export const DECODER_TYPES = ['Sequence', 'ByteLevel', 'ByteFallback', 'Fuse', 'Strip', 'Replace', 'Metaspace'];

const BYTE_TOKEN = /^<0x[0-9A-Fa-f]{2}>$/;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lossyUtf8 = new TextDecoder('utf-8', { ignoreBOM: true });

/** The decoder of a tokenizer.json; with none, `tokenizers` joins the tokens with spaces. */
export function parseDecoder(config: unknown, where = 'decoder'): Decoder | null {
  if (config === null || config === undefined) return null;
  const c = config as Record<string, unknown>;
  switch (c.type) {
    case 'Sequence': {
      if (!Array.isArray(c.decoders)) throw new Error(`${where}: Sequence needs a "decoders" list`);
      const steps = c.decoders.map((d, i) => parseDecoder(d, `${where}.decoders[${i}]`)).filter((s): s is Decoder => s !== null);
      return (tokens) => steps.reduce((t, step) => step(t), tokens);
    }
    case 'ByteLevel':
      return (tokens) => [lossyUtf8.decode(byteLevelBytes(tokens))];
    case 'ByteFallback':
      return byteFallback;
    case 'Fuse':
      return (tokens) => [tokens.join('')];
    case 'Strip': {
      const content = c.content;
      const start = Number(c.start ?? 0);
      const stop = Number(c.stop ?? 0);
      if (typeof content !== 'string' || [...content].length !== 1) throw new Error(`${where}: content must be one character, got ${JSON.stringify(content)}`);
      return (tokens) => tokens.map((token) => strip(token, content, start, stop));
    }
    case 'Replace': {
      const regex = patternOf(c.pattern, `${where}.pattern`);
      const content = c.content;
      if (typeof content !== 'string') throw new Error(`${where}: content must be a string`);
      return (tokens) => tokens.map((t) => t.replace(regex, () => content));
    }
    case 'Metaspace': {
      const replacement = c.replacement;
      if (typeof replacement !== 'string') throw new Error(`${where}: replacement must be a string`);
      const scheme = c.prepend_scheme ?? (c.add_prefix_space === false ? 'never' : 'always');
      // As in `tokenizers`, the first token loses every replacement character, not only a leading one.
      return (tokens) => tokens.map((token, i) => token.split(replacement).join(i === 0 && scheme !== 'never' ? '' : ' '));
    }
    default:
      throw new UnsupportedTokenizerError(`${where}: decoder type ${JSON.stringify(c.type)} is not supported (supported: ${DECODER_TYPES.join(', ')})`);
  }
}

/** Each token's characters as the bytes they stand for; a token with any other character keeps its UTF-8. */
function byteLevelBytes(tokens: readonly string[]): Uint8Array {
  const bytes: number[] = [];
  for (const token of tokens) {
    const mark = bytes.length;
    let mapped = true;
    for (const char of token) {
      const byte = UNICODE_TO_BYTE.get(char);
      if (byte === undefined) {
        mapped = false;
        break;
      }
      bytes.push(byte);
    }
    if (!mapped) {
      bytes.length = mark;
      for (const byte of Buffer.from(token, 'utf8')) bytes.push(byte);
    }
  }
  return Uint8Array.from(bytes);
}

/** Runs of <0xNN> tokens become the text of their bytes, or one U+FFFD per byte when not valid UTF-8. */
function byteFallback(tokens: string[]): string[] {
  const out: string[] = [];
  let pending: number[] = [];
  const flush = () => {
    if (pending.length === 0) return;
    try {
      out.push(strictUtf8.decode(Uint8Array.from(pending)));
    } catch {
      for (let i = 0; i < pending.length; i++) out.push('\uFFFD');
    }
    pending = [];
  };
  for (const token of tokens) {
    if (token.length === 6 && BYTE_TOKEN.test(token)) {
      pending.push(parseInt(token.slice(3, 5), 16));
    } else {
      flush();
      out.push(token);
    }
  }
  flush();
  return out;
}

/** Removes up to `start` leading and `stop` trailing copies of `content`. */
function strip(token: string, content: string, start: number, stop: number): string {
  const chars = [...token];
  let from = 0;
  while (from < Math.min(start, chars.length) && chars[from] === content) from++;
  let to = chars.length;
  while (chars.length - to < stop && to > from && chars[to - 1] === content) to--;
  return chars.slice(from, to).join('');
}

// Reading a tokenizer.json file. Its bulk is the BPE model's vocab (token -> id) and merges (pairs of
// tokens): 32 of Gemma 3's 33 MB. JSON.parse makes a string of every token, an object with 262K keys
// and 515K two-string arrays of them, only for the model to hash each string again; measured on a Xeon
// (2026-12-05, CPU time) that is ~290 ms for the vocab and ~720 ms for the merges, against ~20 ms for
// the remaining 1.2 MB. So those two sections are scanned here straight from the file's bytes into a
// VocabTable and a list of merge pairs, and JSON.parse reads the rest with the two cut out. The scanner
// takes the common shape only: whatever it does not take (escaped keys, duplicate keys, a merge token
// missing from the vocab, ids that are not plain integers, invalid UTF-8…) sends the whole file through
// JSON.parse instead, so results and error messages are JSON.parse's in every case.
import { readFileSync } from 'node:fs';
import { isUtf8 } from 'node:buffer';
import { readJsonObject } from '../io/json.js';
import { MergeListBuilder, type BpeTables } from './bpe-tables.js';
import { GrowableBytes, VocabBuilder, type VocabTable } from './vocab-table.js';

export interface TokenizerFile {
  /** The contents of tokenizer.json; when `bpe` is set, without model.vocab and model.merges (`{}` and `[]`). */
  tokenizer: Record<string, unknown>;
  /** model.vocab and model.merges, when the scanner read them. */
  bpe: BpeTables | null;
  /** The whole contents of tokenizer.json (parsed again when `bpe` is set: for saving, not for encoding). */
  whole(): Record<string, unknown>;
}

/** tokenizer.json's contents; throws `file: cannot read (…)`, `file: invalid JSON (…)` or `file: not a JSON object`. */
export function readTokenizerFile(file: string): TokenizerFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return parsedWhole(readJsonObject(file));
  }
  const scanned = isUtf8(bytes) ? scanBpeSections(bytes) : null;
  if (scanned === null) return parsedWhole(readJsonObject(file));
  return { ...scanned, whole: () => JSON.parse(bytes.toString('utf8')) as Record<string, unknown> };
}

function parsedWhole(tokenizer: Record<string, unknown>): TokenizerFile {
  return { tokenizer, bpe: null, whole: () => tokenizer };
}

/** Thrown inside the scanner when the file is not in the shape it takes (caught in scanBpeSections). */
class NotScanned extends Error {}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const SPACE = 0x20;

/** The tokenizer.json in `bytes` (valid UTF-8) with model.vocab and model.merges read apart, or null. */
export function scanBpeSections(bytes: Buffer): { tokenizer: Record<string, unknown>; bpe: BpeTables } | null {
  try {
    return new Scanner(bytes).scan();
  } catch (err) {
    if (err instanceof NotScanned) return null;
    throw err;
  }
}

class Scanner {
  private pos = 0;
  private vocabAt: [number, number] | null = null;
  private mergesAt: [number, number] | null = null;
  private modelSeen = false;
  private vocab: VocabTable | null = null;
  /** model.continuing_subword_prefix in UTF-8, once read (merges need it). */
  private prefix: Uint8Array | null = null;
  private tables: BpeTables | null = null;
  /** The unescaped bytes of the merge being read. */
  private readonly scratch = new GrowableBytes(256);

  constructor(private readonly b: Buffer) {}

  scan(): { tokenizer: Record<string, unknown>; bpe: BpeTables } | null {
    this.members(() => {
      const key = this.key();
      // JSON.parse keeps the last of duplicate keys: leave such a file to it.
      if (key === 'model' && this.modelSeen) throw new NotScanned();
      if (key === 'model' && this.b[this.pos] === OPEN_BRACE) {
        this.modelSeen = true;
        this.members(() => this.modelMember());
      } else {
        this.skipValue();
      }
    });
    this.space();
    if (this.pos !== this.b.length || this.vocabAt === null || this.mergesAt === null) return null;
    if (this.tables === null) {
      // merges came before vocab or continuing_subword_prefix in the file: read them now.
      this.prefix ??= new Uint8Array(0);
      this.pos = this.mergesAt[0];
      this.readMerges();
    }
    const cuts = [
      { at: this.vocabAt, empty: '{}' },
      { at: this.mergesAt, empty: '[]' },
    ].sort((x, y) => x.at[0] - y.at[0]);
    let rest = '';
    let from = 0;
    for (const { at, empty } of cuts) {
      rest += this.b.toString('utf8', from, at[0]) + empty;
      from = at[1];
    }
    rest += this.b.toString('utf8', from);
    let tokenizer: unknown;
    try {
      tokenizer = JSON.parse(rest);
    } catch {
      return null;
    }
    if (typeof tokenizer !== 'object' || tokenizer === null || Array.isArray(tokenizer)) return null;
    return { tokenizer: tokenizer as Record<string, unknown>, bpe: this.tables! };
  }

  private modelMember(): void {
    const key = this.key();
    const start = this.pos;
    if (key === 'vocab' && this.b[start] === OPEN_BRACE) {
      if (this.vocabAt !== null) throw new NotScanned();
      this.readVocab();
      this.vocabAt = [start, this.pos];
    } else if (key === 'merges' && this.b[start] === OPEN_BRACKET) {
      if (this.mergesAt !== null) throw new NotScanned();
      if (this.vocab !== null && this.prefix !== null) this.readMerges();
      else this.skipValue();
      this.mergesAt = [start, this.pos];
    } else if (key === 'continuing_subword_prefix') {
      if (this.prefix !== null) throw new NotScanned();
      this.skipValue();
      const prefix: unknown = JSON.parse(this.b.toString('utf8', start, this.pos));
      if (prefix !== null && typeof prefix !== 'string') throw new NotScanned();
      this.prefix = new TextEncoder().encode(prefix ?? '');
    } else {
      this.skipValue();
    }
  }

  /** The members of the object at pos: `member` is called at each key and must read key and value. */
  private members(member: () => void): void {
    this.space();
    this.expect(OPEN_BRACE);
    this.space();
    if (this.b[this.pos] === CLOSE_BRACE) {
      this.pos++;
      return;
    }
    for (;;) {
      this.space();
      member();
      this.space();
      const c = this.b[this.pos++];
      if (c === CLOSE_BRACE) return;
      if (c !== COMMA) throw new NotScanned();
    }
  }

  /** A member's key (ASCII, unescaped: anything else is not a key this scanner looks for) and its colon. */
  private key(): string {
    const b = this.b;
    if (b[this.pos] !== QUOTE) throw new NotScanned();
    const start = ++this.pos;
    while (b[this.pos] !== QUOTE) {
      if (b[this.pos] === BACKSLASH || this.pos >= b.length) throw new NotScanned();
      this.pos++;
    }
    const key = b.toString('latin1', start, this.pos++);
    this.space();
    this.expect(COLON);
    this.space();
    return key;
  }

  private expect(c: number): void {
    if (this.b[this.pos] !== c) throw new NotScanned();
    this.pos++;
  }

  private space(): void {
    const b = this.b;
    let c = b[this.pos];
    while (c === SPACE || c === 0x0a || c === 0x0d || c === 0x09) c = b[++this.pos];
  }

  /** Past one value (JSON.parse checks it later: this only finds its end). */
  private skipValue(): void {
    const b = this.b;
    let depth = 0;
    do {
      const c = b[this.pos];
      if (c === QUOTE) this.skipString();
      else {
        if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
        else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) depth--;
        else if (depth === 0) {
          // A number, true, false or null.
          while (this.pos < b.length && !isDelimiter(b[this.pos]!)) this.pos++;
          return;
        }
        this.pos++;
      }
      if (this.pos > b.length || depth < 0) throw new NotScanned();
    } while (depth > 0);
  }

  private skipString(): void {
    const b = this.b;
    this.pos++;
    for (;;) {
      if (this.pos >= b.length) throw new NotScanned();
      const c = b[this.pos++];
      if (c === QUOTE) return;
      if (c === BACKSLASH) this.pos++;
    }
  }

  /** The string at pos, unescaped, written into out.bytes from `at`; returns where it ends there. */
  private readString(out: GrowableBytes, at: number): number {
    const b = this.b;
    if (b[this.pos] !== QUOTE) throw new NotScanned();
    this.pos++;
    let w = at;
    let bytes = out.bytes;
    for (;;) {
      // An escape writes at most 4 bytes.
      if (w + 4 > bytes.length) {
        out.ensure(w + 4);
        bytes = out.bytes;
      }
      if (this.pos >= b.length) throw new NotScanned();
      const c = b[this.pos++]!;
      if (c === QUOTE) return w;
      if (c < 0x20) throw new NotScanned();
      if (c !== BACKSLASH) {
        bytes[w++] = c;
        continue;
      }
      const e = b[this.pos++];
      if (e === QUOTE || e === BACKSLASH || e === 0x2f) bytes[w++] = e;
      else if (e === 0x6e) bytes[w++] = 0x0a;
      else if (e === 0x74) bytes[w++] = 0x09;
      else if (e === 0x72) bytes[w++] = 0x0d;
      else if (e === 0x62) bytes[w++] = 0x08;
      else if (e === 0x66) bytes[w++] = 0x0c;
      else if (e === 0x75) w = writeUtf8(bytes, w, this.codePoint());
      else throw new NotScanned();
    }
  }

  /** The code point of a \u escape (pos just after the u), a surrogate pair's second half included. */
  private codePoint(): number {
    const unit = this.hex4();
    if (unit >= 0xd800 && unit < 0xdc00 && this.b[this.pos] === BACKSLASH && this.b[this.pos + 1] === 0x75) {
      const save = this.pos;
      this.pos += 2;
      const low = this.hex4();
      if (low >= 0xdc00 && low < 0xe000) return 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
      this.pos = save;
    }
    // A lone surrogate becomes U+FFFD, as TextEncoder writes it (the vocabulary's keys are UTF-8).
    return unit >= 0xd800 && unit < 0xe000 ? 0xfffd : unit;
  }

  private hex4(): number {
    let value = 0;
    for (let i = 0; i < 4; i++) {
      const c = this.b[this.pos++]!;
      const digit = c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (digit < 0) throw new NotScanned();
      value = value * 16 + digit;
    }
    return value;
  }

  /** model.vocab: {"token": id, …}, each id a plain integer of up to 9 digits (anything else is left to JSON.parse). */
  private readVocab(): void {
    const b = this.b;
    // Starting small, the builders first grow while this code still runs in V8's interpreter: the
    // compiled loop then has that path too, instead of being thrown away on first meeting it (measured).
    const builder = new VocabBuilder(1 << 12, 1 << 8);
    let pos = skipSpace(b, this.pos + 1);
    if (b[pos] === CLOSE_BRACE) pos++;
    else {
      for (;;) {
        this.pos = pos;
        let keyEnd: number;
        if (b[pos] !== QUOTE) throw new NotScanned();
        const plainEnd = plainStringEnd(b, pos + 1);
        if (plainEnd >= 0) {
          keyEnd = builder.used + (plainEnd - pos - 1);
          builder.ensure(keyEnd);
          const arena = builder.bytes;
          for (let i = pos + 1, w = builder.used; i < plainEnd; i++) arena[w++] = b[i]!;
          pos = plainEnd + 1;
        } else {
          keyEnd = this.readString(builder, builder.used);
          pos = this.pos;
        }
        pos = skipSpace(b, pos);
        if (b[pos] !== COLON) throw new NotScanned();
        pos = skipSpace(b, pos + 1);
        const digitsStart = pos;
        let id = 0;
        for (let c = b[pos]!; c >= 0x30 && c <= 0x39; c = b[++pos]!) id = id * 10 + c - 0x30;
        const digits = pos - digitsStart;
        if (digits === 0 || digits > 9 || (digits > 1 && b[digitsStart] === 0x30)) throw new NotScanned();
        builder.add(keyEnd, id);
        pos = skipSpace(b, pos);
        const c = b[pos++];
        if (c === CLOSE_BRACE) break;
        if (c !== COMMA) throw new NotScanned();
        pos = skipSpace(b, pos);
      }
    }
    this.pos = pos;
    this.vocab = builder.finish();
  }

  /** model.merges: [["left", "right"], …] or ["left right", …]. */
  private readMerges(): void {
    const b = this.b;
    const merges = new MergeListBuilder(this.vocab!, this.prefix!, 1 << 8);
    let pos = skipSpace(b, this.pos + 1);
    if (b[pos] === CLOSE_BRACKET) pos++;
    else {
      for (;;) {
        let missing;
        if (b[pos] === OPEN_BRACKET) {
          pos = skipSpace(b, pos + 1);
          const l1 = plainStringEnd(b, pos + 1);
          let r1 = -1;
          let r2 = -1;
          if (b[pos] === QUOTE && l1 >= 0) {
            r1 = skipSpace(b, l1 + 1);
            if (b[r1] === COMMA) r1 = skipSpace(b, r1 + 1);
            else r1 = -1;
            if (r1 >= 0 && b[r1] === QUOTE) r2 = plainStringEnd(b, r1 + 1);
          }
          if (r2 >= 0) {
            missing = merges.add(b, pos + 1, l1, r1 + 1, r2);
            pos = r2 + 1;
          } else {
            // A token with an escape: unescaped into the scratch buffer.
            this.pos = pos;
            const split = this.readString(this.scratch, 0);
            this.pos = skipSpace(b, this.pos);
            this.expect(COMMA);
            this.pos = skipSpace(b, this.pos);
            const end = this.readString(this.scratch, split);
            missing = merges.add(this.scratch.bytes, 0, split, split, end);
            pos = this.pos;
          }
          pos = skipSpace(b, pos);
          if (b[pos++] !== CLOSE_BRACKET) throw new NotScanned();
        } else {
          // "left right": split at the first space after the first byte, as BpeModel does (a space is never inside a UTF-8 sequence).
          let text: Uint8Array = b;
          let start = pos + 1;
          let end = b[pos] === QUOTE ? plainStringEnd(b, start) : -1;
          if (end >= 0) pos = end + 1;
          else {
            this.pos = pos;
            end = this.readString(this.scratch, 0);
            pos = this.pos;
            text = this.scratch.bytes;
            start = 0;
          }
          const split = indexOfSpace(text, start + 1, end);
          if (split < 0 || indexOfSpace(text, split + 1, end) >= 0) throw new NotScanned();
          missing = merges.add(text, start, split, split + 1, end);
        }
        if (missing !== null) throw new NotScanned();
        pos = skipSpace(b, pos);
        const c = b[pos++];
        if (c === CLOSE_BRACKET) break;
        if (c !== COMMA) throw new NotScanned();
        pos = skipSpace(b, pos);
      }
    }
    this.pos = pos;
    this.tables = merges.finish();
  }
}

/** Past the whitespace at b[pos]. */
function skipSpace(b: Uint8Array, pos: number): number {
  let c = b[pos];
  while (c === SPACE || c === 0x0a || c === 0x0d || c === 0x09) c = b[++pos];
  return pos;
}

/**
 * Where the string whose contents start at b[pos] ends (its closing quote), or -1 when it has an escape
 * or a control character first, or the file ends (then readString takes it, or finds it invalid).
 */
function plainStringEnd(b: Uint8Array, pos: number): number {
  for (;;) {
    const c = b[pos];
    if (c === QUOTE) return pos;
    // `!(c >= 0x20)` is also true past the end (undefined).
    if (c === BACKSLASH || !(c! >= 0x20)) return -1;
    pos++;
  }
}

function indexOfSpace(bytes: Uint8Array, from: number, end: number): number {
  for (let i = from; i < end; i++) if (bytes[i] === SPACE) return i;
  return -1;
}

function isDelimiter(c: number): boolean {
  return c === COMMA || c === CLOSE_BRACE || c === CLOSE_BRACKET || c === SPACE || c === 0x0a || c === 0x0d || c === 0x09;
}

/** Writes code point `cp` as UTF-8 at bytes[w]; returns the end. */
function writeUtf8(bytes: Uint8Array, w: number, cp: number): number {
  if (cp < 0x80) bytes[w++] = cp;
  else if (cp < 0x800) {
    bytes[w++] = 0xc0 | (cp >> 6);
    bytes[w++] = 0x80 | (cp & 0x3f);
  } else if (cp < 0x10000) {
    bytes[w++] = 0xe0 | (cp >> 12);
    bytes[w++] = 0x80 | ((cp >> 6) & 0x3f);
    bytes[w++] = 0x80 | (cp & 0x3f);
  } else {
    bytes[w++] = 0xf0 | (cp >> 18);
    bytes[w++] = 0x80 | ((cp >> 12) & 0x3f);
    bytes[w++] = 0x80 | ((cp >> 6) & 0x3f);
    bytes[w++] = 0x80 | (cp & 0x3f);
  }
  return w;
}

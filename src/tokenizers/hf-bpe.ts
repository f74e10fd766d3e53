// tokenizer.json `model` of type BPE: byte-level (GPT-2, Llama 3, Qwen) or over characters with
// byte_fallback (SentencePiece-style: Llama 2, Gemma), on the PairMerger core.
import { BYTE_TO_UNICODE } from './byte-level-alphabet.js';
import { PairMerger, type Merge } from './pair-merger.js';
import { UnsupportedTokenizerError } from './hf-regex.js';

// Most text repeats a small set of pre-tokens, so their ids are cached; long pieces rarely repeat.
const MAX_CACHED_PIECE_LENGTH = 64;
const MAX_CACHE_ENTRIES = 200_000;

export interface BpeModelJSON {
  type: 'BPE';
  vocab: Record<string, number>;
  merges: (string | [string, string])[];
  unk_token?: string | null;
  continuing_subword_prefix?: string | null;
  end_of_word_suffix?: string | null;
  fuse_unk?: boolean;
  byte_fallback?: boolean;
  ignore_merges?: boolean;
  dropout?: number | null;
}

export class BpeModel {
  readonly vocab: Map<string, number>;
  /** Token string of each id of the model's vocabulary. */
  readonly tokens: string[] = [];
  private readonly merger: PairMerger;
  private readonly unkId: number;
  private readonly fuseUnk: boolean;
  private readonly ignoreMerges: boolean;
  private readonly prefix: string;
  private readonly suffix: string;
  /** <0xNN> token of each byte (-1 where the vocabulary lacks it), when byte_fallback is on. */
  private readonly fallbackIds: Int32Array | null;
  /** Token of each byte's character, for byte-level pieces (-1 where the vocabulary lacks it). */
  private readonly byteIds: Int32Array;
  /** Byte-level pieces whose bytes map straight to ids (no prefix or suffix to add). */
  private readonly fastBytes: boolean;
  private readonly cache = new Map<string, readonly number[]>();
  private readonly utf8 = new TextEncoder();
  private bytes = new Uint8Array(256);
  private ids = new Int32Array(256);

  constructor(json: BpeModelJSON, readonly byteLevel: boolean, where = 'model') {
    if (json.dropout !== null && json.dropout !== undefined && json.dropout !== 0) {
      throw new UnsupportedTokenizerError(`${where}: BPE dropout (${json.dropout}) is not supported: it makes encoding random`);
    }
    if (json.vocab === null || typeof json.vocab !== 'object') throw new Error(`${where}.vocab must be an object of token -> id`);
    this.vocab = new Map();
    for (const token in json.vocab) {
      const id = json.vocab[token]!;
      if (!Number.isInteger(id) || id < 0) throw new Error(`${where}.vocab maps ${JSON.stringify(token)} to invalid id ${JSON.stringify(id)}`);
      this.vocab.set(token, id);
      this.tokens[id] = token;
    }
    this.prefix = json.continuing_subword_prefix ?? '';
    this.suffix = json.end_of_word_suffix ?? '';
    this.fuseUnk = json.fuse_unk === true;
    this.ignoreMerges = json.ignore_merges === true;
    const unk = json.unk_token ?? null;
    this.unkId = unk === null ? -1 : this.idOf(unk, `${where}.unk_token`);

    if (!Array.isArray(json.merges)) throw new Error(`${where}.merges must be a list`);
    this.merger = new PairMerger(this.parseMerges(json.merges, where), json.merges.length);

    this.fallbackIds = json.byte_fallback === true ? Int32Array.from({ length: 256 }, (_, b) => this.vocab.get(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? -1) : null;
    this.byteIds = Int32Array.from(BYTE_TO_UNICODE, (char) => this.vocab.get(char) ?? -1);
    this.fastBytes = byteLevel && this.prefix === '' && this.suffix === '' && this.byteIds.every((id) => id >= 0);
  }

  private idOf(token: string, where: string): number {
    const id = this.vocab.get(token);
    if (id === undefined) throw new Error(`${where}: ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  private *parseMerges(merges: readonly (string | readonly string[])[], where: string): Generator<Merge> {
    for (let i = 0; i < merges.length; i++) {
      const merge = merges[i]!;
      let left: string;
      let right: string;
      if (typeof merge === 'string') {
        const space = merge.indexOf(' ', 1);
        if (space < 0 || merge.indexOf(' ', space + 1) >= 0) throw new Error(`${where}.merges[${i}] should be two tokens separated by one space: ${JSON.stringify(merge)}`);
        left = merge.slice(0, space);
        right = merge.slice(space + 1);
      } else if (Array.isArray(merge) && merge.length === 2) {
        [left, right] = merge as [string, string];
      } else {
        throw new Error(`${where}.merges[${i}] should be "left right" or [left, right]: ${JSON.stringify(merge)}`);
      }
      const joined = left + (this.prefix !== '' && right.startsWith(this.prefix) ? right.slice(this.prefix.length) : right);
      yield {
        left: this.idOf(left, `${where}.merges[${i}]`),
        right: this.idOf(right, `${where}.merges[${i}]`),
        result: this.idOf(joined, `${where}.merges[${i}] (the merged token)`),
        priority: i,
      };
    }
  }

  /** Appends the ids of one pre-tokenized piece (raw text for byte-level models) to `out`. */
  tokenize(piece: string, out: number[]): void {
    if (piece === '') return;
    let ids = this.cache.get(piece);
    if (ids === undefined) {
      ids = this.tokenizeUncached(piece);
      if (piece.length <= MAX_CACHED_PIECE_LENGTH) {
        if (this.cache.size >= MAX_CACHE_ENTRIES) this.cache.clear();
        this.cache.set(piece, ids);
      }
    }
    for (let i = 0; i < ids.length; i++) out.push(ids[i]!);
  }

  private tokenizeUncached(piece: string): number[] {
    const result: number[] = [];
    if (this.fastBytes) {
      // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
      if (this.bytes.length < piece.length * 3) this.bytes = new Uint8Array(piece.length * 3);
      const length = this.utf8.encodeInto(piece, this.bytes).written;
      if (this.ignoreMerges) {
        const whole = this.vocab.get(byteLevelString(this.bytes, length));
        if (whole !== undefined) return [whole];
      }
      this.reserve(length);
      for (let i = 0; i < length; i++) this.ids[i] = this.byteIds[this.bytes[i]!]!;
      this.merger.mergeInto(this.ids, length, result);
      return result;
    }
    const text = this.byteLevel ? byteLevelString(this.utf8.encode(piece)) : piece;
    if (this.ignoreMerges) {
      const whole = this.vocab.get(text);
      if (whole !== undefined) return [whole];
    }
    this.reserve(text.length * 4);
    const length = this.initialIds(text);
    this.merger.mergeInto(this.ids, length, result);
    return result;
  }

  private reserve(length: number): void {
    if (this.ids.length < length) this.ids = new Int32Array(length);
  }

  /** One id per character (with the subword prefix / word suffix), else its bytes' <0xNN> ids, else unk. */
  private initialIds(text: string): number {
    const ids = this.ids;
    let n = 0;
    let pendingUnk = false;
    for (let i = 0; i < text.length; ) {
      const width = text.codePointAt(i)! > 0xffff ? 2 : 1;
      let symbol = text.slice(i, i + width);
      if (i > 0) symbol = this.prefix + symbol;
      i += width;
      if (i >= text.length) symbol += this.suffix;
      const id = this.vocab.get(symbol);
      if (id !== undefined) {
        if (pendingUnk) ids[n++] = this.unkId;
        pendingUnk = false;
        ids[n++] = id;
        continue;
      }
      if (this.fallbackIds !== null) {
        const bytes = this.utf8.encode(symbol);
        if (bytes.every((b) => this.fallbackIds![b]! >= 0)) {
          if (pendingUnk) ids[n++] = this.unkId;
          pendingUnk = false;
          for (const b of bytes) ids[n++] = this.fallbackIds[b]!;
          continue;
        }
      }
      // Without an unk_token `tokenizers` drops the character; so does this, to give the same ids.
      if (this.unkId < 0) continue;
      if (pendingUnk && !this.fuseUnk) ids[n++] = this.unkId;
      pendingUnk = true;
    }
    if (pendingUnk) ids[n++] = this.unkId;
    return n;
  }
}

/** Bytes as GPT-2's printable stand-in characters (how byte-level vocabularies spell tokens). */
export function byteLevelString(bytes: Uint8Array, length = bytes.length): string {
  let s = '';
  for (let i = 0; i < length; i++) s += BYTE_TO_UNICODE[bytes[i]!];
  return s;
}

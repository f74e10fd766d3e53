// tokenizer.json `model` of type BPE: byte-level (GPT-2, Llama 3, Qwen) or over characters with
// byte_fallback (SentencePiece-style: Llama 2, Gemma), on the PairMerger core.
import { BYTE_TO_UNICODE } from './byte-level-alphabet.js';
import { PairMerger } from './pair-merger.js';
import { PieceCache } from './piece-cache.js';
import { UnsupportedTokenizerError } from './hf-regex.js';


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
  /** One more than the largest id of the model's vocabulary. */
  readonly size: number;
  // tokenizer.json's own vocab object serves as the dictionary: JSON.parse has already hashed its keys,
  // and copying 262K entries into a Map would double the load time of a large vocabulary.
  private readonly vocab: Readonly<Record<string, unknown>>;
  private tokenList: string[] | undefined;
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
  private readonly cache = new PieceCache();
  private readonly merge = (piece: string) => this.tokenizeUncached(piece);
  private readonly utf8 = new TextEncoder();
  private bytes = new Uint8Array(256);
  private ids = new Int32Array(256);

  constructor(json: BpeModelJSON, readonly byteLevel: boolean, private readonly where = 'model') {
    if (json.dropout !== null && json.dropout !== undefined && json.dropout !== 0) {
      throw new UnsupportedTokenizerError(`${where}: BPE dropout (${json.dropout}) is not supported: it makes encoding random`);
    }
    if (json.vocab === null || typeof json.vocab !== 'object' || Array.isArray(json.vocab)) throw new Error(`${where}.vocab must be an object of token -> id`);
    this.vocab = json.vocab;
    let size = 0;
    for (const token in json.vocab) {
      const id = json.vocab[token];
      if (!Number.isInteger(id) || id! < 0) throw new Error(`${where}.vocab maps ${JSON.stringify(token)} to invalid id ${JSON.stringify(id)}`);
      if (id! >= size) size = id! + 1;
    }
    this.size = size;
    this.prefix = json.continuing_subword_prefix ?? '';
    this.suffix = json.end_of_word_suffix ?? '';
    this.fuseUnk = json.fuse_unk === true;
    this.ignoreMerges = json.ignore_merges === true;
    const unk = json.unk_token ?? null;
    this.unkId = unk === null ? -1 : this.requireId(unk, `${where}.unk_token`);

    const merges = json.merges;
    if (!Array.isArray(merges)) throw new Error(`${where}.merges must be a list`);
    this.merger = new PairMerger(merges.length, (i) => {
      const [left, right] = this.mergePair(merges[i]!, i);
      return this.requireId(left + (this.prefix !== '' && right.startsWith(this.prefix) ? right.slice(this.prefix.length) : right), `${where}.merges[${i}] (the merged token)`);
    });
    for (let i = 0; i < merges.length; i++) {
      const merge = merges[i]!;
      // Read the pair in place: a [left, right] array per merge would be half a million allocations.
      const left = Array.isArray(merge) ? merge[0] : merge.slice(0, merge.indexOf(' ', 1));
      const right = Array.isArray(merge) ? merge[1] : merge.slice(merge.indexOf(' ', 1) + 1);
      const leftId = typeof left === 'string' ? this.idOf(left) : undefined;
      const rightId = typeof right === 'string' ? this.idOf(right) : undefined;
      if (leftId === undefined || rightId === undefined) this.mergePair(merge, i).forEach((token) => this.requireId(token, `${where}.merges[${i}]`));
      this.merger.add(leftId!, rightId!, -1, i);
    }

    this.fallbackIds = json.byte_fallback === true ? Int32Array.from({ length: 256 }, (_, b) => this.idOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? -1) : null;
    this.byteIds = Int32Array.from(BYTE_TO_UNICODE, (char) => this.idOf(char) ?? -1);
    this.fastBytes = byteLevel && this.prefix === '' && this.suffix === '' && this.byteIds.every((id) => id >= 0);
  }

  /** The id of a token string of the vocabulary. */
  idOf(token: string): number | undefined {
    const id = this.vocab[token];
    // Not hasOwn: a plain object also answers "constructor" and the like, but never with a number.
    return typeof id === 'number' ? id : undefined;
  }

  private requireId(token: string, where: string): number {
    const id = this.idOf(token);
    if (id === undefined) throw new Error(`${where}: ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  /** Token string of each id (built on first use: encoding never needs it). */
  get tokens(): readonly string[] {
    if (this.tokenList === undefined) {
      const list: string[] = [];
      for (const token in this.vocab) list[this.vocab[token] as number] = token;
      this.tokenList = list;
    }
    return this.tokenList;
  }

  private mergePair(merge: string | readonly string[], i: number): [string, string] {
    if (typeof merge === 'string') {
      const space = merge.indexOf(' ', 1);
      if (space < 0 || merge.indexOf(' ', space + 1) >= 0) throw new Error(`${this.where}.merges[${i}] should be two tokens separated by one space: ${JSON.stringify(merge)}`);
      return [merge.slice(0, space), merge.slice(space + 1)];
    }
    if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') return [merge[0], merge[1]];
    throw new Error(`${this.where}.merges[${i}] should be "left right" or [left, right]: ${JSON.stringify(merge)}`);
  }

  /** Appends the ids of one pre-tokenized piece (raw text for byte-level models) to `out`. */
  tokenize(piece: string, out: number[]): void {
    if (piece !== '') this.cache.encodeInto(piece, out, this.merge);
  }

  private tokenizeUncached(piece: string): number[] {
    const result: number[] = [];
    if (this.fastBytes) {
      // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
      if (this.bytes.length < piece.length * 3) this.bytes = new Uint8Array(piece.length * 3);
      const length = this.utf8.encodeInto(piece, this.bytes).written;
      if (this.ignoreMerges) {
        const whole = this.idOf(byteLevelString(this.bytes, length));
        if (whole !== undefined) return [whole];
      }
      this.reserve(length);
      for (let i = 0; i < length; i++) this.ids[i] = this.byteIds[this.bytes[i]!]!;
      this.merger.mergeInto(this.ids, length, result);
      return result;
    }
    const text = this.byteLevel ? byteLevelString(this.utf8.encode(piece)) : piece;
    if (this.ignoreMerges) {
      const whole = this.idOf(text);
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
      const id = this.idOf(symbol);
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

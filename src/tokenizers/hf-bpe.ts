// tokenizer.json `model` of type BPE: byte-level (GPT-2, Llama 3, Qwen) or over characters with
// byte_fallback (SentencePiece-style: Llama 2, Gemma), on the PairMerger core.
import { BYTE_TO_UNICODE } from './byte-level-alphabet.js';
import { PairMerger } from './pair-merger.js';
import { PieceCache } from './piece-cache.js';
import { UnsupportedTokenizerError } from './hf-regex.js';
import { MergeListBuilder, type BpeTables } from './bpe-tables.js';
import { GrowableBytes, VocabTable } from './vocab-table.js';

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
  private readonly vocab: VocabTable;
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
  /**
   * The id of each UTF-16 code unit as a token on its own (-1 where none, -2 not looked up yet), when
   * there is no prefix or suffix to add: SentencePiece-style pieces start from one token per character.
   */
  private readonly charIds: Int32Array | null;
  private readonly cache = new PieceCache();
  private readonly merge = (piece: string) => this.tokenizeUncached(piece);
  private readonly utf8 = new TextEncoder();
  private bytes = new Uint8Array(256);
  private spelled = Buffer.allocUnsafe(512);
  private ids = new Int32Array(256);

  /**
   * `tables`: model.vocab and model.merges as tokenizer-json.ts reads them from a file (`json.vocab` and
   * `json.merges` are then ignored); without them they are read from `json`.
   */
  constructor(json: BpeModelJSON, readonly byteLevel: boolean, where = 'model', tables?: BpeTables) {
    if (json.dropout !== null && json.dropout !== undefined && json.dropout !== 0) {
      throw new UnsupportedTokenizerError(`${where}: BPE dropout (${json.dropout}) is not supported: it makes encoding random`);
    }
    tables ??= bpeTablesOf(json, where);
    this.vocab = tables.vocab;
    this.size = tables.vocab.size;
    this.prefix = json.continuing_subword_prefix ?? '';
    this.suffix = json.end_of_word_suffix ?? '';
    this.fuseUnk = json.fuse_unk === true;
    this.ignoreMerges = json.ignore_merges === true;
    const unk = json.unk_token ?? null;
    this.unkId = unk === null ? -1 : this.requireId(unk, `${where}.unk_token`);
    this.merger = PairMerger.fromList(tables.merges);

    this.fallbackIds = json.byte_fallback === true ? Int32Array.from({ length: 256 }, (_, b) => this.idOf(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`) ?? -1) : null;
    this.byteIds = Int32Array.from(BYTE_TO_UNICODE, (char) => this.idOf(char) ?? -1);
    this.fastBytes = byteLevel && this.prefix === '' && this.suffix === '' && this.byteIds.every((id) => id >= 0);
    this.charIds = this.prefix === '' && this.suffix === '' ? new Int32Array(0x10000).fill(-2) : null;
  }

  /** The id of a token string of the vocabulary. */
  idOf(token: string): number | undefined {
    return this.vocab.idOf(token);
  }

  private requireId(token: string, where: string): number {
    const id = this.idOf(token);
    if (id === undefined) throw new Error(`${where}: ${JSON.stringify(token)} is not in the vocabulary`);
    return id;
  }

  /** The token string of an id, or undefined where the vocabulary has none. */
  token(id: number): string | undefined {
    return this.vocab.token(id);
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
        const whole = this.idOfByteLevel(length);
        if (whole >= 0) return [whole];
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

  /** The id of bytes[0, length) spelled byte-level (each byte as its stand-in character), or -1: no string made. */
  private idOfByteLevel(length: number): number {
    // A stand-in character takes at most 2 UTF-8 bytes.
    if (this.spelled.length < length * 2) this.spelled = Buffer.allocUnsafe(length * 2);
    let n = 0;
    for (let i = 0; i < length; i++) {
      const code = BYTE_LEVEL_CODES[this.bytes[i]!]!;
      if (code < 0x80) this.spelled[n++] = code;
      else {
        this.spelled[n++] = 0xc0 | (code >> 6);
        this.spelled[n++] = 0x80 | (code & 0x3f);
      }
    }
    return this.vocab.idOfBytes(this.spelled, 0, n);
  }

  private reserve(length: number): void {
    if (this.ids.length < length) this.ids = new Int32Array(length);
  }

  /** The character at text[i, i + width) as a symbol: with the subword prefix unless first, the word suffix if last. */
  private symbolAt(text: string, i: number, width: number): string {
    return (i > 0 ? this.prefix : '') + text.slice(i, i + width) + (i + width >= text.length ? this.suffix : '');
  }

  private charId(unit: number): number | undefined {
    let id = this.charIds![unit]!;
    if (id === -2) id = this.charIds![unit] = this.idOf(String.fromCharCode(unit)) ?? -1;
    return id < 0 ? undefined : id;
  }

  /** One id per character (with the subword prefix / word suffix), else its bytes' <0xNN> ids, else unk. */
  private initialIds(text: string): number {
    const ids = this.ids;
    let n = 0;
    let pendingUnk = false;
    for (let i = 0; i < text.length; ) {
      const width = text.codePointAt(i)! > 0xffff ? 2 : 1;
      const id = this.charIds !== null && width === 1 ? this.charId(text.charCodeAt(i)) : this.idOf(this.symbolAt(text, i, width));
      i += width;
      if (id !== undefined) {
        if (pendingUnk) ids[n++] = this.unkId;
        pendingUnk = false;
        ids[n++] = id;
        continue;
      }
      if (this.fallbackIds !== null) {
        const bytes = this.utf8.encode(this.symbolAt(text, i - width, width));
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

/** model.vocab and model.merges of a parsed tokenizer.json, checked (errors name the field and value). */
function bpeTablesOf(json: BpeModelJSON, where: string): BpeTables {
  if (json.vocab === null || typeof json.vocab !== 'object' || Array.isArray(json.vocab)) throw new Error(`${where}.vocab must be an object of token -> id`);
  for (const token in json.vocab) {
    const id = json.vocab[token];
    if (!Number.isInteger(id) || id! < 0 || id! > 0x7fffffff) throw new Error(`${where}.vocab maps ${JSON.stringify(token)} to invalid id ${JSON.stringify(id)}`);
  }
  const vocab = VocabTable.fromRecord(json.vocab);
  if (!Array.isArray(json.merges)) throw new Error(`${where}.merges must be a list`);
  const utf8 = new TextEncoder();
  const merges = new MergeListBuilder(vocab, utf8.encode(json.continuing_subword_prefix ?? ''), json.merges.length);
  const pair = new GrowableBytes(256);
  json.merges.forEach((merge, i) => {
    const [left, right] = mergePair(merge, `${where}.merges[${i}]`);
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    pair.ensure((left.length + right.length) * 3);
    const split = utf8.encodeInto(left, pair.bytes).written;
    const end = split + utf8.encodeInto(right, pair.bytes.subarray(split)).written;
    const missing = merges.add(pair.bytes, 0, split, split, end);
    if (missing === 'merged') {
      const prefix = json.continuing_subword_prefix ?? '';
      const merged = left + (prefix !== '' && right.startsWith(prefix) ? right.slice(prefix.length) : right);
      throw new Error(`${where}.merges[${i}] (the merged token): ${JSON.stringify(merged)} is not in the vocabulary`);
    }
    if (missing !== null) throw new Error(`${where}.merges[${i}]: ${JSON.stringify(missing === 'left' ? left : right)} is not in the vocabulary`);
  });
  return merges.finish();
}

function mergePair(merge: unknown, where: string): [string, string] {
  if (typeof merge === 'string') {
    const space = merge.indexOf(' ', 1);
    if (space < 0 || merge.indexOf(' ', space + 1) >= 0) throw new Error(`${where} should be two tokens separated by one space: ${JSON.stringify(merge)}`);
    return [merge.slice(0, space), merge.slice(space + 1)];
  }
  if (Array.isArray(merge) && merge.length === 2 && typeof merge[0] === 'string' && typeof merge[1] === 'string') return [merge[0], merge[1]];
  throw new Error(`${where} should be "left right" or [left, right]: ${JSON.stringify(merge)}`);
}

/** The code point of each byte's stand-in character (all below U+0800). */
const BYTE_LEVEL_CODES = Int32Array.from(BYTE_TO_UNICODE, (char) => char.charCodeAt(0));

/** Bytes as GPT-2's printable stand-in characters (how byte-level vocabularies spell tokens). */
export function byteLevelString(bytes: Uint8Array, length = bytes.length): string {
  let s = '';
  for (let i = 0; i < length; i++) s += BYTE_TO_UNICODE[bytes[i]!];
  return s;
}

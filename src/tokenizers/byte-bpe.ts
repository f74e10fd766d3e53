import { PairMerger, type Merge } from './pair-merger.js';
import { PieceCache } from './piece-cache.js';
import { checkTokenId } from './token-ids.js';
import type { DecodeOptions, EncodeOptions, Tokenizer, TokenizerJSON } from './tokenizer.js';

// `\s` is spelled \p{White_Space} because that is what tiktoken's Rust regex engine means by it
// (it counts U+0085 as whitespace and U+FEFF not; JavaScript's \s does the opposite).
const WHITESPACE = '\\p{White_Space}';
const NOT_WHITESPACE = '\\P{White_Space}';

/** Pre-tokenisation regexes: BPE never merges across the pieces they cut the text into. */
export const SPLIT_PATTERNS = {
  gpt2:
    `'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^${WHITESPACE}\\p{L}\\p{N}]+` +
    `|${WHITESPACE}+(?!${NOT_WHITESPACE})|${WHITESPACE}+`,
  // cl100k's pattern in JavaScript: (?i:...) spelled out as ASCII case pairs, and possessive quantifiers
  // made plain, which matches the same because the backtracking they forbid can never succeed here.
  gpt4:
    `'(?:[sSdDmMtT]|[lL][lL]|[vV][eE]|[rR][eE])|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}` +
    `| ?[^${WHITESPACE}\\p{L}\\p{N}]+[\\r\\n]*|${WHITESPACE}*[\\r\\n]|${WHITESPACE}+(?!${NOT_WHITESPACE})|${WHITESPACE}+`,
  /** No pre-splitting: merges may span the whole text (minbpe's BasicTokenizer). */
  none: null,
} as const;

export type SplitName = keyof typeof SPLIT_PATTERNS;

export function checkSplitName(split: string): asserts split is SplitName {
  if (!Object.hasOwn(SPLIT_PATTERNS, split)) {
    throw new Error(`Unknown split ${JSON.stringify(split)}; expected one of ${Object.keys(SPLIT_PATTERNS).join(', ')}`);
  }
}

export type { Merge } from './pair-merger.js';

export interface ByteLevelBpeTables {
  /** Token id of each of the 256 byte values. */
  byteToId: ArrayLike<number>;
  /** UTF-8 bytes of every token id (holes for unassigned ids), special tokens included. */
  tokenBytes: ReadonlyArray<Uint8Array | undefined>;
  merges: readonly Merge[];
  /** Special token text -> id. */
  specialTokens: ReadonlyMap<string, number>;
  split: SplitName;
}


/**
 * Byte-level BPE shared by the GPT-2 tokenizer and trained BPE tokenizers: pre-split the text, take
 * each piece's UTF-8 bytes, then repeatedly merge the adjacent pair with the lowest priority.
 */
export abstract class ByteLevelBpe implements Tokenizer {
  abstract readonly type: 'gpt2' | 'bpe';
  abstract toJSON(): TokenizerJSON;

  readonly vocabSize: number;
  readonly specialTokens: ReadonlyMap<string, number>;
  private readonly specialIds: ReadonlySet<number>;
  readonly split: SplitName;
  private readonly byteToId: Int32Array;
  private readonly tokenBytes: ReadonlyArray<Uint8Array | undefined>;
  private readonly merger: PairMerger;
  private readonly splitPattern: RegExp | null;
  private readonly allSpecialsPattern: RegExp | null;
  private readonly pieceCache = new PieceCache();
  private readonly merge = (piece: string) => this.mergePiece(piece);
  private readonly utf8Encoder = new TextEncoder();
  // ignoreBOM keeps a leading U+FEFF in the output instead of silently dropping it.
  private readonly utf8Decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private pieceBytes = new Uint8Array(256);
  private ids = new Int32Array(256);

  protected constructor(tables: ByteLevelBpeTables) {
    this.vocabSize = tables.tokenBytes.length;
    this.tokenBytes = tables.tokenBytes;
    this.byteToId = Int32Array.from(tables.byteToId);
    if (this.byteToId.length !== 256) throw new Error(`byteToId must have 256 entries, got ${this.byteToId.length}`);
    for (const id of this.byteToId) checkTokenId(id, this.vocabSize);

    const { merges } = tables;
    for (const { left, right, result } of merges) {
      checkTokenId(left, this.vocabSize);
      checkTokenId(right, this.vocabSize);
      checkTokenId(result, this.vocabSize);
    }
    this.merger = PairMerger.from(merges);

    this.specialTokens = tables.specialTokens;
    this.specialIds = new Set(this.specialTokens.values());
    for (const id of this.specialTokens.values()) checkTokenId(id, this.vocabSize);
    this.allSpecialsPattern = specialTokenPattern([...this.specialTokens.keys()]);
    checkSplitName(tables.split);
    this.split = tables.split;
    const source = SPLIT_PATTERNS[tables.split];
    this.splitPattern = source === null ? null : new RegExp(source, 'gu');
  }

  encode(text: string, options: EncodeOptions = {}): number[] {
    const ids: number[] = [];
    const specials = this.specialPatternFor(options.allowedSpecial ?? 'all');
    let start = 0;
    if (specials !== null) {
      specials.lastIndex = 0;
      for (let match; (match = specials.exec(text)) !== null; ) {
        this.encodeOrdinary(text.slice(start, match.index), ids);
        ids.push(this.specialTokens.get(match[0])!);
        start = match.index + match[0].length;
      }
    }
    this.encodeOrdinary(text.slice(start), ids);
    return ids;
  }

  decode(ids: readonly number[], options: DecodeOptions = {}): string {
    const kept = options.skipSpecialTokens ? ids.filter((id) => !this.specialIds.has(id)) : ids;
    return this.utf8Decoder.decode(this.decodeBytes(kept));
  }

  /** The raw bytes of `ids`; unlike decode() this never replaces a UTF-8 sequence split across tokens. */
  decodeBytes(ids: readonly number[]): Uint8Array {
    let length = 0;
    for (const id of ids) length += this.bytesOf(id).length;
    const bytes = new Uint8Array(length);
    let offset = 0;
    for (const id of ids) {
      const token = this.tokenBytes[id]!;
      bytes.set(token, offset);
      offset += token.length;
    }
    return bytes;
  }

  private bytesOf(id: number): Uint8Array {
    checkTokenId(id, this.vocabSize);
    const bytes = this.tokenBytes[id];
    if (bytes === undefined) throw new RangeError(`Token id ${id} is not assigned in this vocabulary (vocab size ${this.vocabSize})`);
    return bytes;
  }

  private specialPatternFor(allowed: NonNullable<EncodeOptions['allowedSpecial']>): RegExp | null {
    if (allowed === 'all') return this.allSpecialsPattern;
    if (allowed === 'none') return null;
    for (const name of allowed) {
      if (!this.specialTokens.has(name)) {
        throw new Error(
          `Unknown special token ${JSON.stringify(name)}; this tokenizer has ${JSON.stringify([...this.specialTokens.keys()])}`,
        );
      }
    }
    return specialTokenPattern(allowed);
  }

  private encodeOrdinary(text: string, out: number[]): void {
    if (text.length === 0) return;
    const pattern = this.splitPattern;
    if (pattern === null) {
      this.encodePiece(text, out);
      return;
    }
    pattern.lastIndex = 0;
    for (let match; (match = pattern.exec(text)) !== null; ) this.encodePiece(match[0], out);
  }

  private encodePiece(piece: string, out: number[]): void {
    this.pieceCache.encodeInto(piece, out, this.merge);
  }

  /** BPE on one piece: its UTF-8 bytes as ids, then the merges. */
  private mergePiece(piece: string): number[] {
    // A UTF-16 code unit never takes more than 3 UTF-8 bytes.
    if (this.pieceBytes.length < piece.length * 3) this.pieceBytes = new Uint8Array(piece.length * 3);
    const length = this.utf8Encoder.encodeInto(piece, this.pieceBytes).written;
    if (this.ids.length < length) this.ids = new Int32Array(length);
    for (let i = 0; i < length; i++) this.ids[i] = this.byteToId[this.pieceBytes[i]];
    const result: number[] = [];
    this.merger.mergeInto(this.ids, length, result);
    return result;
  }
}

/** Matches any of `names`, longest first so a special that prefixes another can't shadow it. */
export function specialTokenPattern(names: readonly string[]): RegExp | null {
  if (names.length === 0) return null;
  const alternatives = [...names].sort((a, b) => b.length - a.length).map((name) => name.replace(/[\\^$.*+?()[\]{}|/]/g, '\\$&'));
  return new RegExp(alternatives.join('|'), 'gu');
}

// A BPE model's vocabulary and merges in the form the model works on, built either from tokenizer.json's
// bytes (tokenizer-json.ts) or from its parsed JSON (hf-bpe.ts): one place decides what a merge means.
import type { VocabTable } from './vocab-table.js';

export interface BpeTables {
  vocab: VocabTable;
  /** Three ids per merge, in priority order: left, right, and the merged token. */
  merges: Int32Array;
}

/** The token of a merge that is not in the vocabulary (add's answer), or null. */
export type MissingToken = 'left' | 'right' | 'merged' | null;

/** Collects merges as ids, each given as the UTF-8 bytes of its two tokens. */
export class MergeListBuilder {
  private merges: Int32Array;
  private count = 0;
  private lastResult = -1;

  /** `prefix`: the model's continuing_subword_prefix, in UTF-8. */
  constructor(private readonly vocab: VocabTable, private readonly prefix: Uint8Array, expected: number) {
    this.merges = new Int32Array(Math.max(expected, 16) * 3);
  }

  /** Adds the merge of tokens bytes[s1, e1) and bytes[s2, e2), unless one of the three tokens is not in the vocabulary. */
  add(bytes: Uint8Array, s1: number, e1: number, s2: number, e2: number): MissingToken {
    const vocab = this.vocab;
    const left = vocab.idOfBytes(bytes, s1, e1);
    if (left < 0) return 'left';
    const right = vocab.idOfBytes(bytes, s2, e2);
    if (right < 0) return 'right';
    // As `tokenizers` does, the merged token is left + right without its continuing-subword prefix.
    const skip = startsWith(bytes, s2, e2, this.prefix) ? this.prefix.length : 0;
    const result = vocab.idOfBytes(bytes, s1, e1, s2 + skip, e2, this.lastResult);
    if (result < 0) return 'merged';
    this.lastResult = result;
    if ((this.count + 1) * 3 > this.merges.length) {
      const bigger = new Int32Array(this.merges.length * 2);
      bigger.set(this.merges);
      this.merges = bigger;
    }
    this.merges[this.count * 3] = left;
    this.merges[this.count * 3 + 1] = right;
    this.merges[this.count * 3 + 2] = result;
    this.count++;
    return null;
  }

  finish(): BpeTables {
    return { vocab: this.vocab, merges: this.merges.slice(0, this.count * 3) };
  }
}

function startsWith(bytes: Uint8Array, start: number, end: number, prefix: Uint8Array): boolean {
  if (prefix.length === 0 || end - start < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (bytes[start + i] !== prefix[i]) return false;
  return true;
}

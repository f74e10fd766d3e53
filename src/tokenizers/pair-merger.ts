// The BPE merge loop shared by every BPE tokenizer in inkwell (GPT-2's, trained ones, tokenizer.json's).
import { PairHeap } from './heap.js';

/** `left` followed by `right` becomes `result`; among mergeable adjacent pairs the lowest priority goes first. */
export interface Merge {
  left: number;
  right: number;
  result: number;
  priority: number;
}

const EMPTY = -1;
const DEAD = -1;

/**
 * Merges a sequence of token ids the BPE way, in O(n log n): a linked list of parts plus a heap of
 * candidate merges keyed (priority, position), so equal priorities merge leftmost first as in both
 * tiktoken and Hugging Face's `tokenizers`. Pairs live in an open-addressing table of int32 keys: a
 * vocabulary's half-million merges looked up millions of times is the hot path of encoding.
 */
export class PairMerger {
  readonly size: number;
  private readonly mask: number;
  private readonly keyLeft: Int32Array;
  private readonly keyRight: Int32Array;
  private readonly slotResult: Int32Array;
  private readonly slotPriority: Float64Array;
  private readonly heap = new PairHeap();
  private prev = new Int32Array(256);
  private next = new Int32Array(256);

  constructor(merges: Iterable<Merge>, count: number) {
    let capacity = 16;
    while (capacity < count * 2) capacity *= 2;
    this.mask = capacity - 1;
    this.keyLeft = new Int32Array(capacity).fill(EMPTY);
    this.keyRight = new Int32Array(capacity);
    this.slotResult = new Int32Array(capacity);
    this.slotPriority = new Float64Array(capacity);
    let size = 0;
    for (const { left, right, result, priority } of merges) {
      const slot = this.slotOf(left, right);
      if (this.keyLeft[slot] === EMPTY) {
        size++;
        this.keyLeft[slot] = left;
        this.keyRight[slot] = right;
      } else if (this.slotPriority[slot] <= priority) {
        continue; // a pair listed twice keeps its first (lowest-priority) merge
      }
      this.slotResult[slot] = result;
      this.slotPriority[slot] = priority;
    }
    this.size = size;
  }

  /** The table slot holding (left, right), or the empty slot where it would go. */
  private slotOf(left: number, right: number): number {
    let slot = (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x632be5ab, 0x85ebca77)) & this.mask;
    while (this.keyLeft[slot] !== EMPTY && (this.keyLeft[slot] !== left || this.keyRight[slot] !== right)) {
      slot = (slot + 1) & this.mask;
    }
    return slot;
  }

  /** The slot of the merge of (left, right), or -1 when the pair never merges. */
  private find(left: number, right: number): number {
    const slot = this.slotOf(left, right);
    return this.keyLeft[slot] === EMPTY ? -1 : slot;
  }

  /** Merges ids[0..length) (overwritten) and appends the resulting ids to `out`. */
  mergeInto(ids: Int32Array, length: number, out: number[]): void {
    if (length < 2) {
      if (length === 1) out.push(ids[0]);
      return;
    }
    if (this.prev.length < length) {
      this.prev = new Int32Array(length);
      this.next = new Int32Array(length);
    }
    const { prev, next, heap, slotPriority, slotResult } = this;
    for (let i = 0; i < length; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    heap.clear();
    for (let i = 0; i + 1 < length; i++) {
      const slot = this.find(ids[i], ids[i + 1]);
      if (slot >= 0) heap.push(slotPriority[slot], i);
    }
    while (heap.size > 0) {
      const priority = heap.peekPrimary();
      const left = heap.peekSecondary();
      heap.pop();
      const right = next[left];
      // Entries go stale when a neighbour merges; only act if the pair there still has this priority.
      if (ids[left] === DEAD || right >= length) continue;
      const slot = this.find(ids[left], ids[right]);
      if (slot < 0 || slotPriority[slot] !== priority) continue;
      ids[left] = slotResult[slot];
      ids[right] = DEAD;
      const after = next[right];
      next[left] = after;
      if (after < length) {
        prev[after] = left;
        const s = this.find(ids[left], ids[after]);
        if (s >= 0) heap.push(slotPriority[s], left);
      }
      const before = prev[left];
      if (before >= 0) {
        const s = this.find(ids[before], ids[left]);
        if (s >= 0) heap.push(slotPriority[s], before);
      }
    }
    for (let i = 0; i < length; i = next[i]) out.push(ids[i]);
  }
}

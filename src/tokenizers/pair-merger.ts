// The BPE merge loop shared by every BPE tokenizer in inkwell (GPT-2's, trained ones, tokenizer.json's).
import { PairHeap } from './heap.js';
import { slotOrder } from './slot-order.js';

/** `left` followed by `right` becomes `result`; among mergeable adjacent pairs the lowest priority goes first. */
export interface Merge {
  left: number;
  right: number;
  result: number;
  priority: number;
}

const EMPTY = -1;
const DEAD = -1;
/** A slot of the pair table is 4 int32s: left, right, result, priority (one cache line holds 4 slots). */
const LEFT = 0;
const RIGHT = 1;
const RESULT = 2;
const PRIORITY = 3;
const STRIDE = 4;

/**
 * Merges a sequence of token ids the BPE way, in O(n log n): a linked list of parts plus a heap of
 * candidate merges keyed (priority, position), so equal priorities merge leftmost first as in both
 * tiktoken and Hugging Face's `tokenizers`. Pairs live in an open-addressing table of int32 keys: a
 * vocabulary's half-million merges looked up millions of times is the hot path of encoding.
 */
export class PairMerger {
  private count = 0;
  private readonly mask: number;
  /** Slot i at table[i * STRIDE]; a slot whose left is EMPTY is free. */
  private readonly table: Int32Array;
  private readonly heap = new PairHeap();
  private prev = new Int32Array(256);
  private next = new Int32Array(256);

  /** `capacity`: at least the number of merges to add. */
  constructor(capacity: number) {
    let slots = 16;
    while (slots < capacity * 1.5) slots *= 2;
    this.mask = slots - 1;
    this.table = new Int32Array(slots * STRIDE).fill(EMPTY);
  }

  static from(merges: readonly Merge[]): PairMerger {
    const merger = new PairMerger(merges.length);
    for (const { left, right, result, priority } of merges) merger.add(left, right, result, priority);
    return merger;
  }

  /**
   * The merges of a list of three ids per merge (left, right, result), merge i with priority i. They go
   * in in the order of their slots, not their priorities: at load, random writes into a table of
   * megabytes cost more than all the rest of building it, and writes in order stay in cache. (Where
   * each lands is the same either way up to the order within a run of taken slots, which lookups do
   * not depend on.)
   */
  static fromList(merges: Int32Array): PairMerger {
    const n = merges.length / 3;
    const merger = new PairMerger(n);
    const first = new Int32Array(n);
    for (let i = 0; i < n; i++) first[i] = merger.firstSlot(merges[3 * i]!, merges[3 * i + 1]!);
    merger.addInOrder(merges, slotOrder(first, merger.mask + 1));
    return merger;
  }

  private addInOrder(merges: Int32Array, order: Int32Array): void {
    for (let j = 0; j < order.length; j++) {
      const i = order[j]!;
      this.add(merges[3 * i]!, merges[3 * i + 1]!, merges[3 * i + 2]!, i);
    }
  }

  /** Adds a merge; a pair added twice keeps its lowest priority, as the first listed wins in a merges list. */
  add(left: number, right: number, result: number, priority: number): void {
    const at = this.slotOf(left, right);
    const table = this.table;
    if (table[at + LEFT] === EMPTY) {
      if (++this.count > this.mask * 0.75) throw new RangeError('PairMerger: more merges than its capacity');
      table[at + LEFT] = left;
      table[at + RIGHT] = right;
    } else if (table[at + PRIORITY]! <= priority) {
      return;
    }
    table[at + RESULT] = result;
    table[at + PRIORITY] = priority;
  }

  /** The number of distinct pairs. */
  get size(): number {
    return this.count;
  }

  /** The slot where the probe for (left, right) starts. */
  private firstSlot(left: number, right: number): number {
    return (Math.imul(left, 0x9e3779b1) ^ Math.imul(right + 0x632be5ab, 0x85ebca77)) & this.mask;
  }

  /** Where in the table the slot holding (left, right) starts, or the empty slot where it would go. */
  private slotOf(left: number, right: number): number {
    const table = this.table;
    let slot = this.firstSlot(left, right);
    for (;;) {
      const at = slot * STRIDE;
      const l = table[at + LEFT];
      if (l === EMPTY || (l === left && table[at + RIGHT] === right)) return at;
      slot = (slot + 1) & this.mask;
    }
  }

  /** Where the slot of the merge of (left, right) starts, or -1 when the pair never merges. */
  private find(left: number, right: number): number {
    const at = this.slotOf(left, right);
    return this.table[at + LEFT] === EMPTY ? -1 : at;
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
    const { prev, next, heap, table } = this;
    for (let i = 0; i < length; i++) {
      prev[i] = i - 1;
      next[i] = i + 1;
    }
    heap.clear();
    for (let i = 0; i + 1 < length; i++) {
      const slot = this.find(ids[i], ids[i + 1]);
      if (slot >= 0) heap.push(table[slot + PRIORITY]!, i);
    }
    while (heap.size > 0) {
      const priority = heap.peekPrimary();
      const left = heap.peekSecondary();
      heap.pop();
      const right = next[left];
      // Entries go stale when a neighbour merges; only act if the pair there still has this priority.
      if (ids[left] === DEAD || right >= length) continue;
      const slot = this.find(ids[left], ids[right]);
      if (slot < 0 || table[slot + PRIORITY] !== priority) continue;
      ids[left] = table[slot + RESULT]!;
      ids[right] = DEAD;
      const after = next[right];
      next[left] = after;
      if (after < length) {
        prev[after] = left;
        const s = this.find(ids[left], ids[after]);
        if (s >= 0) heap.push(table[s + PRIORITY]!, left);
      }
      const before = prev[left];
      if (before >= 0) {
        const s = this.find(ids[before], ids[left]);
        if (s >= 0) heap.push(table[s + PRIORITY]!, before);
      }
    }
    for (let i = 0; i < length; i = next[i]) out.push(ids[i]);
  }
}

import { BpeTokenizer } from './bpe.js';
import { SPLIT_PATTERNS, checkSplitName, specialTokenPattern, type SplitName } from './byte-bpe.js';
import { PairHeap } from './heap.js';

// Pair keys are left * PAIR_STRIDE + right, exact in a double for ids below the stride.
const PAIR_STRIDE = 2 ** 24;

export interface TrainBpeOptions {
  /** 256 byte tokens plus the number of merges to learn; special tokens come on top. */
  vocabSize: number;
  /** Pre-tokenisation, default 'gpt4'; 'none' lets merges span the whole text (minbpe's BasicTokenizer). */
  split?: SplitName;
  /** Registered with ids right after the merges, in this order; their occurrences are left out of training. */
  specialTokens?: readonly string[];
}

/**
 * Learns byte-level BPE merges like minbpe: repeatedly merge the most frequent adjacent pair, ties going to
 * the pair that occurs first in the text. Training may stop early if the text runs out of pairs.
 */
export function trainBpe(text: string, options: TrainBpeOptions): BpeTokenizer {
  const { vocabSize, split = 'gpt4', specialTokens = [] } = options;
  if (!Number.isInteger(vocabSize) || vocabSize < 256 || vocabSize > PAIR_STRIDE) {
    throw new RangeError(`vocabSize must be an integer from 256 (the byte tokens) to ${PAIR_STRIDE}, got ${vocabSize}`);
  }
  checkSplitName(split);

  const stats = new PairStats(countPieces(text, split, specialTokens));
  const merges: [number, number][] = [];
  while (256 + merges.length < vocabSize) {
    const pair = stats.takeBestPair();
    if (pair === undefined) break;
    merges.push(stats.merge(pair, 256 + merges.length));
  }
  const specialIds = Object.fromEntries(specialTokens.map((name, i) => [name, 256 + merges.length + i]));
  return new BpeTokenizer(merges, split, specialIds);
}

/** Distinct pre-tokens with their counts, in order of first appearance (which decides ties). */
function countPieces(text: string, split: SplitName, specialTokens: readonly string[]): Map<string, number> {
  const counts = new Map<string, number>();
  const specials = specialTokenPattern(specialTokens);
  const pieceSource = SPLIT_PATTERNS[split];
  const pattern = pieceSource === null ? null : new RegExp(pieceSource, 'gu');
  for (const segment of specials === null ? [text] : text.split(specials)) {
    if (pattern === null) {
      if (segment !== '') counts.set(segment, (counts.get(segment) ?? 0) + 1);
      continue;
    }
    for (const [piece] of segment.matchAll(pattern)) counts.set(piece, (counts.get(piece) ?? 0) + 1);
  }
  return counts;
}

/**
 * Pair counts over the distinct pre-tokens ("chunks"), weighted by how often each chunk occurs, updated
 * incrementally around each merged occurrence instead of recounted, plus a max-heap to find the top pair.
 */
class PairStats {
  private readonly chunks: Int32Array[] = [];
  private readonly chunkLengths: number[] = [];
  private readonly chunkWeights: number[] = [];
  private readonly pairIdByKey = new Map<number, number>();
  private readonly pairLeft: number[] = [];
  private readonly pairRight: number[] = [];
  private readonly pairCount: number[] = [];
  /** Chunks that contain (or once contained) each pair: a superset, pruned lazily. */
  private readonly pairChunks: Set<number>[] = [];
  /** Entries (-count, pairId); an entry is stale once the pair's count differs from it. */
  private readonly heap = new PairHeap();
  private readonly changedPairs = new Set<number>();

  constructor(pieceCounts: Map<string, number>) {
    const encoder = new TextEncoder();
    for (const [piece, count] of pieceCounts) {
      const ids = Int32Array.from(encoder.encode(piece));
      const chunk = this.chunks.length;
      this.chunks.push(ids);
      this.chunkLengths.push(ids.length);
      this.chunkWeights.push(count);
      for (let i = 0; i + 1 < ids.length; i++) this.addToPair(ids[i], ids[i + 1], count, chunk);
    }
    this.pushChangedPairs();
  }

  /** Removes and returns the most frequent pair id, or undefined when no pair is left. */
  takeBestPair(): number | undefined {
    const tied = new Set<number>();
    let bestCount = 0;
    while (this.heap.size > 0) {
      const count = -this.heap.peekPrimary();
      if (tied.size > 0 && count !== bestCount) break;
      const pair = this.heap.peekSecondary();
      this.heap.pop();
      if (count === 0 || this.pairCount[pair] !== count) continue;
      bestCount = count;
      tied.add(pair);
    }
    if (tied.size <= 1) return tied.values().next().value;
    const winner = this.firstOccurring(tied);
    for (const pair of tied) if (pair !== winner) this.heap.push(-bestCount, pair);
    return winner;
  }

  /** Replaces every occurrence of `pair` with `newId`; returns the pair as [left, right]. */
  merge(pair: number, newId: number): [number, number] {
    const left = this.pairLeft[pair];
    const right = this.pairRight[pair];
    for (const chunk of this.pairChunks[pair]) this.mergeInChunk(chunk, left, right, newId);
    this.pairChunks[pair].clear();
    this.pushChangedPairs();
    return [left, right];
  }

  private mergeInChunk(chunk: number, left: number, right: number, newId: number): void {
    const ids = this.chunks[chunk];
    const length = this.chunkLengths[chunk];
    const weight = this.chunkWeights[chunk];
    let write = 0;
    for (let read = 0; read < length; ) {
      if (ids[read] !== left || read + 1 >= length || ids[read + 1] !== right) {
        ids[write++] = ids[read++];
        continue;
      }
      // The token before is already final (possibly newId from the previous occurrence), the one after not yet.
      if (write > 0) {
        this.addToPair(ids[write - 1], left, -weight, chunk);
        this.addToPair(ids[write - 1], newId, weight, chunk);
      }
      if (read + 2 < length) {
        this.addToPair(right, ids[read + 2], -weight, chunk);
        this.addToPair(newId, ids[read + 2], weight, chunk);
      }
      this.addToPair(left, right, -weight, chunk);
      ids[write++] = newId;
      read += 2;
    }
    this.chunkLengths[chunk] = write;
  }

  private addToPair(left: number, right: number, delta: number, chunk: number): void {
    const key = left * PAIR_STRIDE + right;
    let pair = this.pairIdByKey.get(key);
    if (pair === undefined) {
      pair = this.pairLeft.length;
      this.pairIdByKey.set(key, pair);
      this.pairLeft.push(left);
      this.pairRight.push(right);
      this.pairCount.push(0);
      this.pairChunks.push(new Set());
    }
    this.pairCount[pair] += delta;
    if (delta > 0) this.pairChunks[pair].add(chunk);
    this.changedPairs.add(pair);
  }

  private pushChangedPairs(): void {
    for (const pair of this.changedPairs) {
      if (this.pairCount[pair] > 0) this.heap.push(-this.pairCount[pair], pair);
    }
    this.changedPairs.clear();
  }

  /** The pair among `pairs` whose first occurrence comes earliest in the (current) text, as minbpe picks. */
  private firstOccurring(pairs: Set<number>): number {
    // Chunks are numbered by first appearance, so the earliest occurrence lies in the lowest-numbered chunk.
    let firstChunk = Infinity;
    for (const pair of pairs) firstChunk = Math.min(firstChunk, this.firstChunkOf(pair));
    const ids = this.chunks[firstChunk];
    for (let i = 0; i + 1 < this.chunkLengths[firstChunk]; i++) {
      const pair = this.pairIdByKey.get(ids[i] * PAIR_STRIDE + ids[i + 1]);
      if (pair !== undefined && pairs.has(pair)) return pair;
    }
    throw new Error('BPE training bookkeeping is inconsistent: a tied pair was not found in its first chunk');
  }

  private firstChunkOf(pair: number): number {
    const chunks = this.pairChunks[pair];
    for (;;) {
      let first = Infinity;
      for (const chunk of chunks) first = Math.min(first, chunk);
      if (this.chunkContains(first, this.pairLeft[pair], this.pairRight[pair])) return first;
      chunks.delete(first); // stale: a merge removed the pair from this chunk
    }
  }

  private chunkContains(chunk: number, left: number, right: number): boolean {
    const ids = this.chunks[chunk];
    for (let i = 0; i + 1 < this.chunkLengths[chunk]; i++) if (ids[i] === left && ids[i + 1] === right) return true;
    return false;
  }
}

// Batches of variable-length fine-tuning examples, and the one truncation rule they all follow.
//
// Padding goes on the right. Attention is causal, so a position never sees the padding after it: the
// hidden state of a sequence's last real token, and the logits of every real position, are exactly
// what the sequence alone would give. Padded positions are excluded by their targets (ignoreIndex)
// or, for a classifier, by reading only the last real position.

/** Target id of positions that contribute no loss (padding, prompt tokens). */
export const IGNORE_INDEX = -1;

/** The id padding positions are filled with; any valid id works, since their outputs are never read. */
export const PAD_ID = 0;

/**
 * Truncation rule for an example longer than the context: keep its LAST `max` tokens. The end is what
 * matters for both tasks: an SFT example's completion and end-of-turn are at the end, and a classifier
 * reads the last token. Returns the ids unchanged when they fit.
 */
export function truncateTokens<T>(ids: readonly T[], max: number): T[] {
  return ids.length > max ? ids.slice(ids.length - max) : [...ids];
}

export interface PaddedBatch {
  /** Token ids [B, T], right-padded with PAD_ID. */
  idx: Int32Array;
  B: number;
  /** The longest sequence's length. */
  T: number;
  /** Real (unpadded) length of each sequence. */
  lengths: Int32Array;
}

export function padBatch(rows: readonly (readonly number[])[]): PaddedBatch {
  if (rows.length === 0) throw new Error('padBatch: no sequences');
  const B = rows.length;
  const T = Math.max(...rows.map((r) => r.length));
  if (T === 0) throw new Error('padBatch: every sequence is empty');
  const idx = new Int32Array(B * T).fill(PAD_ID);
  const lengths = new Int32Array(B);
  rows.forEach((row, b) => {
    if (row.length === 0) throw new Error(`padBatch: sequence ${b} is empty`);
    idx.set(row, b * T);
    lengths[b] = row.length;
  });
  return { idx, B, T, lengths };
}

/** Targets [B, T] for right-padded rows: each row's targets, then IGNORE_INDEX. */
export function padTargets(rows: readonly (readonly number[])[], T: number): Int32Array {
  const out = new Int32Array(rows.length * T).fill(IGNORE_INDEX);
  rows.forEach((row, b) => out.set(row, b * T));
  return out;
}

// Filling a hash table of megabytes at load: writes in random slots miss the cache at every step, so
// the tables of a large vocabulary (VocabTable, PairMerger) are filled in the order of their slots.

/**
 * The indices 0..n-1 ordered by the top bits of `slots[i]` (a slot number below `capacity`, a power of
 * two): a stable counting sort into 1024 runs of nearby slots. Stable, so that items of one slot keep
 * their order (where a later duplicate must replace an earlier one).
 */
export function slotOrder(slots: Int32Array, capacity: number): Int32Array {
  const shift = Math.max(0, Math.log2(capacity) - 10);
  const starts = new Int32Array((capacity >>> shift) + 1);
  for (let i = 0; i < slots.length; i++) starts[(slots[i]! >>> shift) + 1]++;
  for (let b = 1; b < starts.length; b++) starts[b]! += starts[b - 1]!;
  const order = new Int32Array(slots.length);
  for (let i = 0; i < slots.length; i++) order[starts[slots[i]! >>> shift]!++] = i;
  return order;
}

/**
 * Binary min-heap of (primary, secondary) number pairs, ordered lexicographically.
 * Typed arrays instead of entry objects because BPE encoding and training push
 * millions of short-lived entries.
 */
export class PairHeap {
  private primary = new Float64Array(64);
  private secondary = new Float64Array(64);
  private count = 0;

  get size(): number {
    return this.count;
  }

  clear(): void {
    this.count = 0;
  }

  push(primary: number, secondary: number): void {
    if (this.count === this.primary.length) this.grow();
    let i = this.count++;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(primary, secondary, parent)) break;
      this.primary[i] = this.primary[parent];
      this.secondary[i] = this.secondary[parent];
      i = parent;
    }
    this.primary[i] = primary;
    this.secondary[i] = secondary;
  }

  /** Primary of the smallest entry; only valid when size > 0. */
  peekPrimary(): number {
    return this.primary[0];
  }

  /** Secondary of the smallest entry; only valid when size > 0. */
  peekSecondary(): number {
    return this.secondary[0];
  }

  /** Removes the smallest entry; read it with peekPrimary/peekSecondary first. */
  pop(): void {
    const last = --this.count;
    if (last === 0) return;
    const primary = this.primary[last];
    const secondary = this.secondary[last];
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && this.entryLess(child + 1, this.primary[child], this.secondary[child])) child++;
      if (!this.entryLess(child, primary, secondary)) break;
      this.primary[i] = this.primary[child];
      this.secondary[i] = this.secondary[child];
      i = child;
    }
    this.primary[i] = primary;
    this.secondary[i] = secondary;
  }

  /** Whether (primary, secondary) sorts before the entry at index. */
  private less(primary: number, secondary: number, index: number): boolean {
    const other = this.primary[index];
    return primary < other || (primary === other && secondary < this.secondary[index]);
  }

  /** Whether the entry at index sorts before (primary, secondary). */
  private entryLess(index: number, primary: number, secondary: number): boolean {
    const own = this.primary[index];
    return own < primary || (own === primary && this.secondary[index] < secondary);
  }

  private grow(): void {
    const primary = new Float64Array(this.primary.length * 2);
    const secondary = new Float64Array(this.secondary.length * 2);
    primary.set(this.primary);
    secondary.set(this.secondary);
    this.primary = primary;
    this.secondary = secondary;
  }
}

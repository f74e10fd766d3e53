// Seeded randomness. Two kinds:
// - `Rng`: a sequential generator (xoshiro128**) for initialisation, batch sampling and dropout seeds;
//   its state is four u32 words, so checkpoints can save and restore it exactly.
// - `hashUniform`: a counter-based hash, so a dropout mask is a pure function of (seed, index). Backward
//   recomputes it instead of storing it, and the C kernels compute the very same bits.

/** lowbias32 (Chris Wellons' integer hash); the C kernels implement the identical function. */
export function mix32(x: number): number {
  x ^= x >>> 16;
  x = Math.imul(x, 0x7feb352d);
  x ^= x >>> 15;
  x = Math.imul(x, 0x846ca68b);
  x ^= x >>> 16;
  return x >>> 0;
}

/** Uniform in [0, 1) with 24 random bits, from (seed, counter). */
export function hashUniform(seed: number, counter: number): number {
  return (mix32((counter + mix32(seed)) >>> 0) >>> 8) * (1 / 16777216);
}

/** What a user's one seed drives: weights are drawn from Rng(seed) itself; the order of examples (batches)
 * and held-out splits from their own streams, so that none replays another's numbers. */
export const STREAM = { order: 1, split: 2 } as const;

/** The seed of stream `stream` derived from a user's seed. */
export function streamSeed(seed: number, stream: number): number {
  return mix32((seed >>> 0) ^ mix32((stream + 0x9e3779b9) >>> 0));
}

/** What batch sampling needs from a generator, with a state a checkpoint can save. */
export interface IndexSource {
  /** Integer in [0, n). */
  int(n: number): number;
  getState(): (number | null)[];
  setState(state: (number | null)[]): void;
}

export class Rng implements IndexSource {
  private s: Uint32Array;
  private spareNormal: number | null = null;

  constructor(seed = 1337) {
    // splitmix32 expands one seed into four non-zero state words.
    this.s = new Uint32Array(4);
    let z = seed >>> 0;
    for (let i = 0; i < 4; i++) {
      z = (z + 0x9e3779b9) >>> 0;
      this.s[i] = mix32(z) || 1;
    }
  }

  /** Next u32. */
  nextU32(): number {
    const s = this.s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  uniform(): number {
    return ((this.nextU32() >>> 5) * 67108864 + (this.nextU32() >>> 6)) / 9007199254740992;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** 0..n−1 in random order (Fisher–Yates from the last index down). */
  permutation(n: number): number[] {
    const order = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return order;
  }

  /** Standard normal (Box-Muller, both values used). */
  normal(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    const theta = 2 * Math.PI * this.uniform();
    this.spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  getState(): (number | null)[] {
    return [...this.s, this.spareNormal];
  }

  setState(state: (number | null)[]): void {
    if (state.length !== 5) throw new Error(`Rng state must have 5 entries, got ${state.length}`);
    for (let i = 0; i < 4; i++) this.s[i] = Number(state[i]) >>> 0;
    this.spareNormal = state[4] ?? null;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

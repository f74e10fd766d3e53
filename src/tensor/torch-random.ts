// PyTorch's CPU generator (torch.manual_seed → mt19937) and the draws its kernels make from it, so a
// run can follow a PyTorch program's randomness number for number: `randint` as torch.randint, and the
// fills of `uniform_` and `normal_` (16 elements or more: uniforms first, then Box–Muller in blocks of
// 16; fewer: double-precision Box–Muller pairs, the second value kept for the next draw).

import type { IndexSource } from './random.js';

const N = 624, M = 397;

export class TorchGenerator implements IndexSource {
  private readonly mt = new Uint32Array(N);
  private index = N;
  private spareNormal: number | null = null;

  constructor(seed = 67280421310721) {
    this.manualSeed(seed);
  }

  /** torch.manual_seed: the seed's low 32 bits initialise mt19937. */
  manualSeed(seed: number): void {
    const mt = this.mt;
    mt[0] = Number(BigInt.asUintN(32, BigInt(Math.trunc(seed))));
    for (let i = 1; i < N; i++) {
      const prev = mt[i - 1]! ^ (mt[i - 1]! >>> 30);
      mt[i] = (Math.imul(prev, 1812433253) + i) >>> 0;
    }
    this.index = N;
    this.spareNormal = null;
  }

  /** mt19937's next 32-bit output. */
  nextU32(): number {
    if (this.index >= N) this.twist();
    let y = this.mt[this.index++]!;
    y ^= y >>> 11;
    y ^= (y << 7) & 0x9d2c5680;
    y ^= (y << 15) & 0xefc60000;
    y ^= y >>> 18;
    return y >>> 0;
  }

  private twist(): void {
    const mt = this.mt;
    for (let i = 0; i < N; i++) {
      const y = (mt[i]! & 0x80000000) | (mt[(i + 1) % N]! & 0x7fffffff);
      mt[i] = mt[(i + M) % N]! ^ (y >>> 1) ^ (y & 1 ? 0x9908b0df : 0);
    }
    this.index = 0;
  }

  private nextU64(): bigint {
    const hi = BigInt(this.nextU32());
    return (hi << 32n) | BigInt(this.nextU32());
  }

  /** torch.randint(n, ()) for one element: the next output modulo n (a 64-bit output when n ≥ 2^32). */
  int(n: number): number {
    return n < 2 ** 32 ? this.nextU32() % n : Number(this.nextU64() % BigInt(n));
  }

  /** A double uniform in [0, 1): 53 bits of a 64-bit output. */
  private uniform53(): number {
    return Number(this.nextU64() & ((1n << 53n) - 1n)) * 2 ** -53;
  }

  /** One standard normal as at::normal_distribution<double> draws it. */
  private normalDouble(): number {
    if (this.spareNormal !== null) {
      const v = this.spareNormal;
      this.spareNormal = null;
      return v;
    }
    const u1 = this.uniform53(), u2 = this.uniform53();
    const r = Math.sqrt(-2 * Math.log(1 - u2)), theta = 2 * Math.PI * u1;
    this.spareNormal = r * Math.sin(theta);
    return r * Math.cos(theta);
  }

  /** A float32 uniform in [0, 1) as torch draws it: 24 bits of one output. */
  private uniform24(): number {
    return (this.nextU32() & 0xffffff) * (1 / 16777216);
  }

  /** tensor.uniform_(low, high) on a float32 tensor of out.length elements. */
  uniform_(out: Float32Array, low: number, high: number): Float32Array {
    const from = Math.fround(low), span = Math.fround(Math.fround(high) - from);
    for (let i = 0; i < out.length; i++) out[i] = this.uniform24() * span + from;
    return out;
  }

  /** tensor.normal_(mean, std) on a contiguous float32 tensor. */
  normal_(out: Float32Array, mean: number, std: number): Float32Array {
    const n = out.length;
    if (n < 16) {
      for (let i = 0; i < n; i++) out[i] = this.normalDouble() * std + mean;
      return out;
    }
    for (let i = 0; i < n; i++) out[i] = this.uniform24();
    for (let i = 0; i + 16 <= n; i += 16) boxMuller16(out, i, mean, std);
    if (n % 16 !== 0) {
      // PyTorch redraws the last 16 values and transforms them again.
      for (let i = n - 16; i < n; i++) out[i] = this.uniform24();
      boxMuller16(out, n - 16, mean, std);
    }
    return out;
  }

  /** Advances past the draws of a normal_ fill of `count` elements without computing them. */
  skipNormal(count: number): void {
    if (count < 16) for (let i = 0; i < count; i++) this.normalDouble();
    else this.skipUniform(count + (count % 16 === 0 ? 0 : 16));
  }

  skipUniform(count: number): void {
    for (let i = 0; i < count; i++) this.nextU32();
  }

  getState(): (number | null)[] {
    return [...this.mt, this.index, this.spareNormal];
  }

  setState(state: (number | null)[]): void {
    if (state.length !== N + 2) throw new Error(`TorchGenerator state must have ${N + 2} entries, got ${state.length}`);
    for (let i = 0; i < N; i++) this.mt[i] = Number(state[i]) >>> 0;
    this.index = Number(state[N]);
    this.spareNormal = state[N + 1] ?? null;
  }
}

/** normal_fill_16: pairs (u1 = data[j], u2 = data[j + 8]) become two normals, in float32 as PyTorch's
 * AVX2 path computes them (its log and sincos are approximations, so values agree to about an ulp). */
function boxMuller16(data: Float32Array, at: number, mean: number, std: number): void {
  const f = Math.fround, twoPi = f(2 * Math.PI);
  for (let j = at; j < at + 8; j++) {
    const u1 = f(1 - data[j]!), u2 = data[j + 8]!;
    const radius = f(Math.sqrt(f(-2 * f(Math.log(u1)))));
    const theta = f(twoPi * u2);
    data[j] = f(radius * f(Math.cos(theta))) * std + mean;
    data[j + 8] = f(radius * f(Math.sin(theta))) * std + mean;
  }
}

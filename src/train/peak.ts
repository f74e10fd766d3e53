// The machine's matmul peak (FLOP/s) that MFU is measured against: the rate the backend reaches on a
// GPT-shaped product (4096×1536×384), measured once and cached per backend, thread count and precision
// (a bfloat16 run's MFU is against the bfloat16 rate of the path its products take).
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { cacheDir } from '../io/cache.js';
import { backend } from '../tensor/backends/index.js';
import { amxPeakFlops, nativeMatmulPath, setMatmulPath } from '../tensor/backends/native.js';
import type { MatmulPrecision } from '../tensor/ops/matmul.js';

/** Measures the active backend's matmul rate; `reps` products after one warm-up. */
export function measureMatmulFlops(M = 4096, N = 1536, K = 384, reps = 8, precision: MatmulPrecision = 'float32'): number {
  const b = backend(), bf16 = precision === 'bfloat16';
  const a = new Float32Array(M * K).fill(0.5), w = new Float32Array(K * N).fill(0.25), c = new Float32Array(M * N);
  b.matmul(a, w, c, null, 1, M, N, K, false, false, false, 0, bf16);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    b.matmul(a, w, c, null, 1, M, N, K, false, false, false, 0, bf16);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * M * N * K) / (best / 1000);
}

const peakFile = () => join(cacheDir(), 'peak.json');
const peakKey = (precision: MatmulPrecision) => `${backend().name}-${backend().threads}` +
  (precision === 'float32' ? '' : `-${precision}${backend().name === 'native' ? `-${nativeMatmulPath().path}` : ''}`);

/** Cached peaks by backend and thread count; empty when there is no readable cache yet. */
function readPeaks(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(peakFile(), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** The cached peak for the active backend, measured now if there is none. */
export function peakFlops(precision: MatmulPrecision = 'float32'): number {
  const cached = readPeaks()[peakKey(precision)];
  if (typeof cached === 'number' && cached > 0) return cached;
  // The js backend is slow: measure it on a smaller product.
  const peak = backend().name === 'js' ? measureMatmulFlops(256, 384, 384, 2, precision) : measureMatmulFlops(4096, 1536, 384, 8, precision);
  recordPeak(peak, precision);
  return peak;
}

export function recordPeak(flops: number, precision: MatmulPrecision = 'float32'): void {
  const cache = { ...readPeaks(), [peakKey(precision)]: flops };
  try {
    mkdirSync(cacheDir(), { recursive: true });
    writeFileAtomic(peakFile(), JSON.stringify(cache, null, 2) + '\n');
  } catch {
    // A read-only cache only costs a re-measurement next time.
  }
}

const gflops = (flops: number) => `${Math.round(flops / 1e9).toLocaleString('en-US')} GFLOP/s`;

/**
 * The start-up line saying what MFU is measured against: the peak above, on the path products take; where
 * the CPU has AMX, also the tile peak (a register-only TDPBF16PS loop, ~5 ms) and the MFU that a step at
 * the peak above would have against it, the ceiling of the tiles' use.
 */
export function describePeak(peak: number, precision: MatmulPrecision = 'float32'): string {
  const path = backend().name === 'native' ? `${precision === 'float32' ? 'float32' : nativeMatmulPath().path} path` : `${backend().name} backend`;
  const tiles = backend().name === 'native' ? amxPeakFlops(20_000) : 0;
  return `mfu is against ${gflops(peak)}, the ${precision} product rate measured on the ${path} (4096×1536×384)` +
    (tiles > 0 ? `; the AMX tile peak is ${gflops(tiles)} (that rate is ${(100 * peak / tiles).toFixed(1)}% of it)` : '');
}

/**
 * bfloat16 is never a slowdown: when the path bfloat16 products take on this CPU runs slower than float32
 * products (the cached or measured peaks), they move to the float32 kernel on operands rounded to
 * bfloat16 (the same rounding as every path, so training still rounds as autocast would). A path forced
 * by INKWELL_MATMUL_PATH is kept. Returns the start-up line's tail: the CPU, the path and why.
 */
export function chooseBfloat16Path(): string {
  const { cpu, path } = nativeMatmulPath();
  if (backend().name !== 'native') return `on ${cpu}: the ${backend().name} backend rounds the operands and multiplies in float32`;
  if (path === 'float32' || process.env.INKWELL_MATMUL_PATH) return `on ${cpu}: path ${path}`;
  const bf16 = peakFlops('bfloat16'), f32 = peakFlops('float32');
  if (bf16 > f32) return `on ${cpu}: path ${path} (${gflops(bf16)} against ${gflops(f32)} in float32)`;
  setMatmulPath('float32');
  return `on ${cpu}: path ${path} is no faster than float32 here (${gflops(bf16)} against ` +
    `${gflops(f32)}), so operands are rounded to bfloat16 and multiplied by the float32 kernel (path float32)`;
}

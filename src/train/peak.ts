// The machine's matmul peak (FLOP/s) that MFU is measured against: the rate the backend reaches on a
// GPT-shaped product (4096×1536×384), measured once and cached per backend and thread count.
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../io/atomic.js';
import { cacheDir } from '../io/cache.js';
import { backend } from '../tensor/backends/index.js';

/** Measures the active backend's matmul rate; `reps` products after one warm-up. */
export function measureMatmulFlops(M = 4096, N = 1536, K = 384, reps = 8): number {
  const b = backend();
  const a = new Float32Array(M * K).fill(0.5), w = new Float32Array(K * N).fill(0.25), c = new Float32Array(M * N);
  b.matmul(a, w, c, null, 1, M, N, K, false, false, false, 0);
  let best = Infinity;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    b.matmul(a, w, c, null, 1, M, N, K, false, false, false, 0);
    best = Math.min(best, performance.now() - t0);
  }
  return (2 * M * N * K) / (best / 1000);
}

const peakFile = () => join(cacheDir(), 'peak.json');
const peakKey = () => `${backend().name}-${backend().threads}`;

/** Cached peaks by backend and thread count; empty when there is no readable cache yet. */
function readPeaks(): Record<string, number> {
  try {
    return JSON.parse(readFileSync(peakFile(), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

/** The cached peak for the active backend, measured now if there is none. */
export function peakFlops(): number {
  const cached = readPeaks()[peakKey()];
  if (typeof cached === 'number' && cached > 0) return cached;
  // The js backend is slow: measure it on a smaller product.
  const peak = backend().name === 'js' ? measureMatmulFlops(256, 384, 384, 2) : measureMatmulFlops();
  recordPeak(peak);
  return peak;
}

export function recordPeak(flops: number): void {
  const cache = { ...readPeaks(), [peakKey()]: flops };
  try {
    mkdirSync(cacheDir(), { recursive: true });
    writeFileAtomic(peakFile(), JSON.stringify(cache, null, 2) + '\n');
  } catch {
    // A read-only cache only costs a re-measurement next time.
  }
}

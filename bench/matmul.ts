// Matmul microbenchmark: GFLOP/s of the native and js backends on the matrix shapes of a GPT training
// step (forward, and the two backward products dA = dC·Bᵀ and dB = Aᵀ·dC) and of decoding (M = 1), with
// numpy's matmul (OpenBLAS when numpy links it) measured in the same run as the reference; and the
// native bfloat16 products (dtype=bfloat16 training) of the training shapes on every path this CPU has
// (amx, avx512-bf16, float32: INKWELL_MATMUL_PATH picks one) against its own float32, with the AMX tile
// unit's peak (a register-only tile loop) and each AMX product's share of it.
//
//   node dist/bench/matmul.js [--json] [--quick]
//
// Each figure is the median of several repetitions. The js backend is measured on the same shapes cut to
// JS_ROWS rows of C (it runs at ~1 GFLOP/s), a few repetitions each.
import { pathToFileURL } from 'node:url';
import '../src/tensor/backends/index.js';
import { backendNames, getBackendByName, type Backend } from '../src/tensor/backend.js';
import { amxPeakFlops, nativeMatmulPath, setMatmulPath, type MatmulPath } from '../src/tensor/backends/native.js';
import { jsonOutput, report, runPythonPeer, withReference, type Measurement } from './lib.js';

interface Shape {
  label: string;
  M: number;
  N: number;
  K: number;
  transA: boolean;
  transB: boolean;
}

const JS_ROWS = 64;

/** C [M,N] = op(A) op(B): the forward product, then dA = dC·Bᵀ and dB = Aᵀ·dC of the same layer. */
function withBackward(label: string, M: number, N: number, K: number): Shape[] {
  return [
    { label: `${label} fwd`, M, N, K, transA: false, transB: false },
    { label: `${label} dA`, M, N: K, K: N, transA: false, transB: true },
    { label: `${label} dB`, M: K, N, K: M, transA: true, transB: false },
  ];
}

export const matmulShapes: Shape[] = [
  ...withBackward('mlp up', 4096, 1536, 384),
  ...withBackward('mlp down', 4096, 384, 1536),
  ...withBackward('qkv', 4096, 1152, 384),
  ...withBackward('attn proj', 4096, 384, 384),
  ...withBackward('lm head', 4096, 65, 384),
  { label: 'decode lm head', M: 1, N: 50257, K: 768, transA: false, transB: true },
  { label: 'decode qkv', M: 1, N: 2304, K: 768, transA: false, transB: false },
  { label: 'decode qkv', M: 1, N: 2304, K: 768, transA: false, transB: true },
];

function layout(s: Shape): string {
  return `${s.transA ? 'T' : 'N'}${s.transB ? 'T' : 'N'}`;
}

function shapeName(s: Shape, M = s.M): string {
  return `${s.label} ${M}x${s.N}x${s.K} ${layout(s)}`;
}

function randomArray(n: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.random() - 0.5;
  return a;
}

/** Median seconds of `reps` calls after one warm-up call; reps adapt so a shape takes ~budget seconds. */
function timeMatmul(be: Backend, s: Shape, M: number, budget: number, maxReps: number): number {
  return timeVariants(be, s, M, budget, maxReps, [() => {}])[0]!;
}

/**
 * Median seconds of the product under each variant (a set-up run before it: precision path, ...), the
 * variants taking turns call by call so a machine whose speed drifts (other processes on its cores) slows
 * them alike. A variant returning true multiplies in bfloat16.
 */
function timeVariants(be: Backend, s: Shape, M: number, budget: number, maxReps: number, variants: (() => boolean | void)[]): number[] {
  const a = randomArray(M * s.K), b = randomArray(s.K * s.N), c = new Float32Array(M * s.N);
  const run = (v: () => boolean | void) => {
    const bf16 = v() === true, t0 = performance.now();
    be.matmul(a, b, c, null, 1, M, s.N, s.K, s.transA, s.transB, false, 0, bf16);
    return (performance.now() - t0) / 1000;
  };
  const first = variants.reduce((sum, v) => sum + run(v), 0);
  const reps = Math.max(1, Math.min(maxReps, Math.ceil(budget / Math.max(first, 1e-6))));
  const times = variants.map(() => [] as number[]);
  for (let r = 0; r < reps; r++) variants.forEach((v, i) => times[i]!.push(run(v)));
  return times.map((t) => t.sort((x, y) => x - y)[Math.floor(t.length / 2)]!);
}

const gflops = (M: number, N: number, K: number, seconds: number) => (2 * M * N * K) / seconds / 1e9;

// numpy in one python process: the median of several runs per shape, and the BLAS library it loaded.
const NUMPY_SCRIPT = `
import json, sys, time
import numpy as np
shapes = json.loads(sys.argv[1])
rng = np.random.default_rng(0)
out = []
for M, N, K, ta, tb in shapes:
    a = rng.random((K, M) if ta else (M, K), dtype=np.float32)
    b = rng.random((N, K) if tb else (K, N), dtype=np.float32)
    A = a.T if ta else a
    B = b.T if tb else b
    t = time.perf_counter(); A @ B; first = time.perf_counter() - t
    times = []
    for _ in range(max(3, min(50, int(0.3 / max(first, 1e-6))))):
        t = time.perf_counter(); A @ B; times.append(time.perf_counter() - t)
    times.sort()
    out.append(2.0 * M * N * K / times[len(times) // 2] / 1e9)
blas = 'numpy'
with open('/proc/self/maps') as f:
    libs = {line.split()[-1].rsplit('/', 1)[-1] for line in f if 'blas' in line.lower()}
for lib in sorted(libs):
    if 'openblas' in lib.lower():
        blas = 'numpy/OpenBLAS'
        break
else:
    if libs:
        blas = 'numpy/' + sorted(libs)[0]
print(json.dumps({'blas': blas, 'gflops': out}))
`;

function numpyReference(shapes: Shape[]): { blas: string; gflops: number[] } | null {
  const spec = shapes.map((s) => [s.M, s.N, s.K, s.transA ? 1 : 0, s.transB ? 1 : 0]);
  const r = runPythonPeer('-c', [NUMPY_SCRIPT, JSON.stringify(spec)], 'matmul bench: numpy') as { blas: string; gflops: number[] } | null;
  return r && Array.isArray(r.gflops) && r.gflops.length === shapes.length ? r : null;
}

/** GFLOP/s rows for every shape: native (with the numpy reference and ratio) and js (on JS_ROWS rows). */
export function matmulMeasurements(opts: { quick?: boolean } = {}): Measurement[] {
  const shapes = opts.quick ? matmulShapes.filter((s) => s.label.startsWith('mlp up') || s.M === 1) : matmulShapes;
  const native = backendNames().includes('native') ? getBackendByName('native') : null;
  const js = getBackendByName('js');
  const rows: Measurement[] = [];
  const reference = numpyReference(shapes);
  if (native) {
    const { path: chosen, supported } = nativeMatmulPath();
    const peak = amxPeakFlops() / 1e9;
    const paths: MatmulPath[] = process.env.INKWELL_MATMUL_PATH ? [chosen] : supported;
    const bf16Rows: Measurement[] = [];
    // Each shape's float32 and bfloat16 products take turns: the machine's speed drifts over a run, and
    // these ratios are the point.
    shapes.forEach((s, i) => {
      // decoding runs float32 (or compressed weights), not bfloat16 products
      const bf16Paths = s.M === 1 ? [] : paths;
      const [f32, ...bf16] = timeVariants(native, s, s.M, 0.5 * (1 + bf16Paths.length), 50, [
        () => false, ...bf16Paths.map((path) => () => (setMatmulPath(path), true)),
      ]).map((seconds) => gflops(s.M, s.N, s.K, seconds));
      rows.push(withReference({ name: `${shapeName(s)} native`, value: f32!, unit: 'GFLOP/s' },
        reference?.gflops[i], reference?.blas ?? 'numpy', true));
      bf16Paths.forEach((path, p) => {
        bf16Rows.push(withReference({ name: `${shapeName(s)} native bfloat16 ${path}`, value: bf16[p]!, unit: 'GFLOP/s' }, f32, 'native float32', true));
        if (path === 'amx' && peak > 0) bf16Rows.push({ name: `${shapeName(s)} native bfloat16 amx / amx peak`, value: bf16[p]! / peak, unit: 'fraction' });
      });
      setMatmulPath(chosen);
    });
    if (peak > 0) rows.push({ name: `amx peak (register-only tile loop, ${native.threads} threads)`, value: peak, unit: 'GFLOP/s' });
    rows.push(...bf16Rows);
  } else {
    process.stderr.write('matmul bench: native addon not built; measuring js only\n');
  }
  for (const s of shapes) {
    const M = Math.min(s.M, JS_ROWS);
    rows.push({ name: `${shapeName(s, M)} js`, value: gflops(M, s.N, s.K, timeMatmul(js, s, M, 0.2, 3)), unit: 'GFLOP/s' });
  }
  return rows;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const native = backendNames().includes('native') ? getBackendByName('native') : null;
  if (!jsonOutput) process.stderr.write(`matmul bench: native ${native ? `${native.threads} threads` : 'unavailable'}\n`);
  report('matmul (GFLOP/s)', matmulMeasurements({ quick: process.argv.includes('--quick') }));
}

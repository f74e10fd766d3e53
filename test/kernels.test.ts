// Kernel tests: every native kernel against the TypeScript oracle (js backend) on random inputs, and every
// backward kernel against central finite differences of its forward kernel, on both backends.
//
// Tolerances, |native - js| <= atol + rtol * |js| elementwise, or "scaled": <= rel * max|js| (for sums of
// many terms, where cancellation makes elementwise relative error meaningless):
// - add, mul, axpy, scale, dropout, embedding fwd/bwd, AdamW's m and v, the KV cache appends:
//   bit-identical (the same float/double operations in the same order).
// - sum, sumSquares: 1e-12 relative (both accumulate in double, in a different order).
// - sumRows: 1e-6 relative (double accumulation, rounded to float once).
// - matmul: scaled 1e-5 (float32 accumulation with FMA vs the oracle's float64); in bfloat16, on every
//   path the CPU has (amx, avx512-bf16, float32), against the oracle's bfloat16 rounding.
// - gelu: 2e-6 relative (measured max 6.5e-7 forward, ~2 ulp), plus 1e-6 absolute for the backward,
//   whose value cancels to 0 near u = -0.75 (measured max abs error 2.4e-7 for |dout| = 1).
// - layernorm out 1e-5, mean/rstd 1e-6 relative; dx, dw, db scaled 1e-5.
// - attention out, dqkv, attentionCached out: scaled 1e-5; lse 1e-6 relative. In bfloat16 (every path):
//   against the oracle's rounding, all but a few elements (rare rounding-tie flips) within scaled 1e-5.
// - gelu in bfloat16: the oracle's rounding of the exact value, all but 0.2% of elements, those within
//   one bfloat16 step.
// - cross-entropy: losses 1e-6, dlogits 1e-5 relative (float lanes, accurate exp, double sums).
// - AdamW param: 1e-6 relative plus 1e-6 lr absolute (double arithmetic like the oracle, but the step's square
//   root and division in float: a float rounding of a step of ~lr).
// - finite differences (float32, central, eps 1e-2; 1e-3 for gelu): within 2e-2 of max(1, max|grad|).
// Inputs are subarray views at non-zero byte offsets, to exercise the addon's view handling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/tensor/backends/index.js';
import { backendNames, getBackendByName, type Backend } from '../src/tensor/backend.js';
import { nativeLoadError, nativeMatmulPath, nativeMissingKernels, setMatmulPath, type MatmulPath } from '../src/tensor/backends/native.js';
import { Rng } from '../src/tensor/random.js';
import { numericGrad } from './helpers.js';

const js = getBackendByName('js');
const native: Backend | null = backendNames().includes('native') ? getBackendByName('native') : null;
const skip = native ? false : `native addon not built (${nativeLoadError()})`;
const backends: Backend[] = native ? [js, native] : [js];

const rng = new Rng(20240611);

/** A Float32Array view of n values uniform in [lo, hi), at a random non-zero offset into its buffer. */
function rand(n: number, lo = -1, hi = 1): Float32Array {
  const off = 1 + rng.int(3);
  const a = new Float32Array(n + off).subarray(off);
  for (let i = 0; i < n; i++) a[i] = lo + (hi - lo) * rng.uniform();
  return a;
}

function ints(n: number, bound: number): Int32Array {
  const a = new Int32Array(n + 1).subarray(1);
  for (let i = 0; i < n; i++) a[i] = rng.int(bound);
  return a;
}

function copy(a: Float32Array): Float32Array {
  const off = 2;
  const c = new Float32Array(a.length + off).subarray(off);
  c.set(a);
  return c;
}

/** Asserts |actual - expected| <= atol + rtol * |expected| elementwise (NaN never passes). */
function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, rtol: number, atol: number, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (!(Math.abs(a - e) <= atol + rtol * Math.abs(e))) {
      assert.fail(`${what}: element ${i}: got ${a}, expected ${e} (|diff| ${Math.abs(a - e)}, allowed ${atol + rtol * Math.abs(e)})`);
    }
  }
}

/** Tolerance relative to the largest expected magnitude (for sums of many terms with cancellation). */
function assertCloseScaled(actual: ArrayLike<number>, expected: ArrayLike<number>, rel: number, what: string): void {
  let scale = 0;
  for (let i = 0; i < expected.length; i++) scale = Math.max(scale, Math.abs(expected[i]!));
  assertClose(actual, expected, 0, rel * Math.max(scale, 1e-30), what);
}

function assertIdentical(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    if (!Object.is(actual[i], expected[i])) assert.fail(`${what}: element ${i}: got ${actual[i]}, expected ${expected[i]}`);
  }
}

// ------------------------------------------------------------------------------------------ matmul

function checkMatmul(batch: number, M: number, N: number, K: number, transA: boolean, transB: boolean,
  accumulate: boolean, withBias: boolean, sharedB: boolean, bf16 = false): void {
  const what = `matmul batch=${batch} ${M}x${N}x${K} transA=${transA} transB=${transB} acc=${accumulate} bias=${withBias} sharedB=${sharedB} bf16=${bf16}`;
  const a = rand(batch * M * K), b = rand((sharedB ? 1 : batch) * K * N), bias = withBias ? rand(N) : null;
  const c0 = rand(batch * M * N);
  const cj = copy(c0), cn = copy(c0);
  const stride = sharedB ? 0 : K * N;
  js.matmul(a, b, cj, bias, batch, M, N, K, transA, transB, accumulate, stride, bf16);
  native!.matmul(a, b, cn, bias, batch, M, N, K, transA, transB, accumulate, stride, bf16);
  assertCloseScaled(cn, cj, 1e-5, what);
}

const oddShapes: [number, number, number][] = [
  [1, 1, 1], [3, 17, 65], [17, 65, 3], [65, 129, 17], [129, 3, 129], [1, 129, 65], [4, 65, 17],
  [8, 33, 129], [15, 31, 33], [29, 64, 100], [13, 16, 1], [2, 300, 40], [20, 48, 70],
];

for (const bf16 of [false, true]) {
  test(`matmul${bf16 ? ' in bfloat16' : ''} matches js: every flag combination on odd shapes`, { skip }, () => {
    for (const [M, N, K] of oddShapes) {
      for (let flags = 0; flags < 16; flags++) {
        checkMatmul(1, M, N, K, (flags & 1) !== 0, (flags & 2) !== 0, (flags & 4) !== 0, (flags & 8) !== 0, false, bf16);
      }
    }
  });
}

test('matmul in bfloat16 rounds each operand to nearest even and accumulates in float32', () => {
  // 1 + 2^-8 lies halfway between bfloat16 neighbours 1 and 1 + 2^-7 (ties to even: 1); 1 + 3·2^-9 rounds
  // up to 1 + 2^-7; 3·2^-20 needs no rounding, and adding it to 1 shows float32 accumulation.
  const a = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -9, 3 * 2 ** -20]), b = new Float32Array([1, 1, 1]);
  for (const be of native ? [js, native] : [js]) {
    const c = new Float32Array(3);
    be.matmul(a, b, c, null, 1, 3, 1, 1, false, false, false, 0, true);
    assert.deepEqual([...c], [1, 1 + 2 ** -7, 3 * 2 ** -20], be.name);
    const dot = new Float32Array(1);
    be.matmul(a, b, dot, null, 1, 1, 1, 3, false, false, false, 0, true);
    assert.equal(dot[0], Math.fround(2 + 2 ** -7 + 3 * 2 ** -20), be.name);
  }
  // On data, the products move off float32's by bfloat16's ~2^-9 relative rounding, not more.
  const M = 64, N = 48, K = 96, x = rand(M * K), w = rand(K * N), full = new Float32Array(M * N), half = new Float32Array(M * N);
  js.matmul(x, w, full, null, 1, M, N, K, false, false, false, 0, false);
  js.matmul(x, w, half, null, 1, M, N, K, false, false, false, 0, true);
  let diff = 0, norm = 0;
  for (let i = 0; i < full.length; i++) diff += (full[i]! - half[i]!) ** 2, norm += full[i]! ** 2;
  const relative = Math.sqrt(diff / norm);
  assert.ok(relative > 2 ** -12 && relative < 2 ** -7, `relative difference ${relative}`);
});

test('matmul matches js: larger shapes (threads, several K slices, GEMV path)', { skip }, () => {
  for (const bf16 of [false, true]) {
    checkMatmul(1, 130, 257, 801, false, false, true, true, false, bf16); // odd last K slice
    checkMatmul(1, 3, 500, 300, false, true, false, true, false, bf16);
  }
  checkMatmul(1, 130, 257, 800, false, false, false, true, false);
  checkMatmul(1, 97, 200, 450, true, true, true, false, false);
  checkMatmul(1, 200, 65, 384, false, true, false, true, false);
  checkMatmul(1, 1, 1000, 300, false, true, false, true, false);
  checkMatmul(1, 1, 1000, 300, false, false, true, false, false);
  checkMatmul(1, 6, 700, 129, true, false, false, true, false);
  checkMatmul(1, 30, 1300, 100, false, true, true, true, false); // several column blocks
  checkMatmul(1, 3100, 20, 10, true, false, false, false, false); // several row blocks per thread
});

test('matmul matches js: batches, shared and separate B', { skip }, () => {
  for (const sharedB of [false, true]) {
    checkMatmul(3, 17, 33, 20, false, false, false, true, sharedB);
    checkMatmul(5, 40, 9, 65, true, false, true, false, sharedB);
    checkMatmul(2, 3, 70, 31, false, true, false, false, sharedB);
    checkMatmul(4, 64, 64, 64, true, true, true, true, sharedB);
    checkMatmul(3, 17, 33, 21, true, false, true, true, sharedB, true);
  }
});

test('matmul with K = 0 writes the bias (or leaves C plus the bias)', { skip }, () => {
  for (const accumulate of [false, true]) checkMatmul(2, 3, 5, 0, false, false, accumulate, true, false);
});

test('matmulPair computes the two products matmul does, bit for bit, and matches js', { skip }, () => {
  // [M, N, K, transA, transB] of each product: a linear layer's dA and dB (both layouts of its weight),
  // products too small to share out, and one with nothing to compute.
  const pairs: [number, number, number, boolean, boolean][][] = [
    [[768, 128, 512, false, true], [128, 512, 768, true, false]],
    [[700, 96, 130, false, false], [130, 96, 700, true, false]],
    [[3, 17, 65, true, true], [65, 129, 17, false, true]],
    [[300, 40, 2, false, false], [0, 5, 7, false, false]],
  ];
  for (const [p, q] of pairs) {
    const args = [p!, q!].map(([M, N, K, tA, tB]) => ({ a: rand(M * K), b: rand(K * N), M, N, K, tA, tB }));
    const [x, y] = args as [typeof args[0], typeof args[0]];
    for (const bf16 of [false, true]) {
      const outputs = (be: Backend, pair: boolean) => {
        const c1 = rand(x.M * x.N), c2 = rand(y.M * y.N);
        if (pair) be.matmulPair(x.a, x.b, c1, x.M, x.N, x.K, x.tA, x.tB, y.a, y.b, c2, y.M, y.N, y.K, y.tA, y.tB, bf16);
        else {
          be.matmul(x.a, x.b, c1, null, 1, x.M, x.N, x.K, x.tA, x.tB, false, 0, bf16);
          be.matmul(y.a, y.b, c2, null, 1, y.M, y.N, y.K, y.tA, y.tB, false, 0, bf16);
        }
        return [c1, c2];
      };
      const what = `matmulPair ${JSON.stringify([p, q])} bf16=${bf16}`;
      const [n1, n2] = outputs(native!, true), [s1, s2] = outputs(native!, false), [j1, j2] = outputs(js, false);
      assertIdentical(n1!, s1!, `${what}: first product`);
      assertIdentical(n2!, s2!, `${what}: second product`);
      assertCloseScaled(n1!, j1!, 1e-5, what);
      assertCloseScaled(n2!, j2!, 1e-5, what);
    }
  }
});

// --------------------------------------------------------------------------- bfloat16 product paths

const allPaths: MatmulPath[] = ['amx', 'avx512-bf16', 'float32'];
const defaultPath = native ? nativeMatmulPath().path : 'float32';

/** Runs fn with bfloat16 products on `path` (restoring the default after). */
function onPath(path: MatmulPath, fn: () => void): void {
  setMatmulPath(path);
  try {
    fn();
  } finally {
    setMatmulPath(defaultPath);
  }
}

const pathSkip = (path: MatmulPath) => skip || (nativeMatmulPath().supported.includes(path) ? false : `this CPU or build has no ${path} (${nativeMatmulPath().cpu})`);

for (const path of allPaths) {
  test(`bfloat16 path ${path}: matmul matches js on every layout, flag and odd size`, { skip: pathSkip(path) }, () => {
    onPath(path, () => {
      assert.equal(nativeMatmulPath().path, path);
      // M, N, K off the 16-row, 16-column and 32-k tile sizes, and on them; 2 x 16 flag combinations cover
      // NN, NT, TN (the step's forward, dA, dB) and TT, with and without accumulate and bias.
      for (const [M, N, K] of [...oddShapes, [16, 32, 32], [33, 47, 100], [48, 31, 64]] as [number, number, number][]) {
        for (let flags = 0; flags < 16; flags++) {
          checkMatmul(1, M, N, K, (flags & 1) !== 0, (flags & 2) !== 0, (flags & 4) !== 0, (flags & 8) !== 0, false, true);
        }
      }
      // On both threads, K of several tile steps and of a long dB-like sum, batches with shared B, K = 0.
      checkMatmul(1, 130, 257, 801, false, false, true, true, false, true);
      checkMatmul(1, 97, 200, 450, true, true, true, false, false, true);
      checkMatmul(1, 64, 70, 2050, true, false, false, false, false, true);
      checkMatmul(1, 300, 129, 96, false, true, false, true, false, true);
      // AMX tasks: enough rows for one task per 128 (op(A) packed by each task), a column range per task
      // when rows are few (above), operands stored across k packed k step by k step (TN, NN)
      checkMatmul(1, 1030, 40, 70, false, false, false, true, false, true);
      checkMatmul(1, 1030, 33, 100, false, true, true, false, false, true);
      checkMatmul(1, 40, 300, 1030, true, false, true, true, false, true);
      checkMatmul(1, 300, 40, 3100, false, false, false, false, false, true); // long K: fewer rows per task
      for (const sharedB of [false, true]) checkMatmul(3, 17, 33, 21, true, false, true, true, sharedB, true);
      for (const accumulate of [false, true]) checkMatmul(2, 3, 5, 0, false, false, accumulate, true, false, true);
    });
  });

  test(`bfloat16 path ${path}: rounds operands to nearest even, accumulates in float32; matmulPair is matmul bit for bit`, { skip: pathSkip(path) }, () => {
    onPath(path, () => {
      const a = new Float32Array([1 + 2 ** -8, 1 + 3 * 2 ** -9, 3 * 2 ** -20]), b = new Float32Array([1, 1, 1]);
      const c = new Float32Array(3);
      native!.matmul(a, b, c, null, 1, 3, 1, 1, false, false, false, 0, true);
      assert.deepEqual([...c], [1, 1 + 2 ** -7, 3 * 2 ** -20]);
      const dot = new Float32Array(1);
      native!.matmul(a, b, dot, null, 1, 1, 1, 3, false, false, false, 0, true);
      assert.equal(dot[0], Math.fround(2 + 2 ** -7 + 3 * 2 ** -20));
      // a linear layer's dA and dB at once, against each alone and against js
      const x = { a: rand(200 * 130), b: rand(130 * 96), M: 200, N: 96, K: 130 }, y = { a: rand(200 * 130), b: rand(200 * 96), M: 130, N: 96, K: 200 };
      const p1 = rand(x.M * x.N), p2 = rand(y.M * y.N), s1 = rand(x.M * x.N), s2 = rand(y.M * y.N), j1 = rand(x.M * x.N), j2 = rand(y.M * y.N);
      native!.matmulPair(x.a, x.b, p1, x.M, x.N, x.K, false, true, y.a, y.b, p2, y.M, y.N, y.K, true, false, true);
      native!.matmul(x.a, x.b, s1, null, 1, x.M, x.N, x.K, false, true, false, 0, true);
      native!.matmul(y.a, y.b, s2, null, 1, y.M, y.N, y.K, true, false, false, 0, true);
      js.matmul(x.a, x.b, j1, null, 1, x.M, x.N, x.K, false, true, false, 0, true);
      js.matmul(y.a, y.b, j2, null, 1, y.M, y.N, y.K, true, false, false, 0, true);
      assertIdentical(p1, s1, `${path}: matmulPair first product`);
      assertIdentical(p2, s2, `${path}: matmulPair second product`);
      assertCloseScaled(p1, j1, 1e-5, `${path}: first product vs js`);
      assertCloseScaled(p2, j2, 1e-5, `${path}: second product vs js`);
    });
  });
}

test('INKWELL_MATMUL_PATH forces a supported path and rejects others by name', { skip }, () => {
  const probe = (value: string) => spawnSync(process.execPath, ['--input-type=module', '-e',
    `const n = await import(${JSON.stringify(new URL('../src/tensor/backends/native.js', import.meta.url).href)}); ` +
    'n.loadNativeBackend(); console.log(n.nativeMatmulPath().path);'], { encoding: 'utf8', env: { ...process.env, INKWELL_MATMUL_PATH: value } });
  for (const path of nativeMatmulPath().supported) {
    const r = probe(path);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), path);
  }
  const bad = probe('fp8');
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /INKWELL_MATMUL_PATH=fp8: unknown path 'fp8' \(amx, avx512-bf16 or float32; supported here: [a-z0-9, -]+\)/);
  const missing = allPaths.find((p) => !nativeMatmulPath().supported.includes(p));
  if (missing) assert.match(probe(missing).stderr, new RegExp(`INKWELL_MATMUL_PATH=${missing}: ${missing} is not supported by this CPU or build`));
});

test('bfloat16 is never slower: a path slower than float32 gives way to the float32 kernel, and the line says so', { skip }, async () => {
  const { chooseBfloat16Path } = await import('../src/train/peak.js');
  const { backend } = await import('../src/tensor/backends/index.js');
  if (backend().name !== 'native' || process.env.INKWELL_MATMUL_PATH) return;
  const { path, cpu } = nativeMatmulPath();
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-peak-')), saved = process.env.INKWELL_CACHE;
  process.env.INKWELL_CACHE = dir;
  try {
    const peaks = (bf16: number) => writeFileSync(join(dir, 'peak.json'), JSON.stringify({
      [`native-${backend().threads}`]: 100e9, [`native-${backend().threads}-bfloat16-${path}`]: bf16, [`native-${backend().threads}-bfloat16-float32`]: 95e9,
    }));
    if (path === 'float32') {
      assert.equal(chooseBfloat16Path(), `on ${cpu}: path float32`);
      return;
    }
    peaks(400e9);
    assert.equal(chooseBfloat16Path(), `on ${cpu}: path ${path} (400 GFLOP/s against 100 GFLOP/s in float32)`);
    assert.equal(nativeMatmulPath().path, path);
    peaks(60e9);
    assert.equal(chooseBfloat16Path(), `on ${cpu}: path ${path} is no faster than float32 here (60 GFLOP/s against 100 GFLOP/s), ` +
      'so operands are rounded to bfloat16 and multiplied by the float32 kernel (path float32)');
    assert.equal(nativeMatmulPath().path, 'float32');
  } finally {
    setMatmulPath(defaultPath);
    if (saved === undefined) delete process.env.INKWELL_CACHE;
    else process.env.INKWELL_CACHE = saved;
    rmSync(dir, { recursive: true, force: true });
  }
});

// ------------------------------------------------------------------------------------------ elementwise

test('add, mul, axpy, scale match js bit for bit (including in place)', { skip }, () => {
  for (const n of [1, 7, 100003]) {
    const a = rand(n, -3, 3), b = rand(n, -3, 3);
    for (const op of ['add', 'mul'] as const) {
      const oj = rand(n), on = rand(n);
      js[op](a, b, oj, n);
      native![op](a, b, on, n);
      assertIdentical(on, oj, `${op} n=${n}`);
      const aj = copy(a), an = copy(a);
      js[op](aj, b, aj, n);
      native![op](an, b, an, n);
      assertIdentical(an, aj, `${op} in place n=${n}`);
    }
    const yj = copy(b), yn = copy(b);
    js.axpy(-0.3712345678, a, yj, n);
    native!.axpy(-0.3712345678, a, yn, n);
    assertIdentical(yn, yj, `axpy n=${n}`);
    // alpha = 1 takes a float-add path: still the oracle's double sum rounded once, also across magnitudes
    const wide = a.map((v, i) => v * 2 ** ((i % 61) - 30)), y1j = copy(b), y1n = copy(b);
    js.axpy(1, wide, y1j, n);
    native!.axpy(1, wide, y1n, n);
    assertIdentical(y1n, y1j, `axpy alpha=1 n=${n}`);
    const sj = copy(a), sn = copy(a);
    js.scale(sj, 1 / 3, sj, n);
    native!.scale(sn, 1 / 3, sn, n);
    assertIdentical(sn, sj, `scale n=${n}`);
  }
});

test('sum, sumSquares, sumRows match js', { skip }, () => {
  for (const n of [0, 1, 15, 100003]) {
    const x = rand(n, -2, 3);
    assertClose([native!.sum(x, n)], [js.sum(x, n)], 1e-12, 1e-12, `sum n=${n}`);
    assertClose([native!.sumSquares(x, n)], [js.sumSquares(x, n)], 1e-12, 0, `sumSquares n=${n}`);
  }
  for (const [rows, cols] of [[1, 1], [33, 70], [300, 1000], [5000, 3]]) {
    const x = rand(rows! * cols!), oj = rand(cols!), on = rand(cols!);
    js.sumRows(x, oj, rows!, cols!);
    native!.sumRows(x, on, rows!, cols!);
    assertClose(on, oj, 1e-6, 1e-6, `sumRows ${rows}x${cols}`);
  }
});

test('geluForward and geluBackward match js (accurate tanh)', { skip }, () => {
  const n = 20011;
  const x = rand(n, -10, 10);
  x.set([0, -0, 1e-3, -1e-3, 1e-20, 5, -5, -7, 20, -20, 100, -100, 1e-7, -3.5]);
  const dout = rand(n, -2, 2);
  const fj = rand(n), fn = rand(n), bj = rand(n), bn = rand(n);
  js.geluForward(x, fj, n, false);
  native!.geluForward(x, fn, n, false);
  assertClose(fn, fj, 2e-6, 1e-9, 'geluForward');
  js.geluBackward(x, dout, bj, n, false);
  native!.geluBackward(x, dout, bn, n, false);
  assertClose(bn, bj, 2e-6, 1e-6, 'geluBackward'); // the derivative crosses 0 near u = -0.75: absolute there
  // Huge inputs (u^3 overflows float) stay finite: the identity above, ~0 below.
  const huge = Float32Array.from([1e19, 1e30, 3e12, -1e19, -1e30, -3e12]), hj = new Float32Array(6), hn = new Float32Array(6);
  for (const bf16 of [false, true]) {
    js.geluForward(huge, hj, 6, bf16);
    native!.geluForward(huge, hn, 6, bf16);
    assert.ok(hn.every(Number.isFinite), `geluForward of huge inputs: ${[...hn]}`);
    assertClose(hn.subarray(0, 3), hj.subarray(0, 3), 2e-6, 0, 'geluForward of huge positive inputs');
    native!.geluBackward(huge, Float32Array.from([1, 1, 1, 1, 1, 1]), hn, 6, bf16);
    assertClose(hn, [1, 1, 1, 0, 0, 0], 0, 1e-20, `geluBackward of huge inputs, bf16=${bf16}`);
  }
});

// In bfloat16 the outputs are rounded to bfloat16, from a float formula whose error (~1e-6 relative) is far
// below the rounding's: the native result equals the oracle's rounding of the exact value but for values
// within that error of a rounding midpoint (a few in 10^4 in theory), and then by one bfloat16 step. (Below
// u = -7 the oracle's 0.5 u (1 + tanh) cancels to 0: absolute 1e-9 there, as in the float32 test.)
test('geluForward and geluBackward in bfloat16 match js\'s rounding of the exact values', { skip }, () => {
  const n = 20011;
  const x = rand(n, -10, 10);
  x.set([0, -0, 1e-3, -1e-3, 1e-20, 5, -5, -7, 20, -20, 100, -100, 1e-7, -3.5]);
  const dout = rand(n, -2, 2);
  for (const [name, run] of [
    ['geluForward', (be: Backend, out: Float32Array, bf16: boolean) => be.geluForward(x, out, n, bf16)],
    ['geluBackward', (be: Backend, out: Float32Array, bf16: boolean) => be.geluBackward(x, dout, out, n, bf16)],
  ] as const) {
    const want = rand(n), got = rand(n), exact = rand(n);
    run(js, want, true);
    run(native!, got, true);
    run(js, exact, false);
    let differ = 0, rounded = 0;
    for (let i = 0; i < n; i++) {
      if (!(Math.abs(got[i]! - want[i]!) <= 1e-9)) differ++;
      if (want[i] !== exact[i]) rounded++;
    }
    assert.ok(rounded > 0.8 * n, `${name}: the oracle rounded only ${rounded} of ${n} values`);
    assert.ok(differ <= 0.002 * n, `${name}: ${differ} of ${n} values differ from the oracle's`);
    assertClose(got, want, 2 ** -7, 1e-9, `${name} (one bfloat16 step)`);
  }
});

test('dropout masks are bit-identical to js', { skip }, () => {
  const n = 10007;
  const x = rand(n, -1, 1);
  for (const [p, seed] of [[0, 1], [0.1, 42], [0.5, 0xdeadbeef], [0.9, -5], [1, 7], [0.25, 2 ** 32 + 9]] as const) {
    const oj = rand(n), on = rand(n);
    js.dropout(x, oj, n, p, seed);
    native!.dropout(x, on, n, p, seed);
    assertIdentical(on, oj, `dropout p=${p} seed=${seed}`);
  }
});

test('adamw matches js', { skip }, () => {
  const n = 50001;
  const param = rand(n), grad = rand(n, -0.1, 0.1), m = rand(n, -0.01, 0.01), v = rand(n, 0, 0.001);
  const pj = copy(param), mj = copy(m), vj = copy(v), pn = copy(param), mn = copy(m), vn = copy(v);
  for (let step = 1; step <= 3; step++) {
    js.adamw(pj, grad, mj, vj, n, 3e-4, 0.9, 0.95, 1e-8, 0.1, step);
    native!.adamw(pn, grad, mn, vn, n, 3e-4, 0.9, 0.95, 1e-8, 0.1, step);
  }
  assertIdentical(mn, mj, 'adamw m');
  assertIdentical(vn, vj, 'adamw v');
  assertClose(pn, pj, 1e-6, 1e-6 * 3e-4, 'adamw param'); // + a float rounding of the step (~lr)
});

// ------------------------------------------------------------------------------------------ layernorm

test('layernorm forward and backward match js', { skip }, () => {
  for (const [N, C] of [[1, 1], [5, 37], [64, 384], [3, 16]]) {
    for (const withBias of [true, false]) {
      const what = `layernorm ${N}x${C} bias=${withBias}`;
      const x = rand(N! * C!, -2, 3), w = rand(C!, 0.5, 1.5), b = withBias ? rand(C!) : null;
      const oj = rand(N! * C!), on = rand(N! * C!), mj = rand(N!), mn = rand(N!), rj = rand(N!), rn = rand(N!);
      js.layernormForward(x, w, b, oj, mj, rj, N!, C!, 1e-5);
      native!.layernormForward(x, w, b, on, mn, rn, N!, C!, 1e-5);
      assertClose(on, oj, 1e-5, 1e-6, `${what} out`);
      assertClose(mn, mj, 1e-6, 1e-7, `${what} mean`);
      assertClose(rn, rj, 1e-6, 0, `${what} rstd`);
      const dout = rand(N! * C!);
      const dxj = rand(N! * C!), dxn = rand(N! * C!), dwj = rand(C!), dwn = rand(C!);
      const dbj = withBias ? rand(C!) : null, dbn = withBias ? rand(C!) : null;
      js.layernormBackward(dout, x, w, mj, rj, dxj, dwj, dbj, N!, C!);
      native!.layernormBackward(dout, x, w, mj, rj, dxn, dwn, dbn, N!, C!);
      assertCloseScaled(dxn, dxj, 1e-5, `${what} dx`);
      assertCloseScaled(dwn, dwj, 1e-5, `${what} dw`);
      if (dbj) assertCloseScaled(dbn!, dbj, 1e-6, `${what} db`);
    }
  }
});

// ------------------------------------------------------------------------------------------ attention

// The native kernels take a direct path when hs <= 128 is a multiple of the vector width (8 or 16 lanes)
// and T <= 128 (forward) or T <= 256 (backward), and the packed-GEMM path otherwise: both are covered, the
// direct one with T not a multiple of its 4-row blocks and with more (batch, head) tasks than threads.
const attentionShapes: [number, number, number, number][] = [ // B, T, C, nh
  [1, 1, 8, 1], [2, 5, 24, 3], [1, 37, 48, 2], // GEMM path (hs 8, 24)
  [2, 70, 32, 2], [3, 64, 128, 4], [2, 33, 64, 2], [1, 128, 128, 2], [5, 103, 128, 2], [1, 1, 32, 1], // direct
  [1, 50, 128, 1], [1, 90, 256, 2], // direct (hs 128)
  [1, 130, 16, 1], [2, 129, 128, 2], [1, 200, 64, 2], // GEMM forward (T > 128), direct backward
  [1, 257, 64, 2], // GEMM path both ways (T > 256)
];

test('attention forward and backward match js, with and without dropout', { skip }, () => {
  for (const [B, T, C, nh] of attentionShapes) {
    for (const p of [0, 0.2]) {
      const what = `attention B=${B} T=${T} C=${C} nh=${nh} p=${p}`;
      const qkv = rand(B * T * 3 * C, -2, 2), seed = 1234 + T;
      const oj = rand(B * T * C), on = rand(B * T * C), lj = rand(B * nh * T), ln = rand(B * nh * T);
      js.attentionForward(qkv, oj, lj, B, T, C, nh, nh, p, seed, false);
      native!.attentionForward(qkv, on, ln, B, T, C, nh, nh, p, seed, false);
      assertCloseScaled(on, oj, 1e-5, `${what} out`);
      assertClose(ln, lj, 1e-6, 1e-6, `${what} lse`);
      const dout = rand(B * T * C);
      const dj = rand(B * T * 3 * C), dn = rand(B * T * 3 * C);
      js.attentionBackward(dout, qkv, oj, lj, dj, B, T, C, nh, nh, p, seed, false);
      native!.attentionBackward(dout, qkv, oj, lj, dn, B, T, C, nh, nh, p, seed, false);
      assertCloseScaled(dn, dj, 1e-5, `${what} dqkv`);
    }
  }
});

test('attentionCached matches js (decode and prefill), and equals attentionForward from an empty cache', { skip }, () => {
  for (const [B, n, past, maxT, C, nh] of [[1, 1, 0, 8, 16, 2], [2, 1, 37, 40, 48, 2], [1, 20, 5, 30, 32, 2], [2, 3, 100, 110, 24, 3], [1, 70, 0, 70, 32, 1]]) {
    const what = `attentionCached B=${B} n=${n} past=${past} maxT=${maxT} C=${C} nh=${nh}`;
    const qkv = rand(B! * n! * 3 * C!, -2, 2), k0 = rand(B! * maxT! * C!), v0 = rand(B! * maxT! * C!);
    const kj = copy(k0), vj = copy(v0), kn = copy(k0), vn = copy(v0);
    const oj = rand(B! * n! * C!), on = rand(B! * n! * C!);
    js.attentionCached(qkv, kj, vj, oj, B!, n!, past!, maxT!, C!, nh!, nh!);
    native!.attentionCached(qkv, kn, vn, on, B!, n!, past!, maxT!, C!, nh!, nh!);
    assertIdentical(kn, kj, `${what} kCache`);
    assertIdentical(vn, vj, `${what} vCache`);
    assertCloseScaled(on, oj, 1e-5, `${what} out`);
    if (past === 0 && n === maxT) {
      const of = rand(B! * n! * C!), lse = rand(B! * nh! * n!);
      native!.attentionForward(qkv, of, lse, B!, n!, C!, nh!, nh!, 0, 0, false);
      assertCloseScaled(on, of, 1e-6, `${what} vs attentionForward`);
    }
  }
});

// Grouped-query attention (nkv < nh): the forward runs one task per query head, the backward one per kv
// head summing its group's dK and dV; both paths (direct and GEMM) and MQA (nkv = 1).
const gqaShapes: [number, number, number, number, number][] = [ // B, T, C, nh, nkv
  [2, 5, 24, 4, 2], [1, 37, 64, 4, 1], [2, 70, 128, 4, 2], [1, 1, 32, 2, 1], [1, 130, 96, 3, 1], [1, 257, 128, 4, 2],
];

test('grouped-query attention forward and backward match js, with and without dropout', { skip }, () => {
  for (const [B, T, C, nh, nkv] of gqaShapes) {
    const W = C + 2 * (C / nh) * nkv;
    for (const p of [0, 0.2]) {
      const what = `GQA attention B=${B} T=${T} C=${C} nh=${nh} nkv=${nkv} p=${p}`;
      const qkv = rand(B * T * W, -2, 2), seed = 99 + T;
      const oj = rand(B * T * C), on = rand(B * T * C), lj = rand(B * nh * T), ln = rand(B * nh * T);
      js.attentionForward(qkv, oj, lj, B, T, C, nh, nkv, p, seed, false);
      native!.attentionForward(qkv, on, ln, B, T, C, nh, nkv, p, seed, false);
      assertCloseScaled(on, oj, 1e-5, `${what} out`);
      assertClose(ln, lj, 1e-6, 1e-6, `${what} lse`);
      const dout = rand(B * T * C), dj = rand(B * T * W), dn = rand(B * T * W);
      js.attentionBackward(dout, qkv, oj, lj, dj, B, T, C, nh, nkv, p, seed, false);
      native!.attentionBackward(dout, qkv, oj, lj, dn, B, T, C, nh, nkv, p, seed, false);
      assertCloseScaled(dn, dj, 1e-5, `${what} dqkv`);
    }
  }
});

// bfloat16 attention (the step's attention under dtype=bfloat16): the AMX tasks on the amx path (head sizes
// that are multiples of 16) and the float32 kernels on rounded operands elsewhere, against the oracle's
// rounding. A rounding of the native kernel's float32 exp or row sums may land on the other side of a
// bfloat16 tie than the oracle's float64 ones, moving a few outputs by up to bfloat16's 2^-9: so the test
// bounds the share of elements off by more than float32 noise (skipping a rounding moves nearly all, by
// ~2.5e-3 relative L2), the largest error (a few flips' worth) and the relative L2 error. A flip of one P
// or dS element moves a row of out, or a row of dq and one of dk or dv (2 hs elements): two are allowed
// beyond 2% of the elements, for the small shapes.
const bf16AttentionShapes: [number, number, number, number, number][] = [ // B, T, C, nh, nkv
  [2, 64, 128, 4, 4], [1, 70, 64, 2, 2], [2, 33, 128, 2, 2], [1, 257, 128, 2, 2], [3, 2, 32, 1, 1], // hs 32, 64: AMX
  [2, 45, 32, 2, 2], [1, 50, 96, 2, 1], // hs 16, 48: head dimensions padded to the tiles' 32
  [1, 100, 192, 3, 1], [2, 40, 128, 4, 2], // GQA, MQA
  [1, 37, 48, 2, 2], [2, 5, 24, 3, 3], // hs 24, 8: the float32 kernels on every path
];

function assertBf16Close(actual: Float32Array, want: Float32Array, float32: Float32Array, hs: number, what: string): void {
  let diff = 0, norm = 0, moved = 0, off = 0, scale = 0, worst = 0;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i]!));
  for (let i = 0; i < want.length; i++) {
    diff += (actual[i]! - want[i]!) ** 2;
    norm += want[i]! ** 2;
    moved += (want[i]! - float32[i]!) ** 2;
    const e = Math.abs(actual[i]! - want[i]!);
    if (!(e <= 1e-5 * scale)) off++;
    if (!(e <= worst)) worst = e;
  }
  const rel = Math.sqrt(diff / norm), bf16Effect = Math.sqrt(moved / norm);
  assert.ok(bf16Effect > 1e-3, `${what}: the oracle's bfloat16 result is only ${bf16Effect} off float32`);
  assert.ok(off <= 0.02 * want.length + 4 * hs && worst <= 4e-3 * scale && rel < 1e-3,
    `${what}: ${off} of ${want.length} elements off by > 1e-5 scaled, the worst by ${worst / scale} scaled; relative L2 error ${rel}`);
}

for (const path of allPaths) {
  test(`bfloat16 path ${path}: attention forward and backward match js's bfloat16 rounding, with and without dropout`, { skip: pathSkip(path) }, () => {
    onPath(path, () => {
      for (const [B, T, C, nh, nkv] of bf16AttentionShapes) {
        const W = C + 2 * (C / nh) * nkv;
        for (const p of [0, 0.2]) {
          const what = `${path} bf16 attention B=${B} T=${T} C=${C} nh=${nh} nkv=${nkv} p=${p}`;
          const qkv = rand(B * T * W, -2, 2), dout = rand(B * T * C), seed = 5 + T;
          const run = (be: Backend, bf16: boolean) => {
            const out = rand(B * T * C), lse = rand(B * nh * T), dqkv = rand(B * T * W);
            be.attentionForward(qkv, out, lse, B, T, C, nh, nkv, p, seed, bf16);
            be.attentionBackward(dout, qkv, out, lse, dqkv, B, T, C, nh, nkv, p, seed, bf16);
            return { out, lse, dqkv };
          };
          const n = run(native!, true), j = run(js, true), f = run(js, false);
          assertBf16Close(n.out, j.out, f.out, C / nh, `${what} out`);
          assertClose(n.lse, j.lse, 1e-6, 1e-6, `${what} lse`);
          assertBf16Close(n.dqkv, j.dqkv, f.dqkv, C / nh, `${what} dqkv`);
        }
      }
    });
  });
}

test('grouped-query attention equals multi-head attention with each kv head repeated (HF repeat_kv)', () => {
  const B = 2, T = 6, C = 16, nh = 4, nkv = 2, hs = C / nh, KV = nkv * hs, W = C + 2 * KV;
  const qkv = rand(B * T * W), full = new Float32Array(B * T * 3 * C);
  for (let r = 0; r < B * T; r++) {
    full.set(qkv.subarray(r * W, r * W + C), r * 3 * C);
    for (let h = 0; h < nh; h++) {
      const g = Math.floor(h / (nh / nkv));
      for (const part of [1, 2]) full.set(qkv.subarray(r * W + C + (part - 1) * KV + g * hs, r * W + C + (part - 1) * KV + (g + 1) * hs), r * 3 * C + part * C + h * hs);
    }
  }
  for (const be of backends) {
    const og = new Float32Array(B * T * C), of = new Float32Array(B * T * C), lse = new Float32Array(B * nh * T);
    be.attentionForward(qkv, og, lse, B, T, C, nh, nkv, 0, 0, false);
    be.attentionForward(full, of, lse, B, T, C, nh, nh, 0, 0, false);
    assertCloseScaled(og, of, 1e-6, `${be.name} GQA vs repeated kv heads`);
  }
});

test('attentionCached with grouped-query heads keeps only the kv heads and matches js', { skip }, () => {
  for (const [B, n, past, maxT, C, nh, nkv] of [[1, 1, 9, 12, 32, 4, 2], [2, 17, 0, 20, 48, 6, 2], [2, 1, 30, 40, 64, 2, 1]]) {
    const KV = (C! / nh!) * nkv!, W = C! + 2 * KV;
    const what = `GQA attentionCached B=${B} n=${n} past=${past} C=${C} nh=${nh} nkv=${nkv}`;
    const qkv = rand(B! * n! * W, -2, 2), k0 = rand(B! * maxT! * KV), v0 = rand(B! * maxT! * KV);
    const kj = copy(k0), vj = copy(v0), kn = copy(k0), vn = copy(v0), oj = rand(B! * n! * C!), on = rand(B! * n! * C!);
    js.attentionCached(qkv, kj, vj, oj, B!, n!, past!, maxT!, C!, nh!, nkv!);
    native!.attentionCached(qkv, kn, vn, on, B!, n!, past!, maxT!, C!, nh!, nkv!);
    assertIdentical(kn, kj, `${what} kCache`);
    assertIdentical(vn, vj, `${what} vCache`);
    assertCloseScaled(on, oj, 1e-5, `${what} out`);
  }
});

// ------------------------------------------------------------------------------------------ Llama ops

test('rmsnorm, rope and swiglu forward and backward match js', { skip }, () => {
  for (const [N, C] of [[1, 5], [7, 32], [33, 88], [300, 576]]) {
    const x = rand(N! * C!, -3, 3), w = rand(C!), dout = rand(N! * C!);
    const oj = rand(N! * C!), on = rand(N! * C!), rj = rand(N!), rn = rand(N!);
    js.rmsnormForward(x, w, oj, rj, N!, C!, 1e-6);
    native!.rmsnormForward(x, w, on, rn, N!, C!, 1e-6);
    assertClose(on, oj, 1e-5, 1e-6, `rmsnorm N=${N} C=${C} out`);
    assertClose(rn, rj, 1e-6, 0, `rmsnorm N=${N} C=${C} rstd`);
    const dxj = rand(N! * C!), dxn = rand(N! * C!), dwj = rand(C!), dwn = rand(C!);
    js.rmsnormBackward(dout, x, w, rj, dxj, dwj, N!, C!);
    native!.rmsnormBackward(dout, x, w, rj, dxn, dwn, N!, C!);
    assertCloseScaled(dxn, dxj, 1e-5, `rmsnorm N=${N} C=${C} dx`);
    assertCloseScaled(dwn, dwj, 1e-5, `rmsnorm N=${N} C=${C} dw`);
  }
  for (const [N, T, nh, hs] of [[4, 2, 1, 2], [32, 16, 4, 8], [30, 10, 3, 64], [5, 5, 2, 128], [6, 3, 9, 34]]) {
    const x = rand(N! * nh! * hs!, -2, 2), cos = rand(T! * hs! / 2), sin = rand(T! * hs! / 2);
    for (const inverse of [false, true]) {
      const oj = rand(x.length), on = rand(x.length);
      js.rope(x, oj, cos, sin, N!, T!, nh!, hs!, inverse);
      native!.rope(x, on, cos, sin, N!, T!, nh!, hs!, inverse);
      assertClose(on, oj, 1e-6, 1e-6, `rope N=${N} T=${T} nh=${nh} hs=${hs} inverse=${inverse}`);
    }
  }
  for (const n of [1, 17, 1000, 70001]) {
    const g = rand(n, -12, 12), u = rand(n, -2, 2), d = rand(n);
    const oj = rand(n), on = rand(n);
    js.swigluForward(g, u, oj, n);
    native!.swigluForward(g, u, on, n);
    assertClose(on, oj, 2e-6, 1e-7, `swiglu n=${n} out`);
    const gj = rand(n), gn = rand(n), uj = rand(n), un = rand(n);
    js.swigluBackward(g, u, d, gj, uj, n);
    native!.swigluBackward(g, u, d, gn, un, n);
    assertClose(gn, gj, 2e-6, 1e-6, `swiglu n=${n} dgate`);
    assertClose(un, uj, 2e-6, 1e-7, `swiglu n=${n} dup`);
  }
});

test('relu2 and softcap forward and backward match js (softcap across its polynomial and exponential ranges)', { skip }, () => {
  for (const n of [1, 17, 1000, 70001]) {
    const x = rand(n, -6, 6), d = rand(n);
    const oj = rand(n), on = rand(n), dj = rand(n), dn = rand(n);
    js.relu2Forward(x, oj, n);
    native!.relu2Forward(x, on, n);
    assertIdentical(on, oj, `relu2 n=${n} out`);
    js.relu2Backward(x, d, dj, n);
    native!.relu2Backward(x, d, dn, n);
    assertIdentical(dn, dj, `relu2 n=${n} dx`);
    for (const cap of [1, 15]) {
      // |x / cap| from 0 to 6: both sides of the series/exponential switch at 1/4, and saturation.
      const xs = rand(n, -6 * cap, 6 * cap);
      js.softcapForward(xs, oj, n, cap);
      native!.softcapForward(xs, on, n, cap);
      assertClose(on, oj, 2e-6, 1e-7, `softcap n=${n} cap=${cap} out`);
      js.softcapBackward(oj, d, dj, n, cap);
      native!.softcapBackward(oj, d, dn, n, cap);
      // 1 − t² near saturation: float32 rounding of t costs ~1e-7 absolute, whichever side computes it.
      assertClose(dn, dj, 2e-6, 3e-7, `softcap n=${n} cap=${cap} dx`);
    }
  }
  // Small arguments keep their relative precision (no cancellation in 1 − e^{−2y}).
  const tiny = Float32Array.of(1e-6, -3e-4, 0.01, 0.2499, 0.2501), oj = new Float32Array(5), on = new Float32Array(5);
  js.softcapForward(tiny, oj, 5, 1);
  native!.softcapForward(tiny, on, 5, 1);
  assertClose(on, oj, 1e-6, 0, 'softcap small arguments');
  const nan = Float32Array.of(NaN, 1), out = new Float32Array(2);
  native!.softcapForward(nan, out, 2, 5);
  assert.ok(Number.isNaN(out[0]), 'softcap passes NaN on');
  native!.relu2Forward(nan, out, 2);
  assert.ok(Number.isNaN(out[0]), 'relu2 passes NaN on');
});

// ------------------------------------------------------------------------------------------ cross-entropy

test('cross-entropy forward and backward match js, with ignored rows', { skip }, () => {
  for (const [N, V, ignoreIndex] of [[7, 65, -100], [33, 1000, 0], [2, 50257, -1], [1, 1, -100]]) {
    const logits = rand(N! * V!, -4, 4), targets = ints(N!, V!);
    targets[0] = ignoreIndex!;
    if (N! > 3) targets[3] = ignoreIndex!;
    const lj = rand(N!), ln = rand(N!);
    js.crossEntropyForward(logits, targets, lj, N!, V!, ignoreIndex!);
    native!.crossEntropyForward(logits, targets, ln, N!, V!, ignoreIndex!);
    assertClose(ln, lj, 1e-6, 1e-6, `crossEntropyForward ${N}x${V}`);
    const dj = rand(N! * V!), dn = rand(N! * V!);
    js.crossEntropyBackward(logits, targets, dj, N!, V!, ignoreIndex!, 1 / N!);
    native!.crossEntropyBackward(logits, targets, dn, N!, V!, ignoreIndex!, 1 / N!);
    assertClose(dn, dj, 1e-5, 1e-9, `crossEntropyBackward ${N}x${V}`);
  }
});

test('cross-entropy rejects a target outside the vocabulary like js', { skip }, () => {
  const logits = rand(2 * 5), targets = new Int32Array([1, 5]), losses = rand(2);
  for (const be of backends) {
    assert.throws(() => be.crossEntropyForward(logits, targets, losses, 2, 5, -100), /target 5 at row 1 is outside the vocabulary \[0, 5\)/);
  }
});

// ------------------------------------------------------------------------------------------ embedding

test('embedding forward and backward match js bit for bit', { skip }, () => {
  for (const [N, C, V] of [[13, 33, 20], [1000, 64, 50], [4, 1, 3]]) {
    const table = rand(V! * C!), idx = ints(N!, V!);
    idx[1] = idx[0]!; // repeated rows accumulate
    const oj = rand(N! * C!), on = rand(N! * C!);
    js.embeddingForward(table, idx, oj, N!, C!);
    native!.embeddingForward(table, idx, on, N!, C!);
    assertIdentical(on, oj, `embeddingForward ${N}x${C}`);
    const dout = rand(N! * C!), dj = rand(V! * C!), dn = rand(V! * C!);
    js.embeddingBackward(dout, idx, dj, N!, C!, V!);
    native!.embeddingBackward(dout, idx, dn, N!, C!, V!);
    assertIdentical(dn, dj, `embeddingBackward ${N}x${C}x${V}`);
  }
});

// ------------------------------------------------------------------------------------------ misuse

test('native kernels throw clear errors on misuse instead of crashing', { skip }, () => {
  const a = rand(12), b = rand(12), c = rand(4);
  assert.throws(() => native!.matmul(a, b, c, null, 1, 3, 4, 3, false, false, false, 0, false), /matmul: c has 4 elements but needs 12/);
  assert.throws(() => native!.matmul(a, b.subarray(2), rand(9), null, 1, 3, 3, 4, false, false, false, 0, false), /matmul: b has/);
  assert.throws(() => native!.matmul(a, b, c, null, 2, 1, 2, 2, false, false, false, 100, false), /matmul: b has 12 elements/);
  assert.throws(() => native!.matmul(a, b, c, rand(1), 1, 2, 2, 2, false, false, false, 0, false), /matmul: bias has 1 elements but needs 2/);
  assert.throws(() => native!.matmulPair(a, b, rand(9), 3, 3, 4, false, false, a, b, c, 3, 4, 3, false, false, false), /matmulPair: c2 has 4 elements but needs 12 \(M2\*N2\)/);
  assert.throws(() => native!.add(a, b, c, 12), /add: out has 4 elements/);
  assert.throws(() => native!.sum(new Float64Array(4) as unknown as Float32Array, 4), /sum: x must be a Float32Array/);
  assert.throws(() => (native!.geluForward as (...args: unknown[]) => void)(a, b), /geluForward: expected 4 arguments/);
  assert.throws(() => native!.scale(a, 2, b, -1), /scale: n must be a non-negative integer/);
  assert.throws(() => native!.attentionForward(rand(3 * 10), rand(10), rand(2), 1, 2, 5, 2, 2, 0, 1, false), /C must be a positive multiple of nh/);
  assert.throws(() => native!.embeddingForward(rand(6), new Int32Array([0, 3]), rand(4), 2, 2), /index 3 at position 1 is outside the table's 3 rows/);
  assert.throws(() => native!.attentionCached(rand(12), rand(8), rand(8), rand(4), 1, 1, 2, 2, 4, 1, 1), /past \+ n exceeds the cache's maxT/);
  assert.throws(() => native!.embeddingBackward(rand(4), new Float32Array(2) as unknown as Int32Array, rand(6), 2, 2, 3), /idx must be a Int32Array/);
  assert.ok(Number.isInteger(native!.threads) && native!.threads >= 1, 'threads is a positive integer');
});

test('the native addon implements every kernel of the interface', { skip }, () => {
  assert.deepEqual(nativeMissingKernels(), []);
});

// ------------------------------------------------------------------------------------------ finite differences

function dot(a: Float32Array, b: Float32Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

function someCoords(n: number, count: number): number[] {
  if (n <= count) return Array.from({ length: n }, (_, i) => i);
  return Array.from({ length: count }, () => rng.int(n));
}

/** |numeric - analytic| <= 2e-2 * max(1, max|analytic|): truncation O(eps^2) plus float32 rounding. */
function assertGrad(analytic: Float32Array, coords: number[], numeric: number[], what: string): void {
  let scale = 1;
  for (const i of coords) scale = Math.max(scale, Math.abs(analytic[i]!));
  coords.forEach((i, k) => {
    assert.ok(Math.abs(analytic[i]! - numeric[k]!) <= 2e-2 * scale,
      `${what}: coordinate ${i}: analytic ${analytic[i]}, numeric ${numeric[k]}`);
  });
}

for (const be of backends) {
  test(`${be.name}: layernormBackward agrees with finite differences`, () => {
    const N = 3, C = 7;
    const x = rand(N * C, -1, 1), w = rand(C, 0.5, 1.5), b = rand(C), r = rand(N * C);
    const out = new Float32Array(N * C), mean = new Float32Array(N), rstd = new Float32Array(N);
    const loss = () => (be.layernormForward(x, w, b, out, mean, rstd, N, C, 1e-5), dot(out, r));
    loss();
    const dx = new Float32Array(N * C), dw = new Float32Array(C), db = new Float32Array(C);
    be.layernormBackward(r, x, w, mean, rstd, dx, dw, db, N, C);
    const all = someCoords(N * C, 100);
    assertGrad(dx, all, numericGrad(x, all, loss), 'dx');
    assertGrad(dw, someCoords(C, C), numericGrad(w, someCoords(C, C), loss), 'dw');
    assertGrad(db, someCoords(C, C), numericGrad(b, someCoords(C, C), loss), 'db');
  });

  test(`${be.name}: geluBackward agrees with finite differences`, () => {
    const n = 41, x = rand(n, -4, 4), r = rand(n), out = new Float32Array(n), dx = new Float32Array(n);
    be.geluBackward(x, r, dx, n, false);
    const coords = someCoords(n, n);
    assertGrad(dx, coords, numericGrad(x, coords, () => (be.geluForward(x, out, n, false), dot(out, r)), 1e-3), 'dx');
  });

  test(`${be.name}: attentionBackward agrees with finite differences (with dropout)`, () => {
    const B = 2, T = 5, C = 8, nh = 2, p = 0.3, seed = 99;
    const qkv = rand(B * T * 3 * C, -1, 1), r = rand(B * T * C);
    const out = new Float32Array(B * T * C), lse = new Float32Array(B * nh * T);
    const loss = () => (be.attentionForward(qkv, out, lse, B, T, C, nh, nh, p, seed, false), dot(out, r));
    loss();
    const dqkv = new Float32Array(B * T * 3 * C);
    be.attentionBackward(r, qkv, out, lse, dqkv, B, T, C, nh, nh, p, seed, false);
    const coords = someCoords(qkv.length, qkv.length);
    assertGrad(dqkv, coords, numericGrad(qkv, coords, loss), 'dqkv');
  });

  test(`${be.name}: grouped-query attentionBackward agrees with finite differences (with dropout)`, () => {
    const B = 2, T = 5, C = 16, nh = 4, nkv = 2, p = 0.3, seed = 7, W = C + 2 * (C / nh) * nkv;
    const qkv = rand(B * T * W, -1, 1), r = rand(B * T * C);
    const out = new Float32Array(B * T * C), lse = new Float32Array(B * nh * T);
    const loss = () => (be.attentionForward(qkv, out, lse, B, T, C, nh, nkv, p, seed, false), dot(out, r));
    loss();
    const dqkv = new Float32Array(B * T * W);
    be.attentionBackward(r, qkv, out, lse, dqkv, B, T, C, nh, nkv, p, seed, false);
    const coords = someCoords(qkv.length, qkv.length);
    assertGrad(dqkv, coords, numericGrad(qkv, coords, loss), 'dqkv');
  });

  test(`${be.name}: rmsnormBackward, rope (inverse) and swigluBackward agree with finite differences`, () => {
    const N = 5, C = 12, x = rand(N * C, -2, 2), w = rand(C, 0.5, 1.5), r = rand(N * C);
    const out = new Float32Array(N * C), rstd = new Float32Array(N), dx = new Float32Array(N * C), dw = new Float32Array(C);
    const norm = () => (be.rmsnormForward(x, w, out, rstd, N, C, 1e-5), dot(out, r));
    norm();
    be.rmsnormBackward(r, x, w, rstd, dx, dw, N, C);
    assertGrad(dx, someCoords(N * C, N * C), numericGrad(x, someCoords(N * C, N * C), norm), 'rmsnorm dx');
    assertGrad(dw, someCoords(C, C), numericGrad(w, someCoords(C, C), norm), 'rmsnorm dw');
    const T = 5, nh = 2, hs = 6, cos = rand(T * hs / 2), sin = rand(T * hs / 2), xr = rand(N * nh * hs), rr = rand(N * nh * hs);
    const ro = new Float32Array(xr.length), rdx = new Float32Array(xr.length);
    be.rope(rr, rdx, cos, sin, N, T, nh, hs, true);
    const rc = someCoords(xr.length, xr.length);
    assertGrad(rdx, rc, numericGrad(xr, rc, () => (be.rope(xr, ro, cos, sin, N, T, nh, hs, false), dot(ro, rr))), 'rope dx');
    const n = 40, g = rand(n, -4, 4), u = rand(n, -2, 2), rs = rand(n), so = new Float32Array(n), dg = new Float32Array(n), du = new Float32Array(n);
    const swi = () => (be.swigluForward(g, u, so, n), dot(so, rs));
    be.swigluBackward(g, u, rs, dg, du, n);
    assertGrad(dg, someCoords(n, n), numericGrad(g, someCoords(n, n), swi, 1e-3), 'swiglu dgate');
    assertGrad(du, someCoords(n, n), numericGrad(u, someCoords(n, n), swi, 1e-3), 'swiglu dup');
  });

  test(`${be.name}: relu2Backward and softcapBackward agree with finite differences`, () => {
    const n = 40, x = rand(n, -3, 3), r = rand(n), out = new Float32Array(n), dx = new Float32Array(n);
    // Away from relu2's kink at 0, where a central difference straddles the two sides.
    for (let i = 0; i < n; i++) if (Math.abs(x[i]!) < 0.05) x[i] = 0.5;
    const relu = () => (be.relu2Forward(x, out, n), dot(out, r));
    be.relu2Backward(x, r, dx, n);
    assertGrad(dx, someCoords(n, n), numericGrad(x, someCoords(n, n), relu, 1e-3), 'relu2 dx');
    const cap = 2, xs = rand(n, -6, 6);
    const cappedLoss = () => (be.softcapForward(xs, out, n, cap), dot(out, r));
    cappedLoss();
    be.softcapBackward(out, r, dx, n, cap);
    assertGrad(dx, someCoords(n, n), numericGrad(xs, someCoords(n, n), cappedLoss, 1e-3), 'softcap dx');
  });

  test(`${be.name}: crossEntropyBackward agrees with finite differences`, () => {
    const N = 4, V = 9, logits = rand(N * V, -2, 2), targets = ints(N, V), losses = new Float32Array(N);
    targets[2] = -100;
    const loss = () => {
      be.crossEntropyForward(logits, targets, losses, N, V, -100);
      return losses.reduce((s, v) => s + v, 0) / N;
    };
    const d = new Float32Array(N * V);
    be.crossEntropyBackward(logits, targets, d, N, V, -100, 1 / N);
    const coords = someCoords(N * V, N * V);
    assertGrad(d, coords, numericGrad(logits, coords, loss), 'dlogits');
  });

  test(`${be.name}: embeddingBackward and dropout agree with finite differences`, () => {
    const N = 6, C = 3, V = 4, table = rand(V * C), idx = new Int32Array([0, 2, 2, 3, 0, 0]), r = rand(N * C);
    const out = new Float32Array(N * C), dtable = new Float32Array(V * C);
    be.embeddingBackward(r, idx, dtable, N, C, V);
    const coords = someCoords(V * C, V * C);
    assertGrad(dtable, coords, numericGrad(table, coords, () => (be.embeddingForward(table, idx, out, N, C), dot(out, r))), 'dtable');
    const n = 50, x = rand(n), dx = new Float32Array(n), y = new Float32Array(n);
    const rr = rand(n);
    be.dropout(rr, dx, n, 0.4, 5); // dropout is linear: its backward is the same call on the gradient
    const xc = someCoords(n, n);
    assertGrad(dx, xc, numericGrad(x, xc, () => (be.dropout(x, y, n, 0.4, 5), dot(y, rr))), 'dropout dx');
  });
}

// Compressed (int8 / bf16) inference weights: the compression itself against hand cases, the native
// kernels against the TypeScript oracle on every path (decode rows, prefill, odd sizes), and a compressed
// GPT against float32: the fixture's greedy continuation unchanged, the loss barely moved.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from '../src/generate/generate.js';
import { compressModel, decompress } from '../src/model/compress.js';
import { loadHFModel } from '../src/model/hf.js';
import { backendNames } from '../src/tensor/backends/index.js';
import { createJsBackend } from '../src/tensor/backends/js.js';
import { loadNativeBackend, nativeMatmulPath, setMatmulPath, type MatmulPath } from '../src/tensor/backends/native.js';
import { compressMatrix, compressedMatmul, int8Group } from '../src/tensor/ops/compressed.js';
import { noGrad, Tensor } from '../src/tensor/tensor.js';
import { maxAbs, maxAbsDiff, randomArray, sharedDir, withBackend } from './helpers.js';

const fixtureDir = join(sharedDir, 'fixtures', 'gpt-tiny');
const fixturePresent = existsSync(join(fixtureDir, 'model.safetensors'));
const hasNative = backendNames().includes('native');

/** out = x · Wᵀ in double from the weights the compressed matrix stands for. */
function reference(x: Float32Array, w: Float32Array, M: number, N: number, K: number): Float32Array {
  const out = new Float32Array(M * N);
  for (let m = 0; m < M; m++) for (let n = 0; n < N; n++) {
    let s = 0;
    for (let k = 0; k < K; k++) s += x[m * K + k]! * w[n * K + k]!;
    out[m * N + n] = s;
  }
  return out;
}

function decompressed(c: ReturnType<typeof compressMatrix>): Float32Array {
  const w = new Float32Array(c.N * c.K);
  if (c.format === 'bf16') new Uint32Array(w.buffer).set(Array.from(c.bits, (b) => b << 16));
  else for (let i = 0; i < w.length; i++) w[i] = c.q[i]! * c.scales[Math.floor(i / c.K) * (c.K / c.group) + Math.floor((i % c.K) / c.group)]!;
  return w;
}

describe('compressMatrix', () => {
  it('rounds to bf16 to nearest even and keeps NaN a NaN', () => {
    const w = Float32Array.from([1, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.5, NaN, Infinity]);
    const c = compressMatrix(w, 1, 6, 'bf16');
    assert.equal(c.format, 'bf16');
    const back = decompressed(c);
    assert.deepEqual(Array.from(back.subarray(0, 4)), [1, 1, 1 + 4 * 2 ** -8, -2.5]);
    assert.ok(Number.isNaN(back[4]));
    assert.equal(back[5], Infinity);
  });

  it('quantizes int8 per group of inputs within half a step, from either layout', () => {
    const N = 5, K = 96, w = randomArray(N * K, 3, 2);
    w[7] = 50; // one outlier only coarsens its own group
    const c = compressMatrix(w, N, K, 'int8');
    assert.equal(c.format === 'int8' && c.group, int8Group(K));
    assert.equal(int8Group(96), 32);
    const back = decompressed(c);
    for (let i = 0; i < w.length; i++) {
      const scale = c.format === 'int8' ? c.scales[Math.floor(i / K) * (K / c.group) + Math.floor((i % K) / c.group)]! : 0;
      assert.ok(Math.abs(back[i]! - w[i]!) <= scale / 2 + 1e-7, `weight ${i}`);
    }
    assert.ok(Math.abs(back[100]! - w[100]!) < 2 / 127, 'groups without the outlier keep their precision');
    // [K, N] (Conv1D) input gives the same output-major matrix
    const t = new Float32Array(N * K);
    for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) t[k * N + n] = w[n * K + k]!;
    assert.deepEqual(compressMatrix(t, N, K, 'int8', true), c);
    assert.throws(() => compressMatrix(Float32Array.from([1, NaN]), 1, 2, 'int8'), /row 0 holds a non-finite weight/);
  });
});

describe('compressed matmul kernels', () => {
  // M ≤ 8 takes the streaming dot-product path, longer inputs the widen-then-GEMM path; K = 40 (group 40,
  // not a multiple of the vector width) and N = 13 (not a multiple of the 4 streamed rows) take the tails.
  const shapes: [number, number, number][] = [[1, 64, 128], [2, 13, 64], [3, 37, 96], [8, 64, 192], [9, 20, 64], [40, 70, 128], [1, 13, 40], [12, 9, 40]];
  for (const format of ['int8', 'bf16'] as const) {
    for (const [M, N, K] of shapes) {
      it(`${format} [${M}, ${K}] · [${N}, ${K}]ᵀ matches the dequantized product on every backend`, () => {
        const c = compressMatrix(randomArray(N * K, M + N + K), N, K, format);
        const x = new Tensor(randomArray(M * K, 7 * M), [M, K]);
        const bias = new Tensor(randomArray(N, 11), [N]);
        const expected = reference(x.data, decompressed(c), M, N, K).map((v, i) => v + bias.data[i % N]!);
        for (const name of hasNative ? ['js', 'native'] : ['js']) {
          const out = withBackend(name, () => noGrad(() => compressedMatmul(x, c, bias)));
          assert.deepEqual(out.shape, [M, N]);
          assert.ok(maxAbsDiff(out.data, expected) < 1e-4 * Math.max(1, maxAbs(expected)), `${name}: ${maxAbsDiff(out.data, expected)}`);
        }
      });
    }
  }

  it('refuses to take part in training and checks shapes', () => {
    const c = compressMatrix(randomArray(32, 1), 2, 16, 'int8');
    const x = new Tensor(randomArray(16, 2), [1, 16], true);
    assert.throws(() => compressedMatmul(x, c), /for inference: run under noGrad/);
    assert.throws(() => noGrad(() => compressedMatmul(new Tensor(randomArray(8, 2), [1, 8]), c)), /has 8 features, the weight takes 16/);
  });
});

describe('compressed products on each matmul path', () => {
  // Prefill (M > 8) with bf16 weights takes AMX tiles on the amx path, the widen-then-GEMM kernel on the
  // others; int8 decode rows take VNNI where the build has it (groups of 64) and float lanes otherwise
  // (groups of 32, 40). Shapes straddle the 16-row, 16-column and 32-k tiles; outputs start off 64-byte lines;
  // the long K (1600) keeps the AMX tasks' rows to fewer row tiles.
  const native = hasNative ? loadNativeBackend() : null, js = createJsBackend();
  const defaultPath = nativeMatmulPath().path;
  const shapes: [number, number, number][] = [[9, 16, 32], [17, 33, 64], [40, 70, 40], [33, 100, 200], [64, 48, 96], [130, 257, 320], [1, 33, 64], [5, 67, 192], [130, 33, 1600]];
  for (const path of ['amx', 'avx512-bf16', 'float32'] as MatmulPath[]) {
    const skip = !native ? 'native backend absent' : !nativeMatmulPath().supported.includes(path) && `no ${path} on ${nativeMatmulPath().cpu}`;
    it(`${path}: int8 and bf16 products match the js oracle (odd shapes, offset outputs, NaN and zero rows)`, { skip }, () => {
      setMatmulPath(path);
      try {
        for (const [M, N, K] of shapes) {
          for (const format of ['int8', 'bf16'] as const) {
            const c = compressMatrix(randomArray(N * K, N + K), N, K, format);
            const x = randomArray(M * K, M * 3 + K, 2), bias = randomArray(N, 5);
            x.fill(0, 0, K); // a zero row
            if (M > 2) x[K + 3] = NaN; // a NaN poisons its row only
            const expected = new Float32Array(M * N), out = new Float32Array(M * N + 5).subarray(5);
            const run = (b: typeof js, o: Float32Array) => c.format === 'int8'
              ? b.matmulQ8(x, c.q, c.scales, bias, o, M, N, K, c.group) : b.matmulBf16(x, c.bits, bias, o, M, N, K);
            run(js, expected);
            run(native!, out);
            const scale = Math.max(1, maxAbs(expected.filter(Number.isFinite)));
            for (let i = 0; i < M * N; i++) {
              const what = `${path} ${format} [${M}, ${N}, ${K}] at ${i}: ${out[i]} vs ${expected[i]}`;
              if (Number.isNaN(expected[i])) assert.ok(Number.isNaN(out[i]), what);
              else assert.ok(Math.abs(out[i]! - expected[i]!) <= 2e-5 * scale, what);
            }
            assert.ok(out.subarray(0, N).every((v, n) => v === bias[n]), `${path} ${format}: a zero row gives the bias`);
          }
        }
      } finally {
        setMatmulPath(defaultPath);
      }
    });
  }

  it('bf16 prefill keeps float32 accuracy in x (the lo part counts) on the path in use', { skip: !native && 'native backend absent' }, () => {
    // x values that bfloat16 would move by up to 2^-9 relative, weights of 1: the sum is exact only if the
    // product sees x to ~16 bits.
    const M = 32, N = 16, K = 64, x = randomArray(M * K, 9, 1).map((v) => 1 + v / 7);
    const w = compressMatrix(new Float32Array(N * K).fill(1), N, K, 'bf16');
    const out = new Float32Array(M * N);
    native!.matmulBf16(x, w.format === 'bf16' ? w.bits : new Uint16Array(), null, out, M, N, K);
    for (let m = 0; m < M; m++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += x[m * K + k]!;
      assert.ok(Math.abs(out[m * N]! - s) < 2e-4, `${nativeMatmulPath().path}: row ${m}: ${out[m * N]} vs ${s}`);
    }
  });
});

describe('compressed GPT', { skip: !fixturePresent && 'fixture absent' }, () => {
  const batch = fixturePresent ? JSON.parse(readFileSync(join(fixtureDir, 'batch.json'), 'utf8')) as { B: number; T: number; input_ids: number[][]; targets: number[][] } : null;
  const greedy = fixturePresent ? JSON.parse(readFileSync(join(fixtureDir, 'expected.json'), 'utf8')).greedy as { prompt: number[]; tokens: number[] } : null;

  for (const format of ['int8', 'bf16'] as const) {
    it(`${format}: the fixture's greedy continuation is unchanged and the loss moves by < 1%`, () => {
      const model = loadHFModel(fixtureDir).eval();
      const loss = () => noGrad(() => model.forward(Int32Array.from(batch!.input_ids.flat()), batch!.B, batch!.T, Int32Array.from(batch!.targets.flat())).loss!.item());
      const f32Loss = loss();
      const report = compressModel(model, format);
      assert.equal(report.matrices, 4 * 2 + 1);
      assert.ok(report.bytesAfter < report.bytesBefore * (format === 'int8' ? 0.3 : 0.51), `${report.bytesAfter} of ${report.bytesBefore} bytes`);
      const change = Math.abs(loss() - f32Loss) / f32Loss;
      assert.ok(change < 0.01, `loss ${f32Loss} moved by ${(change * 100).toFixed(3)}%`);
      for (const useCache of [true, false]) {
        const [out] = generate(model, [greedy!.prompt], { temperature: 0, maxNewTokens: greedy!.tokens.length, useCache });
        assert.deepEqual(out!.tokens, greedy!.tokens, `useCache ${useCache}`);
      }
      decompress(model);
      assert.equal(loss(), f32Loss, 'decompress returns to the exact float32 model');
    });
  }
});

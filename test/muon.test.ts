// Muon against a float64 restatement of the same update (momentum, Nesterov, Newton–Schulz quintic, the
// fan_out / fan_in scale, decoupled weight decay), on every backend.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backendNames } from '../src/tensor/backends/index.js';
import { Tensor } from '../src/tensor/tensor.js';
import { Muon, NEWTON_SCHULZ_COEFFICIENTS, orthogonalize } from '../src/train/muon.js';
import { randomArray, withBackend } from './helpers.js';

type Matrix = Float64Array;

function mm(a: Matrix, b: Matrix, m: number, k: number, n: number, transA = false, transB = false): Matrix {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * m + i]! : a[i * k + p]!) * (transB ? b[j * k + p]! : b[p * n + j]!);
      out[i * n + j] = s;
    }
  }
  return out;
}

/** Newton–Schulz in float64, on Gᵀ for a tall G, transposing explicitly (as the reference implementations do). */
function orthogonalize64(g: ArrayLike<number>, rows: number, cols: number, steps: number): Matrix {
  const [a, b, c] = NEWTON_SCHULZ_COEFFICIENTS;
  const tall = rows > cols;
  const [r, n] = tall ? [cols, rows] : [rows, cols];
  let x = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) x[tall ? j * rows + i : i * cols + j] = g[i * cols + j]!;
  const norm = Math.sqrt(x.reduce((s, v) => s + v * v, 0)) + 1e-7;
  x = x.map((v) => v / norm);
  for (let s = 0; s < steps; s++) {
    const A = mm(x, x, r, n, r, false, true);
    const AA = mm(A, A, r, r, r);
    const B = A.map((v, i) => b * v + c * AA[i]!);
    const BX = mm(B, x, r, r, n);
    x = x.map((v, i) => a * v + BX[i]!);
  }
  if (!tall) return x;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) out[i * cols + j] = x[j * rows + i]!;
  return out;
}

function maxRelDiff(got: ArrayLike<number>, want: ArrayLike<number>): number {
  let scale = 0, diff = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]!));
    diff = Math.max(diff, Math.abs(got[i]! - want[i]!));
  }
  return diff / scale;
}

for (const name of backendNames()) {
  describe(`Muon (${name} backend)`, () => {
    for (const [rows, cols] of [[8, 20], [20, 8], [16, 16], [1, 5]] as const) {
      it(`orthogonalizes a ${rows}×${cols} matrix as the float64 reference does`, () => withBackend(name, () => {
        const g = randomArray(rows * cols, rows * 100 + cols);
        const got = orthogonalize(g, rows, cols, 5);
        const want = orthogonalize64(g, rows, cols, 5);
        assert.ok(maxRelDiff(got, want) < 2e-5, `max relative difference ${maxRelDiff(got, want)}`);
        // Every singular value lands near 1: the Gram matrix of the short side is near the identity.
        const n = Math.min(rows, cols);
        const gram = mm(Float64Array.from(got), Float64Array.from(got), n, Math.max(rows, cols), n, rows > cols, rows <= cols);
        for (let i = 0; i < n; i++) assert.ok(gram[i * n + i]! > 0.4 && gram[i * n + i]! < 1.5, `diag ${gram[i * n + i]}`);
      }));
    }

    it('takes three steps as the float64 reference does (momentum, Nesterov, scale, weight decay)', () => withBackend(name, () => {
      const shapes = [[12, 30, 30, 12], [30, 12, 30, 12]] as const; // [rows, cols, fanOut, fanIn]: both layouts
      const settings = { lr: 0.02, momentum: 0.9, weightDecay: 0.1, nsSteps: 5 };
      for (const nesterov of [true, false]) {
        const params = shapes.map(([r, c], i) => new Tensor(randomArray(r * c, 11 + i, 0.5), [r, c], true));
        const ref = params.map((p) => Float64Array.from(p.data));
        const momentum = params.map((p) => new Float64Array(p.size));
        const muon = new Muon(params.map((param, i) => ({ param, fanOut: shapes[i]![2], fanIn: shapes[i]![3] })), { ...settings, nesterov });
        for (let step = 0; step < 3; step++) {
          params.forEach((p, i) => {
            p.grad = randomArray(p.size, 100 * step + i);
            const [rows, cols, fanOut, fanIn] = shapes[i]!;
            const m = momentum[i]!;
            const g = p.grad;
            for (let j = 0; j < m.length; j++) m[j] = settings.momentum * m[j]! + (1 - settings.momentum) * g[j]!;
            const u = nesterov ? m.map((v, j) => (1 - settings.momentum) * g[j]! + settings.momentum * v) : m;
            const o = orthogonalize64(u, rows, cols, 5);
            const scale = Math.sqrt(Math.max(1, fanOut / fanIn));
            ref[i] = ref[i]!.map((v, j) => v * (1 - settings.lr * settings.weightDecay) - settings.lr * scale * o[j]!);
          });
          muon.update();
        }
        params.forEach((p, i) => assert.ok(maxRelDiff(p.data, ref[i]!) < 1e-5, `nesterov ${nesterov}, matrix ${i}: ${maxRelDiff(p.data, ref[i]!)}`));
      }
    }));
  });
}

describe('Muon state', () => {
  it('round-trips its momentum, so a resumed run continues the same updates', () => {
    const make = () => new Tensor(randomArray(6 * 4, 3), [6, 4], true);
    const [a, b] = [make(), make()];
    const ma = new Muon([{ param: a, fanOut: 6, fanIn: 4 }], { lr: 0.05 });
    for (let s = 0; s < 2; s++) {
      a.grad = randomArray(24, s);
      ma.update();
    }
    b.data.set(a.data);
    const mb = new Muon([{ param: b, fanOut: 6, fanIn: 4 }], { lr: 0.05 });
    mb.loadState(ma.state().map((x) => x.slice()));
    a.grad = randomArray(24, 9);
    b.grad = randomArray(24, 9);
    ma.update();
    mb.update();
    assert.deepEqual(b.data, a.data);
    assert.throws(() => mb.loadState([new Float32Array(3)]), /Muon state buffer 0 has 3 elements, its matrix 24/);
    assert.throws(() => new Muon([{ param: new Tensor(new Float32Array(8), [8]), fanOut: 8, fanIn: 1 }], { lr: 1 }), /2-D matrices/);
  });
});

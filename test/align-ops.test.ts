// The alignment losses against hand-computed values and finite differences: per-token log-probs, the
// pairwise / DPO log-sigmoid loss, PPO's clipped policy and value losses, GAE, KL estimators, whitening.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { gather, logSigmoidLoss, ppoPolicyLoss, ppoValueLoss, segmentSum, tokenLogProbs } from '../src/align/ops.js';
import { gae, klEstimates, whiten } from '../src/align/ppo.js';
import { Rng } from '../src/tensor/random.js';
import { Tensor } from '../src/tensor/tensor.js';
import { numericGrad, randomArray } from './helpers.js';

/** Checks x.grad of scalar f against central differences (in float64 via repeated float32 evaluation). */
function checkGradient(x: Tensor, f: () => Tensor, tolerance = 2e-3, h = 1e-3): void {
  x.grad = null;
  f().backward();
  const analytic = Float32Array.from(x.grad!);
  numericGrad(x.data, x.data.keys(), () => f().item(), h).forEach((numeric, i) => {
    assert.ok(Math.abs(numeric - analytic[i]!) <= tolerance * Math.max(1, Math.abs(numeric)), `d/dx[${i}]: analytic ${analytic[i]} vs numeric ${numeric}`);
  });
}

describe('alignment ops', () => {
  test('tokenLogProbs is log softmax at the target, with the right gradient', () => {
    const logits = new Tensor(randomArray(15, 1, 2), [3, 5], true);
    const targets = Int32Array.of(1, -1, 4);
    const lp = tokenLogProbs(logits, targets);
    const row = Array.from(logits.data.subarray(0, 5));
    const expected = row[1]! - Math.log(row.reduce((s, v) => s + Math.exp(v), 0));
    assert.ok(Math.abs(lp.data[0]! - expected) < 1e-5);
    assert.equal(lp.data[1], 0);
    const w = Tensor.from([0.7, 0.3, -1.3]);
    const weighted = () => { const y = tokenLogProbs(logits, targets); return logSigmoidLoss(gather(y, Int32Array.of(0, 2)), gather(w, Int32Array.of(0, 2))); };
    checkGradient(logits, weighted);
  });

  test('gather and segmentSum route gradients back to their elements', () => {
    const x = new Tensor(randomArray(6, 2), [6], true);
    checkGradient(x, () => logSigmoidLoss(segmentSum(gather(x, Int32Array.of(5, 0, 0, 3)), Int32Array.of(0, 0, 1, -1), 2), Tensor.from([0.1, -0.2])));
  });

  test('logSigmoidLoss: −log σ(a − b) by hand, gradient pushes chosen up and rejected down', () => {
    const a = Tensor.from([1], [1], true), b = Tensor.from([0], [1], true);
    const loss = logSigmoidLoss(a, b);
    assert.ok(Math.abs(loss.item() - Math.log1p(Math.exp(-1))) < 1e-6);
    loss.backward();
    assert.ok(Math.abs(a.grad![0]! + 1 / (1 + Math.E)) < 1e-6);
    assert.ok(a.grad![0]! < 0 && b.grad![0]! > 0);
    // DPO form: β·(a − b) − β·ref, checked by finite differences.
    const x = new Tensor(randomArray(4, 3), [4], true), y = new Tensor(randomArray(4, 4), [4], true);
    const offset = Float32Array.of(0.3, -0.1, 0.2, 0);
    checkGradient(x, () => logSigmoidLoss(x, y, 0.5, offset));
    checkGradient(y, () => logSigmoidLoss(x, y, 0.5, offset));
  });

  test('ppoPolicyLoss: clipped surrogate by hand and by finite differences', () => {
    const old = Float32Array.of(0, 0, 0);
    const logp = Tensor.from([Math.log(1.5), Math.log(0.5), Math.log(1.1)], [3], true);
    const { loss, clipFraction } = ppoPolicyLoss(logp, old, Float32Array.of(1, -1, 2), 0.2);
    // Terms: max(−1.5, −1.2) = −1.2 (clipped), max(0.5, 0.8) = 0.8 (clipped), −2.2 (unclipped).
    assert.ok(Math.abs(loss.item() - (-1.2 + 0.8 - 2.2) / 3) < 1e-6);
    assert.ok(Math.abs(clipFraction - 2 / 3) < 1e-9);
    loss.backward();
    assert.deepEqual(Array.from(logp.grad!.subarray(0, 2)), [0, 0]);
    assert.ok(Math.abs(logp.grad![2]! - -2.2 / 3) < 1e-6);
    const x = Tensor.from([0.05, -0.1, 0.5, -0.6], [4], true);
    checkGradient(x, () => ppoPolicyLoss(x, new Float32Array(4), Float32Array.of(1, -2, 0.5, 1), 0.2).loss);
  });

  test('ppoValueLoss: ½·max of unclipped and clipped squared errors', () => {
    const cases: [number, number, number, number, number][] = [
      // v, old, R → loss, dloss/dv
      [1.5, 1, 0, 1.125, 1.5],
      [0.5, 1, 2, 1.125, -1.5],
      [0.5, 1, 0, 0.32, 0],
    ];
    for (const [v, old, R, expectedLoss, expectedGrad] of cases) {
      const x = Tensor.from([v], [1], true);
      const { loss } = ppoValueLoss(x, Float32Array.of(old), Float32Array.of(R), 0.2);
      assert.ok(Math.abs(loss.item() - expectedLoss) < 1e-6, `loss for v=${v}: ${loss.item()}`);
      loss.backward();
      assert.ok(Math.abs(x.grad![0]! - expectedGrad) < 1e-6);
    }
    const x = Tensor.from([0.1, 1.0, -0.4], [3], true);
    checkGradient(x, () => ppoValueLoss(x, Float32Array.of(0, 0.5, 0), Float32Array.of(1, 0, -1), 0.2).loss);
  });

  test('GAE on a hand example', () => {
    const { advantages, returns } = gae([0, 0, 1], [0.5, 0.5, 0.5], 1, 0.95);
    const expected = [0.45125, 0.475, 0.5];
    expected.forEach((a, i) => {
      assert.ok(Math.abs(advantages[i]! - a) < 1e-12);
      assert.ok(Math.abs(returns[i]! - (a + 0.5)) < 1e-12);
    });
    // γ = λ = 1: the advantage is the return to go minus the value.
    const full = gae([1, 2, 3], [0, 1, 2], 1, 1);
    assert.deepEqual(Array.from(full.advantages), [6, 4, 1]);
  });

  test('KL estimators: k1 and k3 by hand, both unbiased for KL(p‖q) on samples from p', () => {
    const { k1, k3 } = klEstimates([Math.log(0.5)], [Math.log(0.25)]);
    assert.ok(Math.abs(k1[0]! - Math.log(2)) < 1e-12);
    assert.ok(Math.abs(k3[0]! - (-0.5 + Math.log(2))) < 1e-12);
    const p = [0.6, 0.3, 0.1], q = [0.3, 0.3, 0.4];
    const exact = p.reduce((s, pi, i) => s + pi * Math.log(pi / q[i]!), 0);
    const rng = new Rng(5);
    const n = 200000, logp: number[] = [], logq: number[] = [];
    for (let i = 0; i < n; i++) {
      const u = rng.uniform();
      const k = u < p[0]! ? 0 : u < p[0]! + p[1]! ? 1 : 2;
      logp.push(Math.log(p[k]!));
      logq.push(Math.log(q[k]!));
    }
    const est = klEstimates(logp, logq);
    const mean = (xs: Float64Array) => xs.reduce((s, x) => s + x, 0) / xs.length;
    assert.ok(Math.abs(mean(est.k1) - exact) < 0.01, `k1 ${mean(est.k1)} vs ${exact}`);
    assert.ok(Math.abs(mean(est.k3) - exact) < 0.01, `k3 ${mean(est.k3)} vs ${exact}`);
    assert.ok(est.k3.every((x) => x >= 0));
  });

  test('whiten gives mean 0 and unit variance', () => {
    const w = whiten([1, 2, 3, 4, 10]);
    const mean = w.reduce((s, x) => s + x, 0) / w.length;
    const variance = w.reduce((s, x) => s + (x - mean) ** 2, 0) / (w.length - 1);
    assert.ok(Math.abs(mean) < 1e-6 && Math.abs(variance - 1) < 1e-5);
  });
});

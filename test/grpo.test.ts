// GRPO's advantages and loss: a hand-computed group, the loss and its gradient on a hand-worked batch and
// against finite differences (clipping, ε-high, the KL penalty, both normalisations), and no gradient
// from a group whose rewards are all equal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { grpoLoss, groupAdvantages, type GrpoLossOptions } from '../src/align/grpo-loss.js';
import { Tensor } from '../src/tensor/tensor.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('group advantages', () => {
  it('normalise each group by its mean and sample standard deviation, or only centre it (Dr. GRPO)', () => {
    const { advantages, equalGroups } = groupAdvantages([1, 0, 0, 0, 2, 2], 3);
    // Group [1, 0, 0]: mean 1/3, sample std sqrt(((2/3)² + 2·(1/3)²) / 2) = sqrt(1/3).
    const std = Math.sqrt(1 / 3);
    close(advantages[0]!, (2 / 3) / (std + 1e-4));
    close(advantages[1]!, (-1 / 3) / (std + 1e-4));
    // Group [0, 2, 2]: mean 4/3, std sqrt((16/9 + 2·4/9) / 2) = sqrt(4/3).
    close(advantages[3]!, (-4 / 3) / (Math.sqrt(4 / 3) + 1e-4));
    assert.equal(equalGroups, 0);
    const centred = groupAdvantages([1, 0, 0, 5, 5, 5], 3, false);
    assert.deepEqual(Array.from(centred.advantages).map((a) => Number(a.toFixed(6))), [0.666667, -0.333333, -0.333333, 0, 0, 0]);
    assert.equal(centred.equalGroups, 1);
    assert.throws(() => groupAdvantages([1, 2, 3], 2), /3 rewards do not make groups of 2/);
  });
});

const base: GrpoLossOptions = { epsilon: 0.2, epsilonHigh: 0.2, beta: 0, normalize: 'sequence' };

describe('the GRPO loss', () => {
  it('equals the hand-computed value on a batch of two completions', () => {
    // Completion 0 has tokens 0, 1 (A = 1); completion 1 has token 2 (A = −2).
    const logp = new Tensor(Float32Array.of(-1, -2, -0.5), [3], true);
    const old = Float32Array.of(-1, -2.1, -0.5);
    const ref = Float32Array.of(-1.2, -2, -0.4);
    const segment = Int32Array.of(0, 0, 1);
    const advantages = Float32Array.of(1, -2);
    const beta = 0.1;
    const { loss, clipFraction, kl } = grpoLoss(logp, old, ref, advantages, segment, { ...base, beta });
    const k3 = (r: number, l: number) => Math.exp(r - l) - (r - l) - 1;
    const ratio1 = Math.exp(0.1); // 1.105, inside [0.8, 1.2]
    const perToken = [-1 + beta * k3(-1.2, -1), -ratio1 + beta * k3(-2, -2), 2 + beta * k3(-0.4, -0.5)];
    close(loss.item(), (perToken[0]! + perToken[1]!) / 2 / 2 + perToken[2]! / 2, 1e-6);
    assert.equal(clipFraction, 0);
    close(kl, (k3(-1.2, -1) + k3(-2, -2) + k3(-0.4, -0.5)) / 3, 1e-7);
    // Per token ('token'): the sum over the three tokens / 3.
    close(grpoLoss(logp, old, ref, advantages, segment, { ...base, beta, normalize: 'token' }).loss.item(), perToken.reduce((a, b) => a + b) / 3, 1e-6);
  });

  for (const normalize of ['sequence', 'token'] as const) {
    it(`has the gradient finite differences give (${normalize} normalisation, clipping and ε-high in play)`, () => {
      const n = 7;
      const start = Float32Array.of(-1, -0.7, -2, -0.3, -1.5, -0.9, -2.2);
      const old = Float32Array.of(-1.3, -0.7, -1.6, -0.5, -1.5, -1.4, -2.0); // some ratios far outside the band
      const ref = Float32Array.of(-1.1, -0.5, -2.1, -0.2, -1.7, -1, -2.4);
      const segment = Int32Array.of(0, 0, 0, 1, 1, 2, 2);
      const advantages = Float32Array.of(0.8, -1.1, 0.5);
      const o = { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.04, normalize };
      const logp = new Tensor(start.slice(), [n], true);
      const out = grpoLoss(logp, old, ref, advantages, segment, o);
      assert.ok(out.clipFraction > 0 && out.clipFraction < 1, `clip fraction ${out.clipFraction}`);
      out.loss.backward();
      const f = (x: Float32Array) => grpoLoss(new Tensor(x, [n]), old, ref, advantages, segment, o).loss.item();
      for (let k = 0; k < n; k++) {
        const up = start.slice(), down = start.slice();
        up[k] += 1e-3;
        down[k] -= 1e-3;
        close(logp.grad![k]!, (f(up) - f(down)) / 2e-3, 2e-4);
      }
    });
  }

  it('gives no gradient to a group whose rewards were all equal', () => {
    const { advantages } = groupAdvantages([0.5, 0.5, 1, 0], 2);
    const logp = new Tensor(Float32Array.of(-1, -2, -0.4, -0.7), [4], true);
    grpoLoss(logp, Float32Array.of(-1.1, -1.9, -0.5, -0.8), null, advantages, Int32Array.of(0, 1, 2, 3), base).loss.backward();
    assert.deepEqual(Array.from(logp.grad!.subarray(0, 2)), [0, 0]);
    assert.ok(logp.grad![2] !== 0 && logp.grad![3] !== 0);
    assert.throws(() => grpoLoss(logp, Float32Array.of(0, 0, 0, 0), null, advantages, Int32Array.of(0, 1, 2, 3), { ...base, beta: 0.1 }), /beta > 0 needs the reference/);
  });
});

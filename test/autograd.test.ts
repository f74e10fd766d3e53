// Autograd: every op's backward against central finite differences, on every backend, plus the
// engine's own rules (accumulation, no-grad scope, graph release).
import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Tensor, add, mul, scale, gelu, dropout, matmul, reshape, transpose, narrow, split, concat, sum, mean,
  embedding, layerNorm, causalSelfAttention, crossEntropy, noGrad, Rng,
} from '../src/tensor/index.js';
import { numericGrad, randomArray, withBackend } from './helpers.js';
import { backendNames } from '../src/tensor/backends/index.js';
import { OutputArena } from '../src/tensor/buffers.js';

/** Random tensor requiring grad. */
function rand(shape: number[], seed: number, s = 1): Tensor {
  return new Tensor(randomArray(shape.reduce((a, b) => a * b, 1), seed, s), shape, true);
}

/**
 * Checks d(Σ w·f(inputs))/d(input) from backward against central differences for every input element.
 * The random weights w make every output element matter.
 */
function gradcheck(name: string, f: (...xs: Tensor[]) => Tensor, inputs: Tensor[], eps = 1e-2, tol = 5e-3): void {
  const out0 = f(...inputs);
  const w = new Tensor(randomArray(out0.size, 99), out0.shape);
  const objective = () => sum(mul(f(...inputs), w));
  for (const x of inputs) x.grad = null;
  objective().backward();
  for (const [k, x] of inputs.entries()) {
    if (!x.requiresGrad) continue;
    const analytic = x.grad!;
    numericGrad(x.data, x.data.keys(), () => noGrad(() => objective().item()), eps).forEach((numeric, i) => {
      const err = Math.abs(numeric - analytic[i]!);
      assert.ok(err <= tol + 2e-2 * Math.abs(numeric), `${name}: input ${k} element ${i}: backward ${analytic[i]} vs numeric ${numeric}`);
    });
  }
}

for (const name of backendNames()) {
  describe(`autograd gradients match finite differences [${name}]`, () => {
    const it = (title: string, fn: () => void) => test(title, () => withBackend(name, fn));
    it('add and mul with broadcasting', () => {
      gradcheck('add', add, [rand([2, 3, 4], 1), rand([3, 4], 2)]);
      gradcheck('add (middle broadcast)', add, [rand([2, 3, 4], 3), rand([2, 1, 4], 4)]);
      gradcheck('mul', mul, [rand([2, 3, 4], 5), rand([4], 6)]);
      gradcheck('mul (both broadcast)', mul, [rand([3, 1], 7), rand([1, 4], 8)]);
    });
    it('scale, gelu, sum, mean', () => {
      gradcheck('scale', (x) => scale(x, -1.7), [rand([5, 3], 9)]);
      gradcheck('gelu', gelu, [rand([4, 7], 10, 3)]);
      gradcheck('sum', sum, [rand([3, 3], 11)]);
      gradcheck('mean', mean, [rand([3, 3], 12)]);
    });
    it('matmul with every transpose combination, batched and shared, with bias', () => {
      for (const transA of [false, true]) {
        for (const transB of [false, true]) {
          const a = rand(transA ? [2, 5, 3] : [2, 3, 5], 13), b2 = rand(transB ? [4, 5] : [5, 4], 14), b3 = rand(transB ? [2, 4, 5] : [2, 5, 4], 15);
          gradcheck(`matmul shared B tA=${transA} tB=${transB}`, (x, y) => matmul(x, y, { transA, transB }), [a, b2]);
          gradcheck(`matmul batched B tA=${transA} tB=${transB}`, (x, y) => matmul(x, y, { transA, transB }), [a, b3]);
        }
      }
      gradcheck('matmul + bias', (x, y, z) => matmul(x, y, { bias: z }), [rand([2, 3, 5], 16), rand([5, 4], 17), rand([4], 18)]);
    });
    it('reshape, transpose, narrow, split, concat', () => {
      gradcheck('reshape', (x) => reshape(x, [6, -1]), [rand([2, 3, 4], 19)]);
      gradcheck('transpose', (x) => transpose(x, 0, 2), [rand([2, 3, 4], 20)]);
      gradcheck('narrow', (x) => narrow(x, 1, 1, 3), [rand([2, 4, 3], 21)]);
      gradcheck('split', (x) => split(x, 2, -1)[1]!, [rand([2, 5], 22)]);
      gradcheck('concat', (x, y) => concat([x, y], 1), [rand([2, 2, 3], 23), rand([2, 1, 3], 24)]);
    });
    it('embedding with repeated ids', () => {
      gradcheck('embedding', (t) => embedding(t, Int32Array.from([1, 3, 1, 0, 3, 3]), [2, 3]), [rand([5, 4], 25)]);
    });
    it('layerNorm with and without bias', () => {
      gradcheck('layerNorm', (x, w, b) => layerNorm(x, w, b), [rand([3, 8], 26, 2), rand([8], 27), rand([8], 28)]);
      gradcheck('layerNorm no bias', (x, w) => layerNorm(x, w, null), [rand([3, 8], 29, 2), rand([8], 30)]);
    });
    it('fused causal attention, with and without dropout', () => {
      gradcheck('attention', (qkv) => causalSelfAttention(qkv, 2), [rand([2, 5, 3 * 8], 31)]);
      // The same seed gives the same mask in every evaluation, so the objective is deterministic.
      gradcheck('attention dropout', (qkv) => causalSelfAttention(qkv, 2, 0.3, new Rng(5), true), [rand([2, 5, 3 * 8], 32)]);
    });
    it('cross-entropy with ignored rows', () => {
      gradcheck('crossEntropy', (l) => crossEntropy(l, Int32Array.from([2, -1, 0, 4])), [rand([4, 5], 33, 3)]);
    });
    it('dropout', () => {
      gradcheck('dropout', (x) => dropout(x, 0.4, new Rng(3), true), [rand([4, 6], 34)]);
    });
  });
}

describe('autograd engine', () => {
  it('accumulates gradients across backward calls and through shared inputs', () => {
    const x = Tensor.from([1, 2, 3], [3], true);
    sum(mul(x, x)).backward(); // d/dx Σx² = 2x, x used twice by one op
    assert.deepEqual([...x.grad!], [2, 4, 6]);
    sum(add(x, x)).backward(); // + 2
    assert.deepEqual([...x.grad!], [4, 6, 8]);
  });
  it('records nothing under noGrad', () => {
    const x = Tensor.from([1, 2], [2], true);
    const y = noGrad(() => mul(x, x));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
  });
  it('releases the graph after backward', () => {
    const x = Tensor.from([1, 2], [2], true);
    const h = gelu(x), loss = sum(h);
    loss.backward();
    assert.equal(loss.node, null);
    assert.equal(h.node, null);
    assert.throws(() => sum(Tensor.from([1])).backward(), /does not require grad/);
  });
  it('dropout masks are reproducible from the seed and scale kept values', () => {
    const x = new Tensor(new Float32Array(10000).fill(1), [10000]);
    const a = dropout(x, 0.25, new Rng(7), true), b = dropout(x, 0.25, new Rng(7), true);
    assert.deepEqual(a.data, b.data);
    const kept = a.data.filter((v) => v !== 0);
    assert.ok(Math.abs(kept.length / 10000 - 0.75) < 0.02, `kept fraction ${kept.length / 10000}`);
    assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
    assert.equal(dropout(x, 0.25, new Rng(7), false), x);
  });
  it('an OutputArena hands the op outputs of one run to the next, and nothing else', () => {
    const x = rand([6, 8], 1), W = rand([8, 8], 2, 0.5);
    const step = () => {
      x.grad = W.grad = null;
      const h = matmul(x, W), u = gelu(h);
      sum(u).backward();
      return { buffers: new Set([h.data.buffer, u.data.buffer]), values: [[...u.data], [...x.grad!], [...W.grad!]] };
    };
    const plain = step();
    const outside = gelu(matmul(x, W)), before = [...outside.data]; // allocated outside any run: never reused
    const arena = new OutputArena();
    const first = arena.run(step), second = arena.run(step);
    assert.deepEqual(second.buffers, first.buffers);
    assert.deepEqual(first.values, plain.values);
    assert.deepEqual(second.values, plain.values);
    assert.ok(![...first.buffers].some((b) => plain.buffers.has(b) || b === outside.data.buffer));
    assert.throws(() => arena.run(() => {
      gelu(matmul(x, W));
      throw new Error('stopped mid-step');
    }), /stopped mid-step/);
    assert.deepEqual(arena.run(step).values, plain.values);
    assert.deepEqual([...outside.data], before);
    // A gradient stays the tensor's across runs: accumulated over two runs (a leaf multiplied elementwise
    // keeps its backward's product as .grad), as without an arena.
    const s2 = rand([6, 8], 6);
    const twice = (run: (f: () => void) => void) => {
      s2.grad = W.grad = null;
      for (let i = 0; i < 2; i++) run(() => sum(gelu(mul(matmul(x, W), s2))).backward());
      return [[...s2.grad!], [...W.grad!]];
    };
    assert.deepEqual(twice((f) => arena.run(f)), twice((f) => f()));
  });
  it('reuses gradient buffers without corrupting a gradient still in use', () => {
    // Pass-through (add), tensors read by several ops (h, u) and a residual: each gradient buffer may be
    // recycled only once dead. Checked against finite differences, then repeated after an unrelated pass
    // has left other values in the pooled buffers.
    const block = (input: Tensor, W: Tensor, lnW: Tensor) => {
      const h = matmul(input, W), u = gelu(h);
      return layerNorm(add(input, add(h, add(u, scale(u, 2)))), lnW, null);
    };
    const x = rand([6, 8], 1), W = rand([8, 8], 2, 0.5), lnW = rand([8], 3);
    gradcheck('pooled gradient buffers', block, [x, W, lnW]);
    const w = new Tensor(randomArray(48, 4), [6, 8]);
    const grads = (input: Tensor) => {
      for (const p of [input, W, lnW]) p.grad = null;
      sum(mul(block(input, W, lnW), w)).backward();
      return [input, W, lnW].map((p) => [...p.grad!]);
    };
    const first = grads(x);
    grads(rand([6, 8], 5));
    assert.deepEqual(grads(x), first);
  });
  it('never recycles a gradient the caller holds', () => {
    // A leaf's gradient outlives the walk; seeding a later pass with it must neither change it nor let the
    // pool hand it out again.
    const W = rand([8, 8], 2), x = rand([8, 8], 1);
    sum(gelu(matmul(x, W))).backward();
    const kept = W.grad!, copy = [...kept];
    W.grad = null;
    gelu(add(gelu(matmul(x, W)), x)).backward(kept);
    assert.deepEqual([...kept], copy);
    assert.notEqual(W.grad, kept);
  });
  it('names the problem in shape errors', () => {
    assert.throws(() => matmul(rand([2, 3], 1), rand([4, 5], 2)), /inner dimensions differ/);
    assert.throws(() => add(rand([2, 3], 1), rand([4], 2)), /cannot be broadcast/);
    assert.throws(() => reshape(rand([2, 3], 1), [4, 2]), /cannot view/);
    assert.throws(() => embedding(rand([3, 2], 1), Int32Array.from([3]), [1]), /id 3 at position 0 is outside the table of 3 rows/);
    assert.throws(() => crossEntropy(rand([2, 3], 1), Int32Array.from([0, 5])), /target 5 at row 1/);
  });
});

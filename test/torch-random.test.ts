// PyTorch's CPU generator: the values below were printed by PyTorch 1.13 (torch.manual_seed, then
// torch.randint / Tensor.normal_ / Tensor.uniform_), so these tests pin inkwell to PyTorch's draws.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TorchGenerator } from '../src/tensor/torch-random.js';

const close = (actual: Float32Array, expected: number[], tol: number) => {
  assert.equal(actual.length, expected.length);
  actual.forEach((v, i) => assert.ok(Math.abs(v - expected[i]!) <= tol, `[${i}] ${v} vs ${expected[i]}`));
};

describe('TorchGenerator', () => {
  it('draws torch.randint as PyTorch does, below and above 2^32', () => {
    const g = new TorchGenerator(1337);
    assert.deepEqual(Array.from({ length: 6 }, () => g.int(1003790)), [138825, 368537, 972872, 611890, 34195, 709583]);
    const h = new TorchGenerator(7);
    h.normal_(new Float32Array(20), 0.5, 2);
    h.uniform_(new Float32Array(5), -0.3, 0.3);
    assert.deepEqual(Array.from({ length: 3 }, () => h.int(2 ** 33)), [8375742400, 989143352, 6650713550]);
  });

  it('fills normal_ (with the redrawn tail of a length not a multiple of 16) and uniform_ as PyTorch does', () => {
    const g = new TorchGenerator(7);
    close(g.normal_(new Float32Array(20), 0.5, 2), [-1.1402690410614014, 1.2912623882293701, 2.2978169918060303, -2.2768077850341797,
      0.8968901038169861, 2.06414532661438, 2.5782153606414795, -0.9490214586257935, -1.1978172063827515, -1.933858871459961,
      0.33795684576034546, 3.2229702472686768, -3.622955799102783, 1.8482013940811157, -2.1466915607452393, -2.2195379734039307,
      -1.233403205871582, -0.6280133724212646, -3.6129250526428223, -0.21344506740570068], 2e-6);
    close(g.uniform_(new Float32Array(5), -0.3, 0.3), [-0.06675481796264648, -0.16713213920593262, -0.07547876238822937, -0.1828451156616211, 0.14431440830230713], 0);
  });

  it('draws short normal_ fills in double precision, keeping the spare value for the next call', () => {
    const g = new TorchGenerator(11);
    close(g.normal_(new Float32Array(5), 0.5, 2), [1.9752589464187622, 4.391858100891113, -0.8990831971168518, -2.1045947074890137, -0.5265244245529175], 1e-6);
    const saved = g.getState();
    close(g.normal_(new Float32Array(3), 0, 1), [-0.26961955428123474, 0.24618466198444366, 0.4839252829551697], 1e-6);
    assert.deepEqual([g.int(1000), g.int(1000)], [768, 605]);
    g.setState(saved);
    close(g.normal_(new Float32Array(1), 0, 1), [-0.26961955428123474], 1e-6);
  });

  it('skips a fill exactly as far as drawing it would', () => {
    for (const n of [1, 5, 16, 20, 8320, 8321]) {
      const drawn = new TorchGenerator(3), skipped = new TorchGenerator(3);
      drawn.normal_(new Float32Array(n), 0, 1);
      skipped.skipNormal(n);
      assert.deepEqual(skipped.getState(), drawn.getState(), `normal_ of ${n}`);
      drawn.uniform_(new Float32Array(n), 0, 1);
      skipped.skipUniform(n);
      assert.deepEqual(skipped.getState(), drawn.getState(), `uniform_ of ${n}`);
    }
  });

  it('seeds with the low 32 bits as torch.manual_seed does, and restores a saved state', () => {
    const g = new TorchGenerator(2 ** 40 + 3);
    assert.deepEqual(Array.from({ length: 4 }, () => g.int(100)), [86, 48, 37, 67]);
    const saved = g.getState();
    const next = Array.from({ length: 700 }, () => g.nextU32());
    g.setState(saved);
    assert.deepEqual(Array.from({ length: 700 }, () => g.nextU32()), next);
    assert.throws(() => g.setState([1, 2, 3]), /state must have 626 entries, got 3/);
  });
});

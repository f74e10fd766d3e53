// Reductions to a scalar.
import { backend } from '../backends/index.js';
import { result, type Tensor } from '../tensor.js';

export function sum(x: Tensor): Tensor {
  const value = backend().sum(x.data, x.size);
  return result('sum', Float32Array.of(value), [], [x], (g) => [new Float32Array(x.size).fill(g[0]!)]);
}

export function mean(x: Tensor): Tensor {
  const value = backend().sum(x.data, x.size) / x.size;
  return result('mean', Float32Array.of(value), [], [x], (g) => [new Float32Array(x.size).fill(g[0]! / x.size)]);
}

// Elementwise ops: broadcasting add and mul, scaling, tanh-GELU, SwiGLU, ReLU², soft-capping, dropout.
import { backend } from '../backends/index.js';
import { gradientBuffer, uninitialized } from '../buffers.js';
import type { Rng } from '../random.js';
import { result, shapeString, type Tensor } from '../tensor.js';
import { broadcastBinary, broadcastShape, reduceToShape } from './broadcast.js';
import { matmulPrecision } from './matmul.js';

export function add(a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const data = broadcastBinary('add', a.data, a.shape, b.data, b.shape, shape);
  return result('add', data, shape, [a, b], (g) => [
    a.requiresGrad ? reduceToShape(g, shape, a.shape) : null,
    b.requiresGrad ? reduceToShape(g, shape, b.shape) : null,
  ]);
}

export function mul(a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShape(a.shape, b.shape);
  const data = broadcastBinary('mul', a.data, a.shape, b.data, b.shape, shape);
  // The products are gradients (an input may keep one as its .grad), not op outputs.
  return result('mul', data, shape, [a, b], (g) => [
    a.requiresGrad ? reduceToShape(broadcastBinary('mul', g, shape, b.data, b.shape, shape, gradientBuffer(g.length)), shape, a.shape) : null,
    b.requiresGrad ? reduceToShape(broadcastBinary('mul', g, shape, a.data, a.shape, shape, gradientBuffer(g.length)), shape, b.shape) : null,
  ]);
}

/** x · alpha for a constant alpha. */
export function scale(x: Tensor, alpha: number): Tensor {
  const data = uninitialized(x.size);
  backend().scale(x.data, alpha, data, x.size);
  return result('scale', data, x.shape, [x], (g) => {
    const gx = gradientBuffer(x.size);
    backend().scale(g, alpha, gx, x.size);
    return [gx];
  });
}

/** An activation whose backward reads its input: out = f(x), dx = f'(x)·dout, on the backend's two kernels. */
function activation(name: string, x: Tensor, forward: (x: Float32Array, out: Float32Array, n: number) => void,
  backward: (x: Float32Array, dout: Float32Array, dx: Float32Array, n: number) => void): Tensor {
  const data = uninitialized(x.size);
  forward(x.data, data, x.size);
  return result(name, data, x.shape, [x], (g) => {
    const gx = gradientBuffer(x.size);
    backward(x.data, g, gx, x.size);
    return [gx];
  });
}

/**
 * tanh-approximated GELU, as GPT-2 ("gelu_new"). Under withMatmulPrecision('bfloat16') its output and
 * gradient are rounded to bfloat16, as autocast's (the products around it read them rounded anyway).
 */
export function gelu(x: Tensor): Tensor {
  const bf16 = matmulPrecision() === 'bfloat16';
  return activation('gelu', x, (x, out, n) => backend().geluForward(x, out, n, bf16),
    (x, dout, dx, n) => backend().geluBackward(x, dout, dx, n, bf16));
}

/** SwiGLU, the gated activation of Llama-family MLPs: silu(gate) · up (same shapes). */
export function swiglu(gate: Tensor, up: Tensor): Tensor {
  if (gate.size !== up.size) throw new Error(`swiglu: gate ${shapeString(gate.shape)} and up ${shapeString(up.shape)} differ`);
  const data = uninitialized(gate.size);
  backend().swigluForward(gate.data, up.data, data, gate.size);
  return result('swiglu', data, gate.shape, [gate, up], (g) => {
    const dg = gradientBuffer(gate.size), du = gradientBuffer(up.size);
    backend().swigluBackward(gate.data, up.data, g, dg, du, gate.size);
    return [dg, du];
  });
}

/** ReLU², the non-gated MLP activation of modded-nanogpt: max(x, 0)². */
export function relu2(x: Tensor): Tensor {
  return activation('relu2', x, (...a) => backend().relu2Forward(...a), (...a) => backend().relu2Backward(...a));
}

/** Soft-capping (Gemma 2's final_logit_softcapping): cap·tanh(x / cap), near x for |x| ≪ cap, never past ±cap. */
export function softcap(x: Tensor, cap: number): Tensor {
  if (!(cap > 0)) throw new Error(`softcap: cap must be > 0, got ${cap}`);
  const data = uninitialized(x.size);
  backend().softcapForward(x.data, data, x.size, cap);
  return result('softcap', data, x.shape, [x], (g) => {
    const gx = gradientBuffer(x.size);
    backend().softcapBackward(data, g, gx, x.size, cap);
    return [gx];
  });
}

/**
 * Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1-p). The mask is a
 * function of a seed drawn from `rng`, so backward recomputes it rather than storing it. Identity when
 * p = 0 or not training.
 */
export function dropout(x: Tensor, p: number, rng: Rng, training: boolean): Tensor {
  if (!training || p === 0) return x;
  if (!(p >= 0 && p < 1)) throw new Error(`dropout probability must be in [0, 1), got ${p}`);
  const seed = rng.nextU32();
  const data = uninitialized(x.size);
  backend().dropout(x.data, data, x.size, p, seed);
  return result('dropout', data, x.shape, [x], (g) => {
    const gx = gradientBuffer(x.size);
    backend().dropout(g, gx, x.size, p, seed);
    return [gx];
  });
}

// The tensor engine: tensors with autograd, the differentiable ops, backends and seeded randomness.
export { Tensor, noGrad, isGradEnabled, sizeOf, shapeString, type Shape, type GradNode } from './tensor.js';
export { add, mul, scale, gelu, swiglu, relu2, softcap, dropout } from './ops/elementwise.js';
export { matmul, matmulPrecision, withMatmulPrecision, type MatmulOptions, type MatmulPrecision } from './ops/matmul.js';
export { reshape, transpose, narrow, split, concat } from './ops/shape.js';
export { sum, mean } from './ops/reduce.js';
export { embedding, layerNorm, rmsNorm, rope, causalSelfAttention, cachedSelfAttention, crossEntropy } from './ops/nn.js';
export { Rng, hashUniform } from './random.js';
export { OutputArena } from './buffers.js';
export { backend, backendNames, getBackendByName, setBackend } from './backends/index.js';
export type { Backend, Kernels } from './backend.js';

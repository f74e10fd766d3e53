// The layers GPT-2 and the Llama family are built from. A Linear stores its weight in the layout of the
// checkpoints it loads, so files map onto parameters without transposing: GPT-2's Conv1D [in, out]
// (y = x·W + b, the default) or torch's nn.Linear [out, in] (y = x·Wᵀ + b, the Llama family).
import { embedding, layerNorm, rmsNorm } from '../tensor/ops/nn.js';
import { compressedMatmul, type CompressedMatrix } from '../tensor/ops/compressed.js';
import { matmul } from '../tensor/ops/matmul.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

/** Where a Linear's weight keeps its input dim: 'conv1d' [in, out] (GPT-2), 'linear' [out, in] (torch nn.Linear). */
export type WeightLayout = 'conv1d' | 'linear';

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true, readonly layout: WeightLayout = 'conv1d') {
    super();
    this.weight = this.param('weight', Tensor.zeros(layout === 'conv1d' ? [inFeatures, outFeatures] : [outFeatures, inFeatures]));
    this.bias = bias ? this.param('bias', Tensor.zeros([outFeatures])) : null;
  }

  /** For inference only: the weight compressed to int8/bf16 (see model/compress.ts); forward reads it instead. */
  compressed: CompressedMatrix | null = null;

  forward(x: Tensor): Tensor {
    if (this.compressed) return compressedMatmul(x, this.compressed, this.bias);
    return matmul(x, this.weight, { bias: this.bias, transB: this.layout === 'linear' });
  }
}

/** RMSNorm (Llama): x / √(mean(x²) + eps) · weight, no bias, no mean subtraction. */
export class RMSNorm extends Module {
  readonly weight: Tensor;

  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param('weight', Tensor.from(new Float32Array(dim).fill(1), [dim]));
  }

  forward(x: Tensor): Tensor {
    return rmsNorm(x, this.weight, this.eps);
  }
}

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly dim: number, bias = true, readonly eps = 1e-5) {
    super();
    this.weight = this.param('weight', Tensor.from(new Float32Array(dim).fill(1), [dim]));
    this.bias = bias ? this.param('bias', Tensor.zeros([dim])) : null;
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}

export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(readonly count: number, readonly dim: number) {
    super();
    this.weight = this.param('weight', Tensor.zeros([count, dim]));
  }

  forward(ids: Int32Array, shape: readonly number[]): Tensor {
    return embedding(this.weight, ids, shape);
  }
}

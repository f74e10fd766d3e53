// The layers a GPT is built from. Linear keeps GPT-2's Conv1D layout: weight [in, out], y = x·W + b.
import { embedding, layerNorm } from '../tensor/ops/nn.js';
import { compressedMatmul, type CompressedMatrix } from '../tensor/ops/compressed.js';
import { matmul } from '../tensor/ops/matmul.js';
import { Tensor } from '../tensor/tensor.js';
import { Module } from './module.js';

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(readonly inFeatures: number, readonly outFeatures: number, bias = true) {
    super();
    this.weight = this.param('weight', Tensor.zeros([inFeatures, outFeatures]));
    this.bias = bias ? this.param('bias', Tensor.zeros([outFeatures])) : null;
  }

  /** For inference only: the weight compressed to int8/bf16 (see model/compress.ts); forward reads it instead. */
  compressed: CompressedMatrix | null = null;

  forward(x: Tensor): Tensor {
    return this.compressed ? compressedMatmul(x, this.compressed, this.bias) : matmul(x, this.weight, { bias: this.bias });
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

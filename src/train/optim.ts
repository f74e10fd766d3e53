// AdamW (torch.optim.AdamW: bias-corrected moments, decoupled weight decay) with parameter groups, and
// global-norm gradient clipping (torch.nn.utils.clip_grad_norm_).
import { backend } from '../tensor/backends/index.js';
import type { Tensor } from '../tensor/tensor.js';

export interface ParamGroup {
  params: Tensor[];
  weightDecay: number;
}

export interface AdamWOptions {
  lr: number;
  betas?: [number, number];
  eps?: number;
}

export interface AdamWState {
  step: number;
  /** First and second moments, one pair per parameter in group order. */
  m: Float32Array[];
  v: Float32Array[];
}

export class AdamW {
  lr: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly groups: ParamGroup[];
  private stepCount = 0;
  private readonly m: Float32Array[];
  private readonly v: Float32Array[];

  constructor(groups: ParamGroup[], options: AdamWOptions) {
    this.groups = groups;
    this.lr = options.lr;
    this.betas = options.betas ?? [0.9, 0.999];
    this.eps = options.eps ?? 1e-8;
    const params = this.params();
    this.m = params.map((p) => new Float32Array(p.size));
    this.v = params.map((p) => new Float32Array(p.size));
  }

  params(): Tensor[] {
    return this.groups.flatMap((g) => g.params);
  }

  get step(): number {
    return this.stepCount;
  }

  /** One update of every parameter that has a gradient. */
  update(): void {
    this.stepCount++;
    const kernel = backend();
    let i = 0;
    for (const group of this.groups) {
      for (const p of group.params) {
        if (p.grad) {
          kernel.adamw(p.data, p.grad, this.m[i]!, this.v[i]!, p.size, this.lr, this.betas[0], this.betas[1], this.eps, group.weightDecay, this.stepCount);
        }
        i++;
      }
    }
  }

  zeroGrad(): void {
    for (const p of this.params()) p.grad = null;
  }

  state(): AdamWState {
    return { step: this.stepCount, m: this.m, v: this.v };
  }

  loadState(state: AdamWState): void {
    if (state.m.length !== this.m.length || state.v.length !== this.v.length) {
      throw new Error(`optimizer state has ${state.m.length} tensors, the model has ${this.m.length}`);
    }
    state.m.forEach((m, i) => {
      if (m.length !== this.m[i]!.length || state.v[i]!.length !== this.v[i]!.length) {
        throw new Error(`optimizer state tensor ${i} has ${m.length} elements, the parameter has ${this.m[i]!.length}`);
      }
      this.m[i]!.set(m);
      this.v[i]!.set(state.v[i]!);
    });
    this.stepCount = state.step;
  }
}

/**
 * Decay groups as nanoGPT makes them: every tensor of rank ≥ 2 (matmul weights, embeddings) is decayed,
 * biases and LayerNorm gains are not.
 */
export function decayGroups(named: [string, Tensor][], weightDecay: number): { decay: [string, Tensor][]; noDecay: [string, Tensor][]; groups: ParamGroup[] } {
  const trainable = named.filter(([, p]) => p.requiresGrad);
  const decay = trainable.filter(([, p]) => p.ndim >= 2);
  const noDecay = trainable.filter(([, p]) => p.ndim < 2);
  return {
    decay,
    noDecay,
    groups: [
      { params: decay.map(([, p]) => p), weightDecay },
      { params: noDecay.map(([, p]) => p), weightDecay: 0 },
    ],
  };
}

/** Scales all gradients so their global L2 norm is at most maxNorm; returns the norm before clipping. */
export function clipGradNorm(params: readonly Tensor[], maxNorm: number): number {
  const kernel = backend();
  let sq = 0;
  for (const p of params) if (p.grad) sq += kernel.sumSquares(p.grad, p.size);
  const norm = Math.sqrt(sq);
  const coef = maxNorm / (norm + 1e-6);
  if (coef < 1) for (const p of params) if (p.grad) kernel.scale(p.grad, coef, p.grad, p.size);
  return norm;
}

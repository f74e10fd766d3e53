// Muon (Keller Jordan, 2024; modded-nanogpt's optimizer for hidden matrices): SGD momentum whose update is
// replaced by its nearest semi-orthogonal matrix, computed by five Newton–Schulz iterations of a quintic
// polynomial, then scaled by √max(1, fan_out / fan_in) so every matrix moves by the same RMS per entry.
// Only 2-D hidden matrices suit it; embeddings, the LM head and gains stay with AdamW (see muonGroups).
// The products run through the backend's matmul kernel (native: threaded GEMM).
import { Linear } from '../nn/layers.js';
import type { Module } from '../nn/module.js';
import { backend } from '../tensor/backends/index.js';
import type { Tensor } from '../tensor/tensor.js';

/** The quintic's coefficients, chosen to maximise its slope at zero (modded-nanogpt). */
export const NEWTON_SCHULZ_COEFFICIENTS = [3.4445, -4.775, 2.0315] as const;

export interface MuonOptions {
  lr: number;
  /** Momentum β of the running average m ← β·m + (1 − β)·g; default 0.95. */
  momentum?: number;
  /** Orthogonalise (1 − β)·g + β·m (Nesterov) instead of m; default true. */
  nesterov?: boolean;
  /** Newton–Schulz iterations; default 5. */
  nsSteps?: number;
  /** Decoupled weight decay: p ← p·(1 − lr·wd) before the update; default 0. */
  weightDecay?: number;
}

/** A matrix Muon updates, with the orientation its layout stores (fan_out / fan_in sets the update's scale). */
export interface MuonParam {
  param: Tensor;
  fanOut: number;
  fanIn: number;
}

/**
 * Parameter groups by rule: the weight of every linear layer but the LM head (the hidden matrices: q/k/v/o,
 * MLP; GPT-2's c_attn, c_proj, c_fc) goes to Muon, with the fan_out / fan_in its layout stores; the rest
 * (embeddings, the head, norm gains, biases) to AdamW. Frozen parameters go to neither.
 */
export function muonGroups(model: Module, head: Tensor): { muon: (MuonParam & { name: string })[]; adamw: [string, Tensor][] } {
  const muon: (MuonParam & { name: string })[] = [];
  for (const [path, m] of model.namedModules()) {
    if (!(m instanceof Linear) || m.weight === head || !m.weight.requiresGrad) continue;
    muon.push({ name: `${path}.weight`, param: m.weight, fanOut: m.outFeatures, fanIn: m.inFeatures });
  }
  const taken = new Set(muon.map((e) => e.param));
  return { muon, adamw: model.namedParameters().filter(([, p]) => p.requiresGrad && !taken.has(p)) };
}

export class Muon {
  lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly nsSteps: number;
  readonly weightDecay: number;
  readonly entries: readonly MuonParam[];
  private readonly buffers: Float32Array[];

  constructor(entries: readonly MuonParam[], options: MuonOptions) {
    for (const { param, fanOut, fanIn } of entries) {
      if (param.ndim !== 2 || param.size !== fanOut * fanIn) throw new Error(`Muon: takes 2-D matrices of fan_out × fan_in entries, got shape [${param.shape.join(', ')}]`);
    }
    this.entries = entries;
    this.lr = options.lr;
    this.momentum = options.momentum ?? 0.95;
    this.nesterov = options.nesterov ?? true;
    this.nsSteps = options.nsSteps ?? 5;
    this.weightDecay = options.weightDecay ?? 0;
    this.buffers = entries.map(({ param }) => new Float32Array(param.size));
  }

  params(): Tensor[] {
    return this.entries.map((e) => e.param);
  }

  /** One update of every matrix that has a gradient. */
  update(): void {
    const k = backend();
    const beta = this.momentum;
    this.entries.forEach(({ param, fanOut, fanIn }, i) => {
      const g = param.grad;
      if (!g) return;
      const m = this.buffers[i]!;
      k.scale(m, beta, m, m.length);
      k.axpy(1 - beta, g, m, m.length);
      let u = m;
      if (this.nesterov) {
        u = new Float32Array(m.length);
        k.scale(g, 1 - beta, u, u.length);
        k.axpy(beta, m, u, u.length);
      }
      const [rows, cols] = param.shape as [number, number];
      const o = orthogonalize(u, rows, cols, this.nsSteps);
      if (this.weightDecay > 0) k.scale(param.data, 1 - this.lr * this.weightDecay, param.data, param.size);
      k.axpy(-this.lr * Math.sqrt(Math.max(1, fanOut / fanIn)), o, param.data, param.size);
    });
  }

  zeroGrad(): void {
    for (const { param } of this.entries) param.grad = null;
  }

  /** The momentum buffers, one per matrix in order. */
  state(): Float32Array[] {
    return this.buffers;
  }

  loadState(buffers: readonly Float32Array[]): void {
    if (buffers.length !== this.buffers.length) throw new Error(`Muon state has ${buffers.length} buffers, the optimizer ${this.buffers.length}`);
    buffers.forEach((b, i) => {
      if (b.length !== this.buffers[i]!.length) throw new Error(`Muon state buffer ${i} has ${b.length} elements, its matrix ${this.buffers[i]!.length}`);
      this.buffers[i]!.set(b);
    });
  }
}

/**
 * Newton–Schulz: X ← a·X + (b·A + c·A²)·X with A = X·Xᵀ, from X = G / ‖G‖_F, for G [rows, cols]. It drives
 * every singular value of G towards 1 (roughly: into [0.7, 1.2]), keeping the singular vectors. For a tall
 * G the same runs on Gᵀ, written here as X ← a·X + X·(b·A + c·A²) with A = Xᵀ·X, so nothing is transposed.
 */
export function orthogonalize(g: Float32Array, rows: number, cols: number, steps: number): Float32Array {
  const k = backend();
  const [a, b, c] = NEWTON_SCHULZ_COEFFICIENTS;
  const wide = rows <= cols;
  const n = wide ? rows : cols;
  let x = new Float32Array(g.length);
  k.scale(g, 1 / (Math.sqrt(k.sumSquares(g, g.length)) + 1e-7), x, x.length);
  const gram = new Float32Array(n * n), poly = new Float32Array(n * n);
  let next = new Float32Array(g.length);
  for (let s = 0; s < steps; s++) {
    // A = X Xᵀ (wide) or Xᵀ X (tall): n × n.
    k.matmul(x, x, gram, null, 1, n, n, wide ? cols : rows, !wide, wide, false, 0, false);
    // B = b·A + c·A².
    k.matmul(gram, gram, poly, null, 1, n, n, n, false, false, false, 0, false);
    k.scale(poly, c, poly, poly.length);
    k.axpy(b, gram, poly, poly.length);
    // X' = a·X + B·X (wide) or a·X + X·B (tall).
    k.scale(x, a, next, next.length);
    if (wide) k.matmul(poly, x, next, null, 1, rows, cols, n, false, false, true, 0, false);
    else k.matmul(x, poly, next, null, 1, rows, cols, n, false, false, true, 0, false);
    [x, next] = [next, x];
  }
  return x;
}

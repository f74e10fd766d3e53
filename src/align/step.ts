// One optimisation step shared by the reward model, PPO and DPO: a finite-loss guard (a NaN or infinite
// loss stops the run before it touches the weights), backward, global-norm clipping, AdamW.
import type { Tensor } from '../tensor/tensor.js';
import { AdamW, clipGradNorm, decayGroups } from '../train/optim.js';
import { TrainingDiverged } from '../train/trainer.js';

export function adamWFor(named: [string, Tensor][], lr: number, weightDecay: number): AdamW {
  return new AdamW(decayGroups(named, weightDecay).groups, { lr, betas: [0.9, 0.95] });
}

/** Backpropagates `loss` and updates; returns the gradient norm before clipping (gradClip 0: no clipping). */
export function optimizerStep(optimizer: AdamW, loss: Tensor, gradClip: number, what: string): number {
  const value = loss.item();
  if (!Number.isFinite(value)) throw new TrainingDiverged(`${what}: the loss is ${value}`);
  optimizer.zeroGrad();
  loss.backward();
  const params = optimizer.params();
  const norm = gradClip > 0 ? clipGradNorm(params, gradClip) : 0;
  if (!Number.isFinite(norm)) throw new TrainingDiverged(`${what}: the gradient norm is ${norm}`);
  optimizer.update();
  optimizer.zeroGrad();
  return norm;
}

/** Throws TrainingDiverged if any parameter holds a NaN or infinity (checked before a checkpoint is written). */
export function assertFiniteParameters(named: [string, Tensor][], what: string): void {
  for (const [name, p] of named) {
    for (let i = 0; i < p.size; i++) if (!Number.isFinite(p.data[i])) throw new TrainingDiverged(`${what}: parameter ${name} holds ${p.data[i]}`);
  }
}

// One optimisation step shared by fine-tuning, the reward model, PPO and DPO: a finite-loss guard (a NaN
// or infinite loss stops the run before it touches the weights), backward, global-norm clipping (the norm
// is checked for NaN even when clipping is off), AdamW.
import type { Tensor } from '../tensor/tensor.js';
import { AdamW, clipGradNorm, decayGroups } from './optim.js';
import { TrainingDiverged } from './trainer.js';

export function adamWFor(named: [string, Tensor][], lr: number, weightDecay: number): AdamW {
  return new AdamW(decayGroups(named, weightDecay).groups, { lr, betas: [0.9, 0.95] });
}

/**
 * Backpropagates `loss` and updates (gradClip 0: no clipping). A non-finite loss or gradient norm throws
 * TrainingDiverged with the message `diverged` makes of what went wrong ("loss is NaN", ...).
 */
export function optimizerStep(optimizer: AdamW, loss: Tensor, gradClip: number, diverged: (what: string) => string): { loss: number; gradNorm: number } {
  const value = loss.item();
  if (!Number.isFinite(value)) throw new TrainingDiverged(diverged(`loss is ${value}`));
  optimizer.zeroGrad();
  loss.backward();
  const norm = clipGradNorm(optimizer.params(), gradClip > 0 ? gradClip : Infinity);
  if (!Number.isFinite(norm)) throw new TrainingDiverged(diverged(`gradient norm is ${norm}`));
  optimizer.update();
  optimizer.zeroGrad();
  return { loss: value, gradNorm: norm };
}

/** Throws TrainingDiverged if any parameter holds a NaN or infinity (checked before a checkpoint is written). */
export function assertFiniteParameters(named: [string, Tensor][], what: string): void {
  for (const [name, p] of named) {
    for (let i = 0; i < p.size; i++) if (!Number.isFinite(p.data[i])) throw new TrainingDiverged(`${what}: parameter ${name} holds ${p.data[i]}`);
  }
}

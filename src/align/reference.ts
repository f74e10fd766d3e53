// Copies of a model for alignment: the frozen reference of PPO and DPO (a copy of the starting policy
// that never trains), and trainable copies that start from the same weights (policy, reward model).
import { GPT } from '../model/gpt.js';

function copyOf(model: GPT, trainable: boolean): GPT {
  const copy = new GPT(model.config, { init: false });
  const source = model.namedParameters();
  copy.namedParameters().forEach(([, p], i) => {
    p.data.set(source[i]![1].data);
    p.requiresGrad = trainable;
  });
  return trainable ? copy.train() : copy.eval();
}

export function frozenCopy(model: GPT): GPT {
  return copyOf(model, false);
}

export function trainableCopy(model: GPT): GPT {
  return copyOf(model, true);
}

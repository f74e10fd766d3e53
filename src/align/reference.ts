// Copies of a model for alignment: the frozen reference of PPO and DPO (a copy of the starting policy
// that never trains), and trainable copies that start from the same weights (policy, reward model).
import { sameShape, type Decoder } from '../model/decoder.js';

function copyOf(model: Decoder, trainable: boolean): Decoder {
  const copy = sameShape(model);
  for (const p of copy.parameters()) p.requiresGrad = trainable;
  return trainable ? copy.train() : copy.eval();
}

export function frozenCopy(model: Decoder): Decoder {
  return copyOf(model, false);
}

export function trainableCopy(model: Decoder): Decoder {
  return copyOf(model, true);
}

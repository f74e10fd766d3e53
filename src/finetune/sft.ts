// Supervised fine-tuning of a causal LM on encoded sequences (sft-data.ts) with the shared loop: the LM loss
// over completion tokens only, evaluated on held-out sequences.
import type { CausalLM } from '../model/causal-lm.js';
import { noGrad } from '../tensor/tensor.js';
import { IGNORE_INDEX } from './batch.js';
import { fineTune, type FineTuneTask, type LoopConfig, type LoopHooks, type LoopResult } from './loop.js';
import { randomSftBatches, sftBatch, type SftBatch, type SftSequence } from './sft-data.js';

/** Mean cross-entropy of a batch over its trained (non-ignored) target tokens. */
export function sftLoss(model: CausalLM, batch: SftBatch) {
  return model.forward(batch.idx, batch.B, batch.T, batch.targets, { ignoreIndex: IGNORE_INDEX }).loss!;
}

/** Mean loss per trained token over all sequences (each batch weighted by its trained-token count). */
export function sftEvalLoss(model: CausalLM, sequences: readonly SftSequence[], batchSize = 16): number {
  if (sequences.length === 0) throw new Error('no held-out sequences to evaluate');
  let total = 0, count = 0;
  const wasTraining = model.training;
  model.eval();
  noGrad(() => {
    for (let s = 0; s < sequences.length; s += batchSize) {
      const batch = sftBatch(sequences.slice(s, s + batchSize));
      const n = batch.targets.reduce((c, t) => c + (t === IGNORE_INDEX ? 0 : 1), 0);
      total += sftLoss(model, batch).item() * n;
      count += n;
    }
  });
  model.train(wasTraining);
  return total / count;
}

/**
 * Trains on random batches of `train` (sequences or packed rows); every eval_interval steps the
 * held-out loss over completion tokens decides the best model, handed to `save`.
 */
export function trainSft(
  model: CausalLM, train: readonly SftSequence[], val: readonly SftSequence[],
  config: LoopConfig & { batch_size: number; seed: number }, hooks: LoopHooks = {}, save?: FineTuneTask<SftBatch>['save'],
): LoopResult {
  const next = randomSftBatches(train, config.batch_size, config.seed);
  return fineTune<SftBatch>({
    module: model,
    nextBatch: next,
    step: (batch) => sftLoss(model, batch),
    tokens: (batch) => batch.lengths.reduce((n, l) => n + l, 0),
    evaluate: val.length ? () => {
      const loss = sftEvalLoss(model, val);
      return { value: loss, higherIsBetter: false, loss, text: `val loss ${loss.toFixed(4)} (completion tokens)` };
    } : undefined,
    save,
  }, config, hooks);
}

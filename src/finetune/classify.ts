// Fine-tuning and evaluating a Classifier on encoded examples (classify-data.ts) with the shared loop.
import { Rng, STREAM, streamSeed } from '../tensor/random.js';
import { noGrad } from '../tensor/tensor.js';
import { padBatch } from './batch.js';
import type { EncodedExample } from './classify-data.js';
import type { Classifier } from './classifier.js';
import { fineTune, type EvalScore, type FineTuneTask, type LoopConfig, type LoopHooks, type LoopResult } from './loop.js';
import { multiLabelReport, singleLabelReport, type ClassificationReport } from './metrics.js';

/** Sigmoid probability at or above which a multi-label classifier predicts a label. */
export const MULTI_LABEL_THRESHOLD = 0.5;

export interface ClassifierBatch {
  examples: readonly EncodedExample[];
}

/** The mean loss of a batch of examples (graph attached for backward). */
export function classifierLoss(classifier: Classifier, examples: readonly EncodedExample[]) {
  const batch = padBatch(examples.map((e) => e.ids));
  const logits = classifier.logits(batch);
  const targets = classifier.multiLabel
    ? Float32Array.from(examples.flatMap((e) => e.targets.map(Number)))
    : Int32Array.from(examples, (e) => e.label);
  return classifier.loss(logits, targets);
}

export interface ClassifierEvaluation {
  /** Mean loss per example. */
  loss: number;
  report: ClassificationReport;
  /** Predicted label indices (single-label) per example. */
  predicted: number[];
}

export function evaluateClassifier(classifier: Classifier, examples: readonly EncodedExample[], batchSize = 32): ClassifierEvaluation {
  if (examples.length === 0) throw new Error('no held-out examples to evaluate');
  const wasTraining = classifier.training;
  classifier.train(false);
  let lossSum = 0;
  noGrad(() => {
    for (let s = 0; s < examples.length; s += batchSize) {
      const chunk = examples.slice(s, s + batchSize);
      lossSum += classifierLoss(classifier, chunk).item() * chunk.length;
    }
  });
  const probs = classifier.predict(examples.map((e) => e.ids), batchSize);
  classifier.train(wasTraining);
  const predicted = probs.map(argmax);
  const report = classifier.multiLabel
    ? multiLabelReport(classifier.labels, examples.map((e) => e.targets), probs.map((p) => [...p].map((v) => v >= MULTI_LABEL_THRESHOLD)))
    : singleLabelReport(classifier.labels, examples.map((e) => e.label), predicted);
  return { loss: lossSum / examples.length, report, predicted };
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/**
 * Trains on random batches of `train` and evaluates on `val` every eval_interval steps; the best
 * held-out accuracy (exact match for multi-label) is handed to `save`.
 */
export function trainClassifier(
  classifier: Classifier, train: readonly EncodedExample[], val: readonly EncodedExample[],
  config: LoopConfig & { batch_size: number; seed: number }, hooks: LoopHooks = {}, save?: FineTuneTask<ClassifierBatch>['save'],
): LoopResult {
  if (train.length === 0) throw new Error('no training examples');
  const rng = new Rng(streamSeed(config.seed, STREAM.order));
  const B = Math.min(config.batch_size, train.length);
  return fineTune<ClassifierBatch>({
    module: classifier,
    nextBatch: () => ({ examples: Array.from({ length: B }, () => train[rng.int(train.length)]!) }),
    step: (batch) => classifierLoss(classifier, batch.examples),
    tokens: (batch) => batch.examples.reduce((n, e) => n + e.ids.length, 0),
    evaluate: (): EvalScore => {
      const { loss, report } = evaluateClassifier(classifier, val);
      return { value: report.accuracy, higherIsBetter: true, loss, text: `val loss ${loss.toFixed(4)}, ${classifier.multiLabel ? 'exact match' : 'accuracy'} ${(100 * report.accuracy).toFixed(1)}%` };
    },
    save,
  }, config, hooks);
}

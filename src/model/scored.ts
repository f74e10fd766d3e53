// A decoder with a `score` head instead of its LM head, read at a sequence's last real token: Hugging Face's
// *ForSequenceClassification layout (GPT2ForSequenceClassification: `transformer.*`; LlamaForSequenceClassification
// and the Qwen ones: `model.*`; both `score.weight` [labels, hidden], no bias), so the files load there too.
// The classifier (finetune/classifier.ts) and the reward model (align/reward-model.ts) are two uses.
import { readSafetensorsHeader, readTensor, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { Module } from '../nn/module.js';
import { Rng } from '../tensor/random.js';
import { Tensor } from '../tensor/tensor.js';
import { loadDecoderWeights, validateDecoderConfig, type Decoder, type DecoderConfig } from './decoder.js';
import { assertFinite, openWeightFile } from './weights.js';

export class ScoredDecoder extends Module {
  readonly score: Tensor;

  constructor(readonly base: Decoder, labels: number, seed = 1337) {
    super();
    // The base's own modules under their names (an untied Llama head rides along: HF ignores it on load).
    for (const [name, m] of base.namedChildren()) this.child(name, m);
    const rng = new Rng(seed), C = base.hiddenSize;
    this.score = this.param('score.weight', Tensor.from(Array.from({ length: labels * C }, () => rng.normal() * 0.02), [labels, C]));
    this.train(base.training);
  }

  /** The base reads its own mode (GPT-2's embedding dropout sits outside its children). */
  override train(mode = true): this {
    super.train(mode);
    this.base.train(mode);
    return this;
  }
}

/** Writes the model and `state` (plus the base's model_config) as one safetensors file, atomically. */
export function saveScored(path: string, model: ScoredDecoder, state: Record<string, unknown>): void {
  const tensors: [string, NamedTensor][] = model.namedParameters().map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]);
  writeSafetensors(path, tensors, { format: 'pt', inkwell: JSON.stringify({ ...state, model_config: model.base.config }) });
}

/**
 * Reads a file saveScored wrote: `accept` checks the state (its format) and says how many labels the head
 * has; the base's config is checked against the file's tensors before anything is allocated.
 */
export function readScored<S extends { model_config: DecoderConfig }>(path: string, accept: (state: Partial<S> | null) => number): { state: S; base: Decoder; score: Float32Array } {
  const header = readSafetensorsHeader(path);
  let state: Partial<S> | null;
  try {
    state = JSON.parse(header.metadata.inkwell ?? 'null');
  } catch (err) {
    throw new Error(`${path}: the model's state is not valid JSON (${(err as Error).message})`);
  }
  const labels = accept(state);
  validateDecoderConfig(state!.model_config!, `${path}: model_config`);
  const base = loadDecoderWeights(state!.model_config!, openWeightFile(path, (name) => (name === 'score.weight' ? null : name)), `${path} (model_config)`);
  const entry = header.entries.get('score.weight');
  const want = [labels, base.hiddenSize];
  if (!entry || entry.shape.join() !== want.join()) {
    throw new Error(`${path}: 'score.weight' ${entry ? `has shape [${entry.shape.join(', ')}]` : 'is missing'}; the head needs [${want.join(', ')}]`);
  }
  const score = readTensor(header, 'score.weight');
  assertFinite(score, path, 'score.weight');
  return { state: state as S, base, score };
}

// Sequence classification with a GPT: the LM head is replaced by a class head on the hidden state of
// the last real token (the only position that has attended to the whole text), as Hugging Face's
// GPT2ForSequenceClassification does: `score.weight` [num_labels, n_embd], no bias. Single-label
// tasks use softmax + cross-entropy, multi-label tasks an independent sigmoid + binary cross-entropy
// per label.
//
// Checkpoint: one safetensors file with the transformer (`transformer.*`), `score.weight` and, in the
// metadata, the inkwell checkpoint state plus `finetune: { task: 'classify', labels, multi_label }`.
import { readSafetensors, writeSafetensors, type NamedTensor } from '../io/safetensors.js';
import { GPT, type GPTConfig } from '../model/gpt.js';
import { loadHFWeights } from '../model/hf.js';
import { Module } from '../nn/module.js';
import { matmul } from '../tensor/ops/matmul.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { Rng } from '../tensor/random.js';
import { noGrad, Tensor } from '../tensor/tensor.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { CHECKPOINT_FORMAT, type CheckpointState } from '../train/checkpoint.js';
import { padBatch, truncateTokens, type PaddedBatch } from './batch.js';
import { binaryCrossEntropyWithLogits, gatherPositions } from './ops.js';

export interface ClassifierInfo {
  task: 'classify';
  labels: string[];
  multi_label: boolean;
}

/** The class head: HF's `score` Linear without bias, weight [num_labels, n_embd]. */
class ScoreHead extends Module {
  readonly weight: Tensor;

  constructor(numLabels: number, nEmbd: number, rng: Rng) {
    super();
    this.weight = this.param('weight', Tensor.from(Array.from({ length: numLabels * nEmbd }, () => rng.normal() * 0.02), [numLabels, nEmbd]));
  }
}

export class GPTClassifier extends Module {
  readonly transformer: GPT['transformer'];
  readonly score: ScoreHead;

  constructor(readonly gpt: GPT, readonly labels: readonly string[], readonly multiLabel: boolean, seed = 1337) {
    super();
    if (labels.length < 2 && !multiLabel) throw new Error(`a single-label classifier needs at least 2 labels, got ${labels.length}`);
    if (labels.length < 1) throw new Error('a classifier needs at least 1 label');
    if (new Set(labels).size !== labels.length) throw new Error(`duplicate labels in ${JSON.stringify(labels)}`);
    this.transformer = this.child('transformer', gpt.transformer);
    this.score = this.child('score', new ScoreHead(labels.length, gpt.config.n_embd, new Rng(seed)));
    this.train(gpt.training);
  }

  /** The GPT's config (what PEFT files record as the base). */
  get config(): GPT['config'] {
    return this.gpt.config;
  }

  /** GPT.hidden reads the GPT's own mode (embedding dropout), which is not a child of this module. */
  override train(mode = true): this {
    super.train(mode);
    this.gpt.train(mode);
    return this;
  }

  /** Class logits [B, num_labels] from the last real token of each right-padded sequence. */
  logits(batch: PaddedBatch): Tensor {
    const hidden = this.gpt.hidden(batch.idx, batch.B, batch.T);
    const last = gatherPositions(hidden, batch.lengths.map((n) => n - 1));
    return matmul(last, this.score.weight, { transB: true });
  }

  /**
   * Mean loss over the batch. Single-label: targets[b] is the label index. Multi-label: targets is
   * [B, num_labels] of 0/1.
   */
  loss(logits: Tensor, targets: Int32Array | Float32Array): Tensor {
    if (this.multiLabel) {
      if (!(targets instanceof Float32Array)) throw new Error('multi-label targets must be a Float32Array [B, num_labels] of 0/1');
      return binaryCrossEntropyWithLogits(logits, targets);
    }
    if (!(targets instanceof Int32Array)) throw new Error('single-label targets must be an Int32Array of label indices');
    return crossEntropy(logits, targets);
  }

  /** Per-label probabilities (softmax, or sigmoid for multi-label) for each token sequence. */
  predict(sequences: readonly (readonly number[])[], batchSize = 16): Float32Array[] {
    const wasTraining = this.training;
    this.train(false);
    try {
      return noGrad(() => {
        const out: Float32Array[] = [];
        for (let start = 0; start < sequences.length; start += batchSize) {
          const batch = padBatch(sequences.slice(start, start + batchSize));
          const logits = this.logits(batch).data;
          const L = this.labels.length;
          for (let b = 0; b < batch.B; b++) out.push(this.multiLabel ? sigmoid(logits.subarray(b * L, (b + 1) * L)) : softmax(logits.subarray(b * L, (b + 1) * L)));
        }
        return out;
      });
    } finally {
      this.train(wasTraining);
    }
  }

  /** Token ids of a text for this model: encoded without special tokens, truncated to the context by truncateTokens. */
  encode(tokenizer: Tokenizer, text: string): { ids: number[]; truncated: boolean } {
    const ids = tokenizer.encode(text, { allowedSpecial: 'none' });
    if (ids.length === 0) throw new Error('cannot classify an empty text');
    return { ids: truncateTokens(ids, this.gpt.config.block_size), truncated: ids.length > this.gpt.config.block_size };
  }

  info(): ClassifierInfo {
    return { task: 'classify', labels: [...this.labels], multi_label: this.multiLabel };
  }
}

export function softmax(logits: ArrayLike<number>): Float32Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  const out = Float32Array.from(logits, (z) => Math.exp(z - max));
  const sum = out.reduce((s, v) => s + v, 0);
  return out.map((v) => v / sum);
}

function sigmoid(logits: ArrayLike<number>): Float32Array {
  return Float32Array.from(logits, (z) => 1 / (1 + Math.exp(-z)));
}

export type ClassifierState = Omit<CheckpointState, 'format' | 'model_config' | 'optimizer_step'> & { finetune: ClassifierInfo };

/** Writes the classifier (transformer + score head) and its labels as one safetensors file, atomically. */
export function saveClassifier(path: string, classifier: GPTClassifier, state: Omit<ClassifierState, 'finetune'>): void {
  const tensors: [string, NamedTensor][] = classifier.namedParameters().map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]);
  const full = { format: CHECKPOINT_FORMAT, model_config: classifier.gpt.config, optimizer_step: 0, ...state, finetune: classifier.info() };
  writeSafetensors(path, tensors, { format: 'pt', inkwell: JSON.stringify(full) });
}

export interface LoadedClassifier {
  classifier: GPTClassifier;
  tokenizer: Tokenizer;
  state: CheckpointState & { finetune: ClassifierInfo };
}

export function loadClassifier(path: string): LoadedClassifier {
  const file = readSafetensors(path);
  let state: CheckpointState & { finetune?: ClassifierInfo };
  try {
    state = JSON.parse(file.metadata.inkwell ?? 'null');
  } catch (err) {
    throw new Error(`${path}: checkpoint state is not valid JSON (${(err as Error).message})`);
  }
  const info = state?.format === CHECKPOINT_FORMAT ? state.finetune : undefined;
  if (info?.task !== 'classify' || !Array.isArray(info.labels)) {
    throw new Error(`${path}: not a classifier checkpoint (make one with \`inkwell finetune classify\`)`);
  }
  if (!state.tokenizer) throw new Error(`${path}: the checkpoint holds no tokenizer`);
  const score = file.tensors.get('score.weight');
  if (!score) throw new Error(`${path}: missing tensor 'score.weight'`);
  const gpt = new GPT(state.model_config as GPTConfig, { init: false }); // classifiers are GPT-2 models so far
  const classifier = new GPTClassifier(gpt, info.labels, info.multi_label);
  if (score.shape.join() !== classifier.score.weight.shape.join()) {
    throw new Error(`${path}: 'score.weight' has shape [${score.shape.join(', ')}], expected [${classifier.score.weight.shape.join(', ')}] for ${info.labels.length} labels`);
  }
  classifier.score.weight.data.set(score.data);
  loadHFWeights(gpt, new Map([...file.tensors].filter(([n]) => n !== 'score.weight')), path);
  return { classifier, tokenizer: tokenizerFromJSON(state.tokenizer as TokenizerJSON), state: state as LoadedClassifier['state'] };
}

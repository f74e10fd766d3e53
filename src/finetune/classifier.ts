// Sequence classification with a decoder (GPT-2 or the Llama family): the LM head is replaced by a class head
// on the hidden state of the last real token (the only position that has attended to the whole text), as
// Hugging Face's *ForSequenceClassification does (model/scored.ts). Single-label tasks use softmax +
// cross-entropy, multi-label tasks an independent sigmoid + binary cross-entropy per label.
//
// Checkpoint: one safetensors file with the decoder, `score.weight` and, in the metadata, the inkwell
// checkpoint state plus `finetune: { task: 'classify', labels, multi_label }`.
import type { Decoder } from '../model/decoder.js';
import { readScored, saveScored, ScoredDecoder } from '../model/scored.js';
import { matmul } from '../tensor/ops/matmul.js';
import { crossEntropy } from '../tensor/ops/nn.js';
import { noGrad, type Tensor } from '../tensor/tensor.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { CHECKPOINT_FORMAT, type CheckpointState } from '../train/checkpoint.js';
import { padBatch, truncateTokens, type PaddedBatch } from './batch.js';
import { binaryCrossEntropyWithLogits, gatherPositions } from './ops.js';

export interface ClassifierInfo {
  task: 'classify';
  labels: string[];
  multi_label: boolean;
}

export class Classifier extends ScoredDecoder {
  constructor(base: Decoder, readonly labels: readonly string[], readonly multiLabel: boolean, seed = 1337) {
    if (labels.length < 2 && !multiLabel) throw new Error(`a single-label classifier needs at least 2 labels, got ${labels.length}`);
    if (labels.length < 1) throw new Error('a classifier needs at least 1 label');
    if (new Set(labels).size !== labels.length) throw new Error(`duplicate labels in ${JSON.stringify(labels)}`);
    super(base, labels.length, seed);
  }

  /** The base's config (what PEFT files record as the base). */
  get config(): Decoder['config'] {
    return this.base.config;
  }

  /** Class logits [B, num_labels] from the last real token of each right-padded sequence. */
  logits(batch: PaddedBatch): Tensor {
    const hidden = this.base.hidden(batch.idx, batch.B, batch.T);
    const last = gatherPositions(hidden, batch.lengths.map((n) => n - 1));
    return matmul(last, this.score, { transB: true });
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
    return { ids: truncateTokens(ids, this.base.contextLength), truncated: ids.length > this.base.contextLength };
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

/** Writes the classifier (decoder + score head) and its labels as one safetensors file, atomically. */
export function saveClassifier(path: string, classifier: Classifier, state: Omit<ClassifierState, 'finetune'>): void {
  saveScored(path, classifier, { format: CHECKPOINT_FORMAT, optimizer_step: 0, ...state, finetune: classifier.info() });
}

export interface LoadedClassifier {
  classifier: Classifier;
  tokenizer: Tokenizer;
  state: CheckpointState & { finetune: ClassifierInfo };
}

export function loadClassifier(path: string): LoadedClassifier {
  const { state, base, score } = readScored<LoadedClassifier['state']>(path, (state) => {
    const info = state?.format === CHECKPOINT_FORMAT ? state.finetune : undefined;
    if (info?.task !== 'classify' || !Array.isArray(info.labels)) throw new Error(`${path}: not a classifier checkpoint (make one with \`inkwell finetune classify\`)`);
    if (!state!.tokenizer) throw new Error(`${path}: the checkpoint holds no tokenizer`);
    return info.labels.length;
  });
  const classifier = new Classifier(base, state.finetune.labels, state.finetune.multi_label);
  classifier.score.data.set(score);
  return { classifier, tokenizer: tokenizerFromJSON(state.tokenizer as TokenizerJSON, `${path} (checkpoint state)`), state };
}

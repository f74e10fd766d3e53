// One way in for every command that needs a model and its tokenizer: an `inkwell train` checkpoint,
// an HF GPT-2 folder, or a pretrained GPT-2 name fetched from the hub.
import { join } from 'node:path';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { loadModel, type CheckpointState } from '../train/checkpoint.js';
import type { GPT } from './gpt.js';
import { loadPretrained, readHFTokenizer, type PretrainedOptions } from './pretrained.js';

export interface ModelSource extends PretrainedOptions {
  /** An inkwell checkpoint file or an HF GPT-2 folder. */
  checkpoint?: string;
  /** A GPT-2 name (gpt2, gpt2-medium, …) or a local folder with the hub's files. */
  init?: string;
  /** Told when an HF folder has no tokenizer files and GPT-2's own is used instead. */
  onNotice?: (message: string) => void;
}

export interface LoadedModel {
  model: GPT;
  tokenizer: Tokenizer;
  /** The checkpoint's metadata (null for HF folders and pretrained models). */
  state: CheckpointState | null;
}

export async function loadModelAndTokenizer(source: ModelSource): Promise<LoadedModel> {
  if (source.init !== undefined) {
    if (source.checkpoint !== undefined) throw new Error('give either a checkpoint or a pretrained model (init), not both');
    const { model, tokenizer } = await loadPretrained(source.init, source);
    return { model, tokenizer, state: null };
  }
  const path = source.checkpoint;
  if (path === undefined) throw new Error('no model given: pass a checkpoint or a pretrained model name');
  const { model, state } = loadModel(path);
  if (state?.tokenizer) return { model, tokenizer: tokenizerFromJSON(state.tokenizer as TokenizerJSON), state };
  if (!state) {
    try {
      return { model, tokenizer: readHFTokenizer(path), state };
    } catch (err) {
      // An HF folder without tokenizer files: GPT-2's own vocabulary if the model's fits it.
      if (model.config.vocab_size < Gpt2Tokenizer.pretrained().vocabSize) throw err;
      source.onNotice?.(`${join(path, 'vocab.json')} not found: using GPT-2's tokenizer`);
      return { model, tokenizer: Gpt2Tokenizer.pretrained(), state };
    }
  }
  throw new Error(`${path} holds no tokenizer to encode prompts with (a checkpoint from \`inkwell train\` has one)`);
}

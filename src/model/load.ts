// One way in for every command that needs a model and its tokenizer: an `inkwell train` checkpoint,
// an HF folder (GPT-2 or the Llama family), or a pretrained model fetched from the hub.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ADAPTER_CONFIG, loadPeft } from '../finetune/peft.js';
import { readJsonObject } from '../io/json.js';
import { readGenerationConfig, type GenerationConfig } from '../generate/generation-config.js';
import { Gpt2Tokenizer } from '../tokenizers/gpt2.js';
import { hasTokenizerFiles, readTokenizerFolder, TOKENIZER_FILE } from '../tokenizers/load.js';
import { tokenizerFromJSON, type Tokenizer, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { loadModel, type CheckpointState } from '../train/checkpoint.js';
import type { Decoder } from './decoder.js';
import { GPT2_MODELS, loadPretrainedCausalLM, type PretrainedOptions } from './pretrained.js';

export interface ModelSource extends PretrainedOptions {
  /** An inkwell checkpoint file, an HF folder, or a PEFT adapter folder (loaded onto its recorded base). */
  checkpoint?: string;
  /** A GPT-2 name (gpt2, gpt2-medium, …), a hub repository id or a local folder with the hub's files. */
  init?: string;
  /** Told when an HF folder has no tokenizer files and GPT-2's own is used instead. */
  onNotice?: (message: string) => void;
}

export interface LoadedModel {
  model: Decoder;
  tokenizer: Tokenizer;
  /** The checkpoint's metadata (null for HF folders and pretrained models). */
  state: CheckpointState | null;
  /** An HF folder's generation_config.json (EOS ids, sampling defaults), when it has one. */
  generation?: GenerationConfig | null;
}

export async function loadModelAndTokenizer(source: ModelSource): Promise<LoadedModel> {
  const adapterDir = source.checkpoint;
  if (adapterDir !== undefined && existsSync(join(adapterDir, ADAPTER_CONFIG))) return loadAdapterFolder(adapterDir, source);
  if (source.init !== undefined) {
    if (source.checkpoint !== undefined) throw new Error('give either a checkpoint or a pretrained model (init), not both');
    const { model, dir } = await loadPretrainedCausalLM(source.init, source);
    // tokenizer.json (with its chat template) when the folder has one, else GPT-2's vocab.json + merges.txt.
    return { model, tokenizer: readTokenizerFolder(dir), state: null, generation: readGenerationConfig(dir) };
  }
  const path = source.checkpoint;
  if (path === undefined) throw new Error('no model given: pass a checkpoint or a pretrained model name');
  const { model, state } = loadModel(path);
  if (state?.tokenizer) return { model, tokenizer: tokenizerFromJSON(state.tokenizer as TokenizerJSON, `${path} (checkpoint state)`), state };
  if (!state) {
    const generation = readGenerationConfig(path);
    if (hasTokenizerFiles(path)) return { model, tokenizer: readTokenizerFolder(path), state, generation };
    // An HF folder without tokenizer files: GPT-2's own vocabulary if the model's fits it.
    if (model.config.vocab_size < Gpt2Tokenizer.pretrained().vocabSize) throw new Error(`${path}: no ${TOKENIZER_FILE} (nor vocab.json + merges.txt) to build a tokenizer from`);
    source.onNotice?.(`${path} has no ${TOKENIZER_FILE} (nor vocab.json + merges.txt): using GPT-2's tokenizer`);
    return { model, tokenizer: Gpt2Tokenizer.pretrained(), state, generation };
  }
  throw new Error(`${path} holds no tokenizer to encode prompts with (a checkpoint from \`inkwell train\` has one)`);
}

/**
 * A PEFT folder (adapter_config.json + adapter_model.safetensors): its base model, as recorded in
 * base_model_name_or_path (a GPT-2 name or a checkpoint path), with the adapter loaded onto it.
 */
async function loadAdapterFolder(dir: string, source: ModelSource): Promise<LoadedModel> {
  const configFile = join(dir, ADAPTER_CONFIG);
  const base = readJsonObject(configFile).base_model_name_or_path;
  if (typeof base !== 'string' || !base) throw new Error(`${configFile}: base_model_name_or_path names no base model`);
  const fromHub = !existsSync(base) && (base in GPT2_MODELS || /^[\w.-]+\/[\w.-]+$/.test(base));
  if (!fromHub && !existsSync(base)) throw new Error(`${configFile}: the base model ${base} is not found (adapters load onto the model they were trained from)`);
  const loaded = await loadModelAndTokenizer({ ...source, checkpoint: fromHub ? undefined : base, init: fromHub ? base : undefined });
  loadPeft(dir, loaded.model);
  source.onNotice?.(`${dir}: adapter loaded onto ${base}`);
  return loaded;
}

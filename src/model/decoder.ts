// The architectures inkwell builds, behind one door: code that stores, restores or wraps a model (checkpoints,
// classifier and reward heads, reference copies) asks here instead of branching on GPT-2 or the Llama
// family itself. A config tells them apart by HF's own marker: Llama-family configs carry `model_type`.
import { GPT, validateConfig, type GPTConfig } from './gpt.js';
import { loadGPTWeights, loadLlamaWeights } from './hf.js';
import { Llama, validateLlamaConfig, type LlamaConfig } from './llama.js';
import type { WeightSet } from './weights.js';

export type Decoder = GPT | Llama;
export type DecoderConfig = GPTConfig | LlamaConfig;

export function isLlamaConfig(config: DecoderConfig): config is LlamaConfig {
  return 'model_type' in config;
}

/** Throws (the message prefixed with `where`) when the config cannot describe a model of its architecture. */
export function validateDecoderConfig(config: DecoderConfig, where: string): void {
  if (typeof config !== 'object' || config === null) throw new Error(`${where}: not a model config object`);
  try {
    if (isLlamaConfig(config)) validateLlamaConfig(config);
    else validateConfig(config);
  } catch (err) {
    throw new Error(`${where}: ${(err as Error).message}`);
  }
}

/** Checks the weights against the config (before allocating), then builds the model and reads them in. */
export function loadDecoderWeights(config: DecoderConfig, weights: WeightSet, configFile: string): Decoder {
  return isLlamaConfig(config) ? loadLlamaWeights(config, weights, configFile) : loadGPTWeights(config, weights, configFile);
}

/** A new model of the same architecture and shape, with the same weights (none copied when `weights` is false). */
export function sameShape(model: Decoder, weights = true): Decoder {
  const copy = model instanceof GPT ? new GPT(model.config, { init: false }) : new Llama(model.config, { init: false });
  if (weights) copy.namedParameters().forEach(([, p], i) => p.data.set(model.namedParameters()[i]![1].data));
  return copy;
}

/** Dropout while training: GPT-2's residual/attention/embedding dropout, the Llama family's attention dropout (its only one in HF). */
export function setDropout(model: Decoder, p: number): void {
  if (model instanceof GPT) model.config.dropout = p;
  else model.config.attention_dropout = p;
}

// inkwell's library API: the tensor engine, the GPT model, its files, and training pieces.
export * from './tensor/index.js';
export { Module } from './nn/module.js';
export { Linear, LayerNorm, Embedding } from './nn/layers.js';
export { GPT, validateConfig, type GPTConfig, type GPTOutput, type ForwardOptions, type Tap } from './model/gpt.js';
export { loadHFModel, saveHFModel, loadHFWeights, configFromHF, configToHF, readHFConfig } from './model/hf.js';
export { readSafetensors, writeSafetensors, SafetensorsError, type NamedTensor, type SafetensorsFile } from './io/safetensors.js';
export { writeFileAtomic } from './io/atomic.js';
export { AdamW, clipGradNorm, decayGroups, type ParamGroup, type AdamWOptions, type AdamWState } from './train/optim.js';

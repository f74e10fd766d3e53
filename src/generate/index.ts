export { generate, Decoder, encodePrompt, eosTokenOf, preparePrompt, type Generation, type GenerateOptions, type FinishReason, type Prompt } from './generate.js';
export {
  Sampler, argmax, applyRepetitionPenalty, banRepeatedNgrams, validateSamplingOptions, defaultSamplingOptions, type SamplingOptions,
} from './sampling.js';
export { TextStream } from './stream.js';
export { generateAsync, type AsyncGenerateOptions } from './session.js';
export { readGenerationConfig, parseGenerationConfig, GENERATION_CONFIG_FILE, type GenerationConfig } from './generation-config.js';

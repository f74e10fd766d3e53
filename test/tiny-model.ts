// A tiny random-weight GPT with a character tokenizer covering printable ASCII, for the serve, chat and
// few-shot tests: every chat template's text encodes, and greedy decoding is deterministic.
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Rng } from '../src/tensor/random.js';
import { CharTokenizer } from '../src/tokenizers/char.js';

export const asciiTokenizer = new CharTokenizer(['\n', ...Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i))]);

/** Weights N(0, 0.3²) as in the fixture, so the model prefers some tokens clearly (GPT-2 init barely does). */
export function tinyModel(config: Partial<GPTConfig> = {}, seed = 7): GPT {
  const model = new GPT({ n_layer: 2, n_head: 2, n_embd: 32, block_size: 128, vocab_size: asciiTokenizer.vocabSize, dropout: 0, bias: true, ...config }, { init: false });
  return randomizeWeights(model, seed);
}

/** Fills a model with the fixture's weight distribution: gains 1 + N(0, 0.05²), biases N(0, 0.05²), the rest N(0, 0.3²). */
export function randomizeWeights(model: GPT, seed: number): GPT {
  const rng = new Rng(seed);
  for (const [name, p] of model.namedParameters()) {
    const isGain = /ln_\d\.weight|ln_f\.weight/.test(name);
    for (let i = 0; i < p.size; i++) p.data[i] = (isGain ? 1 : 0) + rng.normal() * (name.endsWith('.bias') || isGain ? 0.05 : 0.3);
  }
  return model;
}

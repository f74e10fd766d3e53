// The sampling flags shared by the commands that generate (sample, chat, feedback), parsed into SamplingOptions.
import type { GenerateOptions } from '../generate/generate.js';
import type { GenerationConfig } from '../generate/generation-config.js';
import type { SamplingOptions } from '../generate/sampling.js';
import type { Options } from './args.js';

export const SAMPLING_OPTIONS = ['temperature', 'top_k', 'top_p', 'repetition_penalty', 'no_repeat_ngram_size'] as const;

export const SAMPLING_USAGE = `  --temperature=0.8        0 = greedy (always the most likely token)
  --top_k=200              sample among the k most likely tokens (none = all)
  --top_p=1                sample among the most likely tokens holding p of the probability
  --repetition_penalty=1   > 1 discourages tokens already in the prompt or the output
  --no_repeat_ngram_size=0 never repeat an n-gram of this size`;

/** The flags as given, with the defaults SAMPLING_USAGE shows (checked later by validateSamplingOptions). */
export function samplingFromOptions(options: Options): SamplingOptions {
  return {
    temperature: options.number('temperature', 0.8)!,
    topK: options.string('top_k')?.toLowerCase() === 'none' ? undefined : options.number('top_k', 200),
    topP: options.number('top_p', 1)!,
    repetitionPenalty: options.number('repetition_penalty', 1)!,
    noRepeatNgramSize: options.number('no_repeat_ngram_size', 0)!,
  };
}

const FLAG_OF: Record<keyof SamplingOptions, (typeof SAMPLING_OPTIONS)[number]> = {
  temperature: 'temperature', topK: 'top_k', topP: 'top_p', repetitionPenalty: 'repetition_penalty', noRepeatNgramSize: 'no_repeat_ngram_size',
};

/**
 * What a model's generation_config.json sets and the command line does not: sampling settings, the
 * max_new_tokens default, max_length, and its EOS ids added to `eos` (the ones the command stops on anyway).
 */
export function generationDefaults(options: Options, generation: GenerationConfig | null | undefined, eos: number | readonly number[] | null): Partial<GenerateOptions> {
  if (!generation) return {};
  const out: Partial<GenerateOptions> = {};
  for (const [key, value] of Object.entries(generation.sampling) as [keyof SamplingOptions, number][]) {
    if (!options.has(FLAG_OF[key])) (out as Record<string, number>)[key] = value;
  }
  if (generation.eosTokenIds.length) out.eosTokenId = [...new Set([eos ?? [], generation.eosTokenIds].flat())];
  if (generation.maxNewTokens !== undefined && !options.has('max_new_tokens')) out.maxNewTokens = generation.maxNewTokens;
  if (generation.maxLength !== undefined) out.maxLength = generation.maxLength;
  return out;
}

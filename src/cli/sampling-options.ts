// The sampling flags shared by the commands that generate (sample, chat, feedback), parsed into SamplingOptions.
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

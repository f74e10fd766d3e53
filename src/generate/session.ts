// Generation that shares the thread: generate() one forward pass at a time, yielding to the event loop
// between passes, so a server interleaves the requests it runs, handles new connections while decoding,
// and stops a generation whose client has gone (an AbortSignal) after at most one more token.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { CausalLM } from '../model/causal-lm.js';
import { Decoder, type GenerateOptions, type Generation, type Prompt } from './generate.js';

export interface AsyncGenerateOptions extends GenerateOptions {
  /** Aborting it stops the generation before its next step; the promise then rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** generate(), yielding between decoding steps; same options, same results for the same seed. */
export async function generateAsync(model: CausalLM, prompts: readonly Prompt[], options: AsyncGenerateOptions = {}): Promise<Generation[]> {
  const { signal } = options;
  signal?.throwIfAborted();
  const decoder = new Decoder(model, prompts, options);
  for (;;) {
    if (decoder.step()) return decoder.results();
    await nextTurn();
    signal?.throwIfAborted();
  }
}

// Using a fine-tuned model with its template: completions of prompts (or next assistant turns of
// conversations) that stop where training taught the model to stop, and exact-match scoring.
import { generate, type GenerateOptions } from '../generate/generate.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { truncateTokens } from './batch.js';
import { encodeChat, endOfTurn, type ChatMessage, type Template } from './template.js';

export type CompletionOptions = Omit<GenerateOptions, 'tokenizer' | 'eosTokenId' | 'stop'>;

/**
 * The assistant's reply to each conversation (a string is one user prompt), greedy unless options say
 * otherwise. The prompt keeps its last block_size − 1 tokens if it is too long (room for one token).
 */
export function complete(model: CausalLM, tokenizer: Tokenizer, template: Template, inputs: readonly (string | readonly ChatMessage[])[], options: CompletionOptions = {}): string[] {
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  const prompts = inputs.map((input) => {
    const messages: readonly ChatMessage[] = typeof input === 'string' ? [{ role: 'user', content: input }] : input;
    return truncateTokens(encodeChat(template, messages, tokenizer, true).ids, model.contextLength - 1);
  });
  const results = generate(model, prompts, {
    temperature: 0,
    maxNewTokens: 64,
    ...options,
    tokenizer,
    eosTokenId: eosId,
    stop: eosId === null ? [stopText] : [],
  });
  return results.map((r) => r.text ?? tokenizer.decode(r.tokens));
}

/** Fraction of predictions equal to their reference (both trimmed of surrounding whitespace). */
export function exactMatch(predictions: readonly string[], references: readonly string[]): number {
  if (predictions.length !== references.length) throw new Error(`${predictions.length} predictions for ${references.length} references`);
  if (predictions.length === 0) return 0;
  return predictions.filter((p, i) => p.trim() === references[i]!.trim()).length / predictions.length;
}

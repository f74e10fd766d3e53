// What the alignment commands (rlhf ppo, dpo, grpo) share: the SFT template the policy was trained with,
// how its prompts are formatted and its answers end, and what the aligned checkpoint records.
import { endOfTurn, formatPrompt, type Template } from '../finetune/template.js';
import { eosTokenOf } from '../generate/generate.js';
import type { Turn } from '../align/ppo.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { Options } from './args.js';
import { alignmentTemplate } from './finetune-reward.js';
import { DEFAULT_CHECKPOINT } from './model-options.js';

/**
 * The SFT template (--template, else the one `inkwell finetune sft` recorded in the checkpoint; none:
 * prompts go to the model as written) and the turn it gives: prompts formatted as the SFT model was
 * trained, answers ending at its end of turn.
 */
export function turnFromOptions(options: Options, tokenizer: Tokenizer, state: unknown): { turn: Turn; template: Template | null } {
  const template = alignmentTemplate(options, state, tokenizer);
  if (!template) return { turn: { eosTokenId: eosTokenOf(tokenizer) }, template };
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  const t = template;
  return { turn: { format: (p) => formatPrompt(t, p), eosTokenId: eosId, stop: eosId === null ? [stopText] : [] }, template };
}

/** What a PPO or DPO checkpoint records besides the weights: the template, so sample, chat and serve use it. */
export function alignedState(task: 'ppo' | 'dpo' | 'grpo', options: Options, template: Template | null): { finetune: { task: string; template?: string; base: string } } {
  const base = options.string('init') ?? options.string('checkpoint', DEFAULT_CHECKPOINT)!;
  return { finetune: { task, ...(template ? { template: template.name } : {}), base } };
}


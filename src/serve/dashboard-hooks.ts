// The trainer's side of the dashboard: hooks that turn log rows and evaluations into dashboard events,
// and take a short sample of the model after each evaluation. Kept apart from the hub so the dashboard's
// server thread does not load the model code.
import { eosTokenOf, generate, type Prompt } from '../generate/generate.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import type { TrainHooks } from '../train/trainer.js';
import type { DashboardEvent, SampleEvent } from './dashboard.js';

export interface DashboardSampling {
  /** Decodes samples; without one they are shown as token ids. */
  tokenizer?: Tokenizer;
  /** Tokens per sample (default 64). */
  maxNewTokens?: number;
  /** Default 0.8. */
  temperature?: number;
}

/**
 * Trainer hooks that publish log rows and evaluations, and a short sample after each evaluation (null:
 * no samples). Sampling puts the model in eval mode (no dropout, so the model's dropout RNG is not drawn
 * from) with its own seeded RNG, so the training run is the same with or without the dashboard.
 */
export function dashboardHooks(publish: (event: DashboardEvent) => void, sampling: DashboardSampling | null = {}): TrainHooks {
  return {
    onLog: (row) => publish({ type: 'log', row }),
    onEval: (row, model) => {
      publish({ type: 'eval', row });
      if (sampling) publish(takeSample(model, row.iter, sampling));
    },
  };
}

function takeSample(model: CausalLM, iter: number, { tokenizer, maxNewTokens = 64, temperature = 0.8 }: DashboardSampling): SampleEvent {
  const prompt = startPrompt(tokenizer);
  const [g] = generate(model, [prompt], { tokenizer, maxNewTokens, temperature, seed: iter, eosTokenId: null });
  const shown = (ids: readonly number[]) => (tokenizer ? tokenizer.decode([...ids]) : ids.join(' '));
  return { type: 'sample', iter, prompt: typeof prompt === 'string' ? prompt : shown(prompt), text: g!.text ?? shown(g!.tokens) };
}

/** Unconditional start: <|endoftext|> when the tokenizer has it, else a newline, else token 0. */
function startPrompt(tokenizer: Tokenizer | undefined): Prompt {
  if (!tokenizer) return [0];
  if (eosTokenOf(tokenizer) !== null) return '';
  try {
    const ids = tokenizer.encode('\n');
    if (ids.length) return ids;
  } catch {
    // No newline in this vocabulary.
  }
  return [0];
}

// Where PPO's rewards come from: a trained reward model or user rules (JSON or a JS module). Either
// scores prompt + answer texts; every score is checked to be a finite number, so a user rule returning
// NaN stops the run with the rule, the item and the value named instead of poisoning the update.
import { extname } from 'node:path';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { loadRules, type ScoreFn } from './rbrm.js';
import { loadRewardModel, scoreTexts, type RewardModel } from './reward-model.js';

export interface ScoredItem {
  prompt: string;
  answer: string;
}

export interface RewardSource {
  name: string;
  score(items: readonly ScoredItem[]): Promise<number[]>;
}

function checked(name: string, items: readonly ScoredItem[], scores: unknown[]): number[] {
  return scores.map((s, i) => {
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      const answer = items[i]!.answer;
      throw new Error(`${name}: reward for answer ${i + 1} is ${typeof s === 'number' ? s : JSON.stringify(s)}, not a finite number (answer: ${JSON.stringify(answer.length > 60 ? `${answer.slice(0, 60)}…` : answer)})`);
    }
    return s;
  });
}

export function rewardFromRules(fn: ScoreFn, name: string): RewardSource {
  return {
    name,
    async score(items) {
      const scores: unknown[] = [];
      for (const it of items) scores.push(await fn(it.prompt, it.answer));
      return checked(name, items, scores);
    },
  };
}

export function rewardFromModel(model: RewardModel, tokenizer: Tokenizer, name: string): RewardSource {
  return { name, score: async (items) => checked(name, items, scoreTexts(model, tokenizer, items)) };
}

const RULE_EXTENSIONS = new Set(['.json', '.js', '.mjs', '.cjs', '.ts', '.mts']);

/** A rules file (.json, .js, .mjs) or a reward model written by `inkwell finetune reward`. */
export async function loadRewardSource(path: string): Promise<RewardSource> {
  const ext = extname(path);
  if (RULE_EXTENSIONS.has(ext)) return rewardFromRules(await loadRules(path), `rules ${path}`);
  if (ext !== '.safetensors') throw new Error(`${path}: not a reward source: give a reward model (.safetensors from \`inkwell finetune reward\`) or rules (${[...RULE_EXTENSIONS].join(', ')})`);
  const { model, tokenizer } = loadRewardModel(path);
  return rewardFromModel(model, tokenizer, `reward model ${path}`);
}

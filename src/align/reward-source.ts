// Where PPO's rewards come from: a trained reward model or user rules (JSON or a JS module). Either
// scores prompt + answer texts; every score is checked to be a finite number (finiteScores). Rules
// loaded from a file run in a RewardWorker, with a time limit per call.
import { existsSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { finiteScores, type ScoreFn } from './rbrm.js';
import { loadRewardModel, scoreTexts, type RewardModel } from './reward-model.js';
import { RewardWorker, type RewardWorkerOptions } from './reward-worker.js';
import type { AnswerLayout } from './sequences.js';

export interface ScoredItem {
  prompt: string;
  answer: string;
  /** false: the answer was cut by the token limit, so a reward model scores it without the end of turn (default true). */
  ended?: boolean;
}

export interface RewardSource {
  name: string;
  score(items: readonly ScoredItem[]): Promise<number[]>;
  /** Releases what the source holds (a worker thread). */
  close?(): Promise<void>;
}

/** Rules as a function in this thread (trusted, e.g. written in the program itself): no time limit. */
export function rewardFromRules(fn: ScoreFn, name: string): RewardSource {
  return {
    name,
    async score(items) {
      const scores: unknown[] = [];
      for (const it of items) scores.push(await fn(it.prompt, it.answer));
      return finiteScores(name, items.map((it) => it.answer), scores);
    },
  };
}

/** A reward model's scores of answers laid out as it was trained (prompts given as written). */
export function rewardFromModel(model: RewardModel, tokenizer: Tokenizer, name: string, layout?: AnswerLayout): RewardSource {
  return { name, score: async (items) => finiteScores(name, items.map((it) => it.answer), scoreTexts(model, tokenizer, items, layout)) };
}

const RULE_EXTENSIONS = new Set(['.json', '.js', '.mjs', '.cjs', '.ts', '.mts']);

/** The file names a reward model folder may hold, in order of preference. */
export const REWARD_MODEL_FILES = ['ckpt.safetensors', 'reward.safetensors'];

/**
 * A rules file (.json, .js, .mjs; run in a RewardWorker with `options`' time limit) or a reward model
 * written by `inkwell finetune reward` (its .safetensors file or its output folder).
 */
export async function loadRewardSource(path: string, options: RewardWorkerOptions = {}): Promise<RewardSource> {
  let file = path;
  if (existsSync(path) && statSync(path).isDirectory()) {
    const found = REWARD_MODEL_FILES.map((name) => join(path, name)).find((f) => existsSync(f));
    if (!found) throw new Error(`${path}: a folder without a reward model (looked for ${REWARD_MODEL_FILES.join(', ')}; train one with \`inkwell finetune reward\`)`);
    file = found;
  }
  const ext = extname(file);
  if (RULE_EXTENSIONS.has(ext)) return RewardWorker.start(file, options);
  if (ext !== '.safetensors') throw new Error(`${file}: not a reward source: give a reward model (the folder or .safetensors file from \`inkwell finetune reward\`) or rules (${[...RULE_EXTENSIONS].join(', ')})`);
  const { model, tokenizer, layout } = loadRewardModel(file);
  return rewardFromModel(model, tokenizer, `reward model ${file}`, layout);
}

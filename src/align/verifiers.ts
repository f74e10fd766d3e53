// Verifiable rewards for GRPO: programs that check an answer instead of a model that guesses its worth.
// A reward spec (JSON, e.g. in the file given to `inkwell rlhf grpo --rewards`) names one per entry:
//   {"exact": "last_number" | "boxed" | {"regex": "…"} | {"after": "Answer:"}, "weight": 1}
//        1 when the extracted answer equals the prompt's expected answer (numbers compared as numbers), else 0;
//   {"format": "^…$", "weight": 0.2}      1 when the whole completion matches the regular expression, else 0;
//   {"length": {"max": 64}, "weight": 0.1} 0 up to max tokens, then −(tokens − max) / max;
//   {"module": "reward.mjs"} / {"rules": "rules.json"} / {"model": "out-reward"}   the user's code or a reward
//        model, as `rlhf ppo --reward` takes them (run contained, with a time limit per call).
import type { RewardSource } from './reward-source.js';

export interface Completion {
  prompt: string;
  completion: string;
  /** The prompt's expected answer, when its data gives one. */
  expected?: string;
  tokens: number;
  /** false when max_new_tokens cut it. */
  ended: boolean;
}

export interface RewardFunction {
  name: string;
  weight: number;
  score(items: readonly Completion[]): Promise<number[]>;
}

export type Extractor = 'last_number' | 'boxed' | { regex: string } | { after: string };

const NUMBER = /-?\d[\d,]*(?:\.\d+)?|-?\.\d+/g;

/** The answer an extractor reads out of a completion, or null when it finds none. */
export function extractAnswer(text: string, extractor: Extractor): string | null {
  if (extractor === 'last_number') {
    const all = text.match(NUMBER);
    return all ? all[all.length - 1]!.replace(/,/g, '') : null;
  }
  if (extractor === 'boxed') {
    const start = text.lastIndexOf('\\boxed{');
    if (start < 0) return null;
    let depth = 0;
    for (let i = start + 7; i < text.length; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && depth-- === 0) return text.slice(start + 7, i).trim();
    }
    return null;
  }
  if ('regex' in extractor) {
    const matches = [...text.matchAll(new RegExp(extractor.regex, 'g'))];
    const last = matches[matches.length - 1];
    return last ? (last[1] ?? last[0]).trim() : null;
  }
  const at = text.lastIndexOf(extractor.after);
  return at < 0 ? null : text.slice(at + extractor.after.length).trim().split('\n')[0]!.trim();
}

/** Equal as numbers when both read as numbers, else as trimmed text. */
export function sameAnswer(got: string, expected: string): boolean {
  const a = Number(got.replace(/,/g, '')), b = Number(expected.replace(/,/g, ''));
  if (got.trim() !== '' && expected.trim() !== '' && Number.isFinite(a) && Number.isFinite(b)) return a === b;
  return got.trim() === expected.trim();
}

/** Builds the reward functions of a spec; `external` turns module/rules/model entries into reward sources. */
export async function rewardFunctions(spec: unknown, where: string, external: (kind: 'module' | 'rules' | 'model', path: string) => Promise<RewardSource>): Promise<RewardFunction[]> {
  if (!Array.isArray(spec) || spec.length === 0) throw new Error(`${where}: the rewards must be a non-empty JSON array of {"exact" | "format" | "length" | "module" | "rules" | "model": …, "weight"}`);
  const out: RewardFunction[] = [];
  for (const [i, entry] of spec.entries()) {
    const at = `${where}: rewards[${i}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw new Error(`${at} must be an object`);
    const e = entry as Record<string, unknown>;
    const kinds = Object.keys(e).filter((k) => k !== 'weight');
    if (kinds.length !== 1) throw new Error(`${at}: name one reward (exact, format, length, module, rules or model), got ${JSON.stringify(kinds)}`);
    const kind = kinds[0]!, value = e[kind];
    const weight = e.weight ?? 1;
    if (typeof weight !== 'number' || !Number.isFinite(weight)) throw new Error(`${at}: "weight" must be a number, got ${JSON.stringify(weight)}`);
    const sync = (name: string, f: (c: Completion) => number): RewardFunction => ({ name, weight, score: async (items) => items.map(f) });
    if (kind === 'exact') {
      const extractor = checkExtractor(value, at);
      out.push(sync(`exact(${typeof extractor === 'string' ? extractor : JSON.stringify(extractor)})`, (c) => {
        if (c.expected === undefined) throw new Error(`${at}: an exact-answer reward needs prompts with an "answer" to compare with`);
        const got = extractAnswer(c.completion, extractor);
        return got !== null && sameAnswer(got, c.expected) ? 1 : 0;
      }));
    } else if (kind === 'format') {
      if (typeof value !== 'string') throw new Error(`${at}: "format" must be a regular expression, got ${JSON.stringify(value)}`);
      const pattern = compile(value, at);
      out.push(sync(`format(${value})`, (c) => (pattern.test(c.completion) ? 1 : 0)));
    } else if (kind === 'length') {
      const max = (value as { max?: unknown } | null)?.max;
      if (!(Number.isInteger(max) && (max as number) >= 1)) throw new Error(`${at}: "length" must be {"max": tokens ≥ 1}, got ${JSON.stringify(value)}`);
      out.push(sync(`length(max ${max})`, (c) => -Math.max(0, c.tokens - (max as number)) / (max as number)));
    } else if (kind === 'module' || kind === 'rules' || kind === 'model') {
      if (typeof value !== 'string' || !value) throw new Error(`${at}: "${kind}" must be a path, got ${JSON.stringify(value)}`);
      const source = await external(kind, value);
      out.push({ name: source.name, weight, score: (items) => source.score(items.map((c) => ({ prompt: c.prompt, answer: c.completion, ended: c.ended }))) });
    } else {
      throw new Error(`${at}: unknown reward "${kind}" (exact, format, length, module, rules, model)`);
    }
  }
  return out;
}

function checkExtractor(value: unknown, at: string): Extractor {
  if (value === 'last_number' || value === 'boxed') return value;
  if (typeof value === 'object' && value !== null) {
    const v = value as Record<string, unknown>;
    if (typeof v.regex === 'string') {
      compile(v.regex, at);
      return { regex: v.regex };
    }
    if (typeof v.after === 'string' && v.after) return { after: v.after };
  }
  throw new Error(`${at}: "exact" takes "last_number", "boxed", {"regex": "…(group)…"} or {"after": "marker"}, got ${JSON.stringify(value)}`);
}

/** The whole completion must match: the pattern is anchored at both ends. */
function compile(pattern: string, at: string): RegExp {
  try {
    return new RegExp(`^(?:${pattern})$`, 's');
  } catch (err) {
    throw new Error(`${at}: bad regular expression ${JSON.stringify(pattern)} (${(err as Error).message})`);
  }
}

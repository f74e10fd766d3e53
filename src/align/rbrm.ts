// Rule-based reward models (RBRM): rules a user writes that score an answer, either as a JSON file of
// pattern / length / format rules or as a JS module exporting a scoring function.
//
// JSON: {"rules": [rule, ...]}; each rule has a `weight` (default 1) and one of
//   {"require": "regex"}                 +weight when the answer matches
//   {"forbid": "regex", "per_match": b}  −weight when it matches (per match with per_match: true)
//   {"min_length": n, "max_length": m}   +weight when the answer's length in characters is within
//   {"format": "regex"}                  +weight when the whole answer matches
// and an optional "flags" for the regex (e.g. "i"). The score is the sum over rules.
import { readFileSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

export type ScoreFn = (prompt: string, answer: string) => number | Promise<number>;

/** An answer cut to a readable length for error messages. */
export function quoteAnswer(answer: string): string {
  return JSON.stringify(answer.length > 60 ? `${answer.slice(0, 60)}…` : answer);
}

/**
 * `scores` as numbers, each checked to be finite: a rule returning NaN stops the run with `name`, the
 * item and the value named instead of poisoning the update.
 */
export function finiteScores(name: string, answers: readonly string[], scores: readonly unknown[]): number[] {
  return scores.map((s, i) => {
    if (typeof s !== 'number' || !Number.isFinite(s)) {
      throw new Error(`${name}: reward for answer ${i + 1} is ${typeof s === 'number' ? s : JSON.stringify(s)}, not a finite number (answer: ${quoteAnswer(answers[i]!)})`);
    }
    return s;
  });
}

export interface Rule {
  require?: string;
  forbid?: string;
  per_match?: boolean;
  min_length?: number;
  max_length?: number;
  format?: string;
  flags?: string;
  weight?: number;
}

const RULE_KEYS = new Set(['require', 'forbid', 'per_match', 'min_length', 'max_length', 'format', 'flags', 'weight']);

function compileRule(rule: unknown, where: string): (answer: string) => number {
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) throw new Error(`${where}: a rule must be an object, got ${JSON.stringify(rule)}`);
  const r = rule as Rule;
  for (const key of Object.keys(r)) if (!RULE_KEYS.has(key)) throw new Error(`${where}: unknown field '${key}' (fields: ${[...RULE_KEYS].join(', ')})`);
  const weight = r.weight ?? 1;
  if (typeof weight !== 'number' || !Number.isFinite(weight)) throw new Error(`${where}: weight must be a finite number, got ${JSON.stringify(r.weight)}`);
  const regex = (field: 'require' | 'forbid' | 'format', anchored: boolean, global: boolean): RegExp => {
    const source = r[field];
    if (typeof source !== 'string') throw new Error(`${where}: '${field}' must be a regular expression string`);
    const flags = (r.flags ?? '') + (global ? 'g' : '');
    try {
      return new RegExp(anchored ? `^(?:${source})$` : source, flags);
    } catch (err) {
      throw new Error(`${where}: bad regular expression in '${field}': ${(err as Error).message}`);
    }
  };
  const kinds = ['require', 'forbid', 'format'].filter((k) => k in r).length + (('min_length' in r || 'max_length' in r) ? 1 : 0);
  if (kinds !== 1) throw new Error(`${where}: a rule needs exactly one of require, forbid, min_length/max_length, format`);
  if (r.require !== undefined) {
    const re = regex('require', false, false);
    return (a) => (re.test(a) ? weight : 0);
  }
  if (r.forbid !== undefined) {
    const perMatch = r.per_match ?? false;
    const re = regex('forbid', false, perMatch);
    return (a) => -weight * (perMatch ? (a.match(re)?.length ?? 0) : re.test(a) ? 1 : 0);
  }
  if (r.format !== undefined) {
    const re = regex('format', true, false);
    return (a) => (re.test(a) ? weight : 0);
  }
  const min = r.min_length ?? 0, max = r.max_length ?? Infinity;
  if (!(Number.isInteger(min) && min >= 0) || !(max === Infinity || (Number.isInteger(max) && max >= min))) {
    throw new Error(`${where}: min_length and max_length must be integers with 0 ≤ min_length ≤ max_length`);
  }
  return (a) => (a.length >= min && a.length <= max ? weight : 0);
}

/** A scoring function from JSON rules; `source` names them in errors. */
export function rulesFromJSON(json: unknown, source = 'rules'): ScoreFn {
  const rules = (json as { rules?: unknown })?.rules;
  if (!Array.isArray(rules) || rules.length === 0) throw new Error(`${source}: expected {"rules": [ ... ]} with at least one rule`);
  const compiled = rules.map((rule, i) => compileRule(rule, `${source}: rules[${i}]`));
  return (_prompt, answer) => compiled.reduce((s, f) => s + f(answer), 0);
}

/**
 * Rules from a file: `.json` rules, or a JS module (`.js`/`.mjs`) whose default export (or export
 * named `reward`) is `(prompt, answer) => number` (may be async).
 */
export async function loadRules(path: string): Promise<ScoreFn> {
  const ext = extname(path);
  if (ext === '.json') {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path, 'utf8'));
    } catch (err) {
      throw new Error(`${path}: cannot read the rules (${(err as Error).message})`);
    }
    return rulesFromJSON(json, path);
  }
  if (!['.js', '.mjs', '.cjs', '.ts', '.mts'].includes(ext)) throw new Error(`${path}: rules must be a .json file or a JS module (.js, .mjs)`);
  let mod: { default?: unknown; reward?: unknown };
  try {
    mod = await import(pathToFileURL(resolve(path)).href) as typeof mod;
  } catch (err) {
    const hint = ext.endsWith('ts') ? ' (Node runs TypeScript modules only with type stripping, Node ≥ 22.18; compile it to .js with tsc otherwise)' : '';
    throw new Error(`${path}: cannot load the rules module: ${(err as Error).message}${hint}`);
  }
  const fn = typeof mod.reward === 'function' ? mod.reward : mod.default;
  if (typeof fn !== 'function') throw new Error(`${path}: the module must export a function (default export or 'reward') taking (prompt, answer) and returning a number`);
  return fn as ScoreFn;
}

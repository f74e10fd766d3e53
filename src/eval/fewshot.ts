// Few-shot prompt evaluation (GPT-3 style): each example's prompt is put after a few solved examples
// (the shots), the model continues it greedily, and the continuation up to the stop string must equal
// the expected answer (exact match, ignoring surrounding whitespace).
//
// The task is a JSONL file of {"prompt": ..., "answer": ...} lines. An optional first line is a header:
//   {"shots": [{"prompt": "2+2=", "answer": "4"}, ...], "instruction": "Add.", "separator": "\n\n", "stop": "\n"}
// (every header field optional). The model then sees
//   instruction + separator + shot₁.prompt + shot₁.answer + separator + … + example.prompt
// and its answer ends at a stop string (default "\n"), at its end-of-text token, or after
// max_new_tokens (default: the longest answer's tokens + 1, so an answer followed by more text is wrong).
// Leading whitespace is not counted in that budget, as exact match ignores it: "  castle" is a whole
// answer of 6 tokens, not one cut at "  castl".
import { generate, preparePrompt, type Generation } from '../generate/generate.js';
import { exactMatch } from '../finetune/complete.js';
import { readJsonl, DataLineError, type BadLinePolicy, type SkippedLine } from '../io/records.js';
import type { CausalLM } from '../model/causal-lm.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';

export interface Shot {
  prompt: string;
  answer: string;
}

export interface FewShotExample extends Shot {
  /** 1-based line in the task file. */
  line: number;
}

export interface FewShotTask {
  file: string;
  instruction: string;
  shots: Shot[];
  separator: string;
  stop: string[];
  examples: FewShotExample[];
  /** Bad lines left out (with onBadLine 'skip'). */
  skipped: SkippedLine[];
}

export interface FewShotPrediction extends FewShotExample {
  output: string;
  correct: boolean;
}

export interface FewShotResult {
  correct: number;
  total: number;
  accuracy: number;
  predictions: FewShotPrediction[];
}

export interface FewShotOptions {
  /** Tokens generated per answer after its leading whitespace (default: the longest answer's tokens + 1). */
  maxNewTokens?: number;
  /** Prompts decoded together (default 8). */
  batchSize?: number;
}

interface Header {
  instruction: string;
  shots: Shot[];
  separator: string;
  stop: string[];
}

type TaskLine = { header: Header } | { example: Shot };

const HEADER_FIELDS = ['shots', 'instruction', 'separator', 'stop'];

export function readFewShotTask(file: string, onBadLine: BadLinePolicy = 'stop'): FewShotTask {
  const { records, skipped } = readJsonl<TaskLine>(file, { onBadLine, validate: parseRecord });
  const headers = records.filter((r) => 'header' in r.value);
  const misplaced = headers.find((r) => r !== records[0]);
  if (misplaced) throw new DataLineError(file, misplaced.line, 'a header (a line with "shots") may only be the first line');
  const header = headers.length ? (records[0]!.value as { header: Header }).header : { instruction: '', shots: [], separator: '\n\n', stop: ['\n'] };
  const examples = records.flatMap((r) => ('example' in r.value ? [{ line: r.line, ...r.value.example }] : []));
  if (examples.length === 0) throw new Error(`${file}: no examples (lines of {"prompt": ..., "answer": ...})`);
  return { file, ...header, examples, skipped };
}

/** The text the model continues for one example: instruction, shots, then the example's prompt. */
export function fewShotPrompt(task: Pick<FewShotTask, 'instruction' | 'shots' | 'separator'>, prompt: string): string {
  const parts = [...(task.instruction ? [task.instruction] : []), ...task.shots.map((s) => s.prompt + s.answer), prompt];
  return parts.join(task.separator);
}

/** Greedy answers to every example, scored by exact match. */
export function evaluateFewShot(model: CausalLM, tokenizer: Tokenizer, task: FewShotTask, options: FewShotOptions = {}): FewShotResult {
  const prompts = task.examples.map((example) => {
    try {
      return preparePrompt(model, fewShotPrompt(task, example.prompt), tokenizer);
    } catch (err) {
      const shots = task.shots.length ? ` (with ${task.shots.length} shot${task.shots.length === 1 ? '' : 's'}: use fewer or shorter ones)` : '';
      throw new DataLineError(task.file, example.line, `${(err as Error).message.replace(/^prompt 0 /, 'the prompt ')}${shots}`);
    }
  });
  const maxNewTokens = options.maxNewTokens ?? 1 + Math.max(...task.examples.map((e) => {
    try {
      return tokenizer.encode(e.answer).length;
    } catch (err) {
      throw new DataLineError(task.file, e.line, `answer: ${(err as Error).message}`);
    }
  }));
  // Greedy decoding gives each prompt the same answer in any batch and under any longer limit, so
  // prompts whose leading whitespace ate into the budget are decoded again with room for it, and every
  // answer is cut at its budget after that whitespace. Batches hold prompts of similar length.
  const outputs: string[] = [];
  let pending = prompts.map((_, i) => i).sort((a, b) => prompts[a]!.length - prompts[b]!.length);
  for (let limit = maxNewTokens + 2; pending.length; limit = Math.min(2 * limit, maxNewTokens + MAX_LEADING_WHITESPACE)) {
    const generations = generate(model, pending.map((i) => prompts[i]!), { tokenizer, temperature: 0, maxNewTokens: limit, stop: task.stop, batchSize: options.batchSize ?? 8 });
    const again: number[] = [];
    pending.forEach((i, k) => {
      const g = generations[k]!;
      const lead = leadingWhitespaceTokens(tokenizer, g.tokens);
      if (g.finishReason === 'length' && lead + maxNewTokens > limit && limit < maxNewTokens + MAX_LEADING_WHITESPACE) again.push(i);
      else outputs[i] = cutAt(tokenizer, g, lead + maxNewTokens);
    });
    pending = again;
  }
  const predictions = task.examples.map((e, i) => ({ ...e, output: outputs[i]!, correct: exactMatch([outputs[i]!], [e.answer]) === 1 }));
  const correct = predictions.filter((p) => p.correct).length;
  return { correct, total: predictions.length, accuracy: correct / predictions.length, predictions };
}

/** Leading whitespace tokens left out of the budget at most (a model printing only blanks is cut there). */
const MAX_LEADING_WHITESPACE = 64;

/** How many of the first tokens decode to whitespace only. */
function leadingWhitespaceTokens(tokenizer: Tokenizer, tokens: readonly number[]): number {
  let n = 0;
  while (n < tokens.length && /^\s*$/.test(tokenizer.decode(tokens.slice(0, n + 1)))) n++;
  return n;
}

/** The generation's text limited to its first `count` tokens (already cut before a stop string). */
function cutAt(tokenizer: Tokenizer, g: Generation, count: number): string {
  if (g.tokens.length <= count) return g.text!;
  const cut = tokenizer.decode(g.tokens.slice(0, count));
  return cut.length < g.text!.length ? cut : g.text!;
}

function parseRecord(value: unknown): TaskLine {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected a JSON object');
  const v = value as Record<string, unknown>;
  if ('shots' in v) {
    for (const key of Object.keys(v)) if (!HEADER_FIELDS.includes(key)) throw new Error(`unknown header field "${key}" (fields: ${HEADER_FIELDS.join(', ')})`);
    if (!Array.isArray(v.shots)) throw new Error('"shots" must be an array of {"prompt", "answer"} objects');
    const shots = v.shots.map((s: unknown, i) => {
      try {
        return parseShot(s);
      } catch (err) {
        throw new Error(`shots[${i}]: ${(err as Error).message}`);
      }
    });
    const stop = v.stop ?? '\n';
    const stops = Array.isArray(stop) ? stop : [stop];
    if (stops.length === 0 || !stops.every((s) => typeof s === 'string' && s !== '')) throw new Error('"stop" must be a non-empty string or an array of them');
    return { header: { instruction: text(v, 'instruction', ''), shots, separator: text(v, 'separator', '\n\n'), stop: stops as string[] } };
  }
  return { example: parseShot(v) };
}

function parseShot(value: unknown): Shot {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('expected an object with "prompt" and "answer"');
  const v = value as Record<string, unknown>;
  for (const key of ['prompt', 'answer']) if (typeof v[key] !== 'string') throw new Error(`"${key}" must be a string, got ${JSON.stringify(v[key]) ?? 'nothing'}`);
  return { prompt: v.prompt as string, answer: v.answer as string };
}

function text(v: Record<string, unknown>, key: string, fallback: string): string {
  const value = v[key] ?? fallback;
  if (typeof value !== 'string') throw new Error(`"${key}" must be a string, got ${JSON.stringify(value)}`);
  return value;
}

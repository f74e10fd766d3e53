// `inkwell report DIR`: rebuilds a run's report card (report.md, report.html) from its run.json and log.jsonl.
import { loadTask } from '../eval/hub-tasks.js';
import { checkSuite, readSuite, runSuite } from '../eval/suite.js';
import type { CausalLM } from '../model/causal-lm.js';
import { machineInfo, renderReport, type EvalTable, type Machine, type RunOutcome } from '../report/card.js';
import type { DpoPair } from '../align/dpo.js';
import type { Decoder } from '../model/decoder.js';
import { parseMatmulPrecision } from '../tensor/ops/matmul.js';
import { peakFlops } from '../train/peak.js';
import { flopsPerToken } from '../train/trainer.js';
import type { Tokenizer } from '../tokenizers/tokenizer.js';
import { backend } from '../tensor/backends/index.js';
import { nativeMatmulPath } from '../tensor/backends/native.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell report DIR

Rebuilds the report card of the run whose output folder is DIR (what \`inkwell train\` wrote there:
run.json and log.jsonl) as DIR/report.md and DIR/report.html (charts inline).`;

export function run(args: string[], options: Options): void {
  options.rejectUnknown([]);
  if (args.length !== 1) throw new UsageError(`report takes one run folder, got ${args.length ? args.join(' ') : 'none'}`);
  const { markdown, html } = renderReport(args[0]!);
  console.log(`wrote ${markdown} and ${html}`);
}

/** The machine of a run of this process: the CPU, the backend's threads and its bfloat16 matmul path. */
export function reportMachine(): Machine {
  const b = backend();
  const { cpu, path } = nativeMatmulPath();
  return { ...machineInfo(b, b.name === 'native' ? path : 'js'), cpu };
}

/** --eval_suite for the commands that train: checked before training, run on the trained model for the report. */
export const EVAL_SUITE_USAGE = '  --eval_suite=SUITE.json   evaluate the trained model on a task suite (`inkwell eval --suite`) for the report card';

/** --eval_suite, its file read and checked now (before any training), or undefined. */
export function evalSuiteOption(options: Options): string | undefined {
  const file = options.string('eval_suite');
  if (file !== undefined) checkSuite(file);
  return file;
}

/** The suite's table for a report card, printed as it goes. */
export async function evalSuiteTable(file: string, model: CausalLM, tokenizer: Tokenizer): Promise<EvalTable> {
  const suite = readSuite(file);
  const s = await runSuite(model, tokenizer, suite, (entry) => loadTask(entry.task),
    { onTask: (t) => console.log(`eval ${t.name}: acc ${t.acc.toFixed(4)}${t.accNorm === null ? '' : `, acc_norm ${t.accNorm.toFixed(4)}`}, centred ${t.score.toFixed(4)}`) });
  console.log(`eval ${s.suite}: score ${s.score.toFixed(4)}`);
  return {
    title: `Evaluation: ${s.suite}`, columns: ['task', 'items', 'shots', 'acc', 'acc_norm', 'chance', 'centred'],
    rows: s.tasks.map((t) => [t.name, t.items, t.fewshot, t.acc, t.accNorm ?? '-', t.chance, t.score]), summary: `suite score ${s.score.toFixed(4)}`,
  };
}

/**
 * A report card's cost lines for `tokens` trained on (forward and backward) in `seconds` of training
 * steps: tokens seen, tokens/s and MFU, the decoder's FLOPs per token against this machine's measured peak.
 */
export function trainingCost(decoder: Decoder, tokens: number, seconds: number, dtype = 'float32'): RunOutcome {
  if (!(tokens > 0 && seconds > 0)) return {};
  const rate = tokens / seconds;
  return { tokens_seen: tokens, tokens_per_s: rate, mfu: (flopsPerToken(decoder) * rate) / peakFlops(parseMatmulPrecision(dtype, 'dtype')) };
}

/** Tokens of preference pairs (both answers, prompt included) over `epochs`: what reward-model and DPO training read. */
export function pairTokens(pairs: readonly DpoPair[], epochs: number): number {
  let n = 0;
  for (const p of pairs) n += p.chosen.prompt.length + p.chosen.response.length + p.rejected.prompt.length + p.rejected.response.length;
  return n * epochs;
}

// `inkwell report DIR`: rebuilds a run's report card (report.md, report.html) from its run.json and log.jsonl.
import { loadTask } from '../eval/hub-tasks.js';
import { checkSuite, readSuite, runSuite } from '../eval/suite.js';
import type { CausalLM } from '../model/causal-lm.js';
import { machineInfo, renderReport, type EvalTable, type Machine } from '../report/card.js';
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

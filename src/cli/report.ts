// `inkwell report DIR`: rebuilds a run's report card (report.md, report.html) from its run.json and log.jsonl.
import { renderReport } from '../report/card.js';
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

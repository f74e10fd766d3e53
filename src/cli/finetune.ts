// `inkwell finetune <task>`: fine-tuning subcommands, one module each, dispatched from this table.
import { UsageError, type Options } from './args.js';
import * as classify from './finetune-classify.js';
import { FINETUNE_BOOLEAN_FLAGS } from './finetune-options.js';
import * as sft from './finetune-sft.js';
import * as reward from './finetune-reward.js';

interface Subcommand {
  summary: string;
  usage: string;
  booleanFlags?: readonly string[];
  run(args: string[], options: Options): Promise<void> | void;
}

const subcommands: Record<string, Subcommand> = {
  classify,
  sft,
  reward,
};

const names = Object.keys(subcommands);
const width = Math.max(...names.map((n) => n.length));

export const usage = [
  'usage: inkwell finetune <task> [options]',
  '',
  ...Object.entries(subcommands).map(([name, s]) => `  ${name.padEnd(width)}  ${s.summary}`),
  '',
  Object.values(subcommands).map((s) => s.usage).join('\n\n'),
].join('\n');

export function usageOf(task: string): string | undefined {
  return Object.hasOwn(subcommands, task) ? subcommands[task]!.usage : undefined;
}

/** main.ts parses the arguments before the task is known, so every task's flags are declared here. */
export const booleanFlags = [...new Set([...FINETUNE_BOOLEAN_FLAGS, ...Object.values(subcommands).flatMap((s) => s.booleanFlags ?? [])])];

export async function run(args: string[], options: Options): Promise<void> {
  const [name, ...rest] = args;
  if (!name) throw new UsageError(`give a task: inkwell finetune ${names.join('|')} …`);
  const sub = subcommands[name];
  if (!sub || !Object.hasOwn(subcommands, name)) throw new UsageError(`unknown finetune task '${name}' (tasks: ${names.join(', ')})`);
  await sub.run(rest, options);
}

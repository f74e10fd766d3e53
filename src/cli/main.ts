#!/usr/bin/env node
// The `inkwell` command: a thin layer over the library. Each subcommand lives in its own module and is
// loaded only when run, so `inkwell --help` stays instant.
import { Options, parseArgs, UsageError } from './args.js';
import { packageVersion } from './version.js';

interface Command {
  summary: string;
  load: () => Promise<{
    run(args: string[], options: Options): Promise<void> | void;
    usage: string;
    /** A subcommand's own usage (`inkwell finetune sft --help`), for commands that dispatch to several. */
    usageOf?: (sub: string) => string | undefined;
    booleanFlags?: string[];
  }>;
}

const commands: Record<string, Command> = {
  prepare: { summary: 'turn a text corpus into train.bin, val.bin and meta.json (nanoGPT prepare.py)', load: () => import('./prepare.js') },
  train: { summary: 'train a GPT-2 or Llama-family model from scratch (nanoGPT train.py settings, presets, Muon, resume)', load: () => import('./train.js') },
  tokenize: { summary: 'show the token ids of a text (any tokenizer.json with --tokenizer), or --decode ids back to text', load: () => import('./tokenize.js') },
  eval: { summary: 'perplexity and bits per byte; benchmarks by log-likelihood (--task, --suite); few-shot exact match', load: () => import('./eval.js') },
  sample: { summary: 'generate text from a checkpoint or a pretrained GPT-2 (nanoGPT sample.py)', load: () => import('./sample.js') },
  chat: { summary: 'a terminal chat with a chat-tuned model, replies streamed', load: () => import('./chat.js') },
  serve: { summary: 'an OpenAI-compatible HTTP API (completions, chat, streaming) for a model', load: () => import('./serve.js') },
  feedback: { summary: 'rank samples on a local web page; appends comparisons for the reward model', load: () => import('./feedback.js') },
  reward: { summary: 'score answers with a reward model or rules; pairwise accuracy on comparisons', load: () => import('./reward.js') },
  rlhf: { summary: 'align an SFT model: ppo (reward model or rules), dpo (comparisons) or grpo (verifiable rewards)', load: () => import('./rlhf.js') },
  finetune: { summary: 'fine-tune a model: classify (class head), sft (prompt/completion, chat) or reward (reward model)', load: () => import('./finetune.js') },
  classify: { summary: 'label texts with a classifier from `inkwell finetune classify`', load: () => import('./classify.js') },
  markov: { summary: 'train a binary GPT and show it as a finite-state Markov chain (table + SVG graph)', load: () => import('./markov.js') },
  export: { summary: 'write a model as GGUF for llama.cpp / Ollama (f32, f16, bf16, q8_0, q4_0), an HF folder, or a run for PyTorch to continue', load: () => import('./export.js') },
  import: { summary: 'read a GGUF file, or a run PyTorch continued, back as a checkpoint or an HF folder', load: () => import('./import.js') },
  push: { summary: 'upload an HF model folder to the Hugging Face hub, with a model card from the run\'s report', load: () => import('./push.js') },
  report: { summary: 'rebuild a run\'s report card (report.md, report.html) from its output folder', load: () => import('./report.js') },
  info: { summary: 'show the compute backend, threads and version', load: () => import('./info.js') },
};

function help(): string {
  const width = Math.max(...Object.keys(commands).map((k) => k.length));
  return [
    'inkwell — GPT end to end in TypeScript',
    '',
    'usage: inkwell <command> [options]',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'inkwell <command> --help shows a command\'s options; inkwell --version the version.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name) {
    // No command is a mistake (a script that lost its arguments), not a request for help.
    console.error(help());
    return 2;
  }
  if (name === '--help' || name === '-h' || name === 'help') {
    console.log(help());
    return 0;
  }
  if (name === '--version' || name === '-v' || name === 'version') {
    console.log(packageVersion());
    return 0;
  }
  const command = commands[name];
  if (!command) {
    console.error(`inkwell: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  const mod = await command.load();
  if (rest.includes('--help') || rest.includes('-h')) {
    const sub = rest[0] && !rest[0].startsWith('-') ? rest[0] : null;
    console.log((sub && mod.usageOf?.(sub)) || mod.usage);
    return 0;
  }
  const parsed = parseArgs(rest, new Set(mod.booleanFlags ?? []));
  await mod.run(parsed.positionals, new Options(parsed));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    // Expected failures (bad input, bad files) print one clear line; INKWELL_DEBUG=1 shows the stack.
    const e = err as Error;
    console.error(`inkwell: ${e instanceof UsageError ? 'usage: ' : ''}${e.message ?? String(err)}`);
    if (process.env.INKWELL_DEBUG) console.error(e.stack);
    process.exitCode = e instanceof UsageError ? 2 : 1;
  },
);

// `inkwell sample`: nanoGPT's sample.py. Continues prompts with a trained checkpoint or a pretrained
// GPT-2, streaming each sample to stdout as it is decoded.
import { readFileSync } from 'node:fs';
import { eosTokenOf, generate, preparePrompt, unconditionalStart, type GenerateOptions } from '../generate/generate.js';
import { backend } from '../tensor/backends/index.js';
import { END_OF_TEXT } from '../tokenizers/gpt2.js';
import { UsageError, type Options } from './args.js';
import { checkpointTemplate, formatPrompt } from '../finetune/template.js';
import { replyEnding } from '../generate/chat.js';
import { templateOption } from './template-option.js';
import { SAMPLING_OPTIONS, SAMPLING_USAGE, samplingFromOptions, generationDefaults } from './sampling-options.js';
import { DEFAULT_CHECKPOINT, INFERENCE_OPTIONS, INFERENCE_USAGE, inferenceModelFromOptions } from './model-options.js';

const SEPARATOR = '---------------';

export const usage = `usage: inkwell sample [PROMPT ...] [--checkpoint=FILE|DIR | --init=gpt2|gpt2-medium|gpt2-large|gpt2-xl|DIR] [options]

Continues each PROMPT num_samples times, streaming the text as it is generated. A prompt is text,
FILE:path (the file's text) or - (standard input); --start=PROMPT is the same as one PROMPT. Without a
prompt the samples are unconditional: they start from ${END_OF_TEXT} or, for a character-level model
(no such token), from a newline.

Model (default --checkpoint=${DEFAULT_CHECKPOINT}):
${INFERENCE_USAGE}

Sampling:
  --num_samples=10         samples per prompt
  --max_new_tokens=500     tokens generated per sample
${SAMPLING_USAGE}
  --template=NAME|none     wrap each prompt in a fine-tuning template and end at its end of turn (default:
                           the template \`inkwell finetune sft\` recorded in the checkpoint, else none)
  --stop=TEXT              end a sample at TEXT (not printed); a JSON string or array gives escapes
                           or several: --stop='"\\n\\n"', --stop='["\\n\\n", "THE END"]'
  --seed=1337              same seed, same samples
  --batch_size=8           samples decoded together
  --no-cache               recompute the whole context each step instead of using the KV cache

Ends at max_new_tokens, at the end-of-text token, or at a stop string. Past the model's context each
step re-reads the last block_size tokens. Timing goes to stderr.`;

export const booleanFlags = ['offline', 'cache'];

const KNOWN_OPTIONS = [...INFERENCE_OPTIONS, ...SAMPLING_OPTIONS, 'template', 'start', 'num_samples', 'max_new_tokens', 'stop', 'seed', 'batch_size', 'cache'];

export async function run(args: string[], options: Options): Promise<void> {
  options.rejectUnknown(KNOWN_OPTIONS);
  if (args.length && options.has('start')) throw new UsageError('give the prompt either as PROMPT or as --start, not both');
  const numSamples = options.number('num_samples', 10)!;
  if (!(Number.isInteger(numSamples) && numSamples >= 1)) throw new UsageError(`--num_samples must be an integer ≥ 1, got ${numSamples}`);
  const settings: GenerateOptions = {
    ...samplingFromOptions(options),
    maxNewTokens: options.number('max_new_tokens', 500),
    stop: parseStop(options.string('stop')),
    seed: options.number('seed', 1337),
    useCache: options.flag('cache', true),
  };

  const templateName = options.string('template');
  const givenTemplate = templateName === 'none' ? null : templateOption(options);
  const { model, tokenizer, state, generation } = await inferenceModelFromOptions(options);
  // A fine-tuned model answers prompts in its template; anything else continues the text as it is.
  const template = templateName === 'none' ? null : givenTemplate ?? checkpointTemplate(state, tokenizer);
  const given = args.length ? args : options.has('start') ? [options.string('start')!] : [];
  if (template && !given.length) throw new UsageError(`the '${template.name}' template needs a prompt (--template=none samples unconditionally)`);
  if (template) {
    const ending = replyEnding(template, tokenizer);
    settings.eosTokenId = ending.eosTokenId;
    settings.stop = [...settings.stop!, ...ending.stop];
    if (!options.has('template')) process.stderr.write(`using the '${template.name}' template the checkpoint was fine-tuned with (--template=none to continue raw text)\n`);
  }
  Object.assign(settings, generationDefaults(options, generation, settings.eosTokenId !== undefined ? settings.eosTokenId : eosTokenOf(tokenizer)));
  const raw = given.length ? given.map(readPrompt) : [unconditionalStart(tokenizer)];
  const starts = template ? raw.map((text) => formatPrompt(template, text)) : raw;
  const texts = starts.flatMap((text) => Array<string>(numSamples).fill(text));
  // Encoded up front so a bad prompt fails before any output.
  const prompts = texts.map((text, i) => preparePrompt(model, text, tokenizer, i));
  const echoes = texts.map((text) => (text === END_OF_TEXT ? '' : text));

  const b = backend();
  process.stderr.write(`backend: ${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'}); ${(model.numParams() / 1e6).toFixed(2)}M parameters\n`);
  const printer = new OrderedPrinter(echoes, (s) => process.stdout.write(s));
  const t0 = performance.now();
  const results = generate(model, prompts, {
    ...settings,
    tokenizer,
    batchSize: options.number('batch_size', Math.min(prompts.length, 8)),
    onText: (index, text) => printer.text(index, text),
    onDone: (g) => printer.done(g.index),
  });
  const seconds = (performance.now() - t0) / 1000;
  const tokens = results.reduce((n, r) => n + r.tokens.length, 0);
  process.stderr.write(`${results.length} sample${results.length === 1 ? '' : 's'}, ${tokens} tokens in ${seconds.toFixed(2)} s (${(tokens / seconds).toFixed(1)} tokens/s)\n`);
}

/** PROMPT text, FILE:path or - (stdin). */
function readPrompt(arg: string): string {
  if (arg === '-') return readFileSync(0, 'utf8');
  if (!arg.startsWith('FILE:')) return arg;
  const file = arg.slice('FILE:'.length);
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${file}: cannot read the prompt (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

function parseStop(value: string | undefined): string[] {
  if (value === undefined) return [];
  if (!value.startsWith('[') && !value.startsWith('"')) return [value];
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch (err) {
    throw new UsageError(`--stop: invalid JSON (${(err as Error).message})`);
  }
  const list = Array.isArray(parsed) ? parsed : [parsed];
  if (!list.every((s) => typeof s === 'string' && s !== '')) throw new UsageError('--stop must give non-empty strings');
  return list as string[];
}

/**
 * Prints samples in order while they are decoded in parallel: the earliest unfinished sample streams
 * live, later ones are buffered until it is done, each printed as its prompt, its text and a separator.
 */
class OrderedPrinter {
  private current = 0;
  private readonly buffered: string[];
  private readonly finished: boolean[];

  private started = false;

  constructor(private readonly echoes: readonly string[], private readonly write: (s: string) => void) {
    this.buffered = echoes.map(() => '');
    this.finished = echoes.map(() => false);
  }

  text(index: number, text: string): void {
    this.start();
    if (index === this.current) this.write(text);
    else this.buffered[index] += text;
  }

  done(index: number): void {
    this.start();
    this.finished[index] = true;
    while (this.finished[this.current]) {
      this.write(`\n${SEPARATOR}\n`);
      if (++this.current === this.echoes.length) return;
      this.write(this.echoes[this.current]! + this.buffered[this.current]!);
      this.buffered[this.current] = '';
    }
  }

  /** The first prompt is echoed with the first output, so an invalid setting fails before anything is printed. */
  private start(): void {
    if (this.started) return;
    this.started = true;
    this.write(this.echoes[0]!);
  }
}

// `inkwell eval`: loss and perplexity of a model on a dataset split or a text file.
import { readFileSync } from 'node:fs';
import { Dataset } from '../data/dataset.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../tokenizers/tokenizer.js';
import { loadModel } from '../train/checkpoint.js';
import { evaluateTokens } from '../train/evaluate.js';
import { UsageError, type Options } from './args.js';

export const usage = `usage: inkwell eval [--checkpoint=FILE|DIR] [--split=val|train] [--data=DIR] [--file=TEXT] [--max_tokens=N] [--batch_size=8]

Reports the mean cross-entropy (nats per token) and perplexity of a model over every token of a dataset
split (the checkpoint's own dataset unless --data is given) or of a text file (--file, tokenized with the
checkpoint's tokenizer). --checkpoint is an inkwell checkpoint or an HF GPT-2 folder; it defaults to
out-shakespeare-char/ckpt.safetensors.`;

export function run(args: string[], options: Options): void {
  if (args.length) throw new UsageError(`eval takes no positional arguments, got '${args.join(' ')}'`);
  const path = options.string('checkpoint', 'out-shakespeare-char/ckpt.safetensors')!;
  const { model, state } = loadModel(path);
  const maxTokens = options.number('max_tokens', Infinity)!;
  const batchSize = options.number('batch_size', 8)!;
  const file = options.string('file');
  let result;
  let what: string;
  if (file) {
    if (!state?.tokenizer) throw new Error(`${path} holds no tokenizer to encode ${file} with (use a checkpoint from \`inkwell train\`)`);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (err) {
      throw new Error(`${file}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    const ids = Int32Array.from(tokenizerFromJSON(state.tokenizer as TokenizerJSON).encode(text));
    const count = Math.min(ids.length, maxTokens);
    result = evaluateTokens(model, count, (s, n) => ids.subarray(s, s + n), batchSize);
    what = file;
  } else {
    const split = options.string('split', 'val')!;
    if (split !== 'train' && split !== 'val') throw new UsageError(`--split must be train or val, got '${split}'`);
    const dir = options.string('data') ?? (state?.dataset as { dir?: string } | undefined)?.dir;
    if (!dir) throw new UsageError('--data=DIR is needed: the model does not say which dataset it was trained on');
    const data = new Dataset(dir);
    const tokens = data.files[split];
    result = evaluateTokens(model, Math.min(tokens.length, maxTokens), (s, n) => tokens.read(s, n), batchSize);
    data.close();
    what = `${dir} (${split})`;
  }
  console.log(`${what}: ${result.tokens.toLocaleString('en-US')} tokens, loss ${result.loss.toFixed(4)}, perplexity ${result.perplexity.toFixed(3)}`);
}

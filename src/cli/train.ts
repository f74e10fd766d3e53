// `inkwell train [preset | config.json] [--key=value ...]`: nanoGPT's train.py on the command line.
import { applySettings, defaultTrainConfig, presetNames, readConfigFile } from '../train/config.js';
import { train } from '../train/trainer.js';
import { backend } from '../tensor/backends/index.js';
import { fetchPretrained, GPT2_MODELS } from '../model/pretrained.js';
import type { Options } from './args.js';
import { ProgressBar } from './progress.js';

export const usage = `usage: inkwell train [PRESET | CONFIG.json] [--key=value ...]

Trains a GPT on a dataset made by \`inkwell prepare\`. Settings are nanoGPT's train.py names: a preset
(${presetNames().join(', ')}) or a JSON file gives them, and --key=value overrides any of them, e.g.
  inkwell train shakespeare_char_cpu --max_iters=500 --out_dir=out-quick

Common settings: dataset, out_dir, init_from (scratch | resume | checkpoint file | HF folder | gpt2, gpt2-medium,
gpt2-large, gpt2-xl from the Hugging Face hub),
batch_size, block_size, n_layer, n_head, n_embd, dropout, bias, learning_rate, min_lr, max_iters,
warmup_iters, lr_decay_iters, weight_decay, beta1, beta2, grad_clip, gradient_accumulation_steps,
eval_interval, eval_iters, log_interval, always_save_checkpoint, eval_only, seed, progress.

Writes out_dir/ckpt.safetensors (on best val loss), log.jsonl, log.csv and loss.svg.`;

/** Boolean settings accept --flag and --no-flag. */
export const booleanFlags = Object.entries(defaultTrainConfig).filter(([, v]) => typeof v === 'boolean').map(([k]) => k);

export async function run(args: string[], options: Options): Promise<void> {
  if (args.length > 1) throw new Error(`train takes one preset or config file, got ${args.join(' ')}`);
  let config = defaultTrainConfig;
  if (args[0]) config = applySettings(config, readConfigFile(args[0]), args[0]);
  config = applySettings(config, Object.fromEntries(options.entries()), 'command line');
  if (config.init_from in GPT2_MODELS) {
    // The trainer loads from disk; fetch the pretrained weights into the hub cache first.
    const fetchBar = new ProgressBar(`fetch ${config.init_from}`, config.progress);
    config = { ...config, init_from: await fetchPretrained(config.init_from, { onProgress: (file, done, total) => fetchBar.update(done, total ?? done, file) }) };
    fetchBar.done();
  }
  const b = backend();
  console.log(`backend: ${b.name} (${b.threads} thread${b.threads === 1 ? '' : 's'})`);
  const bar = new ProgressBar('train', config.progress);
  try {
    const result = train(config, {
      print: (line) => bar.print(line),
      onProgress: (iter, max, loss) => bar.update(iter, max, `loss ${loss.toFixed(4)}`),
    });
    bar.done();
    if (result.lastEval) console.log(`done: best val loss ${result.bestValLoss.toFixed(4)}; checkpoint ${result.checkpoint}`);
  } finally {
    bar.done();
  }
}

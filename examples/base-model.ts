// The base model the fine-tuning examples start from: a small character-level GPT trained on
// tinyshakespeare with the library's own `train()`, cached in out-examples/ so it is trained once.
// The corpus is read from ../shared/data/tinyshakespeare.txt (or $INKWELL_SHAKESPEARE); without it
// the examples say so and exit.
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { prepareDataset } from '../src/data/prepare.js';
import { loadModelAndTokenizer, type LoadedModel } from '../src/model/load.js';
import { applySettings, defaultTrainConfig } from '../src/train/config.js';
import { train } from '../src/train/trainer.js';

export const OUT = resolve(process.env.INKWELL_EXAMPLES_OUT ?? 'out-examples');

export function shakespearePath(): string | null {
  const candidates = [process.env.INKWELL_SHAKESPEARE, resolve('../shared/data/tinyshakespeare.txt'), '/work/shared/data/tinyshakespeare.txt'];
  return candidates.find((p): p is string => !!p && existsSync(p)) ?? null;
}

/** Exits with a message when tinyshakespeare is not available. */
export function requireShakespeare(): string {
  const path = shakespearePath();
  if (!path) {
    console.log('skipped: tinyshakespeare.txt not found (set INKWELL_SHAKESPEARE to its path)');
    process.exit(0);
  }
  return path;
}

/** The cached base model (trained now if absent: a couple of minutes on 2 cores). */
export async function baseModel(): Promise<LoadedModel> {
  const ckpt = join(OUT, 'base-char-4x128', 'ckpt.safetensors');
  if (!existsSync(ckpt)) {
    const source = requireShakespeare();
    const dataset = join(OUT, 'shakespeare_char');
    if (!existsSync(join(dataset, 'meta.json'))) await prepareDataset({ source, tokenizer: 'char', outDir: dataset });
    console.log(`training the base model (char-level tinyshakespeare) into ${ckpt} …`);
    const t0 = performance.now();
    const result = train(applySettings(defaultTrainConfig, {
      dataset, out_dir: join(OUT, 'base-char-4x128'), n_layer: 4, n_head: 4, n_embd: 128, block_size: 64, batch_size: 16,
      learning_rate: 2e-3, min_lr: 2e-4, warmup_iters: 50, max_iters: 1500, lr_decay_iters: 1500, eval_interval: 500,
      eval_iters: 10, log_interval: 250, dropout: 0, beta2: 0.99, always_save_checkpoint: true, write_curves: false, progress: false,
    }, 'examples/base-model'), { print: (line) => { if (line.startsWith('step')) console.log(`  ${line}`); } });
    console.log(`  base model: val loss ${result.lastEval?.val_loss.toFixed(3)} after ${result.iter} iterations in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
  return loadModelAndTokenizer({ checkpoint: ckpt });
}

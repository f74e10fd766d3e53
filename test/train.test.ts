// The training loop: it learns, resumes exactly, guards against NaN without touching the last good
// checkpoint, writes its curves, and names what is wrong with bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applySettings, defaultTrainConfig, type TrainConfig } from '../src/train/config.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { learningRate } from '../src/train/schedule.js';
import { saveHFModel } from '../src/model/hf.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { Rng } from '../src/tensor/random.js';

/** A dataset of a noisy repeating pattern over 8 symbols: learnable well below ln(8). */
function makeDataset(tokens = 6000, valTokens = 1000): string {
  const dir = mkdtempSync(join(tmpdir(), 'inkwell-data-'));
  const rng = new Rng(9);
  const seq = (n: number) => Uint16Array.from({ length: n }, (_, i) => (rng.uniform() < 0.05 ? rng.int(8) : (i * 3) % 8));
  writeFileSync(join(dir, 'train.bin'), seq(tokens));
  writeFileSync(join(dir, 'val.bin'), seq(valTokens));
  writeFileSync(join(dir, 'meta.json'), JSON.stringify({ vocab_size: 8, dtype: 'uint16' }));
  return dir;
}

function config(dataset: string, overrides: Partial<TrainConfig> = {}): TrainConfig {
  return applySettings(defaultTrainConfig, {
    dataset, out_dir: mkdtempSync(join(tmpdir(), 'inkwell-out-')), n_layer: 2, n_head: 2, n_embd: 32, block_size: 16,
    batch_size: 8, eval_interval: 20, eval_iters: 5, log_interval: 1, learning_rate: 3e-3, min_lr: 3e-4, warmup_iters: 5,
    lr_decay_iters: 60, max_iters: 60, dropout: 0, progress: false, ...overrides,
  }, 'test');
}

describe('training', () => {
  const dataset = makeDataset();

  it('learns a pattern and writes checkpoint and curves', () => {
    const c = config(dataset);
    const result = train(c);
    assert.ok(result.lastEval!.val_loss < 0.8, `val loss ${result.lastEval!.val_loss} (ln 8 = 2.08)`);
    for (const f of ['ckpt.safetensors', 'log.jsonl', 'log.csv', 'loss.svg']) assert.ok(existsSync(join(c.out_dir, f)), f);
    assert.match(readFileSync(join(c.out_dir, 'loss.svg'), 'utf8'), /<svg[\s\S]*polyline/);
    const ckpt = loadCheckpoint(join(c.out_dir, 'ckpt.safetensors'));
    assert.equal(ckpt.state.iter_num, 60);
    assert.ok(ckpt.optimizer && ckpt.optimizer.moments.size === ckpt.model.parameters().length);
  });

  it('resumes with the same losses as an uninterrupted run', () => {
    const losses = (c: TrainConfig) => {
      const rows: TrainLogRow[] = [];
      train(c, { onLog: (r) => rows.push(r) });
      return rows.map((r) => [r.iter, r.loss]);
    };
    const settings = { max_iters: 30, eval_interval: 10, dropout: 0.1, always_save_checkpoint: true, gradient_accumulation_steps: 2 };
    const whole = losses(config(dataset, settings));
    const first = config(dataset, { ...settings, max_iters: 10 });
    losses(first);
    const rest = losses({ ...first, init_from: 'resume', max_iters: 30 });
    assert.deepEqual(rest, whole.slice(10));
  });

  it('stops on NaN and leaves the last good checkpoint intact', () => {
    const c = config(dataset, { max_iters: 20, always_save_checkpoint: true });
    const model = train(c).model;
    const ckpt = join(c.out_dir, 'ckpt.safetensors');
    const before = readFileSync(ckpt);
    model.transformer.h[0]!.mlp.c_fc.weight.data[0] = NaN;
    const poisoned = join(c.out_dir, 'poisoned');
    saveHFModel(model, poisoned);
    assert.throws(() => train({ ...c, init_from: poisoned }), /training diverged: val loss is NaN at iter 0.*last good checkpoint .*ckpt\.safetensors is left as it was/);
    assert.deepEqual(readFileSync(ckpt), before);
  });

  it('names the problem with bad input', () => {
    assert.throws(() => train(config('/nonexistent/data')), /dataset folder \/nonexistent\/data does not exist/);
    assert.throws(() => train(config(makeDataset(6000, 10))), /the val split has 10 tokens, fewer than block_size \+ 1 = 17/);
    assert.throws(() => train(config(makeDataset(12, 100))), /the train split has 12 tokens/);
    const c = config(dataset, { max_iters: 20 });
    train(c);
    assert.throws(() => train({ ...c, init_from: 'resume', n_layer: 3 }), /config mismatch on resume: n_layer is 2 in .* but 3/);
    assert.throws(() => train({ ...c, out_dir: join(c.out_dir, 'empty'), init_from: 'resume' }), /no checkpoint at/);
    assert.throws(() => applySettings(defaultTrainConfig, { n_layers: 3 }, 'cli'), /cli: unknown setting 'n_layers' \(did you mean n_layer\?\)/);
    assert.throws(() => applySettings(defaultTrainConfig, { batch_size: 'big' }, 'cli'), /'batch_size' must be a number/);
  });

  it('resumes a run that adopted another model\'s shape without restating it', () => {
    const base = config(dataset, { max_iters: 20 });
    train(base);
    // The config says 1 layer; the model it starts from has 2, which wins (as nanoGPT does for GPT-2).
    const c = config(dataset, { n_layer: 1, max_iters: 20, init_from: join(base.out_dir, 'ckpt.safetensors') });
    assert.equal(train(c).model.config.n_layer, 2);
    const resumed = train({ ...c, init_from: 'resume', max_iters: 40 });
    assert.equal(resumed.model.config.n_layer, 2);
    assert.throws(() => train({ ...c, init_from: 'resume', max_iters: 60, n_layer: 3 }), /config mismatch on resume: n_layer is 2 in .* but 3/);
  });

  it('warms up linearly then decays by cosine to min_lr', () => {
    const s = { learning_rate: 1e-3, min_lr: 1e-4, warmup_iters: 100, lr_decay_iters: 2000, decay_lr: true };
    assert.ok(Math.abs(learningRate(0, s) - 1e-3 / 101) < 1e-12);
    assert.ok(Math.abs(learningRate(100, s) - 1e-3) < 1e-12);
    assert.ok(Math.abs(learningRate(1050, s) - 5.5e-4) < 1e-9);
    assert.equal(learningRate(2001, s), 1e-4);
  });
});

// The training loop: it learns, resumes exactly, guards against NaN without touching the last good
// checkpoint, writes its curves, and names what is wrong with bad input.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applySettings, defaultTrainConfig, llamaConfigFrom, presetNames, readConfigFile, validateTrainConfig, type TrainConfig } from '../src/train/config.js';
import { train, type TrainLogRow } from '../src/train/trainer.js';
import { learningRate } from '../src/train/schedule.js';
import { saveHFModel } from '../src/model/hf.js';
import { loadCheckpoint } from '../src/train/checkpoint.js';
import { Rng } from '../src/tensor/random.js';
import { GPT } from '../src/model/gpt.js';
import { Llama } from '../src/model/llama.js';

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
  it('every preset is a valid config; the Llama baby has the GPT baby\'s shape and about its parameters', () => {
    const configs = Object.fromEntries(presetNames().map((name) => {
      const c = applySettings({ ...defaultTrainConfig }, readConfigFile(name), name);
      validateTrainConfig(c);
      return [name, c];
    }));
    const baby = configs['shakespeare_char_cpu']!, llama = configs['baby_llama_char']!;
    for (const key of ['n_layer', 'n_head', 'n_embd', 'block_size', 'batch_size', 'learning_rate', 'max_iters', 'min_lr', 'warmup_iters'] as const) assert.equal(llama[key], baby[key], key);
    const gpt = new GPT({ n_layer: baby.n_layer, n_head: baby.n_head, n_embd: baby.n_embd, block_size: baby.block_size, vocab_size: 65, dropout: 0, bias: baby.bias }, { init: false });
    const block = new Llama(llamaConfigFrom(llama, 65), { init: false });
    assert.ok(Math.abs(block.numParams() / gpt.numParams() - 1) < 0.02, `${block.numParams()} vs ${gpt.numParams()}`);
  });

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

  const losses = (c: TrainConfig) => {
    const rows: TrainLogRow[] = [];
    train(c, { onLog: (r) => rows.push(r) });
    return rows.map((r) => [r.iter, r.loss]);
  };

  for (const rng of ['inkwell', 'nanogpt']) {
    it(`resumes with the same losses as an uninterrupted run (rng=${rng})`, () => {
      const settings = { max_iters: 30, eval_interval: 10, dropout: 0.1, always_save_checkpoint: true, gradient_accumulation_steps: 2, rng };
      const whole = losses(config(dataset, settings));
      const first = config(dataset, { ...settings, max_iters: 10 });
      losses(first);
      const rest = losses({ ...first, init_from: 'resume', max_iters: 30 });
      assert.deepEqual(rest, whole.slice(10));
    });
  }

  describe('a Llama-family block from scratch with Muon (the speedrun settings)', () => {
    const speedrun = {
      model_type: 'qwen3', model_config: { hidden_act: 'relu2', final_logit_softcapping: 10, intermediate_size: 48 },
      optimizer: 'muon', muon_lr: 0.03, zero_init_projections: true, max_iters: 30, eval_interval: 10, always_save_checkpoint: true,
    };

    it('learns, keeps Muon momentum for the hidden matrices in the checkpoint, and resumes exactly', () => {
      const lines: string[] = [];
      const c = config(dataset, speedrun);
      const result = train(c, { print: (line) => lines.push(line) });
      assert.ok(result.model instanceof Llama && result.model.config.hidden_act === 'relu2' && result.model.config.max_position_embeddings === 16);
      assert.ok(result.lastEval!.val_loss < 1.2, `val loss ${result.lastEval!.val_loss} (ln 8 = 2.08)`);
      // 2 layers × (q, k, v, o, up, down); the embeddings, the untied head and the norm gains stay with AdamW.
      assert.ok(lines.includes('num Muon parameter tensors: 12, with 14,336 parameters (hidden matrices)'), lines.join('\n'));
      assert.ok(lines.includes('zeroed 4 output projections'));
      const ckpt = loadCheckpoint(join(c.out_dir, 'ckpt.safetensors'));
      assert.deepEqual([...ckpt.optimizer!.momentum.keys()].sort(), ckpt.model.namedParameters().map(([n]) => n).filter((n) => /(proj)\.weight$/.test(n)).sort());
      assert.ok([...ckpt.optimizer!.momentum.values()].every((m) => m.some((v) => v !== 0)));
      assert.equal(ckpt.optimizer!.moments.has('lm_head.weight'), true);
      assert.equal(ckpt.optimizer!.moments.has('model.layers.0.self_attn.q_proj.weight'), false);

      const whole = losses(config(dataset, speedrun));
      const first = config(dataset, { ...speedrun, max_iters: 10 });
      losses(first);
      assert.deepEqual(losses({ ...first, init_from: 'resume', max_iters: 30 }), whole.slice(10));
      assert.throws(() => train({ ...first, init_from: 'resume', optimizer: 'adamw' }), /config mismatch on resume: optimizer is muon in .* but adamw/);
      assert.throws(() => train({ ...first, init_from: 'resume', model_config: { ...speedrun.model_config, hidden_act: 'silu' } }), /config mismatch on resume: hidden_act is "relu2" in .* but "silu"/);
      assert.throws(() => train({ ...first, init_from: 'resume', model_type: 'gpt2', model_config: {} }), /config mismatch on resume: model_type is qwen3 in .* but gpt2/);
    });

    it('Muon trains GPT-2 too, and zero_init_projections zeroes its c_proj matrices', () => {
      const lines: string[] = [];
      const result = train(config(dataset, { optimizer: 'muon', zero_init_projections: true, max_iters: 1, eval_interval: 1000 }), { print: (line) => lines.push(line) });
      // c_attn, attn.c_proj, c_fc, mlp.c_proj per layer; wte/wpe (the tied head) stay with AdamW.
      assert.ok(lines.some((l) => l.startsWith('num Muon parameter tensors: 8,')), lines.join('\n'));
      assert.ok(lines.includes('zeroed 4 output projections'));
      assert.ok(result.model instanceof GPT);
    });

    it('names the setting or field that is wrong', () => {
      const c = config(dataset, speedrun);
      assert.throws(() => train({ ...c, model_type: 'mamba' }), /config: model_type must be one of gpt2, llama, qwen2, qwen3, got "mamba"/);
      assert.throws(() => train({ ...c, optimizer: 'sgd' }), /config: optimizer must be one of adamw, muon, got "sgd"/);
      assert.throws(() => train({ ...c, muon_momentum: 1 }), /config: muon_momentum must be in \[0, 1\), got 1/);
      assert.throws(() => train({ ...c, muon_lr: 0 }), /config: muon_lr must be > 0, got 0/);
      assert.throws(() => train({ ...c, model_config: { hidden_size: 64 } }), /config: model_config.hidden_size comes from n_embd; set that instead/);
      assert.throws(() => train({ ...c, model_config: { hidden_act: 'tanh' } }), /config: model_config: Llama config: hidden_act must be one of silu, relu2, got "tanh"/);
      assert.throws(() => train({ ...c, model_config: { rope_thetta: 5 } }), /config: model_config has unknown field 'rope_thetta'/);
      assert.throws(() => train({ ...c, model_config: { intermediate_size: '48' } }), /config: model_config.intermediate_size must be a number, got "48"/);
      assert.throws(() => train({ ...c, model_type: 'gpt2' }), /config: model_config sets Llama-family fields \(hidden_act, final_logit_softcapping, intermediate_size\) but model_type is gpt2/);
      assert.throws(() => train({ ...c, rng: 'nanogpt' }), /model_type qwen3 needs rng=inkwell/);
      assert.throws(() => applySettings(defaultTrainConfig, { model_config: '{oops' }, 'cli'), /cli: 'model_config' must be a JSON object, got "\{oops"/);
      assert.deepEqual(applySettings(defaultTrainConfig, { model_config: '{"hidden_act":"relu2"}' }, 'cli').model_config, { hidden_act: 'relu2' });
    });
  });

  it('trains in bfloat16 mixed precision: learns, stays near float32, and resumes exactly', () => {
    const settings = { max_iters: 30, eval_interval: 10, always_save_checkpoint: true };
    const full = losses(config(dataset, settings));
    const whole = losses(config(dataset, { ...settings, dtype: 'bfloat16' }));
    const gaps = whole.map(([, loss], i) => Math.abs(loss! - full[i]![1]!));
    // Rounded operands change every step a little (so bfloat16 is in effect) but not the course of training.
    assert.ok(Math.max(...gaps) > 1e-6 && Math.max(...gaps) < 0.05, `largest per-iteration gap ${Math.max(...gaps)}`);
    const first = config(dataset, { ...settings, dtype: 'bfloat16', max_iters: 10 });
    losses(first);
    assert.deepEqual(losses({ ...first, init_from: 'resume', max_iters: 30 }), whole.slice(10));
    const learned = train(config(dataset, { dtype: 'bfloat16' })).lastEval!.val_loss;
    assert.ok(learned < 0.8, `val loss ${learned} (ln 8 = 2.08)`);
  });

  it('with rng=nanogpt, follows PyTorch running nanoGPT\'s train.py loss for loss', () => {
    // From bench/peers/nanogpt.py on this dataset (gelu 'tanh', seed 1337, the settings below).
    const torchLosses = [2.153092384338379, 2.1095542907714844, 2.042851209640503, 1.920816421508789, 1.8032623529434204,
      1.71468186378479, 1.6872116327285767, 1.6180570125579834, 1.5723965167999268, 1.5063459873199463, 1.4662243127822876,
      1.422936201095581, 1.3456107378005981, 1.3666977882385254, 1.2978317737579346, 1.2443575859069824, 1.264711856842041,
      1.135870337486267, 1.0433943271636963, 1.0578389167785645, 1.07131826877594, 1.103759765625, 1.0103106498718262,
      0.8843399286270142, 1.0323747396469116, 0.880730152130127, 0.8392249941825867, 0.7502050399780273, 0.7812063097953796,
      0.7555575966835022];
    const torchVal = [2.1590145111083983, 1.4750146865844727, 1.0379231929779054, 0.7619142174720764];
    const evals: number[] = [];
    const c = config(dataset, { rng: 'nanogpt', bias: true, max_iters: 30, eval_interval: 10 });
    const rows: TrainLogRow[] = [];
    train(c, { onLog: (r) => rows.push(r), onEval: (e) => evals.push(e.val_loss) });
    rows.forEach((r, i) => assert.ok(Math.abs(r.loss - torchLosses[i]!) < 1e-4, `iter ${i}: ${r.loss} vs PyTorch ${torchLosses[i]}`));
    evals.forEach((v, i) => assert.ok(Math.abs(v - torchVal[i]!) < 1e-4, `eval ${i}: ${v} vs PyTorch ${torchVal[i]}`));
    assert.equal(rows.length, 30);
  });

  it('stops on NaN and leaves the last good checkpoint intact', () => {
    const c = config(dataset, { max_iters: 20, always_save_checkpoint: true });
    const model = train(c).model as GPT;
    const ckpt = join(c.out_dir, 'ckpt.safetensors');
    const before = readFileSync(ckpt);
    // Finite weights whose products overflow: a NaN weight is refused when the model loads.
    model.transformer.h[0]!.mlp.c_fc.weight.data.fill(3e38);
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
    assert.throws(() => train({ ...c, init_from: 'resume', rng: 'nanogpt' }), /config mismatch on resume: rng is inkwell in .* but nanogpt in this run's config; pass --rng=inkwell to continue that run/);
    assert.throws(() => train({ ...c, rng: 'numpy' }), /config: rng must be inkwell or nanogpt, got "numpy"/);
    assert.throws(() => train({ ...c, dtype: 'float16' }), /config: dtype must be float32 or bfloat16, got "float16" \(float16 needs a GPU's loss scaling; on CPU use bfloat16\)/);
    assert.throws(() => train({ ...c, dtype: 'bf16' }), /config: dtype must be float32 or bfloat16, got "bf16"$/);
    assert.throws(() => train({ ...c, out_dir: join(c.out_dir, 'empty'), init_from: 'resume' }), /no checkpoint at/);
    assert.throws(() => applySettings(defaultTrainConfig, { n_layers: 3 }, 'cli'), /cli: unknown setting 'n_layers' \(did you mean n_layer\?\)/);
    assert.throws(() => applySettings(defaultTrainConfig, { batch_size: 'big' }, 'cli'), /'batch_size' must be a number/);
  });

  it('resumes a run that adopted another model\'s shape without restating it', () => {
    const base = config(dataset, { max_iters: 20 });
    train(base);
    // The config says 1 layer; the model it starts from has 2, which wins (as nanoGPT does for GPT-2).
    const c = config(dataset, { n_layer: 1, max_iters: 20, init_from: join(base.out_dir, 'ckpt.safetensors') });
    assert.equal((train(c).model as GPT).config.n_layer, 2);
    const resumed = train({ ...c, init_from: 'resume', max_iters: 40 });
    assert.equal((resumed.model as GPT).config.n_layer, 2);
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

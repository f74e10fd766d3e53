// SFT: the masked loss is the mean over completion tokens only (checked against a manual log-softmax),
// packing changes no loss for separate examples' own tokens, a tiny model learns a task to exact
// match, and LoRA keeps the best weights and merges them into a loadable checkpoint.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IGNORE_INDEX } from '../src/finetune/batch.js';
import { complete, exactMatch } from '../src/finetune/complete.js';
import { keepBest } from '../src/finetune/keep-best.js';
import { applyLora } from '../src/finetune/lora.js';
import { encodeSftRecords, sftBatch, type SftRecord } from '../src/finetune/sft-data.js';
import { sftEvalLoss, sftLoss, trainSft } from '../src/finetune/sft.js';
import { getTemplate } from '../src/finetune/template.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Rng } from '../src/tensor/random.js';
import { noGrad } from '../src/tensor/tensor.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';

const tok = CharTokenizer.fromText('\n :ABQabcdefgh');
const qa = getTemplate('qa');
const config: GPTConfig = { n_layer: 2, n_head: 2, n_embd: 32, block_size: 32, vocab_size: tok.vocabSize, dropout: 0, bias: true };
const record = (prompt: string, completion: string): SftRecord => ({ line: 0, messages: [{ role: 'user', content: prompt }, { role: 'assistant', content: completion }] });

/** −log softmax(logits)[target], by hand. */
function nll(logits: Float32Array, target: number): number {
  const max = Math.max(...logits);
  const logSum = Math.log(logits.reduce((s, z) => s + Math.exp(z - max), 0)) + max;
  return logSum - logits[target]!;
}

describe('SFT loss', () => {
  it('is the mean over completion tokens only, across a padded mixed-length batch', () => {
    const model = new GPT(config, { seed: 4 });
    model.eval();
    const { sequences } = encodeSftRecords([record('abc', 'cba'), record('h', 'hhhh'), record('defgh', 'd')], qa, tok, config.block_size);
    const loss = noGrad(() => sftLoss(model, sftBatch(sequences)).item());
    // By hand: each sequence alone, every position's logits, summed at trained positions only.
    let total = 0, count = 0;
    for (const s of sequences) {
      const T = s.ids.length - 1;
      const logits = noGrad(() => model.forward(Int32Array.from(s.ids.slice(0, -1)), 1, T, null, { allLogits: true }).logits.data);
      s.targets.forEach((target, t) => {
        if (target === IGNORE_INDEX) return;
        total += nll(logits.subarray(t * config.vocab_size, (t + 1) * config.vocab_size), target);
        count++;
      });
    }
    assert.equal(count, 5 + 6 + 3, 'completion + "\\n\\n" of each example');
    assert.ok(Math.abs(loss - total / count) < 1e-5, `${loss} vs ${total / count}`);
    assert.ok(Math.abs(sftEvalLoss(model, sequences, 2) - total / count) < 1e-5, 'evaluation weights batches by trained tokens');
  });
});

describe('SFT training', () => {
  // Task: reverse a 2–3 letter word over a..h.
  const rng = new Rng(5);
  const letters = 'abcdefgh';
  const words = new Set<string>();
  while (words.size < 300) words.add(Array.from({ length: 2 + rng.int(2) }, () => letters[rng.int(8)]).join(''));
  const all = [...words].map((w) => record(w, [...w].reverse().join('')));
  const train = all.slice(0, 250), val = all.slice(250);
  const encode = (rs: SftRecord[]) => encodeSftRecords(rs, qa, tok, config.block_size).sequences;
  const loop = { max_iters: 300, batch_size: 16, learning_rate: 3e-3, warmup_iters: 20, weight_decay: 0, grad_clip: 1, eval_interval: 100, seed: 1 };
  const score = (model: GPT) => exactMatch(complete(model, tok, qa, val.map((r) => r.messages[0]!.content), { maxNewTokens: 6 }), val.map((r) => r.messages[1]!.content));

  it('lifts held-out exact match from 0 to above 90% on a tiny model', () => {
    const model = new GPT(config, { seed: 9 });
    const before = score(model);
    trainSft(model, encode(train), encode(val), loop);
    const after = score(model);
    assert.equal(before, 0);
    assert.ok(after >= 0.9, `exact match ${after}`);
  });

  it('full fine-tuning: the best checkpoint is written and put back into the model at the end', () => {
    const model = new GPT(config, { seed: 9 });
    const out = mkdtempSync(join(tmpdir(), 'inkwell-sft-full-'));
    const keeper = keepBest(model, out, 'tiny', (path) => saveCheckpoint(path, model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tok.toJSON() }));
    // A learning rate that overshoots late makes the last weights differ from the best.
    const result = trainSft(model, encode(train), encode(val), { ...loop, max_iters: 40, eval_interval: 10, learning_rate: 3e-2, min_lr: 3e-2 }, {}, () => keeper.save());
    assert.deepEqual(keeper.finish(), [join(out, 'ckpt.safetensors')]);
    const best = result.best!.value;
    assert.ok(result.last!.value > best, `the setup must end worse than its best (last ${result.last!.value}, best ${best})`);
    assert.ok(Math.abs(sftEvalLoss(model, encode(val)) - best) < 1e-4, `in memory: ${sftEvalLoss(model, encode(val))} vs best ${best}`);
    assert.ok(Math.abs(sftEvalLoss(loadCheckpoint(join(out, 'ckpt.safetensors')).model, encode(val)) - best) < 1e-4);
  });

  it('with LoRA: trains only the LoRA weights, keeps the best, merges into a loadable checkpoint', () => {
    const model = new GPT(config, { seed: 9 });
    const base = new Map(model.namedParameters().map(([n, p]) => [n, p.data.slice()]));
    applyLora(model, { r: 4, alpha: 8, targetModules: ['c_attn', 'c_fc'] });
    const out = mkdtempSync(join(tmpdir(), 'inkwell-sft-lora-'));
    const keeper = keepBest(model, out, 'tiny', (path) => saveCheckpoint(path, model, null, { iter_num: 0, best_val_loss: 0, tokenizer: tok.toJSON() }));
    const result = trainSft(model, encode(train), encode(val), { ...loop, learning_rate: 1e-2 }, {}, () => keeper.save());
    for (const [name, p] of model.namedParameters()) if (base.has(name)) assert.deepEqual(p.data, base.get(name), `${name} is frozen`);
    const bestLoss = result.best!.value;
    assert.deepEqual(keeper.finish(), [join(out, 'peft'), join(out, 'ckpt.safetensors')]);
    assert.ok(existsSync(join(out, 'peft', 'adapter_config.json')));
    const loaded = loadCheckpoint(join(out, 'ckpt.safetensors')).model;
    assert.ok(Math.abs(sftEvalLoss(loaded, encode(val)) - bestLoss) < 1e-4, 'the merged checkpoint holds the best weights');
  });
});

// The GPT model: config validation, parameter counts and decay groups as the seed prints them, init,
// shapes, and the HF folder round trip (our own save, and the hub's layout with bare names and buffers).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { loadHFModel, saveHFModel, configToHF } from '../src/model/hf.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { decayGroups } from '../src/train/optim.js';
import { noGrad } from '../src/tensor/tensor.js';
import { maxAbsDiff } from './helpers.js';

const shakespeareChar: GPTConfig = { n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, vocab_size: 65, dropout: 0.2, bias: false };
const tiny: GPTConfig = { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, vocab_size: 11, dropout: 0, bias: true };

describe('GPT model', () => {
  it('counts parameters and decay groups as nanoGPT prints them', () => {
    const model = new GPT(shakespeareChar);
    assert.equal((model.numParams() / 1e6).toFixed(2), '10.65');
    const { decay, noDecay } = decayGroups(model.namedParameters(), 0.1);
    assert.equal(decay.length, 26);
    assert.equal(decay.reduce((s, [, p]) => s + p.size, 0), 10_740_096);
    assert.equal(noDecay.length, 13);
    assert.equal(noDecay.reduce((s, [, p]) => s + p.size, 0), 4_992);
  });

  it('initialises as GPT-2 does', () => {
    const model = new GPT({ ...shakespeareChar, n_layer: 4, bias: true });
    const params = new Map(model.namedParameters());
    const std = (name: string) => {
      const d = params.get(name)!.data;
      let s = 0;
      for (const v of d) s += v * v;
      return Math.sqrt(s / d.length);
    };
    assert.ok(Math.abs(std('transformer.wte.weight') - 0.02) < 0.001);
    assert.ok(Math.abs(std('transformer.h.0.attn.c_attn.weight') - 0.02) < 0.001);
    assert.ok(Math.abs(std('transformer.h.3.mlp.c_proj.weight') - 0.02 / Math.sqrt(8)) < 0.0005);
    assert.ok(params.get('transformer.h.0.ln_1.weight')!.data.every((v) => v === 1));
    assert.ok(params.get('transformer.h.0.attn.c_attn.bias')!.data.every((v) => v === 0));
    // Same seed, same weights.
    assert.deepEqual(new GPT(tiny, { seed: 5 }).transformer.wte.weight.data, new GPT(tiny, { seed: 5 }).transformer.wte.weight.data);
  });

  it('rejects bad configs naming the field', () => {
    assert.throws(() => new GPT({ ...tiny, n_embd: 15, n_head: 2 }), /n_embd \(15\) must be divisible by n_head \(2\)/);
    assert.throws(() => new GPT({ ...tiny, n_layer: 0 }), /n_layer must be a positive integer/);
    assert.throws(() => new GPT({ ...tiny, dropout: 1 }), /dropout must be in \[0, 1\)/);
    assert.throws(() => new GPT({ ...tiny, vocab_size: 2.5 }), /vocab_size/);
  });

  it('returns all logits with targets, the last position without, and checks lengths', () => {
    const model = new GPT(tiny);
    const ids = Int32Array.from([1, 2, 3, 4, 5, 6]);
    const full = model.forward(ids, 2, 3, Int32Array.from([2, 3, 4, 5, 6, 7]));
    assert.deepEqual([...full.logits.shape], [2, 3, 11]);
    assert.ok(full.loss!.item() > 0);
    const last = noGrad(() => model.eval().forward(ids, 2, 3));
    assert.deepEqual([...last.logits.shape], [2, 1, 11]);
    assert.equal(last.loss, null);
    for (let b = 0; b < 2; b++) {
      assert.ok(maxAbsDiff(last.logits.data.subarray(b * 11, b * 11 + 11), full.logits.data.subarray((b * 3 + 2) * 11, (b * 3 + 3) * 11)) < 1e-5);
    }
    assert.throws(() => model.forward(new Int32Array(9), 1, 9), /length 9 exceeds the block size 8/);
    assert.throws(() => model.forward(Int32Array.from([11]), 1, 1), /id 11 at position 0 is outside the table of 11 rows/);
  });

  it('KV-cached decoding gives the uncached logits at every step, for a batch', () => {
    const model = new GPT({ ...tiny, block_size: 16 }, { seed: 8 }).eval();
    const B = 2, seqs = [[1, 2, 3], [4, 5, 6]];
    const cache = model.createCache(B);
    let logits = noGrad(() => model.forward(Int32Array.from(seqs.flat()), B, 3, null, { cache })).logits;
    for (let step = 0; step < 12; step++) {
      const full = noGrad(() => model.forward(Int32Array.from(seqs.flat()), B, seqs[0]!.length)).logits;
      assert.ok(maxAbsDiff(logits.data, full.data) < 1e-4, `step ${step}: ${maxAbsDiff(logits.data, full.data)}`);
      const next = seqs.map((s, b) => (s[s.length - 1]! * 7 + b + step) % 11);
      seqs.forEach((s, b) => s.push(next[b]!));
      logits = noGrad(() => model.forward(Int32Array.from(next), B, 1, null, { cache })).logits;
    }
    assert.equal(cache.length, 15);
    assert.throws(() => model.forward(Int32Array.from([1, 2, 3, 4]), B, 2, null, { cache }), /exceeds the block size 16/);
  });

  it('saves and loads an HF folder, with and without biases', () => {
    for (const bias of [true, false]) {
      const dir = mkdtempSync(join(tmpdir(), 'inkwell-hf-'));
      const model = new GPT({ ...tiny, bias }, { seed: 3 });
      saveHFModel(model, dir);
      const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.equal(config.n_positions, 8);
      const back = loadHFModel(dir);
      assert.equal(back.config.bias, bias);
      for (const [name, p] of model.namedParameters()) assert.deepEqual(new Map(back.namedParameters()).get(name)!.data, p.data, name);
      // HF GPT2LMHeadModel always has biases: a bias-free model exports them as zeros.
      assert.ok(readSafetensors(join(dir, 'model.safetensors')).tensors.has('transformer.h.0.attn.c_attn.bias'));
    }
  });

  it('loads the hub layout: bare names, mask buffers, a tied lm_head copy', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-hub-'));
    const model = new GPT(tiny, { seed: 4 });
    const tensors: [string, { shape: number[]; data: Float32Array }][] = model.namedParameters().map(([n, p]) => [n.replace(/^transformer\./, ''), { shape: [...p.shape], data: p.data }]);
    for (let i = 0; i < tiny.n_layer; i++) {
      tensors.push([`h.${i}.attn.bias`, { shape: [1, 1, 8, 8], data: new Float32Array(64).fill(1) }]);
      tensors.push([`h.${i}.attn.masked_bias`, { shape: [], data: Float32Array.of(-1e4) }]);
    }
    tensors.push(['lm_head.weight', { shape: [11, 16], data: model.transformer.wte.weight.data }]);
    writeSafetensors(join(dir, 'model.safetensors'), tensors);
    writeFileSync(join(dir, 'config.json'), JSON.stringify(configToHF(model.config)));
    const back = loadHFModel(dir);
    assert.deepEqual(back.transformer.h[1]!.mlp.c_fc.weight.data, model.transformer.h[1]!.mlp.c_fc.weight.data);
  });
});

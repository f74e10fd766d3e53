// Parameter-efficient fine-tuning: LoRA (identity at init, only LoRA trains, merge, gradients against
// finite differences), Houlsby adapters, freeze specs, the trainable summary, and PEFT's folder layout
// (save, load onto a fresh base, refusals of a wrong base and of bad targets).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Linear } from '../src/nn/layers.js';
import { Module } from '../src/nn/module.js';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { AdamW, decayGroups } from '../src/train/optim.js';
import { noGrad } from '../src/tensor/tensor.js';
import { applyLora, mergeLora } from '../src/finetune/lora.js';
import { applyAdapters } from '../src/finetune/adapters.js';
import { applyFreeze, parseFreezeSpec, trainableSummary } from '../src/finetune/freeze.js';
import { loadPeft, savePeft } from '../src/finetune/peft.js';
import { maxAbsDiff, numericGrad, randomArray } from './helpers.js';

const tiny: GPTConfig = { n_layer: 2, n_head: 2, n_embd: 16, block_size: 8, vocab_size: 11, dropout: 0, bias: true };
const B = 2, T = 8;
const idx = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % tiny.vocab_size);
const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % tiny.vocab_size);

function logits(model: GPT): Float32Array {
  return noGrad(() => model.eval().forward(idx, B, T, null, { allLogits: true }).logits.data);
}

function snapshot(model: Module): Map<string, Float32Array> {
  return new Map(model.namedParameters().map(([n, p]) => [n, p.data.slice()]));
}

/** AdamW steps on the toy batch over the trainable parameters; returns the losses and the optimizer. */
function trainSteps(model: GPT, steps: number, lr = 1e-2, goal = targets): { losses: number[]; optimizer: AdamW } {
  model.train();
  const optimizer = new AdamW(decayGroups(model.namedParameters(), 0).groups, { lr });
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) {
    const { loss } = model.forward(idx, B, T, goal);
    losses.push(loss!.item());
    loss!.backward();
    optimizer.update();
    optimizer.zeroGrad();
  }
  return { losses, optimizer };
}

/**
 * A base that has learnt something (a different toy task: next token = token + 1). A freshly initialised
 * GPT's tiny embeddings cap how far its logits can move while they stay frozen.
 */
function pretrainedBase(seed: number): GPT {
  const model = new GPT(tiny, { seed });
  trainSteps(model, 40, 3e-2, Int32Array.from(idx, (x) => (x + 1) % tiny.vocab_size));
  return model;
}

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'inkwell-peft-'));
}

/** The JSON header of a safetensors file, read by hand. */
function safetensorsHeader(file: string): Record<string, { dtype: string; shape: number[]; data_offsets: number[] } | Record<string, string>> {
  const fd = openSync(file, 'r');
  try {
    const len = Buffer.alloc(8);
    readSync(fd, len, 0, 8, 0);
    const json = Buffer.alloc(Number(len.readBigUInt64LE(0)));
    readSync(fd, json, 0, json.length, 8);
    return JSON.parse(json.toString('utf8'));
  } finally {
    closeSync(fd);
  }
}

describe('LoRA', () => {
  it('starts from the base model exactly and freezes every base parameter', () => {
    const model = new GPT(tiny, { seed: 1 });
    const base = logits(model);
    const baseNames = model.namedParameters().map(([n]) => n);
    applyLora(model, { r: 4, alpha: 8 });
    assert.deepEqual(logits(model), base);
    const names = model.namedParameters().map(([n]) => n);
    for (const n of baseNames) assert.ok(names.includes(n), `base name ${n} kept`);
    const trainable = model.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);
    assert.deepEqual(trainable, [
      'transformer.h.0.attn.c_attn.lora_A.weight', 'transformer.h.0.attn.c_attn.lora_B.weight',
      'transformer.h.1.attn.c_attn.lora_A.weight', 'transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    const a = model.namedParameters().find(([n]) => n.endsWith('h.0.attn.c_attn.lora_A.weight'))![1];
    assert.deepEqual([...a.shape], [4, 16]);
    assert.ok(a.data.some((v) => v !== 0) && a.data.every((v) => Math.abs(v) <= 1 / Math.sqrt(16)));
  });

  it('trains only LoRA parameters: the base stays bit-identical, frozen params get no grad or moments, loss drops', () => {
    const model = pretrainedBase(2);
    applyLora(model, { r: 4, alpha: 8, targetModules: ['c_attn', 'mlp.c_proj'] });
    const before = snapshot(model);
    const { losses, optimizer } = trainSteps(model, 20, 3e-2);
    assert.equal(optimizer.params().length, 8, 'AdamW holds only the 8 LoRA tensors');
    assert.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses[losses.length - 1]}`);
    const { loss } = model.forward(idx, B, T, targets);
    loss!.backward();
    for (const [name, p] of model.namedParameters()) {
      const lora = /lora_[AB]\.weight$/.test(name);
      if (lora) assert.notDeepEqual(p.data, before.get(name), `${name} changed`);
      else {
        assert.deepEqual(p.data, before.get(name), `${name} unchanged`);
        assert.equal(p.grad, null, `${name} has no gradient`);
      }
    }
    assert.ok(model.namedParameters().some(([n]) => n === 'transformer.h.1.mlp.c_proj.lora_B.weight'));
    assert.ok(!model.namedParameters().some(([n]) => n.includes('attn.c_proj.lora')), 'mlp.c_proj targets only the MLP projection');
  });

  it('merges into the base weights: merged and unmerged logits agree within 1e-5, names are the base names', () => {
    const model = new GPT(tiny, { seed: 3 });
    const baseNames = model.namedParameters().map(([n]) => n);
    applyLora(model, { r: 4, alpha: 16, targetModules: ['c_attn', 'c_fc'] });
    trainSteps(model, 10);
    const unmerged = logits(model);
    assert.ok(maxAbsDiff(unmerged, logits(new GPT(tiny, { seed: 3 }))) > 1e-3, 'training moved the logits');
    mergeLora(model);
    assert.deepEqual(model.namedParameters().map(([n]) => n), baseNames);
    assert.ok(model.transformer.h[0]!.attn.c_attn instanceof Linear);
    assert.ok(maxAbsDiff(logits(model), unmerged) < 1e-5, `merged vs unmerged ${maxAbsDiff(logits(model), unmerged)}`);
    assert.throws(() => mergeLora(model), /no LoRA layers/);
  });

  it('works in incremental decoding with the KV cache', () => {
    const model = new GPT(tiny, { seed: 11 });
    applyLora(model, { targetModules: ['c_attn', 'c_fc'] });
    for (const [n, p] of model.namedParameters()) if (n.includes('lora_B')) p.data.set(randomArray(p.size, 7, 0.3));
    const full = noGrad(() => model.eval().forward(idx.subarray(0, T), 1, T).logits.data);
    const cache = model.createCache(1);
    const step = noGrad(() => {
      model.forward(idx.subarray(0, T - 1), 1, T - 1, null, { cache });
      return model.forward(idx.subarray(T - 1, T), 1, 1, null, { cache }).logits.data;
    });
    assert.ok(maxAbsDiff(step, full) < 1e-5);
  });

  it('computes lora_A and lora_B gradients that match finite differences', () => {
    const model = new GPT(tiny, { seed: 4 });
    applyLora(model, { r: 2, alpha: 4, targetModules: ['c_attn', 'c_proj'] });
    const params = model.namedParameters().filter(([n]) => n.includes('lora_'));
    // Non-zero B so A's gradient is non-zero too.
    params.forEach(([n, p], i) => { if (n.includes('lora_B')) p.data.set(randomArray(p.size, 10 + i, 0.3)); });
    const loss = () => noGrad(() => model.forward(idx, B, T, targets).loss!.item());
    model.train();
    model.zeroGrad();
    model.forward(idx, B, T, targets).loss!.backward();
    let checked = 0;
    for (const [name, p] of params) {
      const indices = [0, Math.floor(p.size / 2), p.size - 1];
      numericGrad(p.data, indices, loss).forEach((fd, k) => {
        const i = indices[k]!, g = p.grad![i]!;
        assert.ok(Math.abs(fd - g) <= 2e-3 + 0.02 * Math.abs(g), `${name}[${i}]: autograd ${g}, finite difference ${fd}`);
        checked++;
      });
    }
    assert.equal(checked, 36); // c_proj matches attn.c_proj and mlp.c_proj
    assert.ok(params.every(([, p]) => p.grad!.some((v) => v !== 0)));
  });

  it('refuses a target that matches no module, naming the modules there are, and leaves the model alone', () => {
    const model = new GPT(tiny);
    assert.throws(() => applyLora(model, { targetModules: ['c_attn', 'q_proj'] }), /LoRA target 'q_proj' matches no module \(modules: c_attn, c_proj, c_fc/);
    assert.ok(model.namedParameters().every(([n, p]) => !n.includes('lora') && p.requiresGrad));
    assert.throws(() => applyLora(model, { targetModules: ['ln_1'] }), /LoRA target 'ln_1' matches no module/);
    assert.throws(() => applyLora(model, { r: 0 }), /r must be a positive integer, got 0/);
    applyLora(model);
    assert.throws(() => applyLora(model), /already has LoRA/);
  });

  it('applies dropout to the LoRA input only while training', () => {
    const model = new GPT(tiny, { seed: 5 });
    applyLora(model, { dropout: 0.5 });
    for (const [n, p] of model.namedParameters()) if (n.includes('lora_B')) p.data.set(randomArray(p.size, 3, 0.5));
    const evalA = logits(model), evalB = logits(model);
    assert.deepEqual(evalA, evalB);
    const train = noGrad(() => model.train().forward(idx, B, T, null, { allLogits: true }).logits.data);
    assert.ok(maxAbsDiff(train, evalA) > 1e-4);
  });
});

describe('adapters', () => {
  it('start as the identity, sit after attention and MLP, and train with the LayerNorms', () => {
    const model = pretrainedBase(6);
    const base = logits(model);
    const before = snapshot(model);
    applyAdapters(model, { bottleneck: 4 });
    assert.deepEqual(logits(model), base);
    const names = model.namedParameters().map(([n]) => n);
    for (const where of ['attn', 'mlp']) {
      assert.ok(names.includes(`transformer.h.1.${where}.c_proj.adapter.down.weight`));
      assert.ok(names.includes(`transformer.h.1.${where}.c_proj.adapter.up.bias`));
    }
    const { losses } = trainSteps(model, 20, 3e-2);
    assert.ok(losses[losses.length - 1]! < 0.5 * losses[0]!, `loss ${losses[0]} → ${losses[losses.length - 1]}`);
    for (const [name, p] of model.namedParameters()) {
      const trains = name.includes('.adapter.') || /ln_(1|2|f)\./.test(name);
      assert.equal(p.requiresGrad, trains, name);
      if (!trains) assert.deepEqual(p.data, before.get(name), `${name} unchanged`);
    }
    assert.ok(maxAbsDiff(logits(model), base) > 1e-3);
    assert.throws(() => applyAdapters(model), /already has an adapter/);
    assert.throws(() => applyLora(model, { targetModules: ['c_proj'] }), /carries an adapter/);
  });
});

describe('freezing', () => {
  const trainable = (m: Module) => m.namedParameters().filter(([, p]) => p.requiresGrad).map(([n]) => n);

  it('parses specs and refuses anything else', () => {
    assert.deepEqual(parseFreezeSpec('head'), { kind: 'head' });
    assert.deepEqual(parseFreezeSpec('last:2'), { kind: 'last', n: 2 });
    assert.deepEqual(parseFreezeSpec('pattern:*.bias, transformer.wpe.*'), { kind: 'pattern', patterns: ['*.bias', 'transformer.wpe.*'] });
    assert.throws(() => parseFreezeSpec('last:x'), /last:x.*N must be a non-negative integer/);
    assert.throws(() => parseFreezeSpec('pattern:'), /empty glob/);
    assert.throws(() => parseFreezeSpec('tail'), /'tail' is not one of none, head, last:N, pattern/);
  });

  it('head, last:N and pattern mark the right parameters', () => {
    const model = new GPT(tiny);
    applyFreeze(model, parseFreezeSpec('head'));
    assert.deepEqual(trainable(model), ['transformer.wte.weight', 'transformer.ln_f.weight', 'transformer.ln_f.bias']);
    applyFreeze(model, parseFreezeSpec('last:1'));
    const last = trainable(model);
    assert.ok(last.includes('transformer.wte.weight') && last.includes('transformer.ln_f.bias'));
    assert.ok(last.filter((n) => n.includes('.h.')).every((n) => n.startsWith('transformer.h.1.')));
    assert.equal(last.filter((n) => n.startsWith('transformer.h.1.')).length, 12);
    assert.ok(!last.includes('transformer.wpe.weight'));
    applyFreeze(model, parseFreezeSpec('pattern:transformer.h.0.*,*.bias'));
    const pat = trainable(model);
    assert.ok(pat.every((n) => !n.startsWith('transformer.h.0.') && !n.endsWith('.bias')));
    assert.ok(pat.includes('transformer.h.1.attn.c_attn.weight') && pat.includes('transformer.wpe.weight'));
    applyFreeze(model, { kind: 'none' });
    assert.equal(trainable(model).length, model.parameters().length);
    assert.throws(() => applyFreeze(model, parseFreezeSpec('last:3')), /last:3: N must be between 0 and the model's 2 blocks/);
    assert.throws(() => applyFreeze(model, parseFreezeSpec('pattern:*.c_atn.*')), /pattern '\*\.c_atn\.\*' matches no parameter/);
  });

  it('takes the head of a model with one outside transformer.*, and keeps LoRA trainable', () => {
    class Classifier extends Module {
      readonly gpt = this.child('gpt', new GPT(tiny));
      readonly score = this.child('score', new Linear(16, 3, false));
    }
    const model = new Classifier();
    applyFreeze(model, parseFreezeSpec('head'));
    assert.deepEqual(trainable(model), ['score.weight']);
    applyLora(model);
    applyFreeze(model, parseFreezeSpec('head'));
    assert.deepEqual(trainable(model), [
      'gpt.transformer.h.0.attn.c_attn.lora_A.weight', 'gpt.transformer.h.0.attn.c_attn.lora_B.weight',
      'gpt.transformer.h.1.attn.c_attn.lora_A.weight', 'gpt.transformer.h.1.attn.c_attn.lora_B.weight', 'score.weight',
    ]);
  });

  it('summarises trainable parameters as PEFT prints them', () => {
    const model = new GPT(tiny);
    const full = trainableSummary(model);
    assert.equal(full.total, 6896);
    assert.equal(full.share, 1);
    applyLora(model, { r: 4 });
    // Per block: lora_A [4, 16] + lora_B [48, 4] = 256.
    const s = trainableSummary(model);
    assert.deepEqual({ trainable: s.trainable, total: s.total, trainableTensors: s.trainableTensors }, { trainable: 512, total: 7408, trainableTensors: 4 });
    assert.equal(s.share, 512 / 7408);
    assert.equal(s.text, 'trainable params: 512 || all params: 7,408 || trainable%: 6.9114');
  });
});

describe('PEFT files', () => {
  it('saves LoRA in PEFT layout and loads it onto a fresh base with the same logits', () => {
    const dir = tmp();
    const model = new GPT(tiny, { seed: 7 });
    applyLora(model, { r: 4, alpha: 8, targetModules: ['c_attn'] });
    trainSteps(model, 5);
    const trained = logits(model);
    savePeft(dir, model, { baseModel: 'tiny-base' });

    const header = safetensorsHeader(join(dir, 'adapter_model.safetensors'));
    assert.deepEqual(header.__metadata__ && (header.__metadata__ as Record<string, string>).format, 'pt');
    const entries = Object.entries(header).filter(([n]) => n !== '__metadata__') as [string, { dtype: string; shape: number[] }][];
    assert.deepEqual(entries.map(([n]) => n).sort(), [
      'base_model.model.transformer.h.0.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.0.attn.c_attn.lora_B.weight',
      'base_model.model.transformer.h.1.attn.c_attn.lora_A.weight', 'base_model.model.transformer.h.1.attn.c_attn.lora_B.weight',
    ]);
    for (const [name, e] of entries) {
      assert.equal(e.dtype, 'F32');
      assert.deepEqual(e.shape, name.includes('lora_A') ? [4, 16] : [48, 4]);
    }
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'LORA');
    assert.equal(config.r, 4);
    assert.equal(config.lora_alpha, 8);
    assert.equal(config.lora_dropout, 0);
    assert.deepEqual(config.target_modules, ['c_attn']);
    assert.equal(config.fan_in_fan_out, true);
    assert.equal(config.base_model_name_or_path, 'tiny-base');
    assert.equal(config.task_type, 'CAUSAL_LM');
    assert.equal(config.modules_to_save, null);

    const fresh = new GPT(tiny, { seed: 7 });
    loadPeft(dir, fresh);
    assert.deepEqual(logits(fresh), trained);
    assert.equal(trainableSummary(fresh).trainable, 512);
  });

  it('round-trips adapters and partially frozen models with their own peft_type', () => {
    const dir = tmp();
    const model = new GPT(tiny, { seed: 8 });
    applyAdapters(model, { bottleneck: 4 });
    trainSteps(model, 5);
    savePeft(dir, model, { baseModel: 'tiny-base' });
    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(config.peft_type, 'INKWELL_ADAPTER');
    assert.equal(config.adapter_bottleneck, 4);
    assert.deepEqual(config.modules_to_save, ['ln_1', 'ln_2', 'ln_f']);
    const fresh = new GPT(tiny, { seed: 8 });
    loadPeft(dir, fresh);
    assert.deepEqual(logits(fresh), logits(model));

    const bothDir = tmp();
    const both = new GPT(tiny, { seed: 12 });
    applyLora(both, { r: 2, alpha: 4 });
    applyAdapters(both, { bottleneck: 3 });
    trainSteps(both, 3);
    savePeft(bothDir, both, { baseModel: 'tiny-base' });
    const bothConfig = JSON.parse(readFileSync(join(bothDir, 'adapter_config.json'), 'utf8'));
    assert.deepEqual([bothConfig.peft_type, bothConfig.r, bothConfig.adapter_bottleneck], ['INKWELL_ADAPTER', 2, 3]);
    const freshBoth = new GPT(tiny, { seed: 12 });
    loadPeft(bothDir, freshBoth);
    assert.deepEqual(logits(freshBoth), logits(both));

    const partialDir = tmp();
    const partial = new GPT(tiny, { seed: 9 });
    applyFreeze(partial, parseFreezeSpec('last:1'));
    trainSteps(partial, 3);
    savePeft(partialDir, partial, { baseModel: 'tiny-base' });
    const partialConfig = JSON.parse(readFileSync(join(partialDir, 'adapter_config.json'), 'utf8'));
    assert.equal(partialConfig.peft_type, 'INKWELL_PARTIAL');
    assert.ok(partialConfig.modules_to_save.includes('transformer.h.1.attn.c_attn'));
    const names = [...readSafetensors(join(partialDir, 'adapter_model.safetensors')).tensors.keys()];
    assert.ok(names.includes('base_model.model.transformer.wte.weight') && !names.some((n) => n.includes('.h.0.')));
    const freshPartial = new GPT(tiny, { seed: 9 });
    loadPeft(partialDir, freshPartial);
    assert.deepEqual(logits(freshPartial), logits(partial));
  });

  it('refuses adapter files for a different base, naming the mismatch, and leaves the model as it was', () => {
    const dir = tmp();
    const model = new GPT(tiny, { seed: 10 });
    applyLora(model, { r: 4 });
    savePeft(dir, model, { baseModel: 'tiny-base' });

    const wider = new GPT({ ...tiny, n_embd: 32 });
    assert.throws(() => loadPeft(dir, wider), /different base model: n_embd is 16 in the adapter's base but 32 in this model/);
    const deeper = new GPT({ ...tiny, n_layer: 3 });
    assert.throws(() => loadPeft(dir, deeper), /n_layer is 2 in the adapter's base but 3 in this model/);
    assert.ok(deeper.namedParameters().every(([n, p]) => !n.includes('lora') && p.requiresGrad), 'refused load left no LoRA behind');

    // A file without inkwell's metadata (as Python PEFT writes it): the tensors themselves are checked.
    const file = join(dir, 'adapter_model.safetensors');
    const tensors = readSafetensors(file).tensors;
    writeSafetensors(file, tensors, { format: 'pt' });
    assert.throws(() => loadPeft(dir, deeper), /missing tensors 'base_model\.model\.transformer\.h\.2\.attn\.c_attn\.lora_A\.weight'/);
    assert.ok(deeper.namedParameters().every(([n]) => !n.includes('lora')));
    assert.throws(() => loadPeft(dir, wider), /tensor 'base_model\.model\.transformer\.h\.0\.attn\.c_attn\.lora_A\.weight' has shape \[4, 16\] but this model needs \[4, 32\]/);
    tensors.set('base_model.model.transformer.h.0.mlp.c_fc.lora_A.weight', { shape: [4, 16], data: new Float32Array(64) });
    writeSafetensors(file, tensors, { format: 'pt' });
    assert.throws(() => loadPeft(dir, new GPT(tiny)), /unexpected tensor 'base_model\.model\.transformer\.h\.0\.mlp\.c_fc\.lora_A\.weight'/);

    const config = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, peft_type: 'IA3' }));
    assert.throws(() => loadPeft(dir, new GPT(tiny)), /peft_type "IA3" is not supported/);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, modules_to_save: ['score'] }));
    assert.throws(() => loadPeft(dir, new GPT(tiny)), /modules_to_save 'score' matches no module of this model/);
    writeFileSync(join(dir, 'adapter_config.json'), JSON.stringify({ ...config, target_modules: ['q_proj'] }));
    assert.throws(() => loadPeft(dir, new GPT(tiny)), /LoRA target 'q_proj' matches no module/);
    assert.throws(() => loadPeft(tmp(), new GPT(tiny)), /adapter_config\.json: cannot read \(ENOENT\)/);
  });

  it('refuses to save a model with nothing trainable', () => {
    const model = new GPT(tiny);
    applyFreeze(model, parseFreezeSpec('pattern:*'));
    assert.throws(() => savePeft(tmp(), model, { baseModel: 'x' }), /no trainable parameters/);
  });
});

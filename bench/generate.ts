// `npm run bench:generate`: GPT-2 124M inference on the active backend (random weights, bias, float32,
// batch 1, greedy, KV cache) through generate() itself: decode tokens/s for 128 new tokens after a
// 64-token prompt, the rate over the first and the last 32 of them (a step must not get noticeably
// slower as the context grows), time to first token, and a 512-token prefill; medians over --rounds
// (default 3). PyTorch (bench/peers/torch_generate.py, same shapes and threads) is the reference.
//
// Decoding one token reads every weight once, so memory bandwidth bounds it: the limit printed is
// bandwidth / bytes of weights per token (float32; wte counts once, as the LM head, wpe not at all; the
// KV cache adds < 3% here and is left out). Bandwidth is measured in the same run as the backend's `sum`
// kernel streaming a 1 GiB buffer (as many threads as that kernel uses).
//
// Then the same with the matrices compressed to bf16 and int8 (model/compress.ts), against float32 in
// the same run and against the float32 limit, each row naming the kernel it takes ([amx], [avx512-vnni],
// [float32]: see docs/speed.md); an AMX prefill also against the same format on the float32 kernels; where
// a prefill's time goes (each kind of kernel's share, and the share outside the kernels), per format; and
// what compression costs in accuracy: the val loss of a
// char model trained here for --loss-iters (default 500) on tinyshakespeare, in float32 and compressed.
//
// Then Llama-family models of SmolLM2-135M's and Qwen3-0.6B's shapes (random weights, tied heads,
// grouped-query attention; Qwen3 with its q/k norms): decode and prefill in float32, bf16 and int8, each
// against its bandwidth limit (weights read per token: every matrix once, the tied embedding once as the
// head). --models=gpt2,smollm2-135m,qwen3-0.6b picks which run (default all).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { prepareDataset } from '../src/data/prepare.js';
import { Dataset } from '../src/data/dataset.js';
import { generate } from '../src/generate/generate.js';
import { compressModel, decompress } from '../src/model/compress.js';
import type { CausalLM } from '../src/model/causal-lm.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Llama, type LlamaConfig } from '../src/model/llama.js';
import { backend } from '../src/tensor/backends/index.js';
import { int8Group, type WeightFormat } from '../src/tensor/ops/compressed.js';
import { compressedPath, nativeMatmulPath, setMatmulPath } from '../src/tensor/backends/native.js';
import { applySettings, defaultTrainConfig, readConfigFile } from '../src/train/config.js';
import { evaluateTokens } from '../src/train/evaluate.js';
import { train } from '../src/train/trainer.js';
import { Rng } from '../src/tensor/random.js';
import { noGrad } from '../src/tensor/tensor.js';
import { medianMs, report, runPythonPeer, withReference, type Measurement } from './lib.js';

const gpt2: GPTConfig = { n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024, vocab_size: 50257, dropout: 0, bias: true };
const PROMPT = 64, NEW_TOKENS = 128, PREFILL = 512, WINDOW = 32;
const roundsArg = process.argv.find((a) => a.startsWith('--rounds='));
const rounds = roundsArg ? Number(roundsArg.slice('--rounds='.length)) : 3;
const lossItersArg = process.argv.find((a) => a.startsWith('--loss-iters='));
const lossIters = lossItersArg ? Number(lossItersArg.slice('--loss-iters='.length)) : 500;
const modelsArg = process.argv.find((a) => a.startsWith('--models='));
const models = new Set((modelsArg ? modelsArg.slice('--models='.length) : 'gpt2,smollm2-135m,qwen3-0.6b').split(','));
const LLAMA_SHAPES: Record<string, LlamaConfig> = {
  'smollm2-135m': {
    model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
    num_key_value_heads: 3, head_dim: 64, rms_norm_eps: 1e-5, rope_theta: 100000, rope_scaling: null, max_position_embeddings: 8192,
    attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.02,
  },
  'qwen3-0.6b': {
    model_type: 'qwen3', vocab_size: 151936, hidden_size: 1024, intermediate_size: 3072, num_hidden_layers: 28, num_attention_heads: 16,
    num_key_value_heads: 8, head_dim: 128, rms_norm_eps: 1e-6, rope_theta: 1000000, rope_scaling: null, max_position_embeddings: 40960,
    attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.02,
  },
};
const peerScript = fileURLToPath(new URL('../../bench/peers/torch_generate.py', import.meta.url));

interface Figures {
  ttft_s: number;
  decode_tps: number;
  first_tps: number;
  last_tps: number;
  prefill_s: number;
}

const FORMATS: Exclude<WeightFormat, 'f32'>[] = ['bf16', 'int8'];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
/** The kernel the format's products of `rows` rows take, for row names (the hidden size's int8 group). */
const via = (format: Exclude<WeightFormat, 'f32'>, rows: number, hidden: number) =>
  b.name === 'native' ? ` [${compressedPath(format, rows, int8Group(hidden))}]` : '';

/** Seconds to prefill PREFILL tokens (median over the rounds). */
function measurePrefill(model: CausalLM, long: Int32Array): number {
  const seconds = () => {
    const t0 = performance.now();
    noGrad(() => model.forward(long, 1, PREFILL, null, { cache: model.createCache(1, PREFILL) }));
    return (performance.now() - t0) / 1000;
  };
  return median(Array.from({ length: rounds }, seconds));
}

/**
 * Prefill with the AMX compressed kernels turned off (the float32 fallback), measured in the same run: what
 * the tiles bring. null when the format's prefill is not on AMX here.
 */
function prefillFallback(model: CausalLM, format: Exclude<WeightFormat, 'f32'>, hidden: number): number | null {
  if (b.name !== 'native' || compressedPath(format, PREFILL, int8Group(hidden)) !== 'amx') return null;
  const rng = new Rng(1), path = nativeMatmulPath().path;
  const long = Int32Array.from({ length: PREFILL }, () => rng.int(model.vocabSize));
  setMatmulPath('float32');
  try {
    return measurePrefill(model, long);
  } finally {
    setMatmulPath(path);
  }
}

/** What a prefill's time goes to: the backend's kernels by kind, and the rest (JS, allocation, GC). */
const PROFILE_PARTS: [string, RegExp][] = [
  ['in matrix products', /^matmul/],
  ['in attention', /^attention/],
  ['in GELU', /^gelu/],
  ['in LayerNorm', /^layernorm/],
  ['in other kernels', /./],
];

/**
 * Seconds of a PREFILL-token prefill (median over the rounds) spent in each kind of kernel, timed by
 * wrapping the backend's kernels for the runs (calls return before the next starts, so the parts add
 * up), and outside them.
 */
function prefillProfile(model: CausalLM, long: Int32Array): { part: string; seconds: number }[] {
  const spent = new Map<string, number>(), kernels = b as unknown as Record<string, unknown>;
  const saved = Object.entries(kernels).filter(([, f]) => typeof f === 'function') as [string, (...a: unknown[]) => unknown][];
  for (const [name, f] of saved) {
    const part = PROFILE_PARTS.find(([, re]) => re.test(name))![0];
    kernels[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return f(...args);
      } finally {
        spent.set(part, (spent.get(part) ?? 0) + (performance.now() - t0) / 1000);
      }
    };
  }
  try {
    const runs = Array.from({ length: rounds }, () => {
      spent.clear();
      const t0 = performance.now();
      noGrad(() => model.forward(long, 1, PREFILL, null, { cache: model.createCache(1, PREFILL) }));
      const total = (performance.now() - t0) / 1000, parts = PROFILE_PARTS.map(([part]) => spent.get(part) ?? 0);
      return [...parts, total - parts.reduce((x, y) => x + y, 0), total];
    });
    return [...PROFILE_PARTS.map(([part]) => part), 'outside the kernels (JS, allocation, GC)', 'whole prefill']
      .map((part, i) => ({ part, seconds: median(runs.map((r) => r[i]!)) }));
  } finally {
    for (const [name, f] of saved) kernels[name] = f;
  }
}

/** Profile rows for one weight format: seconds per part, against the whole prefill of the same runs. */
function profileRows(label: string, model: CausalLM): Measurement[] {
  const rng = new Rng(1);
  const long = Int32Array.from({ length: PREFILL }, () => rng.int(model.vocabSize));
  const parts = prefillProfile(model, long), whole = parts.at(-1)!.seconds;
  return parts.slice(0, -1).map(({ part, seconds }) => ({ name: `${label}prefill ${PREFILL} tokens, share of time ${part}`, value: seconds / whole, unit: 'fraction' }));
}

function measureInkwell(model: CausalLM): Figures {
  const rng = new Rng(1);
  const prompt = Array.from({ length: PROMPT }, () => rng.int(model.vocabSize));
  const long = Int32Array.from({ length: PREFILL }, () => rng.int(model.vocabSize));
  const rows: Figures[] = [];
  generate(model, [prompt], { temperature: 0, maxNewTokens: 4 }); // warm-up
  for (let r = 0; r < rounds; r++) {
    // onLogits fires as each step's logits are ready: stamps[k] ≈ when token k is known.
    const stamps: number[] = [];
    const t0 = performance.now();
    generate(model, [prompt], { temperature: 0, maxNewTokens: NEW_TOKENS, onLogits: () => stamps.push((performance.now() - t0) / 1000) });
    const rate = (a: number, b: number) => (b - a) / (stamps[b]! - stamps[a]!);
    const t1 = performance.now();
    noGrad(() => model.forward(long, 1, PREFILL, null, { cache: model.createCache(1, PREFILL) }));
    const prefillSeconds = (performance.now() - t1) / 1000;
    rows.push({
      ttft_s: stamps[0]!,
      decode_tps: rate(0, NEW_TOKENS - 1),
      first_tps: rate(0, WINDOW),
      last_tps: rate(NEW_TOKENS - 1 - WINDOW, NEW_TOKENS - 1),
      prefill_s: prefillSeconds,
    });
  }
  return Object.fromEntries(Object.keys(rows[0]!).map((k) => [k, median(rows.map((r) => r[k as keyof Figures]))])) as unknown as Figures;
}

/** GB/s of the backend's sum kernel over 1 GiB of float32. */
function measureBandwidth(): number {
  const n = 256 * 1024 * 1024;
  const buffer = new Float32Array(n).fill(1);
  return (n * 4) / (medianMs(() => backend().sum(buffer, n), 5) / 1000) / 1e9;
}

const b = backend();
process.stderr.write(`inkwell bench:generate: backend ${b.name}, ${b.threads} threads, ${rounds} round${rounds === 1 ? '' : 's'}\n`);
const bandwidth = measureBandwidth();
if (models.has('gpt2')) await gpt2Rows();
for (const [name, config] of Object.entries(LLAMA_SHAPES)) if (models.has(name)) llamaRows(name, config);

/** GPT-2 124M against PyTorch, compressed formats, and what compression costs in loss. */
async function gpt2Rows(): Promise<void> {
  const model = new GPT(gpt2).eval();
  const weightBytes = model.numParams(true) * 4;
  const limit = (bandwidth * 1e9) / weightBytes;
  const ours = measureInkwell(model);
  const peer = runPythonPeer(peerScript, [gpt2.n_layer, gpt2.n_head, gpt2.n_embd, gpt2.block_size, gpt2.vocab_size, PROMPT, NEW_TOKENS, PREFILL, rounds, b.threads].map(String),
    'generate') as Figures | null;

  const rows: Measurement[] = [
    withReference({ name: `decode (${PROMPT}-token prompt, ${NEW_TOKENS} new)`, value: ours.decode_tps, unit: 'tokens/s' }, peer?.decode_tps, 'PyTorch', true),
    withReference({ name: `decode, first ${WINDOW} tokens`, value: ours.first_tps, unit: 'tokens/s' }, peer?.first_tps, 'PyTorch', true),
    withReference({ name: `decode, last ${WINDOW} tokens`, value: ours.last_tps, unit: 'tokens/s' }, peer?.last_tps, 'PyTorch', true),
    withReference({ name: `time to first token (${PROMPT}-token prompt)`, value: ours.ttft_s, unit: 's' }, peer?.ttft_s, 'PyTorch', false),
    withReference({ name: `prefill ${PREFILL} tokens`, value: ours.prefill_s, unit: 's' }, peer?.prefill_s, 'PyTorch', false),
    { name: 'memory bandwidth (sum over 1 GiB)', value: bandwidth, unit: 'GB/s' },
    { name: 'weights read per token', value: weightBytes / 1e6, unit: 'MB' },
    { name: 'decode limit (bandwidth / weights)', value: limit, unit: 'tokens/s' },
    { name: 'decode rate / limit', value: ours.decode_tps / limit, unit: 'fraction' },
  ];
  for (const format of FORMATS) {
    const { bytesAfter, bytesBefore } = compressModel(model, format);
    const figures = measureInkwell(model);
    rows.push(
      withReference({ name: `${format}: decode${via(format, 1, gpt2.n_embd)}`, value: figures.decode_tps, unit: 'tokens/s' }, ours.decode_tps, 'float32', true),
      withReference({ name: `${format}: decode, last ${WINDOW} tokens`, value: figures.last_tps, unit: 'tokens/s' }, ours.last_tps, 'float32', true),
      withReference({ name: `${format}: time to first token`, value: figures.ttft_s, unit: 's' }, ours.ttft_s, 'float32', false),
      withReference({ name: `${format}: prefill ${PREFILL} tokens${via(format, PREFILL, gpt2.n_embd)}`, value: figures.prefill_s, unit: 's' }, ours.prefill_s, 'float32', false),
      { name: `${format}: matrix bytes read per token`, value: (weightBytes * bytesAfter) / bytesBefore / 1e6, unit: 'MB' },
      { name: `${format}: decode rate / float32 limit`, value: figures.decode_tps / limit, unit: 'fraction' },
      { name: `${format}: decode rate / ${format} limit`, value: figures.decode_tps / (limit * bytesBefore / bytesAfter), unit: 'fraction' },
    );
    const fallback = prefillFallback(model, format, gpt2.n_embd);
    if (fallback !== null) rows.push(withReference({ name: `${format}: prefill ${PREFILL} tokens [amx]`, value: figures.prefill_s, unit: 's' }, fallback, `${format} on float32 kernels`, false));
    rows.push(...profileRows(`${format}: `, model));
  }
  decompress(model);
  rows.push(...profileRows('float32: ', model));
  rows.push(...await compressionLoss());
  report(`GPT-2 124M generation (float32 unless marked, batch 1, greedy, KV cache; backend ${b.name}, ${b.threads} threads)`, rows);
}

/** Decode and prefill of a random-weight Llama-family model, each format against its bandwidth limit. */
function llamaRows(name: string, config: LlamaConfig): void {
  const model = new Llama(config).eval();
  // Decoding reads every matrix once per token; an embedding lookup reads one row (a tied one is read whole as the head).
  const embed = config.tie_word_embeddings ? 0 : model.model.embed_tokens.weight.size;
  const weightBytes = (model.numParams() - embed) * 4;
  const limit = (bandwidth * 1e9) / weightBytes;
  const f32 = measureInkwell(model);
  const rows: Measurement[] = [
    withReference({ name: `${name}: decode (${PROMPT}-token prompt, ${NEW_TOKENS} new)`, value: f32.decode_tps, unit: 'tokens/s' }, limit, 'float32 bandwidth limit', true),
    { name: `${name}: decode, last ${WINDOW} tokens`, value: f32.last_tps, unit: 'tokens/s' },
    { name: `${name}: time to first token`, value: f32.ttft_s, unit: 's' },
    { name: `${name}: prefill ${PREFILL} tokens`, value: f32.prefill_s, unit: 's' },
    { name: `${name}: weights read per token`, value: weightBytes / 1e6, unit: 'MB' },
    { name: `${name}: decode limit (bandwidth / weights)`, value: limit, unit: 'tokens/s' },
  ];
  for (const format of FORMATS) {
    const { bytesAfter, bytesBefore } = compressModel(model, format);
    const bytes = (weightBytes * bytesAfter) / bytesBefore;
    const figures = measureInkwell(model);
    rows.push(
      withReference({ name: `${name} ${format}: decode${via(format, 1, config.hidden_size)}`, value: figures.decode_tps, unit: 'tokens/s' }, (bandwidth * 1e9) / bytes, `${format} bandwidth limit`, true),
      withReference({ name: `${name} ${format}: decode against float32`, value: figures.decode_tps, unit: 'tokens/s' }, f32.decode_tps, 'float32', true),
      withReference({ name: `${name} ${format}: prefill ${PREFILL} tokens${via(format, PREFILL, config.hidden_size)}`, value: figures.prefill_s, unit: 's' }, f32.prefill_s, 'float32', false),
      { name: `${name} ${format}: matrix bytes read per token`, value: bytes / 1e6, unit: 'MB' },
    );
    const fallback = prefillFallback(model, format, config.hidden_size);
    if (fallback !== null) rows.push(withReference({ name: `${name} ${format}: prefill ${PREFILL} tokens [amx]`, value: figures.prefill_s, unit: 's' }, fallback, `${format} on float32 kernels`, false));
  }
  decompress(model);
  report(`${name} shape generation (random weights, batch 1, greedy, KV cache; backend ${b.name}, ${b.threads} threads)`, rows);
}

/** Val loss of a small char model trained here, in float32 and with compressed weights. */
async function compressionLoss(): Promise<Measurement[]> {
  const corpus = resolve(fileURLToPath(new URL('../..', import.meta.url)), '..', 'shared', 'data', 'tinyshakespeare.txt');
  if (!existsSync(corpus) || lossIters <= 0) {
    process.stderr.write(`compression loss: skipped (${lossIters <= 0 ? '--loss-iters=0' : `${corpus} not found`})\n`);
    return [];
  }
  const work = mkdtempSync(join(tmpdir(), 'inkwell-bench-generate-'));
  const dataDir = join(work, 'data');
  await prepareDataset({ source: corpus, tokenizer: 'char', outDir: dataDir });
  const config = applySettings(applySettings(defaultTrainConfig, readConfigFile('shakespeare_char_cpu'), 'preset'),
    { dataset: dataDir, out_dir: join(work, 'out'), max_iters: lossIters, lr_decay_iters: lossIters, eval_interval: lossIters, progress: false, write_curves: false }, 'bench');
  const { model: small } = train(config, { print: () => {} });
  small.eval();
  const val = new Dataset(dataDir).files.val;
  const heldOut = (format: WeightFormat) => {
    compressModel(small, format);
    return evaluateTokens(small, Math.min(val.length, 64 * 1024), (s, n) => val.read(s, n), 16).loss;
  };
  const base = heldOut('f32');
  return FORMATS.map((format) => ({
    name: `${format}: val loss change (char model, ${lossIters} iters, 64K held-out tokens; f32 ${base.toFixed(4)})`,
    value: heldOut(format) - base, unit: 'nats',
  }));
}



// One training step (forward, backward, AdamW update) of the baby and the full shakespeare_char
// configs on random tokens, as `inkwell train` runs it (activations in an OutputArena, matmuls in the
// config's precision), inkwell against the PyTorch peer measured in the same run; each bfloat16 step also
// against the float32 step of its config, and (on AMX) its model FLOP/s against the AMX tile peak; and how
// each step divides its time among the kernel families (wall time inside the backend's kernels).
import { fileURLToPath } from 'node:url';
import { applyLora } from '../src/finetune/lora.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { Llama, type LlamaConfig } from '../src/model/llama.js';
import { backend } from '../src/tensor/backends/index.js';
import { AdamW, decayGroups } from '../src/train/optim.js';
import { Rng } from '../src/tensor/random.js';
import { OutputArena } from '../src/tensor/buffers.js';
import { withMatmulPrecision, type MatmulPrecision } from '../src/tensor/ops/matmul.js';
import { flopsPerToken } from '../src/train/trainer.js';
import { amxPeakFlops, nativeMatmulPath } from '../src/tensor/backends/native.js';
import { medianMs, runPythonPeer, withReference, type Measurement } from './lib.js';

export interface StepConfig {
  name: string;
  model: GPTConfig;
  batch: number;
  reps: number;
  dtype: MatmulPrecision;
}

const full: GPTConfig = { n_layer: 6, n_head: 6, n_embd: 384, block_size: 256, vocab_size: 65, dropout: 0.2, bias: false };
const baby: GPTConfig = { n_layer: 4, n_head: 4, n_embd: 128, block_size: 64, vocab_size: 65, dropout: 0, bias: false };
export const stepConfigs: StepConfig[] = [
  { name: 'baby', model: baby, batch: 12, reps: 20, dtype: 'float32' },
  { name: 'baby bfloat16', model: baby, batch: 12, reps: 20, dtype: 'bfloat16' },
  { name: 'full', model: full, batch: 64, reps: 3, dtype: 'float32' },
  { name: 'full bfloat16', model: full, batch: 64, reps: 3, dtype: 'bfloat16' },
];

export const nanoGptPeer = fileURLToPath(new URL('../../bench/peers/nanogpt.py', import.meta.url));

/** Median ms of one forward + backward + AdamW step of nanoGPT's model on PyTorch (GPT-2's tanh GELU, as
 * inkwell's; the forward under torch.autocast for bfloat16), on random tokens; null when PyTorch is missing. */
export function peerStepMs(model: GPTConfig, batch: number, reps: number, what: string, dtype: MatmulPrecision = 'float32'): number | null {
  const peer = runPythonPeer(nanoGptPeer, [JSON.stringify({
    mode: 'step', ...model, batch_size: batch, gelu: 'tanh', reps, seed: 0, learning_rate: 1e-3, weight_decay: 0.1, beta1: 0.9, beta2: 0.99, dtype,
  })], what) as { ms_per_step: number } | null;
  return peer?.ms_per_step ?? null;
}

const family = (kernel: string) =>
  kernel.startsWith('matmul') ? 'matmul' : kernel.startsWith('attention') ? 'attention'
    : kernel.startsWith('layernorm') ? 'layernorm' : kernel.startsWith('gelu') ? 'gelu'
      : kernel.startsWith('crossEntropy') ? 'cross-entropy' : kernel === 'adamw' ? 'AdamW'
        : kernel === 'dropout' ? 'dropout' : kernel === 'add' || kernel === 'axpy' ? 'residual adds and gradient sums'
          : 'other kernels';

/** Shares of `reps` steps' wall time spent in each kernel family (the backend's kernels wrapped in timers
 * while it runs) and outside the kernels. */
function stepProfile(step: () => void, reps: number): Map<string, number> {
  const be = backend() as unknown as Record<string, unknown>, saved = new Map<string, unknown>(), spent = new Map<string, number>();
  for (const [name, fn] of Object.entries(be)) {
    if (typeof fn !== 'function') continue;
    saved.set(name, fn);
    be[name] = (...args: unknown[]) => {
      const t0 = performance.now();
      try {
        return (fn as (...a: unknown[]) => unknown).apply(be, args);
      } finally {
        spent.set(family(name), (spent.get(family(name)) ?? 0) + performance.now() - t0);
      }
    };
  }
  const t0 = performance.now();
  try {
    for (let i = 0; i < reps; i++) step();
  } finally {
    for (const [name, fn] of saved) be[name] = fn;
  }
  const total = performance.now() - t0;
  let inside = 0;
  for (const ms of spent.values()) inside += ms;
  spent.set('outside kernels', total - inside);
  return new Map([...spent].map(([k, ms]) => [k, ms / total]));
}

export function stepMeasurements(configs: StepConfig[]): Measurement[] {
  const rows: Measurement[] = [];
  const peak = amxPeakFlops();
  for (const c of configs) {
    const m = c.model, B = c.batch, T = m.block_size;
    const model = new GPT(m);
    const opt = new AdamW(decayGroups(model.namedParameters(), 0.1).groups, { lr: 1e-3 });
    const rng = new Rng(0);
    const ids = Int32Array.from({ length: B * T }, () => rng.int(m.vocab_size));
    const targets = Int32Array.from({ length: B * T }, () => rng.int(m.vocab_size));
    const arena = new OutputArena();
    const stepIn = (dtype: MatmulPrecision) => () => {
      opt.zeroGrad();
      arena.run(() => withMatmulPrecision(dtype, () => model.forward(ids, B, T, targets).loss!.backward()));
      opt.update();
    };
    const step = stepIn(c.dtype);
    const ms = medianMs(step, c.reps);
    const peerMs = peerStepMs(m, B, c.reps, `${c.name} step`, c.dtype);
    rows.push(withReference({ name: `step ${c.name} (fwd+bwd+AdamW)`, value: ms, unit: 'ms' }, peerMs ?? undefined, 'PyTorch', false));
    const tokens = B * T;
    rows.push(withReference({ name: `step ${c.name} throughput`, value: (tokens / ms) * 1000, unit: 'tokens/s' }, peerMs ? (tokens / peerMs) * 1000 : undefined, 'PyTorch', true));
    if (c.dtype !== 'float32') {
      // float32 and this precision take turns step by step: the machine's speed drifts, the ratio is the point
      const float32 = stepIn('float32'), times: [number[], number[]] = [[], []];
      for (let r = 0; r < c.reps; r++) [float32, step].forEach((fn, i) => times[i]!.push(medianMs(fn, 1, 0)));
      const [f32Ms, ownMs] = times.map((t) => t.sort((x, y) => x - y)[Math.floor(t.length / 2)]!) as [number, number];
      rows.push(withReference({ name: `step ${c.name} (path ${nativeMatmulPath().path}; ${nativeMatmulPath().cpu}), taking turns with float32`, value: ownMs, unit: 'ms' }, f32Ms, 'inkwell float32', false));
      if (peak > 0) rows.push({ name: `step ${c.name} MFU against the amx peak`, value: (flopsPerToken(model) * tokens) / (ms / 1000) / peak, unit: 'fraction' });
    }
    const shares = [...stepProfile(step, Math.max(1, Math.ceil(c.reps / 2)))].sort((x, y) => y[1] - x[1]);
    for (const [what, share] of shares) rows.push({ name: `step ${c.name}: share of time in ${what}`, value: share, unit: 'fraction' });
  }
  return rows;
}

/** A Llama-family step: every parameter trained, or LoRA (rank r) on q/k/v/o/gate/up/down with the base frozen. */
export interface LlamaStepConfig {
  name: string;
  model: LlamaConfig;
  batch: number;
  T: number;
  reps: number;
  loraR: number | null;
}

/** SmolLM2-135M's shape (30 layers, 576 wide, 9 heads / 3 kv heads, vocab 49,152, tied), batch 4 × 512. */
export const smollm2Shape: LlamaConfig = {
  model_type: 'llama', vocab_size: 49152, hidden_size: 576, intermediate_size: 1536, num_hidden_layers: 30, num_attention_heads: 9,
  num_key_value_heads: 3, head_dim: 64, rms_norm_eps: 1e-5, rope_theta: 100000, rope_scaling: null, max_position_embeddings: 8192,
  attention_bias: false, mlp_bias: false, tie_word_embeddings: true, attention_dropout: 0, initializer_range: 0.02,
};
export const llamaStepConfigs: LlamaStepConfig[] = [
  { name: 'SmolLM2-135M shape, LoRA r=8 (q…down_proj)', model: smollm2Shape, batch: 4, T: 512, reps: 2, loraR: 8 },
  { name: 'SmolLM2-135M shape, full', model: smollm2Shape, batch: 4, T: 512, reps: 2, loraR: null },
];

const llamaPeer = fileURLToPath(new URL('../../bench/peers/torch_llama_step.py', import.meta.url));

export function llamaStepMeasurements(configs: LlamaStepConfig[]): Measurement[] {
  const rows: Measurement[] = [];
  for (const c of configs) {
    const model = new Llama(c.model);
    if (c.loraR !== null) applyLora(model, { r: c.loraR, alpha: 2 * c.loraR, targetModules: ['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj'] });
    const opt = new AdamW(decayGroups(model.namedParameters(), 0.1).groups, { lr: 1e-3 });
    const rng = new Rng(0), n = c.batch * c.T;
    const ids = Int32Array.from({ length: n }, () => rng.int(c.model.vocab_size));
    const targets = Int32Array.from({ length: n }, () => rng.int(c.model.vocab_size));
    const arena = new OutputArena();
    const ms = medianMs(() => {
      opt.zeroGrad();
      arena.run(() => model.forward(ids, c.batch, c.T, targets).loss!.backward());
      opt.update();
    }, c.reps);
    const peer = runPythonPeer(llamaPeer, [JSON.stringify({ config: c.model, batch: c.batch, T: c.T, reps: c.reps, lora_r: c.loraR, threads: backend().threads })],
      `${c.name} step`) as { ms_per_step: number } | null;
    rows.push(withReference({ name: `step ${c.name}, batch ${c.batch} × ${c.T} (fwd+bwd+AdamW)`, value: ms, unit: 'ms' }, peer?.ms_per_step, 'PyTorch', false));
  }
  return rows;
}

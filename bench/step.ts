// One training step (forward, backward, AdamW update) of the baby and the full shakespeare_char
// configs on random tokens, as `inkwell train` runs it (activations in an OutputArena, matmuls in the
// config's precision), inkwell against the PyTorch peer measured in the same run; each bfloat16 step also
// against the float32 step of its config, and (on AMX) its model FLOP/s against the AMX tile peak.
import { fileURLToPath } from 'node:url';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
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

export function stepMeasurements(configs: StepConfig[]): Measurement[] {
  const rows: Measurement[] = [];
  const float32Ms = new Map<GPTConfig, number>();
  const peak = amxPeakFlops();
  for (const c of configs) {
    const m = c.model, B = c.batch, T = m.block_size;
    const model = new GPT(m);
    const opt = new AdamW(decayGroups(model.namedParameters(), 0.1).groups, { lr: 1e-3 });
    const rng = new Rng(0);
    const ids = Int32Array.from({ length: B * T }, () => rng.int(m.vocab_size));
    const targets = Int32Array.from({ length: B * T }, () => rng.int(m.vocab_size));
    const arena = new OutputArena();
    const ms = medianMs(() => {
      opt.zeroGrad();
      arena.run(() => withMatmulPrecision(c.dtype, () => model.forward(ids, B, T, targets).loss!.backward()));
      opt.update();
    }, c.reps);
    const peerMs = peerStepMs(m, B, c.reps, `${c.name} step`, c.dtype);
    rows.push(withReference({ name: `step ${c.name} (fwd+bwd+AdamW)`, value: ms, unit: 'ms' }, peerMs ?? undefined, 'PyTorch', false));
    const tokens = B * T;
    rows.push(withReference({ name: `step ${c.name} throughput`, value: (tokens / ms) * 1000, unit: 'tokens/s' }, peerMs ? (tokens / peerMs) * 1000 : undefined, 'PyTorch', true));
    if (c.dtype === 'float32') float32Ms.set(m, ms);
    else {
      const path = nativeMatmulPath().path;
      rows.push(withReference({ name: `step ${c.name} (path ${path}) against float32`, value: ms, unit: 'ms' }, float32Ms.get(m), 'inkwell float32', false));
      if (peak > 0) rows.push({ name: `step ${c.name} MFU against the amx peak`, value: (flopsPerToken(model) * tokens) / (ms / 1000) / peak, unit: 'fraction' });
    }
  }
  return rows;
}

// Multiple-choice scoring speed (`npm run bench` and `npm run bench:eval`): items per second for a GPT-2
// 124M-shaped model (random weights), 4 choices per item and ~100-token contexts, every choice's
// sequence in batches as `inkwell eval --task` runs them, against PyTorch doing the same
// (bench/peers/torch_loglikelihood.py: same shapes, batch and threads).
import { fileURLToPath } from 'node:url';
import { scoreEncoded, type EncodedPair } from '../src/eval/loglikelihood.js';
import { GPT } from '../src/model/gpt.js';
import { backend } from '../src/tensor/backends/index.js';
import { Rng } from '../src/tensor/random.js';
import { report, runPythonPeer, withReference, type Measurement } from './lib.js';

const SHAPE = { n_layer: 12, n_head: 12, n_embd: 768, block_size: 1024, vocab_size: 50257 };
const ITEMS = 8, CHOICES = 4, CONTEXT = 100, CHOICE = 10, BATCH = 16, ROUNDS = 3;

export function multipleChoiceMeasurements(): Measurement[] {
  const model = new GPT({ ...SHAPE, dropout: 0, bias: true });
  const rng = new Rng(3);
  const tokens = (n: number) => Array.from({ length: n }, () => rng.int(SHAPE.vocab_size));
  const pairs: EncodedPair[] = [];
  for (let i = 0; i < ITEMS; i++) {
    const context = tokens(CONTEXT);
    for (let c = 0; c < CHOICES; c++) pairs.push({ context, continuation: tokens(CHOICE) });
  }
  scoreEncoded(model, pairs.slice(0, BATCH), { batchSize: BATCH }); // warm-up
  const rates: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = performance.now();
    scoreEncoded(model, pairs, { batchSize: BATCH });
    rates.push(ITEMS / ((performance.now() - t0) / 1000));
  }
  rates.sort((a, b) => a - b);
  const script = fileURLToPath(new URL('../../bench/peers/torch_loglikelihood.py', import.meta.url));
  const peer = runPythonPeer(script, [SHAPE.n_layer, SHAPE.n_head, SHAPE.n_embd, SHAPE.block_size, SHAPE.vocab_size, ITEMS, CHOICES, CONTEXT,
    CHOICE, BATCH, ROUNDS, backend().threads].map(String), 'multiple-choice scoring') as { items_per_s: number } | null;
  return [withReference({ name: `GPT-2 124M shape, ${CHOICES} choices, ${CONTEXT}-token contexts`, value: rates[Math.floor(ROUNDS / 2)]!, unit: 'items/s' },
    peer?.items_per_s, 'PyTorch', true)];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stderr.write(`inkwell bench:eval: backend ${backend().name}, ${backend().threads} threads\n`);
  report('multiple-choice scoring', multipleChoiceMeasurements());
}

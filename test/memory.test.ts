// Memory stays flat over long training: no dispose() anywhere, yet RSS after 2,000 steps of a small
// model is within 10% of RSS after 200.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { GPT } from '../src/model/gpt.js';
import { AdamW, clipGradNorm, decayGroups } from '../src/train/optim.js';
import { Rng } from '../src/tensor/random.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

it('RSS after 2,000 training steps is within 10% of RSS after 200', () => {
  const model = new GPT({ n_layer: 2, n_head: 2, n_embd: 32, block_size: 16, vocab_size: 65, dropout: 0.1, bias: true });
  const opt = new AdamW(decayGroups(model.namedParameters(), 0.1).groups, { lr: 1e-3 });
  const rng = new Rng(1);
  const B = 4, T = 16;
  const rssAt: Record<number, number> = {};
  let loss = 0;
  for (let step = 1; step <= 2000; step++) {
    const ids = Int32Array.from({ length: B * T }, () => rng.int(65));
    const targets = Int32Array.from({ length: B * T }, () => rng.int(65));
    const out = model.forward(ids, B, T, targets);
    opt.zeroGrad();
    out.loss!.backward();
    clipGradNorm(model.parameters(), 1);
    opt.update();
    loss = out.loss!.item();
    if (step === 200 || step === 2000) {
      gc();
      rssAt[step] = process.memoryUsage().rss;
    }
  }
  assert.ok(Number.isFinite(loss));
  const growth = rssAt[2000]! / rssAt[200]!;
  assert.ok(growth <= 1.1, `RSS grew ${((growth - 1) * 100).toFixed(1)}% from step 200 (${rssAt[200]} B) to 2000 (${rssAt[2000]} B)`);
});

// Memory stays flat over long training: no dispose() anywhere, yet memory after 2,000 steps of a small
// model is within 10% of memory after 200. Two measures, each after a full GC that lets V8 hand freed
// buffers back: what V8 holds (heap + array buffers) must not grow, and neither may the process's RSS.
// glibc keeps freed pages (10-20 MB of noise), so both points first hand them back, as the trainer does at
// each evaluation; and the late RSS is the lowest of three samples near step 2,000: a leak raises that
// floor, a passing spike does not.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import { setTimeout as sleep } from 'node:timers/promises';
import { GPT } from '../src/model/gpt.js';
import { AdamW, clipGradNorm, decayGroups } from '../src/train/optim.js';
import { Rng } from '../src/tensor/random.js';
import { backend } from '../src/tensor/backends/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

async function settledMemory(): Promise<{ rss: number; held: number }> {
  for (let i = 0; i < 3; i++) {
    gc();
    await sleep(20);
  }
  // What the allocator keeps after V8 frees buffers is not in use; the trainer hands it back too.
  backend().releaseFreeMemory();
  const m = process.memoryUsage();
  return { rss: m.rss, held: m.heapUsed + m.arrayBuffers };
}

it('memory after 2,000 training steps is within 10% of memory after 200', async () => {
  const model = new GPT({ n_layer: 2, n_head: 4, n_embd: 64, block_size: 64, vocab_size: 65, dropout: 0.1, bias: true });
  const opt = new AdamW(decayGroups(model.namedParameters(), 0.1).groups, { lr: 1e-3 });
  const rng = new Rng(1);
  const B = 8, T = 64;
  const samples = new Map<number, { rss: number; held: number }>();
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
    if ([200, 1900, 1950, 2000].includes(step)) samples.set(step, await settledMemory());
  }
  assert.ok(Number.isFinite(loss));
  const early = samples.get(200)!, late = [1900, 1950, 2000].map((s) => samples.get(s)!);
  const heldGrowth = late[2]!.held / early.held;
  assert.ok(heldGrowth <= 1.1, `V8 heap + buffers grew ${((heldGrowth - 1) * 100).toFixed(1)}% (${early.held} B → ${late[2]!.held} B)`);
  const rssGrowth = Math.min(...late.map((s) => s.rss)) / early.rss;
  assert.ok(rssGrowth <= 1.1, `RSS grew ${((rssGrowth - 1) * 100).toFixed(1)}% from step 200 (${early.rss} B) to 2000 (${late.map((s) => s.rss).join(', ')} B)`);
});

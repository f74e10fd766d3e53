// GRPO's advantages and loss: a hand-computed group, the loss and its gradient on a hand-worked batch and
// against finite differences (clipping, ε-high, the KL penalty, both normalisations), and no gradient
// from a group whose rewards are all equal.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { grpoLoss, groupAdvantages, type GrpoLossOptions } from '../src/align/grpo-loss.js';
import { defaultGrpoConfig, GrpoTrainer, type GrpoState, type GrpoStepLog } from '../src/align/grpo.js';
import { frozenCopy } from '../src/align/reference.js';
import { extractAnswer, rewardFunctions, sameAnswer, type RewardFunction } from '../src/align/verifiers.js';
import type { GPT } from '../src/model/gpt.js';
import type { AdamW } from '../src/train/optim.js';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint } from '../src/train/checkpoint.js';
import { hubFromRunLog } from '../src/serve/dashboard.js';
import { runInkwell } from './helpers.js';
import { asciiTokenizer, tinyModel } from './tiny-model.js';
import { Tensor } from '../src/tensor/tensor.js';
import { adapterLayers } from '../src/finetune/adapters.js';
import { loadModelAndTokenizer } from '../src/model/load.js';

const close = (a: number, b: number, tol = 1e-6) => assert.ok(Math.abs(a - b) <= tol, `${a} vs ${b}`);

describe('group advantages', () => {
  it('normalise each group by its mean and sample standard deviation, or only centre it (Dr. GRPO)', () => {
    const { advantages, equalGroups } = groupAdvantages([1, 0, 0, 0, 2, 2], 3);
    // Group [1, 0, 0]: mean 1/3, sample std sqrt(((2/3)² + 2·(1/3)²) / 2) = sqrt(1/3).
    const std = Math.sqrt(1 / 3);
    close(advantages[0]!, (2 / 3) / (std + 1e-4));
    close(advantages[1]!, (-1 / 3) / (std + 1e-4));
    // Group [0, 2, 2]: mean 4/3, std sqrt((16/9 + 2·4/9) / 2) = sqrt(4/3).
    close(advantages[3]!, (-4 / 3) / (Math.sqrt(4 / 3) + 1e-4));
    assert.equal(equalGroups, 0);
    const centred = groupAdvantages([1, 0, 0, 5, 5, 5], 3, false);
    assert.deepEqual(Array.from(centred.advantages).map((a) => Number(a.toFixed(6))), [0.666667, -0.333333, -0.333333, 0, 0, 0]);
    assert.equal(centred.equalGroups, 1);
    assert.throws(() => groupAdvantages([1, 2, 3], 2), /3 rewards do not make groups of 2/);
  });
});

const base: GrpoLossOptions = { epsilon: 0.2, epsilonHigh: 0.2, beta: 0, normalize: 'sequence' };

describe('the GRPO loss', () => {
  it('equals the hand-computed value on a batch of two completions', () => {
    // Completion 0 has tokens 0, 1 (A = 1); completion 1 has token 2 (A = −2).
    const logp = new Tensor(Float32Array.of(-1, -2, -0.5), [3], true);
    const old = Float32Array.of(-1, -2.1, -0.5);
    const ref = Float32Array.of(-1.2, -2, -0.4);
    const segment = Int32Array.of(0, 0, 1);
    const advantages = Float32Array.of(1, -2);
    const beta = 0.1;
    const { loss, clipFraction, kl } = grpoLoss(logp, old, ref, advantages, segment, { ...base, beta });
    const k3 = (r: number, l: number) => Math.exp(r - l) - (r - l) - 1;
    const ratio1 = Math.exp(0.1); // 1.105, inside [0.8, 1.2]
    const perToken = [-1 + beta * k3(-1.2, -1), -ratio1 + beta * k3(-2, -2), 2 + beta * k3(-0.4, -0.5)];
    close(loss.item(), (perToken[0]! + perToken[1]!) / 2 / 2 + perToken[2]! / 2, 1e-6);
    assert.equal(clipFraction, 0);
    close(kl, (k3(-1.2, -1) + k3(-2, -2) + k3(-0.4, -0.5)) / 3, 1e-7);
    // Per token ('token'): the sum over the three tokens / 3.
    close(grpoLoss(logp, old, ref, advantages, segment, { ...base, beta, normalize: 'token' }).loss.item(), perToken.reduce((a, b) => a + b) / 3, 1e-6);
  });

  for (const normalize of ['sequence', 'token'] as const) {
    it(`has the gradient finite differences give (${normalize} normalisation, clipping and ε-high in play)`, () => {
      const n = 7;
      const start = Float32Array.of(-1, -0.7, -2, -0.3, -1.5, -0.9, -2.2);
      const old = Float32Array.of(-1.3, -0.7, -1.6, -0.5, -1.5, -1.4, -2.0); // some ratios far outside the band
      const ref = Float32Array.of(-1.1, -0.5, -2.1, -0.2, -1.7, -1, -2.4);
      const segment = Int32Array.of(0, 0, 0, 1, 1, 2, 2);
      const advantages = Float32Array.of(0.8, -1.1, 0.5);
      const o = { epsilon: 0.2, epsilonHigh: 0.28, beta: 0.04, normalize };
      const logp = new Tensor(start.slice(), [n], true);
      const out = grpoLoss(logp, old, ref, advantages, segment, o);
      assert.ok(out.clipFraction > 0 && out.clipFraction < 1, `clip fraction ${out.clipFraction}`);
      out.loss.backward();
      const f = (x: Float32Array) => grpoLoss(new Tensor(x, [n]), old, ref, advantages, segment, o).loss.item();
      for (let k = 0; k < n; k++) {
        const up = start.slice(), down = start.slice();
        up[k] += 1e-3;
        down[k] -= 1e-3;
        close(logp.grad![k]!, (f(up) - f(down)) / 2e-3, 2e-4);
      }
    });
  }

  it('gives no gradient to a group whose rewards were all equal', () => {
    const { advantages } = groupAdvantages([0.5, 0.5, 1, 0], 2);
    const logp = new Tensor(Float32Array.of(-1, -2, -0.4, -0.7), [4], true);
    grpoLoss(logp, Float32Array.of(-1.1, -1.9, -0.5, -0.8), null, advantages, Int32Array.of(0, 1, 2, 3), base).loss.backward();
    assert.deepEqual(Array.from(logp.grad!.subarray(0, 2)), [0, 0]);
    assert.ok(logp.grad![2] !== 0 && logp.grad![3] !== 0);
    assert.throws(() => grpoLoss(logp, Float32Array.of(0, 0, 0, 0), null, advantages, Int32Array.of(0, 1, 2, 3), { ...base, beta: 0.1 }), /beta > 0 needs the reference/);
  });
});

describe('the GRPO trainer', () => {
  const prompts = [{ prompt: 'ab', answer: '1' }, { prompt: 'ba', answer: '2' }, { prompt: 'aa', answer: '3' }];
  const config = { ...defaultGrpoConfig, group_size: 4, batch_prompts: 2, max_new_tokens: 6, micro_batch: 3, learning_rate: 1e-2, beta: 0.05, iterations: 2 };
  /** Rewards completions for each letter 'a' they hold: a signal every group can vary on. */
  const countA: RewardFunction = { name: 'a', weight: 1, score: async (items) => items.map((c) => [...c.completion].filter((x) => x === 'a').length) };
  const snapshot = (m: GPT) => m.namedParameters().map(([, p]) => p.data.slice());

  it('learns nothing from groups whose rewards are all equal', async () => {
    const policy = tinyModel({ block_size: 16 });
    const before = snapshot(policy);
    const constant: RewardFunction = { name: 'const', weight: 1, score: async (items) => items.map(() => 1) };
    const trainer = new GrpoTrainer(policy, null, asciiTokenizer, [constant], prompts, { ...config, beta: 0 });
    const log = await trainer.step();
    assert.equal(log.equal_groups, 2);
    assert.deepEqual(snapshot(policy), before);
  });

  it('logs its step and, resumed from its state, continues exactly as an uninterrupted run', async () => {
    const run = async (steps: number, from?: { weights: Float32Array[]; optimizer: ReturnType<AdamW['state']>; state: GrpoState }) => {
      const policy = tinyModel({ block_size: 16 });
      const reference = frozenCopy(policy);
      if (from) policy.namedParameters().forEach(([, p], i) => p.data.set(from.weights[i]!));
      const trainer = new GrpoTrainer(policy, reference, asciiTokenizer, [countA], prompts, config);
      if (from) {
        trainer.optimizer.loadState({ step: from.optimizer.step, m: from.optimizer.m.map((x) => x.slice()), v: from.optimizer.v.map((x) => x.slice()) });
        trainer.loadState(from.state);
      }
      const logs: GrpoStepLog[] = [];
      for (let i = 0; i < steps; i++) logs.push(await trainer.step());
      return { policy, trainer, logs };
    };
    const whole = await run(4);
    const log = whole.logs[0]!;
    assert.equal(log.step, 1);
    assert.ok(log.length > 0 && log.entropy > 0 && log.kl === 0 && log.rewards.a!.std >= 0, JSON.stringify(log));
    assert.ok(whole.logs[3]!.kl > 0, 'the policy moved away from the reference');
    const half = await run(2);
    const resumed = await run(2, { weights: snapshot(half.policy), optimizer: half.trainer.optimizer.state(), state: half.trainer.state() });
    assert.deepEqual(snapshot(resumed.policy), snapshot(whole.policy));
    assert.deepEqual(resumed.logs.map((l) => l.reward), whole.logs.slice(2).map((l) => l.reward));
  });
});

describe('verifiable rewards', () => {
  it('extract answers as asked and compare numbers as numbers', async () => {
    assert.equal(extractAnswer('so 12 + 30 = 42.', 'last_number'), '42');
    assert.equal(extractAnswer('total: 1,234', 'last_number'), '1234');
    assert.equal(extractAnswer('x \\boxed{\\frac{1}{2}} y', 'boxed'), '\\frac{1}{2}');
    assert.equal(extractAnswer('A: 3\nA: 7\n', { regex: 'A: (\\d+)' }), '7');
    assert.equal(extractAnswer('think... Answer: Paris\nmore', { after: 'Answer:' }), 'Paris');
    assert.equal(extractAnswer('no digits', 'last_number'), null);
    assert.ok(sameAnswer('42.0', '42') && !sameAnswer('41', '42') && sameAnswer(' Paris ', 'Paris'));
    const fns = await rewardFunctions([{ exact: 'last_number' }, { format: '\\d+', weight: 0.5 }, { length: { max: 2 }, weight: 2 }], 'spec', async () => { throw new Error('unused'); });
    const item = (completion: string, tokens: number) => ({ prompt: 'p', completion, expected: '42', tokens, ended: true });
    const scores = await Promise.all(fns.map((f) => f.score([item('42', 2), item('it is 41', 4)])));
    assert.deepEqual(scores, [[1, 0], [1, 0], [-0, -1]]);
    await assert.rejects(rewardFunctions([{ exact: 'first_word' }], 'spec.json', async () => { throw new Error('unused'); }), /spec.json: rewards\[0\]: "exact" takes "last_number", "boxed"/);
    await assert.rejects(rewardFunctions([{ format: '(' }], 'spec.json', async () => { throw new Error('unused'); }), /bad regular expression/);
  });
});

describe('inkwell rlhf grpo', () => {
  it('--lora ends with a merged checkpoint, --adapters with a PEFT folder; both load', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-grpo-peft-'));
    try {
      const ckpt = join(dir, 'sft.safetensors');
      saveCheckpoint(ckpt, tinyModel({ block_size: 24 }), null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
      writeFileSync(join(dir, 'prompts.jsonl'), ['1+1=', '2+2='].map((p, i) => JSON.stringify({ prompt: p, answer: [2, 4][i] })).join('\n'));
      writeFileSync(join(dir, 'rewards.json'), JSON.stringify([{ exact: 'last_number' }]));
      const args = ['rlhf', 'grpo', `--checkpoint=${ckpt}`, `--prompts=${join(dir, 'prompts.jsonl')}`, `--rewards=${join(dir, 'rewards.json')}`, '--steps=1', '--group_size=2', '--batch_prompts=2', '--max_new_tokens=3'];
      const lora = await runInkwell([...args, '--lora', `--out_dir=${join(dir, 'lora')}`]);
      assert.equal(lora.code, 0, lora.stderr);
      assert.equal(loadCheckpoint(join(dir, 'lora', 'ckpt.safetensors')).model.namedParameters().length, tinyModel().namedParameters().length, 'merged: the base parameters only');
      const adapters = await runInkwell([...args, '--adapters', `--out_dir=${join(dir, 'adapters')}`]);
      assert.equal(adapters.code, 0, adapters.stderr);
      assert.match(adapters.stdout, /wrote .*adapters\/peft, /);
      assert.ok(!existsSync(join(dir, 'adapters', 'ckpt.safetensors')), 'no checkpoint a plain load would refuse');
      const loaded = await loadModelAndTokenizer({ checkpoint: join(dir, 'adapters', 'peft') });
      assert.ok(adapterLayers(loaded.model).length > 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('trains with verifiable rewards and the user\'s module, logs each step and writes the policy', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-grpo-'));
    try {
      const ckpt = join(dir, 'sft.safetensors');
      saveCheckpoint(ckpt, tinyModel({ block_size: 24 }), null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
      writeFileSync(join(dir, 'prompts.jsonl'), ['1+1=', '2+2=', '3+1='].map((p, i) => JSON.stringify({ prompt: p, answer: [2, 4, 4][i] })).join('\n'));
      writeFileSync(join(dir, 'count.mjs'), 'export default (prompt, answer) => answer.split("4").length - 1;\n');
      writeFileSync(join(dir, 'rewards.json'), JSON.stringify([{ exact: 'last_number' }, { format: '[0-9 ]*', weight: 0.5 }, { module: join(dir, 'count.mjs'), weight: 0.1 }]));
      const args = ['rlhf', 'grpo', `--checkpoint=${ckpt}`, `--prompts=${join(dir, 'prompts.jsonl')}`, `--rewards=${join(dir, 'rewards.json')}`,
        '--steps=2', '--group_size=3', '--batch_prompts=2', '--max_new_tokens=4', `--out_dir=${join(dir, 'out')}`];
      writeFileSync(join(dir, 'sums.jsonl'), ['1+1=', '2+2='].map((c, i) => JSON.stringify({ context: c, choices: ['2', '4'], label: i })).join('\n'));
      writeFileSync(join(dir, 'suite.json'), JSON.stringify({ name: 'sums', tasks: [{ task: 'sums.jsonl' }] }));
      const run = await runInkwell([...args, `--eval_suite=${join(dir, 'suite.json')}`]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(readFileSync(join(dir, 'out', 'report.md'), 'utf8'), /## Evaluation: sums[\s\S]*\| sums \| 2 \| 0 \|[\s\S]*suite score[\s\S]*## Samples\n\n```text\n".+" → ".*" \(reward -?[\d.]+\)/);
      assert.match(run.stdout, /grpo: 3 prompts, 2 × 3 completions a step; rewards 1 × exact\(last_number\) \+ 0\.5 × format\(\[0-9 \]\*\) \+ 0\.1 × /);
      assert.match(run.stdout, /step 2: reward -?[\d.]+ \(exact\(last_number\) [\d.]+±[\d.]+, .*\), solved \d+%, equal groups \d, kl [\d.]+, clipfrac [\d.]+, length [\d.]+, entropy [\d.]+/);
      const rows = readFileSync(join(dir, 'out', 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rows.map((r) => [r.kind, r.step]), [['step', 1], ['step', 2], ['end', 2]]);
      for (const key of ['reward', 'reward_exact(last_number)', 'reward_exact(last_number)_std', 'solved', 'equal_groups', 'kl', 'clip_fraction', 'length', 'entropy']) {
        assert.equal(typeof rows[1][key], 'number', `log row lacks ${key}: ${JSON.stringify(rows[1])}`);
      }
      // The report card and the dashboard draw the same charts of the step rows.
      const md = readFileSync(join(dir, 'out', 'report.md'), 'utf8');
      const files = [...md.matchAll(/!\[(report-\d+-(\w+)\.svg)\]/g)];
      assert.deepEqual(files.map((m) => m[1]), ['report-0-loss.svg', 'report-2-reward.svg', 'report-3-kl.svg', 'report-5-spread.svg', 'report-6-solved.svg', 'report-7-clip.svg', 'report-8-length.svg', 'report-9-entropy.svg']);
      const hub = hubFromRunLog(join(dir, 'out', 'log.jsonl'));
      assert.equal(hub.history().filter((e) => e.type === 'step').length, 2);
      assert.deepEqual(hub.history().at(-1), { type: 'status', state: 'finished', message: undefined });
      const titles = (svgs: string[]) => svgs.map((svg) => /<text[^>]*font-size="15">([^<]*)</.exec(svg)![1]);
      assert.deepEqual(titles(hub.stepChartsSvg()), titles(files.map((m) => readFileSync(join(dir, 'out', m[1]!), 'utf8'))));
      assert.equal(loadCheckpoint(join(dir, 'out', 'ckpt.safetensors')).state.iter_num, 2);
      writeFileSync(join(dir, 'bad.json'), JSON.stringify([{ exact: 'first_word' }]));
      const bad = await runInkwell([...args.filter((a) => !a.startsWith('--rewards')), `--rewards=${join(dir, 'bad.json')}`]);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr, /bad\.json: rewards\[0\]: "exact" takes/);
      const usage = await runInkwell([...args, '--group_size=1']);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /group_size must be an integer ≥ 2/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
  it('--resume continues a saved run exactly as the uninterrupted run, and refuses other settings', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inkwell-grpo-resume-'));
    try {
      const ckpt = join(dir, 'sft.safetensors');
      saveCheckpoint(ckpt, tinyModel({ block_size: 24 }), null, { iter_num: 0, best_val_loss: 1, tokenizer: asciiTokenizer.toJSON() });
      writeFileSync(join(dir, 'prompts.jsonl'), ['ab', 'ba', 'aa', 'bb', 'a'].map((p) => JSON.stringify({ prompt: p })).join('\n'));
      // Varies within every group, so every step moves the policy (and the optimizer's moments matter).
      writeFileSync(join(dir, 'first.mjs'), 'export default (prompt, answer) => (answer.charCodeAt(0) || 0) % 3;\n');
      writeFileSync(join(dir, 'rewards.json'), JSON.stringify([{ module: join(dir, 'first.mjs') }, { length: { max: 3 }, weight: 0.5 }]));
      const args = (out: string, steps: number) => ['rlhf', 'grpo', `--checkpoint=${ckpt}`, `--prompts=${join(dir, 'prompts.jsonl')}`, `--rewards=${join(dir, 'rewards.json')}`,
        `--steps=${steps}`, '--group_size=3', '--batch_prompts=2', '--max_new_tokens=4', '--learning_rate=0.01', '--iterations=2', '--micro_batch=4', `--out_dir=${join(dir, out)}`];
      const whole = await runInkwell(args('whole', 4));
      assert.equal(whole.code, 0, whole.stderr);
      const first = await runInkwell(args('halves', 2));
      assert.equal(first.code, 0, first.stderr);
      const second = await runInkwell([...args('halves', 4), '--resume']);
      assert.equal(second.code, 0, second.stderr);
      assert.match(second.stdout, /resuming .*ckpt\.safetensors at step 2 of 4/);
      assert.doesNotMatch(second.stdout, /step 2: reward/);
      const weights = (out: string) => loadCheckpoint(join(dir, out, 'ckpt.safetensors')).model.namedParameters().map(([name, p]) => [name, Array.from(p.data)]);
      assert.deepEqual(weights('halves'), weights('whole'));
      assert.notDeepEqual(weights('whole'), loadCheckpoint(ckpt).model.namedParameters().map(([name, p]) => [name, Array.from(p.data)]));
      const log = (out: string) => readFileSync(join(dir, out, 'log.jsonl'), 'utf8');
      assert.equal(log('halves'), log('whole'));
      const rows = log('whole').trim().split('\n').map((l) => JSON.parse(l));
      assert.deepEqual(rows.map((r) => r.kind), ['step', 'step', 'step', 'step', 'end']);
      assert.equal(rows[4].status, 'finished');
      assert.ok(rows[0]['reward_length(max 3)_std'] >= 0 && 'reward_length(max 3)' in rows[0], JSON.stringify(rows[0]));

      const done = await runInkwell([...args('whole', 4), '--resume']);
      assert.equal(done.code, 1);
      assert.match(done.stderr, /is at step 4 already; raise --steps \(now 4\)/);
      const other = await runInkwell([...args('whole', 6), '--resume', '--group_size=4']);
      assert.equal(other.code, 1);
      assert.match(other.stderr, /--resume: group_size is 3 in .* but 4 in this run; pass --group_size=3/);
      const none = await runInkwell([...args('nothing', 4), '--resume']);
      assert.match(none.stderr, /--resume: no checkpoint at .*nothing/);
      writeFileSync(join(dir, 'whole', 'log.jsonl'), `${log('whole').split('\n')[0]}\n{"kind": "step", "st\n`);
      const torn = await runInkwell([...args('whole', 6), '--resume']);
      assert.equal(torn.code, 1);
      assert.match(torn.stderr, /--resume: .*whole\/log\.jsonl:2: invalid JSON/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

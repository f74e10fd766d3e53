// Alignment training on a tiny GPT: log-probs of packed sequences, the reward model (training, file
// round trip, HF names), rule rewards (JSON and JS module, NaN caught), DPO's direction, PPO steps and
// its divergence stop.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { referenceMargins, trainDpo, evaluateDpo } from '../src/align/dpo.js';
import { PpoTrainer, defaultPpoConfig } from '../src/align/ppo.js';
import { runPpo } from '../src/align/ppo-run.js';
import { loadModel } from '../src/train/checkpoint.js';
import { loadRules, rulesFromJSON } from '../src/align/rbrm.js';
import { frozenCopy } from '../src/align/reference.js';
import { encodePairs, evaluatePairs, loadRewardModel, RewardModel, saveRewardModel, scoreTexts, trainRewardModel } from '../src/align/reward-model.js';
import { loadRewardSource, rewardFromRules } from '../src/align/reward-source.js';
import { answerLayout, encodeSequence, packSequences, sequenceLogProbs } from '../src/align/sequences.js';
import { getTemplate } from '../src/finetune/template.js';
import { Rng } from '../src/tensor/random.js';
import { GPT, type GPTConfig } from '../src/model/gpt.js';
import { noGrad } from '../src/tensor/tensor.js';
import { CharTokenizer } from '../src/tokenizers/index.js';
import { TrainingDiverged } from '../src/train/trainer.js';

const root = mkdtempSync(join(tmpdir(), 'inkwell-align-train-'));
after(() => rmSync(root, { recursive: true, force: true }));

const tokenizer = new CharTokenizer([...'abxy: ?\n']);
const config: GPTConfig = { n_layer: 1, n_head: 2, n_embd: 16, block_size: 24, vocab_size: tokenizer.vocabSize, dropout: 0, bias: true };
const tinyGPT = (seed = 1) => new GPT(config, { seed });

describe('sequences', () => {
  test('log p(answer | prompt) of a packed batch equals the masked cross-entropy of each sequence alone', () => {
    const model = tinyGPT();
    const seqs = [encodeSequence(tokenizer, 'ab?', 'xyx', 24, 'a'), encodeSequence(tokenizer, 'a?', 'yyyyy', 24, 'b')];
    const batch = packSequences(seqs, 24);
    const lp = noGrad(() => sequenceLogProbs(model, batch));
    seqs.forEach((s, b) => {
      const ids = [...s.prompt, ...s.response];
      const targets = Int32Array.from(ids.slice(1), (t, i) => (i + 1 >= s.prompt.length ? t : -1));
      const { loss } = noGrad(() => model.forward(Int32Array.from(ids.slice(0, -1)), 1, ids.length - 1, targets));
      assert.ok(Math.abs(lp.data[b]! + loss!.item() * s.response.length) < 1e-4, `sequence ${b}`);
    });
    assert.throws(() => encodeSequence(tokenizer, 'a'.repeat(20), 'xxxxxx', 24, 'prefs.jsonl:3'), /prefs\.jsonl:3: prompt \+ answer is 26 tokens \(prompt 20\) but the model's context \(block_size\) is 24/);
  });
});

describe('reward model', () => {
  const pairs = Array.from({ length: 24 }, (_, i) => {
    const prompt = i % 2 ? 'a?' : 'b?';
    const body = 'xy'.repeat(1 + (i % 3));
    return { prompt, chosen: `${body}a`, rejected: `${body}b`, line: i + 1 };
  });

  test('learns a preference, reports accuracy and margin, and round-trips through its file', () => {
    const rm = new RewardModel(tinyGPT(2));
    assert.deepEqual(rm.namedParameters().map(([n]) => n).filter((n) => !n.startsWith('transformer.')), ['score.weight']);
    assert.deepEqual(rm.score.shape, [1, config.n_embd]);
    const encoded = encodePairs(tokenizer, pairs, config.block_size, 'pairs');
    const before = evaluatePairs(rm, encoded);
    const after = trainRewardModel(rm, encoded, encoded, { epochs: 8, batch_size: 8, learning_rate: 3e-3, weight_decay: 0, grad_clip: 1, seed: 1 });
    assert.ok(after!.loss < before.loss, `loss ${before.loss} → ${after!.loss}`);
    assert.equal(after!.accuracy, 1);
    assert.ok(after!.margin > 0);
    const file = join(root, 'rm.safetensors');
    saveRewardModel(file, rm, tokenizer, after);
    const loaded = loadRewardModel(file);
    const items = [{ prompt: 'a?', answer: 'xya' }, { prompt: 'a?', answer: 'xyb' }];
    assert.deepEqual(scoreTexts(loaded.model, loaded.tokenizer, items), scoreTexts(rm, tokenizer, items));
    // A policy that ends at once leaves an empty answer: it is scored (at the prompt's last token), not refused.
    assert.ok(Number.isFinite(scoreTexts(rm, tokenizer, [{ prompt: 'a?', answer: '' }])[0]!));
  });
});

describe('rule rewards', () => {
  test('JSON rules: require, forbid (per match), length and format', async () => {
    const score = rulesFromJSON({ rules: [
      { require: 'yes', weight: 2 },
      { forbid: 'x', per_match: true, weight: 0.5 },
      { min_length: 2, max_length: 6 },
      { format: '[a-z ]+', flags: 'i' },
    ] });
    assert.equal(await score('', 'yes x x'), 2 - 1 + 0 + 1);
    assert.equal(await score('', 'YE!'), 1);
    assert.throws(() => rulesFromJSON({ rules: [{ require: '(' }] }, 'r.json'), /r\.json: rules\[0\]: bad regular expression/);
    assert.throws(() => rulesFromJSON({ rules: [{ requires: 'a' }] }, 'r.json'), /unknown field 'requires'/);
  });

  test('a JS module rule returning NaN stops with the rule file and the answer named', async () => {
    const file = join(root, 'nan-rule.mjs');
    writeFileSync(file, 'export default (prompt, answer) => answer.length > 2 ? NaN : 1;\n');
    const source = await loadRewardSource(file);
    assert.deepEqual(await source.score([{ prompt: 'p', answer: 'ok' }]), [1]);
    await assert.rejects(source.score([{ prompt: 'p', answer: 'ab' }, { prompt: 'p', answer: 'long' }]), /rules .*nan-rule\.mjs: reward for answer 2 is NaN, not a finite number \(answer: "long"\)/);
    writeFileSync(join(root, 'none.mjs'), 'export const x = 1;\n');
    await assert.rejects(loadRules(join(root, 'none.mjs')), /must export a function/);
  });
});

describe('DPO and PPO', () => {
  const prompts = ['a?', 'b?', 'ab?', 'ba?'];

  test('DPO starts at log 2 and one epoch raises the chosen answers over the rejected', () => {
    const policy = tinyGPT(3);
    const pairs = prompts.map((p) => ({ chosen: encodeSequence(tokenizer, p, 'xxxx', 24, p), rejected: encodeSequence(tokenizer, p, 'yyyy', 24, p) }));
    const ref = referenceMargins(frozenCopy(policy), pairs);
    const before = evaluateDpo(policy, pairs, ref, 0.5);
    assert.ok(Math.abs(before.loss - Math.log(2)) < 1e-5);
    trainDpo(policy, pairs, ref, { beta: 0.5, epochs: 3, batch_size: 2, learning_rate: 3e-3, weight_decay: 0, grad_clip: 1, seed: 1 });
    const after = evaluateDpo(policy, pairs, ref, 0.5);
    assert.ok(after.loss < before.loss && after.margin > 0 && after.accuracy === 1, JSON.stringify(after));
  });

  test('"stops too early" is learnable: DPO and the reward model score answers with the end of turn', () => {
    // {"prompt": "Repeat: w", "chosen": " w w", "rejected": " w"} under the qa template: the answers
    // end with "\n\n" (a char vocabulary has no EOS), so DPO sees where the rejected answer stops.
    const tok = new CharTokenizer([...'QA:Rept\n abcdfghi']);
    const qa = answerLayout(getTemplate('qa'), tok);
    assert.deepEqual(qa.end, tok.encode('\n\n'));
    assert.equal(qa.format('Repeat: ab'), 'Q: Repeat: ab\nA: ');
    assert.deepEqual(answerLayout(null, tok).end, []);
    const rng = new Rng(3);
    const words = [...new Set(Array.from({ length: 60 }, () => Array.from({ length: 2 + rng.int(2) }, () => 'abcdfghi'[rng.int(8)]).join('')))];
    const pairs = words.map((w, i) => ({ line: i + 1, prompt: `Repeat: ${w}`, chosen: ` ${w} ${w}`, rejected: ` ${w}` }));
    const encoded = encodePairs(tok, pairs, 32, 'pairs', undefined, qa);
    assert.deepEqual(encoded[0]!.rejected.response.slice(-2), qa.end);
    const train = encoded.slice(0, 40), val = encoded.slice(40);
    const policy = new GPT({ n_layer: 1, n_head: 2, n_embd: 32, block_size: 32, vocab_size: tok.vocabSize, dropout: 0, bias: true }, { seed: 4 });
    const endAfterRejected = (model: GPT) => noGrad(() => {
      // log p(end of turn | prompt, rejected answer) on held-out words: what "stops too early" costs.
      const stops = val.map((p) => ({ prompt: p.rejected.prompt, response: p.rejected.response }));
      const starts = val.map((p) => ({ prompt: p.rejected.prompt, response: p.rejected.response.slice(0, -qa.end.length) }));
      const a = sequenceLogProbs(model, packSequences(stops, 32)).data, b = sequenceLogProbs(model, packSequences(starts, 32)).data;
      return a.reduce((s, x, i) => s + x - b[i]!, 0) / val.length;
    });
    const before = endAfterRejected(policy);
    const refVal = referenceMargins(frozenCopy(policy), val);
    trainDpo(policy, train, referenceMargins(frozenCopy(policy), train), { beta: 0.5, epochs: 8, batch_size: 8, learning_rate: 3e-3, weight_decay: 0, grad_clip: 1, seed: 1 });
    const held = evaluateDpo(policy, val, refVal, 0.5);
    assert.ok(held.accuracy >= 0.9, JSON.stringify(held));
    const after = endAfterRejected(policy);
    assert.ok(after < before - 1, `log p(end after the rejected answer) ${before} → ${after}`);
    // The reward model trained the same way records the layout and scores answers with it.
    const rm = new RewardModel(new GPT({ n_layer: 1, n_head: 2, n_embd: 32, block_size: 32, vocab_size: tok.vocabSize, dropout: 0, bias: true }, { seed: 5 }), 5);
    const metrics = trainRewardModel(rm, train, val, { epochs: 6, batch_size: 8, learning_rate: 3e-3, weight_decay: 0, grad_clip: 1, seed: 1 });
    assert.ok(metrics!.accuracy >= 0.9, JSON.stringify(metrics));
    const file = join(root, 'rm-qa.safetensors');
    saveRewardModel(file, rm, tok, metrics, qa);
    const loaded = loadRewardModel(file);
    assert.equal(loaded.layout.template, 'qa');
    const items = pairs.slice(40).flatMap((p) => [{ prompt: p.prompt, answer: p.chosen }, { prompt: p.prompt, answer: p.rejected }]);
    assert.deepEqual(scoreTexts(loaded.model, loaded.tokenizer, items, loaded.layout), noGrad(() => Array.from(rm.forward(encodePairs(tok, pairs.slice(40), 32, 'pairs', undefined, qa).flatMap((p) => [p.chosen, p.rejected])).data)));
    // An answer PPO cut at max_new_tokens did not end, and is scored without the end.
    const cut = { prompt: pairs[40]!.prompt, answer: pairs[40]!.chosen, ended: false };
    const unended = noGrad(() => rm.forward([encodeSequence(tok, cut.prompt, cut.answer, 32, 'cut', { layout: { ...qa, end: [] } })]).data[0]!);
    assert.deepEqual(scoreTexts(loaded.model, loaded.tokenizer, [cut], loaded.layout), [unended]);
  });

  test('PPO raises a rule reward and logs finite statistics; a KL past max_kl stops the run', async () => {
    const reward = rewardFromRules(rulesFromJSON({ rules: [{ forbid: 'y', per_match: true }] }), 'no-y');
    const policy = tinyGPT(4);
    const c = { ...defaultPpoConfig, steps: 6, batch_size: 8, minibatch_size: 4, ppo_epochs: 2, max_new_tokens: 8, learning_rate: 1e-2, seed: 2 };
    const trainer = new PpoTrainer(policy, frozenCopy(policy), tokenizer, reward, prompts, c);
    const logs = [];
    for (let i = 0; i < c.steps; i++) logs.push(await trainer.step());
    for (const log of logs) for (const [k, v] of Object.entries(log)) assert.ok(Number.isFinite(v), `${k} = ${v}`);
    assert.equal(logs[0]!.kl, 0);
    assert.ok(logs.at(-1)!.reward > logs[0]!.reward, logs.map((l) => l.reward).join(' '));
    // A reference far from the policy (sharpened logits) stands for a policy that has run away from it.
    const distant = frozenCopy(tinyGPT(5));
    distant.headWeight.data.forEach((v, i, a) => (a[i] = v * 100));
    const runaway = new PpoTrainer(tinyGPT(4), distant, tokenizer, reward, prompts, { ...c, max_kl: 1e-3 });
    await assert.rejects(runaway.step(), (err: Error) => err instanceof TrainingDiverged && /KL to the reference is .* \(k3; max_kl 0\.001\)/.test(err.message));
    // Weights gone NaN in step 2: step 3's rollout stops the run, and the policy step 1 left (checked
    // by step 2's rollout) is the checkpoint kept, not step 2's.
    const broken = tinyGPT(6);
    const run = runPpo(new PpoTrainer(broken, frozenCopy(broken), tokenizer, reward, prompts, { ...c, steps: 4 }), {
      valPrompts: prompts, evalInterval: 10, outDir: join(root, 'nan-run'),
      onStep: (log) => { if (log.step === 2) broken.transformer.ln_f.weight.data.fill(Number.NaN); },
    });
    await assert.rejects(run, (err: Error) => err instanceof TrainingDiverged && /ppo step 3: .* is NaN.*the last good policy \(step 1\) is kept in .*nan-run\/ckpt\.safetensors/.test(err.message));
    const kept = loadModel(join(root, 'nan-run', 'ckpt.safetensors'));
    assert.equal(kept.state?.iter_num, 1);
    assert.ok(kept.model.parameters().every((p) => p.data.every(Number.isFinite)));
    assert.throws(() => new PpoTrainer(policy, policy, tokenizer, reward, ['a'.repeat(20)], c), /prompt 1 is 20 tokens; with max_new_tokens 8 that exceeds the model's context \(block_size\) of 24/);
  });
});

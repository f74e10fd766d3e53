// The alignment chain in a few minutes on two cores, on a verifiable preference: answers that avoid the
// letter "e" (a lipogram), scored by a rule. A tiny character-level GPT is pretrained on tinyshakespeare,
// fine-tuned (SFT) to answer "NAME:\n<start of a line>" prompts with the rest of the line, then:
// comparisons are sampled from the SFT model and labelled by the rule (fewer e's wins) → a reward model
// is trained on them (held-out pairwise accuracy) → PPO optimises the policy against that reward model
// (held-out reward and KL curves in ppo.svg) → DPO is trained on the same comparisons. Before/after
// samples and rule scores are printed for each. The SFT model, the comparisons and the reward model are
// left in the output folder for trying the CLI (inkwell reward, inkwell rlhf ppo|dpo) on them.
//
// Run: npx tsc -p . && node dist/examples/align-demo.js [--out=out-align-demo]
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { appendComparison, readComparisons, splitByPrompt } from '../src/align/comparisons.js';
import { evaluateDpo, referenceMargins, trainDpo } from '../src/align/dpo.js';
import { defaultPpoConfig, evaluatePolicy, PpoTrainer } from '../src/align/ppo.js';
import { runPpo } from '../src/align/ppo-run.js';
import { rulesFromJSON } from '../src/align/rbrm.js';
import { frozenCopy, trainableCopy } from '../src/align/reference.js';
import { encodePairs, evaluatePairs, RewardModel, saveRewardModel, trainRewardModel } from '../src/align/reward-model.js';
import { rewardFromModel, rewardFromRules, type RewardSource } from '../src/align/reward-source.js';
import { encodeSequence, packSequences } from '../src/align/sequences.js';
import { adamWFor, optimizerStep } from '../src/train/step.js';
import { generate } from '../src/generate/generate.js';
import type { CausalLM } from '../src/model/causal-lm.js';
import { GPT } from '../src/model/gpt.js';
import { Rng } from '../src/tensor/random.js';
import { CharTokenizer } from '../src/tokenizers/char.js';
import { saveCheckpoint } from '../src/train/checkpoint.js';

const repo = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const corpusPath = resolve(repo, '..', 'shared', 'data', 'tinyshakespeare.txt');
if (!existsSync(corpusPath)) {
  console.log(`align-demo: skipped — needs tinyshakespeare at ${corpusPath}`);
  process.exit(0);
}
const outDir = process.argv.find((a) => a.startsWith('--out='))?.slice(6) ?? 'out-align-demo';
rmSync(outDir, { recursive: true, force: true });
const t0 = Date.now();
const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(0)} s`;
const rng = new Rng(1);
const ANSWER_TOKENS = 24;

const text = readFileSync(corpusPath, 'utf8');
const tokenizer = CharTokenizer.fromText(text);
const rule = rewardFromRules(rulesFromJSON({ rules: [{ forbid: 'e', per_match: true, weight: 1 }] }), 'rule: −1 per "e"');

// 1. Base model: next-character prediction on random windows of the corpus.
const config = { n_layer: 2, n_head: 4, n_embd: 64, block_size: 64, vocab_size: tokenizer.vocabSize, dropout: 0, bias: true };
const base = new GPT(config, { seed: 1 });
{
  const ids = Int32Array.from(tokenizer.encode(text));
  const optimizer = adamWFor(base.namedParameters(), 3e-3, 0.1);
  const B = 16, T = config.block_size, iters = 1000;
  for (let it = 1; it <= iters; it++) {
    const x = new Int32Array(B * T), y = new Int32Array(B * T);
    for (let b = 0; b < B; b++) {
      const start = Math.floor(rng.uniform() * (ids.length - T - 1));
      x.set(ids.subarray(start, start + T), b * T);
      y.set(ids.subarray(start + 1, start + T + 1), b * T);
    }
    optimizer.lr = 3e-3 * Math.min(1, it / 50) * (0.1 + 0.9 * 0.5 * (1 + Math.cos((Math.PI * it) / iters)));
    const { loss } = base.forward(x, B, T, y);
    const { loss: value } = optimizerStep(optimizer, loss!, 1, (what) => `base step ${it}: the ${what}`);
    if (it % 500 === 0) console.log(`base step ${it}: loss ${value.toFixed(3)} (${elapsed()})`);
  }
}

// 2. SFT: prompts "NAME:\n" + the first 8 characters of a speech, answers the next 24 characters; the
// loss is on the answer tokens only.
const speeches = [...text.matchAll(/\n\n([A-Z][A-Za-z ]+):\n([^\n]{32,})/g)].map((m) => ({ prompt: `${m[1]}:\n${m[2]!.slice(0, 8)}`, answer: m[2]!.slice(8, 8 + ANSWER_TOKENS) }));
const order = speeches.map((_, i) => i).sort(() => rng.uniform() - 0.5);
const heldOutPrompts = order.slice(0, 64).map((i) => speeches[i]!.prompt);
const trainSpeeches = order.slice(64).map((i) => speeches[i]!);
console.log(`${speeches.length} speeches: ${trainSpeeches.length} for SFT and comparisons, ${heldOutPrompts.length} held-out prompts`);
const sft = trainableCopy(base);
{
  const optimizer = adamWFor(sft.namedParameters(), 1e-3, 0);
  for (let it = 1; it <= 200; it++) {
    const batch = Array.from({ length: 16 }, () => trainSpeeches[Math.floor(rng.uniform() * trainSpeeches.length)]!);
    const packed = packSequences(batch.map((s) => encodeSequence(tokenizer, s.prompt, s.answer, config.block_size, 'sft')), config.block_size);
    const { loss } = sft.forward(packed.idx, packed.B, packed.T, packed.targets);
    const { loss: value } = optimizerStep(optimizer, loss!, 1, (what) => `sft step ${it}: the ${what}`);
    if (it % 100 === 0) console.log(`sft step ${it}: answer loss ${value.toFixed(3)} (${elapsed()})`);
  }
}

async function ruleScore(model: CausalLM, label: string): Promise<number> {
  const e = await evaluatePolicy(model, sftReference, tokenizer, heldOutPrompts, rule, ANSWER_TOKENS, 7);
  console.log(`${label}: held-out rule reward ${e.meanReward.toFixed(3)} (mean e's per answer ${(-e.meanReward).toFixed(2)}), KL to SFT ${e.kl.toFixed(3)}`);
  for (let i = 0; i < 3; i++) console.log(`   ${JSON.stringify(e.prompts[i])} → ${JSON.stringify(e.answers[i])}`);
  return e.meanReward;
}
const sftReference = frozenCopy(sft);
saveCheckpoint(join(outDir, 'sft.safetensors'), sft, null, { iter_num: 200, best_val_loss: Number.NaN, tokenizer: tokenizer.toJSON() });
const sftRule = await ruleScore(sft, 'SFT model');

// 3. Comparisons: two sampled answers per prompt, the one with fewer e's chosen (ties dropped).
const comparisonsFile = join(outDir, 'comparisons.jsonl');
{
  const prompts = trainSpeeches.slice(0, 1200).map((s) => s.prompt);
  const gens = generate(sft, prompts.flatMap((p) => [p, p]), { tokenizer, maxNewTokens: ANSWER_TOKENS, temperature: 1, seed: 11 });
  const answers = gens.map((g) => g.text!);
  const scores = await rule.score(answers.map((answer, i) => ({ prompt: prompts[i >> 1]!, answer })));
  let written = 0;
  prompts.forEach((prompt, i) => {
    const [a, b] = [answers[2 * i]!, answers[2 * i + 1]!];
    const [sa, sb] = [scores[2 * i]!, scores[2 * i + 1]!];
    if (sa === sb || a === b || !a.trim() || !b.trim()) return;
    appendComparison(comparisonsFile, sa > sb ? { prompt, chosen: a, rejected: b } : { prompt, chosen: b, rejected: a });
    written++;
  });
  console.log(`wrote ${written} comparisons to ${comparisonsFile} (${elapsed()})`);
}
const { train: trainPairs, val: valPairs } = splitByPrompt(readComparisons(comparisonsFile), 0.15, 3);

// 4. Reward model from the SFT weights.
const rm = new RewardModel(trainableCopy(sft), 5);
const rmTrain = encodePairs(tokenizer, trainPairs, config.block_size, comparisonsFile);
const rmVal = encodePairs(tokenizer, valPairs, config.block_size, comparisonsFile);
console.log(`reward model before training: held-out accuracy ${(100 * evaluatePairs(rm, rmVal).accuracy).toFixed(1)}% on ${rmVal.length} pairs`);
const rmMetrics = trainRewardModel(rm, rmTrain, rmVal, { epochs: 4, batch_size: 16, learning_rate: 1e-3, weight_decay: 0, grad_clip: 1, seed: 1 }, {
  onEval: (epoch, m) => console.log(`reward model epoch ${epoch}: held-out pairwise accuracy ${(100 * m.accuracy).toFixed(1)}%, mean margin ${m.margin.toFixed(3)} (${elapsed()})`),
})!;

saveRewardModel(join(outDir, 'reward.safetensors'), rm, tokenizer, rmMetrics);

// 5. PPO against the reward model.
const rmReward: RewardSource = rewardFromModel(rm, tokenizer, 'reward model');
const policy = trainableCopy(sft);
const ppoConfig = { ...defaultPpoConfig, steps: 40, batch_size: 32, minibatch_size: 8, ppo_epochs: 4, learning_rate: 1e-4, kl_coef: 0.2, max_new_tokens: ANSWER_TOKENS, seed: 21 };
const trainer = new PpoTrainer(policy, frozenCopy(sft), tokenizer, rmReward, trainSpeeches.slice(1200).map((s) => s.prompt), ppoConfig);
const ppo = await runPpo(trainer, {
  valPrompts: heldOutPrompts, evalInterval: 5, outDir,
  onStep: (l) => { if (l.step % 5 === 0) console.log(`ppo step ${l.step}: reward ${l.reward.toFixed(3)}, kl ${l.kl.toFixed(3)} (k3 ${l.kl_k3.toFixed(3)}), entropy ${l.entropy.toFixed(3)}, clipfrac ${l.clip_fraction.toFixed(3)}, value loss ${l.value_loss.toFixed(3)} (${elapsed()})`); },
  onEval: (step, e) => console.log(`ppo held-out at step ${step}: reward-model reward ${e.meanReward.toFixed(3)}, KL ${e.kl.toFixed(3)}`),
});
const ppoRule = await ruleScore(policy, 'PPO policy');

// 6. DPO from the SFT model on the same comparisons.
const dpoPolicy = trainableCopy(sft);
const refTrain = referenceMargins(sftReference, rmTrain), refVal = referenceMargins(sftReference, rmVal);
const beta = 0.1;
const dpoBefore = evaluateDpo(dpoPolicy, rmVal, refVal, beta);
trainDpo(dpoPolicy, rmTrain, refTrain, { beta, epochs: 2, batch_size: 16, learning_rate: 3e-4, weight_decay: 0, grad_clip: 1, seed: 1 });
const dpoAfter = evaluateDpo(dpoPolicy, rmVal, refVal, beta);
console.log(`DPO held-out: loss ${dpoBefore.loss.toFixed(4)} → ${dpoAfter.loss.toFixed(4)}, implicit-reward accuracy ${(100 * dpoBefore.accuracy).toFixed(1)}% → ${(100 * dpoAfter.accuracy).toFixed(1)}% (${elapsed()})`);
const dpoRule = await ruleScore(dpoPolicy, 'DPO policy');

console.log('\nsummary');
console.log(`  reward model held-out pairwise accuracy ${(100 * rmMetrics.accuracy).toFixed(1)}% (${rmMetrics.pairs} pairs), mean margin ${rmMetrics.margin.toFixed(3)}`);
console.log(`  PPO held-out reward-model reward ${ppo.before.meanReward.toFixed(3)} → ${ppo.after.meanReward.toFixed(3)}, KL to SFT ${ppo.after.kl.toFixed(3)}; curves in ${join(outDir, 'ppo.svg')}`);
console.log(`  held-out rule reward (−e's per answer): SFT ${sftRule.toFixed(3)}, PPO ${ppoRule.toFixed(3)}, DPO ${dpoRule.toFixed(3)}`);
console.log(`  total ${elapsed()}`);

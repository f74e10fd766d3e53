// GRPO with a verifiable reward on held-out problems, beside PPO with a reward model given the same
// sampling budget: "reverse WORD" → the word backwards. A briefly SFT'd model (examples/base-model.ts + a
// short full SFT in the qa template, so it is right only part of the time) is the start of both:
//   GRPO: 8 training prompts × 8 completions a step, the reward a program (completion === reversed word);
//   PPO:  a reward model trained on preferences the same program labels (completions sampled from the SFT
//         model: for each training word, every (passes, fails) pair of its samples), then PPO against that
//         reward model. Those samples count against PPO's budget: samples for the preferences + PPO
//         rollouts = GRPO's completions.
// Held-out words are never trained on. Reported for the SFT model, GRPO and PPO: held-out pass@1 (greedy)
// and pass@k (k samples at temperature 1, any right).
// Run: npm run demo:grpo   (needs ../shared/data/tinyshakespeare.txt for the base model)
// GRPO_SFT_STEPS, GRPO_STEPS and GRPO_LR change the settings: at lr 1e-3 GRPO collapsed (KL 1.4, every
// reward 0), and after 250 SFT steps (80% pass@1) it added 1 point.
import { splitByPrompt, type ComparisonPair } from '../src/align/comparisons.js';
import { GrpoTrainer, defaultGrpoConfig } from '../src/align/grpo.js';
import { defaultPpoConfig, PpoTrainer, type Turn } from '../src/align/ppo.js';
import { frozenCopy, trainableCopy } from '../src/align/reference.js';
import { encodePairs, RewardModel, trainRewardModel } from '../src/align/reward-model.js';
import { rewardFromModel } from '../src/align/reward-source.js';
import { answerLayout } from '../src/align/sequences.js';
import type { RewardFunction } from '../src/align/verifiers.js';
import { complete } from '../src/finetune/complete.js';
import { encodeSftRecords } from '../src/finetune/sft-data.js';
import { trainSft } from '../src/finetune/sft.js';
import { endOfTurn, formatPrompt, getTemplate } from '../src/finetune/template.js';
import { generate } from '../src/generate/generate.js';
import type { Decoder } from '../src/model/decoder.js';
import { Rng } from '../src/tensor/random.js';
import { baseModel } from './base-model.js';

const TRAIN = 1000, HELD_OUT = 200, K = 8, MAX_NEW = 8;
const SFT_STEPS = Number(process.env.GRPO_SFT_STEPS ?? 200), GRPO_STEPS = Number(process.env.GRPO_STEPS ?? 300), GRPO_LR = Number(process.env.GRPO_LR ?? 1e-4);
const GROUP = 8, PROMPTS_PER_STEP = 8;
/** Completions GRPO samples; PPO gets as many (preference samples + rollouts). */
const BUDGET = GRPO_STEPS * GROUP * PROMPTS_PER_STEP;
/** Samples of each word for the reward model's preferences (a tenth of the budget); PPO's rollouts are 64 a step. */
const PREF_SAMPLES = 4, PREF_WORDS = Math.min(TRAIN, Math.round(BUDGET / 10 / PREF_SAMPLES)), PPO_BATCH = 64;

function words(n: number, rng: Rng): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 3 + rng.int(4) }, () => String.fromCharCode(97 + rng.int(26))).join(''));
  return [...out];
}

const reverse = (w: string) => [...w].reverse().join('');
const seconds = (t0: number) => `${((performance.now() - t0) / 1000).toFixed(0)} s`;

async function main(): Promise<void> {
  const t00 = performance.now();
  const template = getTemplate('qa');
  const all = words(TRAIN + HELD_OUT, new Rng(7));
  const train = all.slice(0, TRAIN), heldOut = all.slice(TRAIN);
  const { model: sft, tokenizer } = await baseModel();
  const records = (ws: string[]) => ws.map((w, line) => ({ line, messages: [{ role: 'user' as const, content: `reverse ${w}` }, { role: 'assistant' as const, content: reverse(w) }] }));
  const encode = (ws: string[]) => encodeSftRecords(records(ws), template, tokenizer, sft.contextLength).sequences;
  const t0 = performance.now();
  trainSft(sft, encode(train), encode(heldOut.slice(0, 50)), { max_iters: SFT_STEPS, batch_size: 32, learning_rate: 1e-3, warmup_iters: 10, weight_decay: 0, grad_clip: 1, eval_interval: SFT_STEPS, seed: 1 });
  console.log(`SFT: ${SFT_STEPS} steps in ${seconds(t0)}`);
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  const turn: Turn = { format: (p) => formatPrompt(template, p), eosTokenId: eosId, stop: eosId === null ? [stopText] : [] };

  const measure = (model: Decoder, label: string) => {
    const prompts = heldOut.map((w) => `reverse ${w}`);
    const greedy = complete(model, tokenizer, template, prompts, { maxNewTokens: MAX_NEW });
    const pass1 = greedy.filter((g, i) => g.trim() === reverse(heldOut[i]!)).length / heldOut.length;
    const samples = generate(model, prompts.flatMap((p) => Array<string>(K).fill(turn.format!(p))),
      { tokenizer, temperature: 1, maxNewTokens: MAX_NEW, seed: 99, eosTokenId: eosId, stop: turn.stop });
    let passK = 0;
    for (let i = 0; i < heldOut.length; i++) if (samples.slice(i * K, (i + 1) * K).some((s) => s.text!.trim() === reverse(heldOut[i]!))) passK++;
    console.log(`${label}: held-out pass@1 (greedy) ${(100 * pass1).toFixed(1)}%, pass@${K} ${(100 * passK / heldOut.length).toFixed(1)}%`);
    return { pass1, passK: passK / heldOut.length };
  };
  const before = measure(sft, 'after SFT');
  const percent = (r: { pass1: number; passK: number }) => `pass@1 ${(100 * r.pass1).toFixed(1)}%, pass@${K} ${(100 * r.passK).toFixed(1)}%`;

  // GRPO: the checker is the reward.
  const exact: RewardFunction = {
    name: 'reversed', weight: 1,
    score: async (items) => items.map((c) => (c.completion.trim() === c.expected ? 1 : 0)),
  };
  const grpoPolicy = trainableCopy(sft);
  const grpo = new GrpoTrainer(grpoPolicy, frozenCopy(sft), tokenizer, [exact], train.map((w) => ({ prompt: `reverse ${w}`, answer: reverse(w) })),
    { ...defaultGrpoConfig, group_size: GROUP, batch_prompts: PROMPTS_PER_STEP, max_new_tokens: MAX_NEW, learning_rate: GRPO_LR, beta: 0.02, micro_batch: 32, seed: 3 }, turn);
  const t1 = performance.now();
  for (let s = 0; s < GRPO_STEPS; s++) {
    const l = await grpo.step();
    if (l.step % 25 === 0) console.log(`  grpo step ${l.step}: reward ${l.reward.toFixed(3)}, solved groups ${(100 * l.solved).toFixed(0)}%, equal groups ${l.equal_groups}, kl ${l.kl.toFixed(4)}`);
  }
  const grpoTime = seconds(t1);
  console.log(`GRPO: ${GRPO_STEPS} steps × ${GROUP * PROMPTS_PER_STEP} completions in ${grpoTime}`);
  const afterGrpo = measure(grpoPolicy, 'after GRPO');

  // PPO: a reward model learns the checker from preferences over the SFT model's samples.
  const t2 = performance.now();
  const prefWords = train.slice(0, PREF_WORDS);
  const prefPrompts = prefWords.map((w) => `reverse ${w}`);
  const prefSamples = generate(sft, prefPrompts.flatMap((p) => Array<string>(PREF_SAMPLES).fill(turn.format!(p))),
    { tokenizer, temperature: 1, maxNewTokens: MAX_NEW, seed: 5, eosTokenId: eosId, stop: turn.stop }).map((g) => g.text!.trim());
  const pairs: ComparisonPair[] = prefWords.flatMap((w, i) => {
    const answers = [...new Set(prefSamples.slice(i * PREF_SAMPLES, (i + 1) * PREF_SAMPLES))];
    const good = answers.filter((a) => a === reverse(w)), bad = answers.filter((a) => a !== reverse(w) && a.length > 0);
    return good.flatMap((chosen) => bad.map((rejected) => ({ prompt: prefPrompts[i]!, chosen, rejected, line: 0 })));
  });
  if (pairs.length === 0) throw new Error(`no preference pairs: the SFT model got none of ${PREF_WORDS} training words both right and wrong in ${PREF_SAMPLES} samples (raise GRPO_SFT_STEPS)`);
  const layout = answerLayout(template, tokenizer);
  const split = splitByPrompt(pairs, 0.1, 3);
  const [rmTrain, rmVal] = [split.train, split.val].map((ps) => encodePairs(tokenizer, ps, sft.contextLength, 'checker preferences', undefined, layout));
  const rm = new RewardModel(trainableCopy(sft), 5);
  const rmMetrics = trainRewardModel(rm, rmTrain!, rmVal!, { epochs: 3, batch_size: 16, learning_rate: 3e-4, weight_decay: 0, grad_clip: 1, seed: 1 });
  console.log(`reward model: ${pairs.length} checker-labelled pairs from ${prefSamples.length} samples of ${PREF_WORDS} training words; ` +
    `held-out pairwise accuracy ${rmMetrics ? `${(100 * rmMetrics.accuracy).toFixed(1)}% (${rmMetrics.pairs} pairs)` : '– (no held-out pairs)'}, in ${seconds(t2)}`);
  const ppoSteps = Math.floor((BUDGET - prefSamples.length) / PPO_BATCH);
  const ppoPolicy = trainableCopy(sft);
  const ppo = new PpoTrainer(ppoPolicy, frozenCopy(sft), tokenizer, rewardFromModel(rm, tokenizer, 'checker reward model', layout), train.map((w) => `reverse ${w}`),
    { ...defaultPpoConfig, steps: ppoSteps, batch_size: PPO_BATCH, minibatch_size: 32, ppo_epochs: 2, learning_rate: GRPO_LR, kl_coef: 0.02, max_new_tokens: MAX_NEW, seed: 3 }, turn);
  const t3 = performance.now();
  for (let s = 0; s < ppoSteps; s++) {
    const l = await ppo.step();
    if (l.step % 25 === 0) console.log(`  ppo step ${l.step}: reward-model reward ${l.reward.toFixed(3)}, kl ${l.kl.toFixed(4)}, value loss ${l.value_loss.toFixed(4)}`);
  }
  const ppoTime = seconds(t3);
  console.log(`PPO: ${ppoSteps} steps × ${PPO_BATCH} rollouts (+ ${prefSamples.length} preference samples = ${ppoSteps * PPO_BATCH + prefSamples.length} of GRPO's ${BUDGET}) in ${ppoTime}`);
  const afterPpo = measure(ppoPolicy, 'after PPO');

  console.log(`RESULT grpo-reverse (${HELD_OUT} held-out words): SFT ${percent(before)}; GRPO ${percent(afterGrpo)} (${grpoTime}); ` +
    `PPO with a reward model ${percent(afterPpo)} (${ppoTime}); total ${seconds(t00)}`);
}

await main();

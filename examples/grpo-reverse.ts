// GRPO with a verifiable reward on held-out problems: "reverse WORD" → the word backwards, checked by a
// program, no reward model. A briefly SFT'd model (examples/base-model.ts + a short full SFT in the qa
// template, so it is right only part of the time) is trained with GRPO on training words; held-out
// words are never trained on. Reported before and after: held-out pass@1 (greedy) and pass@k (k
// samples at temperature 1, any right).
// Run: node dist/examples/grpo-reverse.js   (needs ../shared/data/tinyshakespeare.txt for the base model)
// On the 2-core Intel Xeon, 2026-12-04: held-out pass@1 30.0% → 64.5%, pass@8 39.5% → 68.5% (300 GRPO steps of
// 8 prompts × 8 completions, 45 s). GRPO_SFT_STEPS, GRPO_STEPS and GRPO_LR change the settings: at lr 1e-3
// the policy collapsed (KL 1.4, every reward 0), and after 250 SFT steps (80% pass@1) GRPO added 1 point.
import { frozenCopy } from '../src/align/reference.js';
import { GrpoTrainer, defaultGrpoConfig } from '../src/align/grpo.js';
import type { RewardFunction } from '../src/align/verifiers.js';
import { complete } from '../src/finetune/complete.js';
import { encodeSftRecords } from '../src/finetune/sft-data.js';
import { trainSft } from '../src/finetune/sft.js';
import { endOfTurn, formatPrompt, getTemplate } from '../src/finetune/template.js';
import { generate } from '../src/generate/generate.js';
import { Rng } from '../src/tensor/random.js';
import { baseModel } from './base-model.js';

const TRAIN = 1000, HELD_OUT = 200, K = 8;
const SFT_STEPS = Number(process.env.GRPO_SFT_STEPS ?? 200), GRPO_STEPS = Number(process.env.GRPO_STEPS ?? 300), GRPO_LR = Number(process.env.GRPO_LR ?? 1e-4);

function words(n: number, rng: Rng): string[] {
  const out = new Set<string>();
  while (out.size < n) out.add(Array.from({ length: 3 + rng.int(4) }, () => String.fromCharCode(97 + rng.int(26))).join(''));
  return [...out];
}

const reverse = (w: string) => [...w].reverse().join('');

async function main(): Promise<void> {
  const template = getTemplate('qa');
  const all = words(TRAIN + HELD_OUT, new Rng(7));
  const train = all.slice(0, TRAIN), heldOut = all.slice(TRAIN);
  const { model, tokenizer } = await baseModel();
  const records = (ws: string[]) => ws.map((w, line) => ({ line, messages: [{ role: 'user' as const, content: `reverse ${w}` }, { role: 'assistant' as const, content: reverse(w) }] }));
  const encode = (ws: string[]) => encodeSftRecords(records(ws), template, tokenizer, model.contextLength).sequences;
  const t0 = performance.now();
  trainSft(model, encode(train), encode(heldOut.slice(0, 50)), { max_iters: SFT_STEPS, batch_size: 32, learning_rate: 1e-3, warmup_iters: 10, weight_decay: 0, grad_clip: 1, eval_interval: SFT_STEPS, seed: 1 });
  console.log(`SFT: ${SFT_STEPS} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s`);

  const measure = (label: string) => {
    const prompts = heldOut.map((w) => `reverse ${w}`);
    const greedy = complete(model, tokenizer, template, prompts, { maxNewTokens: 8 });
    const pass1 = greedy.filter((g, i) => g.trim() === reverse(heldOut[i]!)).length / heldOut.length;
    const { eosId, stopText } = endOfTurn(template, tokenizer);
    const samples = generate(model, prompts.flatMap((p) => Array<string>(K).fill(formatPrompt(template, p))),
      { tokenizer, temperature: 1, maxNewTokens: 8, seed: 99, eosTokenId: eosId, stop: eosId === null ? [stopText] : [] });
    let passK = 0;
    for (let i = 0; i < heldOut.length; i++) if (samples.slice(i * K, (i + 1) * K).some((s) => s.text!.trim() === reverse(heldOut[i]!))) passK++;
    console.log(`${label}: held-out pass@1 (greedy) ${(100 * pass1).toFixed(1)}%, pass@${K} ${(100 * passK / heldOut.length).toFixed(1)}%`);
    return { pass1, passK: passK / heldOut.length };
  };
  const before = measure('after SFT');

  const exact: RewardFunction = {
    name: 'reversed', weight: 1,
    score: async (items) => items.map((c) => (c.completion.trim() === c.expected ? 1 : 0)),
  };
  const { eosId, stopText } = endOfTurn(template, tokenizer);
  const grpo = new GrpoTrainer(model, frozenCopy(model), tokenizer, [exact], train.map((w) => ({ prompt: `reverse ${w}`, answer: reverse(w) })),
    { ...defaultGrpoConfig, group_size: 8, batch_prompts: 8, max_new_tokens: 8, learning_rate: GRPO_LR, beta: 0.02, micro_batch: 32, seed: 3 },
    { format: (p) => formatPrompt(template, p), eosTokenId: eosId, stop: eosId === null ? [stopText] : [] });
  const t1 = performance.now();
  for (let s = 0; s < GRPO_STEPS; s++) {
    const l = await grpo.step();
    if (l.step % 10 === 0) console.log(`  grpo step ${l.step}: reward ${l.reward.toFixed(3)}, solved groups ${(100 * l.solved).toFixed(0)}%, equal groups ${l.equal_groups}, kl ${l.kl.toFixed(4)}`);
  }
  console.log(`GRPO: ${GRPO_STEPS} steps × 64 completions in ${((performance.now() - t1) / 1000).toFixed(0)} s`);
  const after = measure('after GRPO');
  console.log(`RESULT grpo-reverse: held-out pass@1 ${(100 * before.pass1).toFixed(1)}% → ${(100 * after.pass1).toFixed(1)}%, pass@${K} ${(100 * before.passK).toFixed(1)}% → ${(100 * after.passK).toFixed(1)}%`);
}

await main();

